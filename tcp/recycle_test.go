package tcp

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/xdpengine/engine/tcp/cc"
)

// slicePool is an EndpointPool for tests.
type slicePool struct{ free []*Endpoint }

func (p *slicePool) Get() *Endpoint {
	if len(p.free) == 0 {
		return nil
	}
	e := p.free[len(p.free)-1]
	p.free = p.free[:len(p.free)-1]
	return e
}

func (p *slicePool) Put(e *Endpoint) { p.free = append(p.free, e) }

// exchange runs a connection through data both ways (enough to grow the
// RACK queue) and a graceful close, and returns the segments b sent.
func exchange(t *testing.T, pool *slicePool, newCC func() cc.Algorithm) (a, b *Endpoint, trace []string) {
	t.Helper()
	ca, cb := baseConfig(1000), baseConfig(5000)
	cb.Endpoints, cb.NewCC = pool, newCC
	a, b, _ = pair(t, ca, cb)
	data := bytes.Repeat([]byte("recycle!"), 20000) // 160 KB: many segments in flight
	now := int64(1_000_000)
	for sent := 0; sent < len(data); {
		n := b.SendRing().Write(data[sent:])
		sent += n
		for range 20 {
			for _, p := range deliver(t, b, a, now) {
				trace = append(trace, fmt.Sprint(&p))
			}
			deliver(t, a, b, now)
			var sink [65536]byte
			for a.RecvRing().Read(sink[:]) > 0 {
			}
			now += 1_000_000
		}
	}
	b.Close(now)
	a.Close(now)
	for range 10 {
		for _, p := range deliver(t, b, a, now) {
			trace = append(trace, fmt.Sprint(&p))
		}
		deliver(t, a, b, now)
		now += 1_000_000
	}
	return a, b, trace
}

// TestRecycledEndpointStartsFresh: an endpoint that served a connection
// and went back through Recycle serves the next one exactly as a fresh
// allocation does (same segments), keeping none of its state; its
// congestion control is reset and reused.
func TestRecycledEndpointStartsFresh(t *testing.T) {
	for _, tc := range []struct {
		name  string
		newCC func() cc.Algorithm
		reuse bool // a cc.Resetter: the endpoint keeps it
	}{
		{"cubic", func() cc.Algorithm { return cc.NewCubic() }, true},
		{"not a Resetter", newTestReno, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, fresh, want := exchange(t, &slicePool{}, tc.newCC)
			if fresh.State() != Closed && fresh.State() != TimeWait {
				t.Fatalf("first connection ended in %v", fresh.State())
			}
			pool := &slicePool{}
			pool.Put(fresh) // as Recycle does, with the pool in the config
			fresh.recycled = true
			alg := fresh.cc
			_, again, got := exchange(t, pool, tc.newCC)
			if again != fresh {
				t.Fatalf("the pool's endpoint was not reused")
			}
			if (again.cc == alg) != tc.reuse {
				t.Fatalf("congestion control reused: %v, want %v", again.cc == alg, tc.reuse)
			}
			if len(got) != len(want) {
				t.Fatalf("recycled endpoint sent %d segments, a fresh one %d", len(got), len(want))
			}
			for i := range got {
				if got[i] != want[i] {
					t.Fatalf("segment %d: recycled %s, fresh %s", i, got[i], want[i])
				}
			}
			again.Recycle()
			again.Recycle() // once only
			if len(pool.free) != 1 {
				t.Fatalf("Recycle twice put %d endpoints in the pool, want 1", len(pool.free))
			}
		})
	}
}

// TestRecycleKeepsRACKQueue: Recycle hands the pool an endpoint that keeps
// a RACK queue of up to keepTxRecs records (the next connection records
// its segments there instead of allocating 1.5 KB), and drops a larger
// one. The next connection's first segments allocate no queue.
func TestRecycleKeepsRACKQueue(t *testing.T) {
	for _, tc := range []struct {
		recs int
		kept bool
	}{{keepTxRecs, true}, {2 * keepTxRecs, false}} {
		pool := &slicePool{}
		c := baseConfig(5000)
		c.Endpoints = pool
		e, err := newEndpoint(0, c)
		if err != nil {
			t.Fatal(err)
		}
		e.txq.r = make([]txRec, tc.recs) // as a connection's sends grew it
		e.Recycle()
		if len(pool.free) != 1 {
			t.Fatalf("%d records: the pool holds %d endpoints, want 1", tc.recs, len(pool.free))
		}
		if got := len(pool.free[0].txq.r); (got == tc.recs) != tc.kept || !tc.kept && got != 0 {
			t.Errorf("%d records: the recycled endpoint keeps %d, want kept=%v", tc.recs, got, tc.kept)
		}
	}
	// A connection through a pool whose endpoint kept its queue: the same
	// exchange as a fresh endpoint, and its queue is the kept one.
	pool := &slicePool{}
	_, first, _ := exchange(t, pool, func() cc.Algorithm { return cc.NewCubic() })
	first.Recycle()
	kept := first.txq.r
	if len(kept) == 0 || len(kept) > keepTxRecs {
		t.Fatalf("the first connection left a queue of %d records: the exchange should leave one of 1 to %d", len(kept), keepTxRecs)
	}
	_, again, _ := exchange(t, pool, func() cc.Algorithm { return cc.NewCubic() })
	if again != first || len(again.txq.r) == 0 || &again.txq.r[0] != &kept[0] {
		t.Errorf("the second connection did not record its segments in the kept queue")
	}
}
