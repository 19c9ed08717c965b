package sock

import "sync/atomic"

// State is the engine's lifecycle as its sockets see it: new (sockets may
// be opened and bound), running (traffic flows), closed (every call
// fails with net.ErrClosed). The engine moves it; sockets read it.
type State struct{ v atomic.Int32 }

const (
	stateNew int32 = iota
	stateRunning
	stateClosed
)

// Running reports whether the engine runs.
func (s *State) Running() bool { return s.v.Load() == stateRunning }

// Closed reports whether the engine closed.
func (s *State) Closed() bool { return s.v.Load() == stateClosed }

// Start moves a new engine to running; false if it was not new.
func (s *State) Start() bool { return s.v.CompareAndSwap(stateNew, stateRunning) }

// IsNew reports whether the engine has not started.
func (s *State) IsNew() bool { return s.v.Load() == stateNew }

// Close moves the engine to closed; false if it already was.
func (s *State) Close() bool { return s.v.Swap(stateClosed) != stateClosed }
