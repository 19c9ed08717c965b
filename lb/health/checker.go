package health

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"
)

// Errors of the package. Check errors wrap the dialer's or net/http's
// error with %w, so errors.Is finds both the sentinel and, for example,
// syscall.ECONNREFUSED.
var (
	// ErrInvalid is wrapped by every error about a Spec or Target that
	// cannot be checked.
	ErrInvalid = errors.New("health: invalid target")
	// ErrClosed is returned by Set after Close.
	ErrClosed = errors.New("health: checker closed")
	// ErrTimeout fails a check that reached Spec.Timeout.
	ErrTimeout = errors.New("health: check timed out")
	// ErrStatus fails an http check answered with another status code.
	ErrStatus = errors.New("health: unexpected HTTP status")
	// ErrReply fails a udp check answered without Spec.Expect's prefix.
	ErrReply = errors.New("health: unexpected UDP reply")
	// ErrRestarted is the Err of the down Event sent when a target that
	// was up restarts, down, under a new spec.
	ErrRestarted = errors.New("health: check restarted with a new spec")
)

// DialFunc opens a connection as net.Dialer.DialContext does; engine.Dialer's
// DialContext fits. network is "tcp" or "udp", address an ip:port. It must
// return once ctx is done: the check's timeout and Close rely on it.
type DialFunc func(ctx context.Context, network, address string) (net.Conn, error)

// Status is a target's state and counters.
type Status struct {
	Key string
	// Up says whether the backend should take traffic.
	Up bool
	// Since is when Up last changed, or when the target (re)started.
	Since time.Time
	// LastError is the last check's error, "" when it passed (or before
	// the first check).
	LastError string
	// Checks counts the checks run, Failures the ones that failed,
	// Transitions the changes of Up they caused, all since the target
	// (re)started.
	Checks, Failures, Transitions uint64
	// LastRTT is how long the last check took, passed or failed.
	LastRTT time.Duration
}

// Event reports a change of a target's Up state.
type Event struct {
	Key string
	Up  bool
	// Err is the failure that took the target down (the last of Fall in a
	// row, or ErrRestarted); nil when it went up.
	Err error
	At  time.Time
}

// Checker checks a set of targets, each on a goroutine of its own, and
// reports their transitions. Its methods are safe for concurrent use.
type Checker struct {
	dial     DialFunc
	onChange func(Event)
	log      *slog.Logger
	client   *http.Client

	// jitter returns the delay before a target's first check, in
	// [0, interval). Tests may replace it before the first Set.
	jitter func(interval time.Duration) time.Duration

	setMu  sync.Mutex // serialises Set and Close
	closed bool       // under setMu

	mu      sync.Mutex         // guards targets and every target's status, passRun, failRun
	targets map[string]*target // by Key

	// eventMu is held while onChange runs, so that it never runs on two
	// goroutines at once. Lock order: a goroutine holding eventMu may take
	// mu (onChange may call State); never the other way round.
	eventMu sync.Mutex
}

// target is one running check. Target and url are fixed at creation; ctx
// is cancelled when Set removes or replaces the target, or by Close; done
// is closed when its goroutine has returned.
type target struct {
	Target // Spec with its defaults filled in
	url    string
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}

	// prev is the target this one replaces (nil if none); Set starts this
	// one's goroutine after prev's has returned.
	prev *target
	// announced is the Up state onChange was last told about (or the
	// initial state, which needs no event). Owned by the target's
	// goroutine; a successor reads it after done is closed.
	announced bool

	// Under Checker.mu.
	status           Status
	passRun, failRun int // checks passed / failed in a row
}

// userAgent is the User-Agent of the http check.
const userAgent = "xdpengine-lb-health/1"

// checkCtxKey carries a check's context in the context of its HTTP
// request: net/http dials with the request's values but without its
// cancellation (so that a dial can outlive a cancelled request and serve
// the next one), and the check's dial must not outlive the check.
type checkCtxKey struct{}

// New returns a Checker that dials with dial (nil: a zero net.Dialer's)
// and calls onChange (which may be nil) on each transition; logger (nil:
// none) receives transitions at Info and failed checks at Debug. It checks
// nothing until Set.
func New(dial DialFunc, onChange func(Event), logger *slog.Logger) *Checker {
	if dial == nil {
		dial = new(net.Dialer).DialContext
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	c := &Checker{
		dial:     dial,
		onChange: onChange,
		log:      logger,
		jitter:   rand.N[time.Duration],
		targets:  make(map[string]*target),
	}
	tr := &http.Transport{
		Proxy: nil, // never a proxy from the environment
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if cc, ok := ctx.Value(checkCtxKey{}).(context.Context); ok {
				ctx = cc
			}
			return c.dial(ctx, network, addr)
		},
		DisableKeepAlives:      true,
		DisableCompression:     true,
		MaxResponseHeaderBytes: 64 << 10,
	}
	c.client = &http.Client{
		Transport: tr,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
	return c
}

// Set makes targets the set of targets checked. A target whose Key is new
// starts in its initial state (no Event) and checks after a random delay
// within its interval. A target whose Key, Addr and Spec (defaults filled
// in, InitialUp aside) are unchanged keeps running with its state and
// counters. A target whose Addr or Spec changed restarts: its counters
// start from zero and its state is the new spec's initial state; if that
// differs from the state onChange last reported, its goroutine first
// delivers an Event for the difference (Err ErrRestarted when down). A
// target whose Key is gone stops, without an Event.
//
// Set checks every target first (Target.Validate, unique keys) and, if one
// is invalid, changes nothing and returns an error wrapping ErrInvalid.
// When Set returns, the goroutines of the targets it stopped or restarted
// have returned: no Event for them is delivered afterwards. Set must not
// be called from onChange.
func (c *Checker) Set(targets []Target) error {
	seen := make(map[string]bool, len(targets))
	for _, tg := range targets {
		if err := tg.Validate(); err != nil {
			return err
		}
		if seen[tg.Key] {
			return fmt.Errorf("%w: duplicate key %q", ErrInvalid, tg.Key)
		}
		seen[tg.Key] = true
	}

	c.setMu.Lock()
	defer c.setMu.Unlock()
	if c.closed {
		return ErrClosed
	}
	now := time.Now()
	next := make(map[string]*target, len(targets))
	var started, stopped []*target
	c.mu.Lock()
	for _, tg := range targets {
		old := c.targets[tg.Key]
		if old != nil && old.Addr == tg.Addr && old.Via == tg.Via && old.Spec.equal(tg.Spec) {
			next[tg.Key] = old
			continue
		}
		t := newTarget(tg, now)
		t.prev = old
		next[tg.Key] = t
		started = append(started, t)
	}
	for key, old := range c.targets {
		if next[key] != old {
			old.cancel()
			stopped = append(stopped, old)
		}
	}
	c.targets = next
	c.mu.Unlock()

	for _, old := range stopped {
		<-old.done
	}
	for _, t := range started {
		go c.run(t)
	}
	return nil
}

// newTarget returns a target for tg in its initial state, not running.
func newTarget(tg Target, now time.Time) *target {
	tg.Spec = tg.Spec.withDefaults()
	up := tg.Spec.Kind == KindNone || tg.Spec.InitialUp
	ctx, cancel := context.WithCancel(context.Background())
	t := &target{
		Target:    tg,
		ctx:       ctx,
		cancel:    cancel,
		done:      make(chan struct{}),
		announced: up,
		status:    Status{Key: tg.Key, Up: up, Since: now},
	}
	if tg.Spec.Kind == KindHTTP {
		t.url = "http://" + tg.Addr.String() + tg.Spec.Path
	}
	return t
}

// State returns the status of the target with key, and whether there is
// one.
func (c *Checker) State(key string) (Status, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.targets[key]
	if !ok {
		return Status{}, false
	}
	return t.status, true
}

// Snapshot returns the status of every target, sorted by Key.
func (c *Checker) Snapshot() []Status {
	c.mu.Lock()
	out := make([]Status, 0, len(c.targets))
	for _, t := range c.targets {
		out = append(out, t.status)
	}
	c.mu.Unlock()
	slices.SortFunc(out, func(a, b Status) int { return cmp.Compare(a.Key, b.Key) })
	return out
}

// Close stops every check, cancelling those in flight (their connections
// are closed), and returns once every goroutine of the Checker has
// returned; no Event is delivered after it returns. State and Snapshot keep
// reporting the last statuses. Close may be called more than once, but not
// from onChange.
func (c *Checker) Close() {
	c.setMu.Lock()
	defer c.setMu.Unlock()
	if c.closed {
		return
	}
	c.closed = true
	c.mu.Lock()
	all := slices.Collect(maps.Values(c.targets))
	for _, t := range all {
		t.cancel()
	}
	c.mu.Unlock()
	for _, t := range all {
		<-t.done
	}
	c.client.CloseIdleConnections()
}

// run is a target's goroutine: it reports a state changed by a restart,
// then checks every interval, from a random offset, until t.ctx is done.
// Checks run one at a time on this goroutine, so there is never more than
// one in flight.
func (c *Checker) run(t *target) {
	defer close(t.done)
	if prev := t.prev; prev != nil {
		t.prev = nil // prev's goroutine has returned: its announced is ours to read
		if prev.announced != t.announced {
			c.mu.Lock()
			ev := Event{Key: t.Key, Up: t.status.Up, At: t.status.Since}
			c.mu.Unlock()
			if !ev.Up {
				ev.Err = ErrRestarted
			}
			c.deliver(t, ev)
		}
	}
	if t.Spec.Kind == KindNone {
		return
	}

	var buf []byte
	if t.Spec.Kind == KindUDP {
		buf = make([]byte, max(len(t.Spec.Expect), 64))
	}
	timer := time.NewTimer(c.jitter(t.Spec.Interval))
	defer timer.Stop()
	for {
		select {
		case <-t.ctx.Done():
			return
		case <-timer.C:
		}
		start := time.Now()
		err := c.check(t, buf)
		rtt := time.Since(start)
		if t.ctx.Err() != nil {
			return // stopped mid-check: the failure is ours, not the backend's
		}
		if err != nil {
			c.log.Debug("health: check failed", "key", t.Key, "addr", t.Addr, "kind", t.Spec.Kind, "err", err)
		}
		if ev, changed := c.record(t, err, rtt, start.Add(rtt)); changed {
			c.deliver(t, ev)
		}
		timer.Reset(max(0, t.Spec.Interval-time.Since(start)))
	}
}

// record counts one check's result and returns the Event when it changed
// the target's state.
func (c *Checker) record(t *target, err error, rtt time.Duration, at time.Time) (Event, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := &t.status
	s.Checks++
	s.LastRTT = rtt
	if err == nil {
		s.LastError = ""
		t.failRun = 0
		t.passRun = min(t.passRun+1, t.Spec.Rise)
		if s.Up || t.passRun < t.Spec.Rise {
			return Event{}, false
		}
		s.Up = true
	} else {
		s.Failures++
		s.LastError = err.Error()
		t.passRun = 0
		t.failRun = min(t.failRun+1, t.Spec.Fall)
		if !s.Up || t.failRun < t.Spec.Fall {
			return Event{}, false
		}
		s.Up = false
	}
	s.Since = at
	s.Transitions++
	ev := Event{Key: t.Key, Up: s.Up, At: at}
	if !s.Up {
		ev.Err = err
	}
	return ev, true
}

// deliver logs ev and hands it to onChange, unless t has been stopped
// meanwhile (its Set or Close is waiting for it; the state it reports is
// no longer anyone's).
func (c *Checker) deliver(t *target, ev Event) {
	c.eventMu.Lock()
	defer c.eventMu.Unlock()
	if t.ctx.Err() != nil {
		return
	}
	if ev.Up {
		c.log.Info("health: backend up", "key", t.Key, "addr", t.Addr, "kind", t.Spec.Kind)
	} else {
		c.log.Info("health: backend down", "key", t.Key, "addr", t.Addr, "kind", t.Spec.Kind, "err", ev.Err)
	}
	t.announced = ev.Up
	if c.onChange != nil {
		c.onChange(ev)
	}
}
