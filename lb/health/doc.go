// Package health is the load balancer's health checker: it checks each
// backend at an interval and reports when one should start or stop taking
// traffic.
//
// It knows nothing of the engine. It dials through an injected DialFunc,
// with the signature of net.Dialer.DialContext: the balancer passes an
// engine.Dialer's DialContext so that checks leave over the engine's own
// TCP and UDP (from the address the backends see the balancer at), and
// tests pass a net.Dialer's.
//
// # Use
//
//	c := health.New(dialer.DialContext, func(ev health.Event) {
//		// ev.Up: put ev.Key back in the table; else take it out.
//	}, logger)
//	err := c.Set([]health.Target{{
//		Key:  "198.18.0.100:80/tcp 198.18.1.11",
//		Addr: netip.MustParseAddrPort("198.18.1.11:80"),
//		Spec: health.Spec{Kind: health.KindHTTP, Path: "/healthz", Interval: time.Second},
//	}})
//	st, ok := c.State("198.18.0.100:80/tcp 198.18.1.11")
//	c.Close()
//
// # Model
//
// A Target is a backend (Key, unique within the Checker) and the Spec of
// its check. The kinds:
//
//   - tcp: connect, then close. The handshake is the check.
//   - http: HTTP/1.1 GET of Spec.Path on a new connection (keep-alives
//     off, no proxy, redirects not followed), Host header the target's
//     ip:port; passes when the status code is Spec.Status. The body is not
//     read.
//   - udp: send Spec.Send on a connected socket; passes on a reply that
//     starts with Spec.Expect (any reply when Expect is empty). A reply
//     with another prefix fails at once (ErrReply); a refused port fails as
//     soon as the dialer reports the ICMP error; silence fails at the
//     timeout.
//   - none: no check; the target is up from the start and stays up.
//
// Every check runs under Spec.Timeout, which is less than Spec.Interval and
// includes the dial. A check that reaches it fails with ErrTimeout and its
// connection is closed. Checks start every Interval (start to start); the
// first one after a random delay in [0, Interval), so that a reload does
// not fire every check at once.
//
// Defaults for zero fields: Interval 2 s, Timeout Interval/2, Rise 2,
// Fall 3, Path "/", Status 200. The zero Kind is invalid: a backend is
// never left unchecked because a field was forgotten; KindNone says so.
//
// # State and transitions
//
// A target is up or down. Down, it goes up after Rise checks in a row
// pass; up, it goes down after Fall checks in a row fail; a pass resets the
// failure run and a failure the pass run, so the counts are exact. A new
// target starts down (it takes traffic only once it has passed Rise checks,
// which is what a backend added at startup or by a reload should do),
// unless its Spec says InitialUp (then Fall failures take it down) or its
// kind is none (up for good). The initial state is not an Event: the caller
// knows it from these rules, or from State, as soon as Set returns.
//
// Each transition updates the Status (Up, Since, Transitions) and then
// calls onChange with an Event carrying the new state; a down Event carries
// the failure that tipped it. Events carry the absolute state, not a
// toggle, so applying one twice, or after reading State, is harmless.
//
// Set reconciles: new keys start, missing keys stop (no Event: the caller
// removed them), unchanged targets keep their state and counters, and a
// target whose Addr or Spec changed restarts from its new initial state
// with zeroed counters. If a restart changes the state onChange last
// reported (an up target restarting down), the target's goroutine delivers
// that as an Event first, with Err ErrRestarted when down.
//
// # Concurrency and resources
//
// Each target that runs a check has one goroutine, which runs its checks
// one after the other: there is never more than one check in flight per
// target. A none target's goroutine returns after its start. While an http
// check runs, net/http adds a dial goroutine and a reader and a writer for
// the connection; they end with the check's connection, at the latest at
// its timeout. The Checker starts nothing else.
//
// onChange is called on the goroutine of the target that changed, with a
// Checker-wide lock held: it is never called on two goroutines at once,
// and a target's Events arrive in the order of its transitions. It should
// return quickly (the target checks nothing while it runs, and other
// targets' Events wait for it). It may call State and Snapshot, but not Set
// or Close, which wait for the goroutines that call onChange.
//
// Set and Close wait for the goroutines they stop; a check in flight is
// cancelled, which needs a DialFunc that returns when its context is done
// (net.Dialer and engine.Dialer do). After Set returns, no Event is
// delivered for the targets it removed or restarted under their old spec;
// after Close returns, none at all, and no goroutine of the Checker is
// left.
//
// # What the balancer does with Events
//
// This package decides health; the balancer acts on it. For each VIP the
// balancer builds its Maglev table from the backends that are up: on a down
// Event it removes the backend (ev.Key) from the table and rebuilds it, so
// new flows go elsewhere (established flows in the connection table follow
// the balancer's policy for dead backends); on an up Event it adds the
// backend back. At startup or after a reload, it calls Set with every
// backend, treats the new ones as down (or up for kind none and
// InitialUp), and adds them as their up Events arrive. Backends it removes
// from its configuration it removes from Set's targets too.
package health
