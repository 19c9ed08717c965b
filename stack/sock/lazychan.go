package sock

import (
	"sync/atomic"
	"unsafe"
)

// LazyChan is a wake-up channel (capacity 1, as Notify and WaitOn use)
// made on first use: a connection that nobody ever waits on (a held idle
// one, one closed as soon as accepted) costs no channel, 96 bytes of heap
// each. The zero value has none.
//
// Waiting on it keeps the announce-then-look order of Signal: the waiter
// calls Get before it announces itself, so a producer that sees the
// announcement finds the channel (Load), and one that changed the state
// before the waiter looked needs no channel at all.
type LazyChan struct {
	p unsafe.Pointer // the channel (a *hchan), nil until Get
}

// Get returns the channel, making it if there is none yet.
func (l *LazyChan) Get() chan struct{} {
	if p := atomic.LoadPointer(&l.p); p != nil {
		return chanOf(p)
	}
	ch := make(chan struct{}, 1)
	if atomic.CompareAndSwapPointer(&l.p, nil, *(*unsafe.Pointer)(unsafe.Pointer(&ch))) {
		return ch
	}
	return chanOf(atomic.LoadPointer(&l.p)) // another waiter made it first
}

// Load returns the channel, nil when nobody has waited yet (Notify and
// Signal on nil do nothing).
func (l *LazyChan) Load() chan struct{} {
	p := atomic.LoadPointer(&l.p)
	if p == nil {
		return nil
	}
	return chanOf(p)
}

func chanOf(p unsafe.Pointer) chan struct{} { return *(*chan struct{})(unsafe.Pointer(&p)) }
