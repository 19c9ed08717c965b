package health

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// TestTCPRiseFall takes a tcp target up, down (its listener closed) and up
// again (the listener reopened on the same port), then replays every check
// result the dialer saw through the reference model: the transitions must
// be exactly the model's, at exactly the same check.
func TestTCPRiseFall(t *testing.T) {
	log := new(dialLog)
	c, rec := newChecker(t, log.dial, nil)
	srv := startTCP(t, "127.0.0.1:0")
	const rise, fall = 3, 2
	tg := Target{Key: "vip/tcp b1", Addr: srv.addr, Spec: Spec{
		Kind: KindTCP, Interval: safeInterval, Timeout: safeTimeout, Rise: rise, Fall: fall,
	}}
	if err := c.Set([]Target{tg}); err != nil {
		t.Fatal(err)
	}
	if st, _ := c.State(tg.Key); st.Up {
		t.Fatalf("new tcp target is up before any check: %+v", st)
	}

	ev := rec.waitEvents(tg.Key, 1)[0]
	if !ev.Up || ev.Err != nil {
		t.Fatalf("first event %+v, want up without error", ev.Event)
	}
	srv.stop()
	ev = rec.waitEvents(tg.Key, 2)[1]
	if ev.Up || ev.Err == nil || !errors.Is(ev.Err, syscall.ECONNREFUSED) {
		t.Fatalf("second event %+v, want down with ECONNREFUSED", ev.Event)
	}
	if ev.st.LastError == "" || ev.st.Failures < fall {
		t.Fatalf("status at down: %+v", ev.st)
	}
	startTCP(t, srv.addr.String())
	ev = rec.waitEvents(tg.Key, 3)[2]
	if !ev.Up {
		t.Fatalf("third event %+v, want up", ev.Event)
	}
	rec.close()

	events := rec.of(tg.Key)
	final, _ := c.State(tg.Key)
	results := log.get()
	if uint64(len(results)) < final.Checks {
		t.Fatalf("%d checks but %d dials", final.Checks, len(results))
	}
	results = results[:final.Checks] // a dial cut short by Close is no check
	want := replay(results, rise, fall, false)
	var got []transition
	for _, e := range events {
		got = append(got, transition{e.st.Checks, e.Up})
	}
	if !slices.Equal(got, want) {
		t.Fatalf("transitions (after check n, up) got %v, want %v (results %v)", got, want, results)
	}
	if final.Transitions != uint64(len(events)) {
		t.Fatalf("Transitions %d, %d events", final.Transitions, len(events))
	}
	var failures uint64
	for _, ok := range results {
		if !ok {
			failures++
		}
	}
	if final.Failures != failures {
		t.Fatalf("Failures %d, want %d", final.Failures, failures)
	}
}

// TestInitialUp starts a target up on a refused port: exactly Fall checks
// take it down.
func TestInitialUp(t *testing.T) {
	c, rec := newChecker(t, nil, nil)
	tg := Target{Key: "k", Addr: closedPort(t, "tcp"), Spec: Spec{
		Kind: KindTCP, Interval: fastInterval, Timeout: fastTimeout, Rise: 1, Fall: 4, InitialUp: true,
	}}
	if err := c.Set([]Target{tg}); err != nil {
		t.Fatal(err)
	}
	if st, _ := c.State(tg.Key); !st.Up {
		t.Fatalf("InitialUp target starts %+v", st)
	}
	ev := rec.waitEvents(tg.Key, 1)[0]
	if ev.Up || ev.st.Checks != 4 || ev.st.Failures != 4 || ev.st.Transitions != 1 {
		t.Fatalf("event %+v status %+v, want down after 4 failed checks", ev.Event, ev.st)
	}
}

// httpServer answers with the status in code; code 0 sleeps until the
// client goes away (past any timeout).
type httpServer struct {
	*httptest.Server
	addr netip.AddrPort
	code atomic.Int32
	mu   sync.Mutex
	host string
	uri  string
	ua   string
}

func startHTTP(t *testing.T, code int) *httpServer {
	s := &httpServer{}
	s.code.Store(int32(code))
	stop := make(chan struct{})
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.host, s.uri, s.ua = r.Host, r.RequestURI, r.UserAgent()
		s.mu.Unlock()
		code := int(s.code.Load())
		if code == 0 {
			select {
			case <-r.Context().Done():
			case <-stop:
			}
			return
		}
		w.WriteHeader(code)
	}))
	s.addr = netip.MustParseAddrPort(s.Listener.Addr().String())
	t.Cleanup(func() {
		close(stop)
		s.Close()
	})
	return s
}

func TestHTTP(t *testing.T) {
	c, rec := newChecker(t, nil, nil)
	ok, unavailable, slow := startHTTP(t, 200), startHTTP(t, 503), startHTTP(t, 0)
	spec := Spec{Kind: KindHTTP, Path: "/healthz?full=1", Interval: safeInterval, Timeout: safeTimeout, Rise: 2, Fall: 2}
	slowSpec := spec
	slowSpec.Interval, slowSpec.Timeout, slowSpec.InitialUp = fastInterval, fastTimeout, true
	targets := []Target{
		{Key: "ok", Addr: ok.addr, Spec: spec},
		{Key: "503", Addr: unavailable.addr, Spec: spec},
		{Key: "slow", Addr: slow.addr, Spec: slowSpec},
	}
	if err := c.Set(targets); err != nil {
		t.Fatal(err)
	}

	if ev := rec.waitEvents("ok", 1)[0]; !ev.Up {
		t.Fatalf("ok: %+v", ev.Event)
	}
	ok.mu.Lock()
	host, uri, ua := ok.host, ok.uri, ok.ua
	ok.mu.Unlock()
	if host != ok.addr.String() || uri != "/healthz?full=1" || ua != userAgent {
		t.Fatalf("request Host %q URI %q User-Agent %q, want %q %q %q", host, uri, ua, ok.addr, "/healthz?full=1", userAgent)
	}

	st := waitChecks(t, c, "503", 4)
	if st.Up || st.Failures != st.Checks || !strings.Contains(st.LastError, "503") {
		t.Fatalf("503: %+v", st)
	}

	ev := rec.waitEvents("slow", 1)[0]
	if ev.Up || !errors.Is(ev.Err, ErrTimeout) || ev.st.Checks != 2 {
		t.Fatalf("slow: event %+v status %+v, want down by timeout after 2 checks", ev.Event, ev.st)
	}

	// The healthy server starts answering 503: down, with ErrStatus.
	ok.code.Store(503)
	ev = rec.waitEvents("ok", 2)[1]
	if ev.Up || !errors.Is(ev.Err, ErrStatus) {
		t.Fatalf("ok after 503: %+v", ev.Event)
	}
	if got := rec.ups("503"); len(got) != 0 {
		t.Fatalf("503 target had events %v", got)
	}
}

// TestHTTPStatus expects a status other than 200, and checks that a
// redirect is not followed.
func TestHTTPStatus(t *testing.T) {
	c, rec := newChecker(t, nil, nil)
	srv := startHTTP(t, http.StatusFound)
	if err := c.Set([]Target{{Key: "k", Addr: srv.addr, Spec: Spec{
		Kind: KindHTTP, Status: http.StatusFound, Interval: fastInterval, Timeout: fastTimeout, Rise: 1,
	}}}); err != nil {
		t.Fatal(err)
	}
	if ev := rec.waitEvents("k", 1)[0]; !ev.Up {
		t.Fatalf("%+v", ev.Event)
	}
}

func TestUDP(t *testing.T) {
	c, rec := newChecker(t, nil, nil)
	echo, silent := startUDP(t, true), startUDP(t, false)
	spec := Spec{Kind: KindUDP, Send: []byte("PING health"), Interval: safeInterval, Timeout: safeTimeout, Rise: 2, Fall: 2}
	prefix, wrong, down := spec, spec, spec
	prefix.Expect = []byte("PING")
	wrong.Expect = []byte("PONG")
	down.Interval, down.Timeout, down.InitialUp = fastInterval, fastTimeout, true
	targets := []Target{
		{Key: "any", Addr: echo.addr, Spec: spec},
		{Key: "prefix", Addr: echo.addr, Spec: prefix},
		{Key: "wrong", Addr: echo.addr, Spec: wrong},
		{Key: "silent", Addr: silent.addr, Spec: down},
		{Key: "refused", Addr: closedPort(t, "udp"), Spec: down},
	}
	if err := c.Set(targets); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"any", "prefix"} {
		if ev := rec.waitEvents(key, 1)[0]; !ev.Up || ev.st.Checks != 2 {
			t.Fatalf("%s: event %+v status %+v, want up after 2 checks", key, ev.Event, ev.st)
		}
	}
	st := waitChecks(t, c, "wrong", 4)
	if st.Up || st.Failures != st.Checks || !strings.Contains(st.LastError, ErrReply.Error()) {
		t.Fatalf("wrong prefix: %+v", st)
	}
	ev := rec.waitEvents("silent", 1)[0]
	if ev.Up || !errors.Is(ev.Err, ErrTimeout) || ev.st.Checks != 2 {
		t.Fatalf("silent: event %+v status %+v", ev.Event, ev.st)
	}
	if silent.received.Load() < 2 {
		t.Fatalf("silent server received %d datagrams", silent.received.Load())
	}
	ev = rec.waitEvents("refused", 1)[0]
	if ev.Up || !errors.Is(ev.Err, syscall.ECONNREFUSED) {
		t.Fatalf("refused: event %+v", ev.Event)
	}
}

// TestNone: up at once, no check, no goroutine left, no event.
func TestNone(t *testing.T) {
	dial := func(context.Context, string, string) (net.Conn, error) {
		t.Error("a none target dialed")
		return nil, errors.New("no")
	}
	c, rec := newChecker(t, dial, nil)
	if err := c.Set([]Target{{Key: "n", Spec: Spec{Kind: KindNone}}}); err != nil {
		t.Fatal(err)
	}
	st, ok := c.State("n")
	if !ok || !st.Up || st.Checks != 0 {
		t.Fatalf("none: %+v %v", st, ok)
	}
	rec.close()
	if evs := rec.of("n"); len(evs) != 0 {
		t.Fatalf("none target had events %+v", evs)
	}
}

// TestSetKeeps: a target whose spec did not change (defaults spelled out
// or not, InitialUp changed) keeps its state and counters; a new target
// starts; a removed one stops and sends nothing more.
func TestSetKeeps(t *testing.T) {
	c, rec := newChecker(t, nil, nil)
	srv := startTCP(t, "127.0.0.1:0")
	a := Target{Key: "a", Addr: srv.addr, Spec: Spec{Kind: KindTCP, Interval: safeInterval, Rise: 1}}
	gone := Target{Key: "gone", Addr: srv.addr, Spec: Spec{Kind: KindTCP, Interval: fastInterval, Rise: 1}}
	if err := c.Set([]Target{a, gone}); err != nil {
		t.Fatal(err)
	}
	rec.waitEvents("a", 1)
	rec.waitEvents("gone", 1)
	before := waitChecks(t, c, "a", 3)

	same := a
	same.Spec.Timeout = safeInterval / 2 // the default, spelled out
	same.Spec.Fall = DefaultFall
	same.Spec.InitialUp = true
	b := Target{Key: "b", Addr: srv.addr, Spec: Spec{Kind: KindTCP, Interval: fastInterval}}
	if err := c.Set([]Target{same, b}); err != nil {
		t.Fatal(err)
	}
	nGone := len(rec.of("gone"))
	after, ok := c.State("a")
	if !ok || !after.Up || !after.Since.Equal(before.Since) || after.Checks < before.Checks ||
		after.Transitions != before.Transitions {
		t.Fatalf("unchanged target: before %+v, after %+v", before, after)
	}
	if _, ok := c.State("gone"); ok {
		t.Fatal("removed target still has a state")
	}
	if st, ok := c.State("b"); !ok || st.Up {
		t.Fatalf("new target: %+v %v", st, ok)
	}
	waitChecks(t, c, "a", after.Checks+3)
	rec.waitEvents("b", 1)
	if n := len(rec.of("gone")); n != nGone {
		t.Fatalf("removed target sent %d events after Set returned", n-nGone)
	}
	if got := rec.ups("a"); !slices.Equal(got, []bool{true}) {
		t.Fatalf("kept target's events %v", got)
	}
	if got := c.Snapshot(); len(got) != 2 || got[0].Key != "a" || got[1].Key != "b" {
		t.Fatalf("Snapshot %+v", got)
	}
}

// TestSetRestarts: a changed spec restarts the target down, with zeroed
// counters, and tells onChange that an up target went down; a changed
// address restarts it too.
func TestSetRestarts(t *testing.T) {
	c, rec := newChecker(t, nil, halfJitter)
	srv := startTCP(t, "127.0.0.1:0")
	fast := Target{Key: "k", Addr: srv.addr, Spec: Spec{Kind: KindTCP, Interval: fastInterval, Rise: 1}}
	if err := c.Set([]Target{fast}); err != nil {
		t.Fatal(err)
	}
	rec.waitEvents("k", 1)
	waitChecks(t, c, "k", 3)

	slow := fast
	slow.Spec.Interval, slow.Spec.Timeout = never, time.Second
	if err := c.Set([]Target{slow}); err != nil {
		t.Fatal(err)
	}
	st, _ := c.State("k")
	if st.Up || st.Checks != 0 || st.Failures != 0 || st.Transitions != 0 {
		t.Fatalf("restarted target: %+v", st)
	}
	ev := rec.waitEvents("k", 2)[1]
	if ev.Up || !errors.Is(ev.Err, ErrRestarted) {
		t.Fatalf("restart event %+v", ev.Event)
	}

	// Back to fast, from down: no restart event, then up after a check.
	if err := c.Set([]Target{fast}); err != nil {
		t.Fatal(err)
	}
	rec.waitEvents("k", 3)

	// A new address is a restart as well; to none: up at once, announced.
	moved := fast
	moved.Addr = closedPort(t, "tcp")
	if err := c.Set([]Target{moved}); err != nil {
		t.Fatal(err)
	}
	rec.waitEvents("k", 4)
	if err := c.Set([]Target{{Key: "k", Spec: Spec{Kind: KindNone}}}); err != nil {
		t.Fatal(err)
	}
	rec.waitEvents("k", 5)
	rec.close()
	if got, want := rec.ups("k"), []bool{true, false, true, false, true}; !slices.Equal(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
}

// TestEventsInOrder flips an http backend between 200 and 503 several
// times: its events alternate, start with up, and each down carries
// ErrStatus.
func TestEventsInOrder(t *testing.T) {
	c, rec := newChecker(t, nil, nil)
	srv := startHTTP(t, 200)
	if err := c.Set([]Target{{Key: "k", Addr: srv.addr, Spec: Spec{
		Kind: KindHTTP, Interval: safeInterval, Timeout: safeTimeout, Rise: 1, Fall: 1,
	}}}); err != nil {
		t.Fatal(err)
	}
	const flips = 6
	for i := range flips {
		rec.waitEvents("k", i+1)
		if i%2 == 0 {
			srv.code.Store(503)
		} else {
			srv.code.Store(200)
		}
	}
	evs := rec.waitEvents("k", flips)
	for i, ev := range evs[:flips] {
		wantUp := i%2 == 0
		if ev.Up != wantUp || ev.st.Transitions != uint64(i+1) || (!ev.Up && !errors.Is(ev.Err, ErrStatus)) {
			t.Fatalf("event %d: %+v status %+v, want up %v", i, ev.Event, ev.st, wantUp)
		}
		if i > 0 && ev.At.Before(evs[i-1].At) {
			t.Fatalf("event %d at %v before event %d at %v", i, ev.At, i-1, evs[i-1].At)
		}
	}
}

// TestOneCheckInFlight: checks whose dial always runs into the timeout
// never overlap, each counts as a failure, and each dial ends with its
// check, for every kind (net/http dials on a goroutine of its own, without
// the request's cancellation: the check's context must still reach it).
func TestOneCheckInFlight(t *testing.T) {
	for _, kind := range []Kind{KindTCP, KindHTTP, KindUDP} {
		t.Run(kind.String(), func(t *testing.T) {
			var inFlight, most atomic.Int32
			dial := func(ctx context.Context, network, address string) (net.Conn, error) {
				n := inFlight.Add(1)
				defer inFlight.Add(-1)
				for {
					m := most.Load()
					if n <= m || most.CompareAndSwap(m, n) {
						break
					}
				}
				<-ctx.Done()
				return nil, &net.OpError{Op: "dial", Net: network, Err: ctx.Err()}
			}
			c, _ := newChecker(t, dial, noJitter)
			if err := c.Set([]Target{{Key: "k", Addr: netip.MustParseAddrPort("192.0.2.1:80"), Spec: Spec{
				Kind: kind, Interval: fastInterval, Timeout: fastTimeout, InitialUp: true,
			}}}); err != nil {
				t.Fatal(err)
			}
			st := waitChecks(t, c, "k", 5)
			if most.Load() != 1 {
				t.Fatalf("%d dials in flight at once", most.Load())
			}
			if st.Failures != st.Checks || !strings.Contains(st.LastError, ErrTimeout.Error()) {
				t.Fatalf("status %+v", st)
			}
			c.Close()
			eventually(t, "the last dial to return", func() bool { return inFlight.Load() == 0 })
		})
	}
}

// TestCloseWaits closes a Checker while checks are blocked (a dial that
// waits for its context, a udp read of a silent server, each with a
// timeout of a minute): Close cancels them, returns, leaves no goroutine
// and lets no event through (recorder fails on one).
func TestCloseWaits(t *testing.T) {
	base := runtime.NumGoroutine()
	silent := startUDP(t, false)
	started := make(chan struct{}, 1)
	var cancelled atomic.Bool
	dial := func(ctx context.Context, network, address string) (net.Conn, error) {
		if network == "udp" {
			return new(net.Dialer).DialContext(ctx, network, address)
		}
		started <- struct{}{}
		<-ctx.Done()
		cancelled.Store(true)
		return nil, ctx.Err()
	}
	c, rec := newChecker(t, dial, noJitter)
	spec := Spec{Interval: 2 * time.Minute, Timeout: time.Minute, InitialUp: true, Fall: 1}
	tcp, udp := spec, spec
	tcp.Kind, udp.Kind = KindTCP, KindUDP
	if err := c.Set([]Target{
		{Key: "tcp", Addr: netip.MustParseAddrPort("192.0.2.1:80"), Spec: tcp},
		{Key: "udp", Addr: silent.addr, Spec: udp},
	}); err != nil {
		t.Fatal(err)
	}
	<-started
	eventually(t, "the udp check to send", func() bool { return silent.received.Load() == 1 })

	done := make(chan struct{})
	go func() {
		rec.close()
		close(done)
	}()
	eventually(t, "Close to return", func() bool {
		select {
		case <-done:
			return true
		default:
			return false
		}
	})
	if !cancelled.Load() {
		t.Fatal("Close returned before the dial saw its context end")
	}
	for _, st := range c.Snapshot() {
		if !st.Up || st.Checks != 0 {
			t.Fatalf("a check cut short by Close counted: %+v", st)
		}
	}
	if err := c.Set(nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("Set after Close: %v", err)
	}
	c.Close() // a second Close is harmless
	// What is left is the silent server's goroutine.
	goroutinesSettle(t, base+1)
}

// TestGoroutines: one goroutine per checking target, none for kind none,
// and none left after Set removes them or Close.
func TestGoroutines(t *testing.T) {
	srv := startTCP(t, "127.0.0.1:0")
	h := startHTTP(t, 200)
	u := startUDP(t, true)
	base := settledGoroutines()
	c, _ := newChecker(t, nil, halfJitter)

	// Targets that never check during the test: exactly one goroutine
	// each, none for kind none.
	var idle []Target
	for i := range 10 {
		idle = append(idle, Target{Key: "idle" + string(rune('a'+i)), Addr: srv.addr,
			Spec: Spec{Kind: KindTCP, Interval: never, Timeout: time.Second}})
	}
	idle = append(idle, Target{Key: "none", Spec: Spec{Kind: KindNone}})
	if err := c.Set(idle); err != nil {
		t.Fatal(err)
	}
	eventually(t, "one goroutine per target", func() bool { return runtime.NumGoroutine() == base+10 })

	// Busy targets of every kind, reloaded a few times.
	busy := func(interval time.Duration) []Target {
		spec := Spec{Interval: interval, Timeout: interval / 2, Rise: 1}
		var ts []Target
		for i, k := range []Kind{KindTCP, KindHTTP, KindUDP, KindNone} {
			s := spec
			s.Kind = k
			addr := []netip.AddrPort{srv.addr, h.addr, u.addr, {}}[i]
			ts = append(ts, Target{Key: k.String(), Addr: addr, Spec: s})
		}
		return ts
	}
	for _, interval := range []time.Duration{10 * time.Millisecond, 12 * time.Millisecond, 10 * time.Millisecond} {
		if err := c.Set(append(busy(interval), idle[:3]...)); err != nil {
			t.Fatal(err)
		}
		for _, key := range []string{"tcp", "http", "udp"} {
			waitChecks(t, c, key, 3)
		}
	}
	if err := c.Set(nil); err != nil {
		t.Fatal(err)
	}
	goroutinesSettle(t, base)

	if err := c.Set(busy(10 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	waitChecks(t, c, "http", 3)
	c.Close()
	goroutinesSettle(t, base)
}

func TestSetInvalid(t *testing.T) {
	c, _ := newChecker(t, nil, halfJitter)
	addr := netip.MustParseAddrPort("127.0.0.1:80")
	good := Target{Key: "good", Addr: addr, Spec: Spec{Kind: KindTCP, Interval: never, Timeout: time.Second}}
	if err := c.Set([]Target{good}); err != nil {
		t.Fatal(err)
	}
	for name, ts := range map[string][]Target{
		"duplicate": {good, good},
		"no kind":   {good, {Key: "x", Addr: addr}},
		"no key":    {{Addr: addr, Spec: good.Spec}},
		"no addr":   {{Key: "x", Spec: good.Spec}},
		"no port":   {{Key: "x", Addr: netip.AddrPortFrom(addr.Addr(), 0), Spec: good.Spec}},
	} {
		if err := c.Set(ts); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: Set returned %v, want ErrInvalid", name, err)
		}
	}
	if got := c.Snapshot(); len(got) != 1 || got[0].Key != "good" {
		t.Fatalf("a failed Set changed the targets: %+v", got)
	}
}

func TestJitter(t *testing.T) {
	c := New(nil, nil, nil)
	defer c.Close()
	for range 1000 {
		if d := c.jitter(fastInterval); d < 0 || d >= fastInterval {
			t.Fatalf("first delay %v outside [0, %v)", d, fastInterval)
		}
	}
}

// TestVia: a target's Via reaches the DialFunc of every kind of check in
// its context (NextHop); a target without one has none; a change of Via
// restarts the target.
func TestVia(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]netip.Addr{} // network of the dial → the next hop it was given
	dial := func(ctx context.Context, network, address string) (net.Conn, error) {
		via, ok := NextHop(ctx)
		mu.Lock()
		if ok {
			seen[network+" "+address] = via
		} else {
			seen[network+" "+address] = netip.Addr{}
		}
		mu.Unlock()
		return new(net.Dialer).DialContext(ctx, network, address)
	}
	c, rec := newChecker(t, dial, noJitter)
	tcpSrv, httpSrv, udpSrv := startTCP(t, "127.0.0.1:0"), startHTTP(t, 200), startUDP(t, true)
	via := netip.MustParseAddr("198.18.1.11")
	spec := func(k Kind) Spec {
		return Spec{Kind: k, Interval: safeInterval, Timeout: safeTimeout, Rise: 1, Fall: 1}
	}
	targets := []Target{
		{Key: "tcp", Addr: tcpSrv.addr, Via: via, Spec: spec(KindTCP)},
		{Key: "http", Addr: httpSrv.addr, Via: via, Spec: spec(KindHTTP)},
		{Key: "udp", Addr: udpSrv.addr, Via: via, Spec: spec(KindUDP)},
	}
	if err := c.Set(targets); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"tcp", "http", "udp"} {
		if ev := rec.waitEvents(k, 1)[0]; !ev.Up {
			t.Fatalf("%s: %+v", k, ev.Event)
		}
	}
	mu.Lock()
	for _, key := range []string{"tcp " + tcpSrv.addr.String(), "tcp " + httpSrv.addr.String(), "udp " + udpSrv.addr.String()} {
		if seen[key] != via {
			t.Errorf("dial %s: next hop %v, want %v", key, seen[key], via)
		}
	}
	clear(seen)
	mu.Unlock()
	targets[0].Via = netip.Addr{}
	if err := c.Set(targets[:1]); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a dial without a next hop", func() bool {
		mu.Lock()
		defer mu.Unlock()
		v, ok := seen["tcp "+tcpSrv.addr.String()]
		return ok && !v.IsValid()
	})
}
