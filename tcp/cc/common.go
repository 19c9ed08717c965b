package cc

import (
	"errors"
	"fmt"
	"strings"
)

const (
	// MinMSS is the smallest sender MSS an algorithm works with (Linux's
	// TCP_MIN_MSS); smaller values passed to Init or SetMSS are raised to it.
	MinMSS = 88
	// InfiniteSsthresh is ssthresh before the first congestion event
	// (Linux's TCP_INFINITE_SSTHRESH).
	InfiniteSsthresh = 0x7fffffff
	// abcL is RFC 3465's L: slow start grows cwnd by at most L*MSS per ACK.
	abcL = 2
	// Default is the algorithm New("") and the engine use, as Linux.
	Default = "cubic"
)

// ErrUnknownAlgorithm is returned by New for a name no algorithm has.
var ErrUnknownAlgorithm = errors.New("cc: unknown congestion control algorithm")

// names lists the algorithms New knows, in the order Names reports them.
var names = []string{"cubic", "reno"}

// Names returns the names New accepts (like Linux's
// tcp_available_congestion_control).
func Names() []string { return append([]string(nil), names...) }

// New returns a fresh algorithm by name: "cubic" (the default, also for "")
// or "reno". Call Init before use.
func New(name string) (Algorithm, error) {
	switch name {
	case "cubic", "":
		return NewCubic(), nil
	case "reno":
		return NewReno(), nil
	}
	return nil, fmt.Errorf("%w %q: available are %s", ErrUnknownAlgorithm, name, strings.Join(names, ", "))
}

// InitialWindow is RFC 6928's initial window for a sender MSS:
// min(10*MSS, max(2*MSS, 14600)), which is 10 segments up to MSS 1460.
func InitialWindow(mss int) int {
	return min(10*mss, max(2*mss, 14600))
}

func clampMSS(mss int) int { return max(mss, MinMSS) }

// slowStart grows cwnd by the bytes acknowledged, at most abcL*mss
// (RFC 3465), and not beyond ssthresh. It returns the new window and the
// acknowledged bytes left over for congestion avoidance once the window
// reaches ssthresh (as Linux's tcp_slow_start).
func slowStart(cwnd, ssthresh, acked, mss int) (int, int) {
	inc := min(acked, abcL*mss)
	if cwnd+inc <= ssthresh {
		return cwnd + inc, 0
	}
	used := max(ssthresh-cwnd, 0)
	return max(cwnd, ssthresh), acked - used
}

// lossState says where the connection is in the loss state machine, as far
// as the window is concerned.
type lossState uint8

const (
	stateOpen     lossState = iota
	stateRecovery           // between EnterRecovery and ExitRecovery
	stateLoss               // after OnRTO, until an ACK advances
)
