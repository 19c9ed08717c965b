package health

import (
	"context"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Short intervals keep the suite fast. No test asserts a duration: they
// wait for counts and states with eventually, whose deadline is generous.
const (
	fastInterval = 20 * time.Millisecond
	fastTimeout  = 15 * time.Millisecond
	// A timeout a loaded machine under -race never reaches on loopback,
	// for tests whose counts a spurious timeout would spoil.
	safeInterval = 50 * time.Millisecond
	safeTimeout  = 45 * time.Millisecond
	// An interval no test outlives: with halfJitter, such a target never
	// checks during a test.
	never = time.Hour
)

// eventually polls cond until it holds, failing the test after a deadline
// far beyond what any condition here needs.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// halfJitter replaces the random first delay with half the interval.
func halfJitter(d time.Duration) time.Duration { return d / 2 }

// noJitter starts the first check at once.
func noJitter(time.Duration) time.Duration { return 0 }

// recorded is an Event and the target's Status read from onChange, while
// the target's goroutine waits for it (so the counters are those of the
// transition).
type recorded struct {
	Event
	st Status
}

// recorder collects the Events of a Checker and fails the test on one
// delivered after Close or concurrently with another.
type recorder struct {
	t      testing.TB
	c      *Checker
	mu     sync.Mutex
	events []recorded
	busy   atomic.Bool
	closed atomic.Bool
}

// newChecker returns a Checker dialing with dial (nil: the kernel's), its
// recorder, and closes it at the end of the test. jitter, if not nil,
// replaces the random first delay.
func newChecker(t testing.TB, dial DialFunc, jitter func(time.Duration) time.Duration) (*Checker, *recorder) {
	t.Helper()
	r := &recorder{t: t}
	c := New(dial, r.onChange, nil)
	if jitter != nil {
		c.jitter = jitter
	}
	r.c = c
	t.Cleanup(r.close)
	return c, r
}

func (r *recorder) onChange(ev Event) {
	if r.closed.Load() {
		r.t.Errorf("event after Close: %+v", ev)
	}
	if !r.busy.CompareAndSwap(false, true) {
		r.t.Errorf("onChange called concurrently: %+v", ev)
	}
	defer r.busy.Store(false)
	st, ok := r.c.State(ev.Key)
	if !ok {
		r.t.Errorf("event for a key State does not know: %+v", ev)
	}
	if st.Up != ev.Up {
		r.t.Errorf("event %+v, but State says Up %v", ev, st.Up)
	}
	r.mu.Lock()
	r.events = append(r.events, recorded{ev, st})
	r.mu.Unlock()
}

// close closes the Checker; an Event after it fails the test.
func (r *recorder) close() {
	r.c.Close()
	r.closed.Store(true)
}

// of returns the events of key so far.
func (r *recorder) of(key string) []recorded {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []recorded
	for _, e := range r.events {
		if e.Key == key {
			out = append(out, e)
		}
	}
	return out
}

// ups returns the Up values of key's events so far.
func (r *recorder) ups(key string) []bool {
	var out []bool
	for _, e := range r.of(key) {
		out = append(out, e.Up)
	}
	return out
}

// waitEvents waits until key has n events and returns them.
func (r *recorder) waitEvents(key string, n int) []recorded {
	r.t.Helper()
	eventually(r.t, "events of "+key, func() bool { return len(r.of(key)) >= n })
	return r.of(key)
}

// waitChecks waits until key has run at least n checks and returns its
// status.
func waitChecks(t testing.TB, c *Checker, key string, n uint64) Status {
	t.Helper()
	var st Status
	eventually(t, "checks of "+key, func() bool {
		var ok bool
		st, ok = c.State(key)
		return ok && st.Checks >= n
	})
	return st
}

// tcpServer accepts connections on loopback and closes them.
type tcpServer struct {
	ln   net.Listener
	addr netip.AddrPort
	wg   sync.WaitGroup
}

// startTCP listens on address ("127.0.0.1:0", or the port of a stopped
// server: it retries until the port is free again).
func startTCP(t testing.TB, address string) *tcpServer {
	t.Helper()
	s := &tcpServer{}
	eventually(t, "listening on "+address, func() bool {
		var err error
		s.ln, err = net.Listen("tcp", address)
		return err == nil
	})
	s.addr = netip.MustParseAddrPort(s.ln.Addr().String())
	s.wg.Go(func() {
		for {
			c, err := s.ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	})
	t.Cleanup(s.stop)
	return s
}

// stop closes the listener: connects are refused from then on.
func (s *tcpServer) stop() {
	s.ln.Close()
	s.wg.Wait()
}

// udpServer reads datagrams on loopback and, if echo, sends them back.
type udpServer struct {
	pc       net.PacketConn
	addr     netip.AddrPort
	received atomic.Int64
	wg       sync.WaitGroup
}

func startUDP(t testing.TB, echo bool) *udpServer {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &udpServer{pc: pc, addr: netip.MustParseAddrPort(pc.LocalAddr().String())}
	s.wg.Go(func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			s.received.Add(1)
			if echo {
				pc.WriteTo(buf[:n], from)
			}
		}
	})
	t.Cleanup(func() {
		pc.Close()
		s.wg.Wait()
	})
	return s
}

// closedPort returns a loopback address nothing listens on (for network
// "tcp" or "udp").
func closedPort(t testing.TB, network string) netip.AddrPort {
	t.Helper()
	var a net.Addr
	if network == "udp" {
		pc, err := net.ListenPacket(network, "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		a = pc.LocalAddr()
		pc.Close()
	} else {
		ln, err := net.Listen(network, "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		a = ln.Addr()
		ln.Close()
	}
	return netip.MustParseAddrPort(a.String())
}

// dialLog dials with the kernel and records, in order, whether each dial
// succeeded: for a tcp check, whether the check passed.
type dialLog struct {
	mu      sync.Mutex
	results []bool
}

func (l *dialLog) dial(ctx context.Context, network, address string) (net.Conn, error) {
	c, err := new(net.Dialer).DialContext(ctx, network, address)
	l.mu.Lock()
	l.results = append(l.results, err == nil)
	l.mu.Unlock()
	return c, err
}

func (l *dialLog) get() []bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]bool(nil), l.results...)
}

// transition is where a state change happens in a run of check results:
// after the check numbered at (1-based).
type transition struct {
	at uint64
	up bool
}

// replay is the reference model: the transitions that rise and fall make
// of results, from the initial state up.
func replay(results []bool, rise, fall int, up bool) []transition {
	var out []transition
	pass, fail := 0, 0
	for i, ok := range results {
		if ok {
			pass, fail = pass+1, 0
		} else {
			pass, fail = 0, fail+1
		}
		if !up && pass == rise || up && fail == fall {
			up = !up
			out = append(out, transition{uint64(i + 1), up})
		}
	}
	return out
}

// goroutinesSettle waits until the process runs at most want goroutines.
func goroutinesSettle(t testing.TB, want int) {
	t.Helper()
	eventually(t, "goroutines to return", func() bool { return runtime.NumGoroutine() <= want })
}

// settledGoroutines returns the number of goroutines once it has held
// still for a few samples (goroutines of earlier tests may still be
// returning).
func settledGoroutines() int {
	n, same := runtime.NumGoroutine(), 0
	for same < 5 {
		time.Sleep(5 * time.Millisecond)
		if m := runtime.NumGoroutine(); m == n {
			same++
		} else {
			n, same = m, 0
		}
	}
	return n
}
