package ndp

import (
	"slices"
	"testing"

	"github.com/xdpengine/engine/header"
)

// halfRand draws the middle of every range: ReachableTime is exactly
// BaseReachableTime.
type halfRand struct{}

func (halfRand) Int64N(n int64) int64 { return n / 2 }

var (
	macA = header.MAC{2, 0, 0, 0, 0, 0xa}
	macB = header.MAC{2, 0, 0, 0, 0, 0xb}
)

func ip(n byte) [16]byte { return [16]byte{0x20, 0x01, 0, 2, 15: n} }

type solicited struct {
	target  [16]byte
	unicast header.MAC
}

type recorder struct {
	sol     []solicited
	dropped []uint64
	flushed []uint64
}

func (r *recorder) solicit(t [16]byte, u header.MAC) { r.sol = append(r.sol, solicited{t, u}) }
func (r *recorder) drop(h uint64)                    { r.dropped = append(r.dropped, h) }
func (r *recorder) flush(h uint64)                   { r.flushed = append(r.flushed, h) }

func newCache(cfg Config) *Cache {
	cfg.Rand = halfRand{}
	return NewCache(cfg)
}

func wantState(t *testing.T, c *Cache, a [16]byte, want State) {
	t.Helper()
	if st, _, _ := c.State(a); st != want {
		t.Fatalf("state %v, want %v", st, want)
	}
}

// An address resolved by a solicited advertisement, then aged through
// STALE, DELAY and PROBE to removal (RFC 4861 7.3.3 and appendix C).
func TestCacheLifecycle(t *testing.T) {
	c := newCache(Config{})
	var r recorder
	if _, act := c.Lookup(0, ip(1), 7, true); act != SendRequest {
		t.Fatalf("first lookup: %v", act)
	}
	if _, act := c.Lookup(1, ip(1), 8, true); act != Queued {
		t.Fatalf("second lookup: %v", act)
	}
	c.Tick(1e9, r.solicit, r.drop)
	c.Tick(2e9, r.solicit, r.drop)
	if len(r.sol) != 2 || r.sol[0] != (solicited{ip(1), header.MAC{}}) {
		t.Fatalf("multicast solicitations %v", r.sol)
	}
	if c.Advertised(2.5e9, ip(1), macA, true, header.NDPFlagSolicited|header.NDPFlagOverride, r.flush) {
		t.Fatal("router lost")
	}
	wantState(t, c, ip(1), Reachable)
	if !slices.Equal(r.flushed, []uint64{7, 8}) {
		t.Fatalf("flushed %v", r.flushed)
	}
	if mac, act := c.Lookup(3e9, ip(1), 9, true); act != Send || mac != macA {
		t.Fatalf("lookup reachable: %v %v", mac, act)
	}
	c.Tick(2.5e9+30e9, r.solicit, r.drop)
	wantState(t, c, ip(1), Stale)
	if _, act := c.Lookup(40e9, ip(1), 0, false); act != Send {
		t.Fatalf("lookup stale: %v", act)
	}
	wantState(t, c, ip(1), Delay)
	c.Tick(44e9, r.solicit, r.drop)
	wantState(t, c, ip(1), Delay)
	r.sol = nil
	c.Tick(45e9, r.solicit, r.drop)
	wantState(t, c, ip(1), Probe)
	c.Tick(46e9, r.solicit, r.drop)
	c.Tick(47e9, r.solicit, r.drop)
	if len(r.sol) != 3 || r.sol[2] != (solicited{ip(1), macA}) {
		t.Fatalf("unicast probes %v", r.sol)
	}
	c.Tick(48e9, r.solicit, r.drop)
	wantState(t, c, ip(1), 0)
	if c.Len() != 0 || c.Stats.Failed != 1 || c.Stats.Solicits != 6 {
		t.Fatalf("len %d stats %+v", c.Len(), c.Stats)
	}
}

// Unanswered resolution: three multicast solicitations, then the queue is
// dropped and the entry removed.
func TestCacheResolutionFails(t *testing.T) {
	c := newCache(Config{QueueLen: 2})
	var r recorder
	c.Lookup(0, ip(1), 1, true)
	c.Lookup(0, ip(1), 2, true)
	if _, act := c.Lookup(0, ip(1), 3, true); act != Drop || c.Stats.QueueDrops != 1 {
		t.Fatalf("third packet: %v", act)
	}
	for now := int64(1e9); now <= 3e9; now += 1e9 {
		c.Tick(now, r.solicit, r.drop)
	}
	if len(r.sol) != 2 || c.Len() != 0 || !slices.Equal(r.dropped, []uint64{1, 2}) {
		t.Fatalf("solicits %d len %d dropped %v", len(r.sol), c.Len(), r.dropped)
	}
}

// RFC 4861 7.2.5's table.
func TestCacheAdvertisementRules(t *testing.T) {
	const S, O, R = header.NDPFlagSolicited, header.NDPFlagOverride, header.NDPFlagRouter
	setup := func(st State) *Cache {
		c := newCache(Config{})
		c.Lookup(0, ip(1), 0, false)
		if st != Incomplete {
			c.Advertised(0, ip(1), macA, true, S|O|R, nil)
			if st == Stale {
				c.Tick(31e9, nil, nil)
			}
		}
		return c
	}
	for _, tc := range []struct {
		name    string
		from    State
		tll     header.MAC
		hasTLL  bool
		flags   uint8
		want    State
		wantMAC header.MAC
		lost    bool
	}{
		{"incomplete, no TLL: ignored", Incomplete, header.MAC{}, false, S, Incomplete, header.MAC{}, false},
		{"incomplete, unsolicited: STALE", Incomplete, macA, true, O, Stale, macA, false},
		{"reachable, no override, other MAC: STALE, MAC kept", Reachable, macB, true, S, Stale, macA, false},
		{"stale, no override, other MAC: ignored", Stale, macB, true, S, Stale, macA, false},
		{"stale, solicited, same MAC: REACHABLE", Stale, macA, true, S | R, Reachable, macA, false},
		{"stale, solicited, no TLL: REACHABLE", Stale, header.MAC{}, false, S | R, Reachable, macA, false},
		{"reachable, override, unsolicited, other MAC: STALE", Reachable, macB, true, O | R, Stale, macB, false},
		{"reachable, unsolicited, same MAC: unchanged", Reachable, macA, true, O | R, Reachable, macA, false},
		{"router flag cleared", Reachable, macA, true, S | O, Reachable, macA, true},
	} {
		c := setup(tc.from)
		lost := c.Advertised(1e9, ip(1), tc.tll, tc.hasTLL, tc.flags, nil)
		st, mac, _ := c.State(ip(1))
		if st != tc.want || mac != tc.wantMAC || lost != tc.lost {
			t.Errorf("%s: %v %v lost=%v, want %v %v %v", tc.name, st, mac, lost, tc.want, tc.wantMAC, tc.lost)
		}
	}
	// No entry: ignored; PERMANENT: unchanged.
	c := newCache(Config{})
	c.Advertised(0, ip(2), macA, true, S|O, nil)
	if c.Len() != 0 {
		t.Error("advertisement created an entry")
	}
	c.SetPermanent(0, ip(3), macA, nil)
	c.Advertised(0, ip(3), macB, true, S|O, nil)
	c.Observe(0, ip(3), macB, RouterSet, nil)
	if st, mac, _ := c.State(ip(3)); st != Permanent || mac != macA {
		t.Errorf("permanent changed: %v %v", st, mac)
	}
}

func TestCacheObserve(t *testing.T) {
	c := newCache(Config{})
	var r recorder
	c.Observe(0, ip(1), macA, RouterSet, nil)
	if st, mac, router := c.State(ip(1)); st != Stale || mac != macA || !router {
		t.Fatalf("created: %v %v %v", st, mac, router)
	}
	c.Lookup(0, ip(2), 5, true)
	c.Observe(1, ip(2), macB, RouterUnchanged, r.flush)
	if st, _, _ := c.State(ip(2)); st != Stale || !slices.Equal(r.flushed, []uint64{5}) {
		t.Fatalf("incomplete observed: %v flushed %v", st, r.flushed)
	}
	c.Advertised(2, ip(1), macA, true, header.NDPFlagSolicited, nil)
	c.Observe(3, ip(1), macA, RouterClear, nil)
	if st, _, router := c.State(ip(1)); st != Reachable || router {
		t.Fatalf("same MAC: %v router %v", st, router)
	}
	c.Observe(3, ip(1), macB, RouterUnchanged, nil)
	wantState(t, c, ip(1), Stale)
	c.Confirm(4, ip(1))
	wantState(t, c, ip(1), Reachable)
}

// A flood of solicitations from made-up sources is bounded by MaxLearned
// and does not evict entries in use.
func TestCacheBounds(t *testing.T) {
	c := newCache(Config{MaxEntries: 4, MaxLearned: 2})
	c.Lookup(0, ip(1), 0, false)
	c.Advertised(0, ip(1), macA, true, header.NDPFlagSolicited, nil)
	for i := byte(10); i < 20; i++ {
		c.Observe(int64(i), ip(i), macB, RouterUnchanged, nil)
	}
	if c.Len() != 3 || c.Stats.LearnRefused != 8 {
		t.Fatalf("len %d stats %+v", c.Len(), c.Stats)
	}
	c.Lookup(30, ip(2), 0, false) // 4 entries
	c.Lookup(31, ip(3), 0, false) // full: evicts the oldest STALE (ip 10)
	if st, _, _ := c.State(ip(10)); st != 0 || c.Stats.Evictions != 1 {
		t.Fatalf("ip 10 %v, evictions %d", st, c.Stats.Evictions)
	}
	c.Lookup(32, ip(4), 0, false) // evicts ip 11
	c.Lookup(33, ip(5), 0, false) // evicts ip 1 (REACHABLE), the last evictable
	if _, act := c.Lookup(34, ip(6), 0, false); act != Drop || c.Stats.TableFull != 1 {
		t.Fatalf("full of INCOMPLETE: %v %+v", act, c.Stats)
	}
	if err := c.SetPermanent(35, ip(7), macA, nil); err != ErrTableFull {
		t.Fatalf("SetPermanent: %v", err)
	}
	l := c.List(nil)
	if len(l) != 4 {
		t.Fatalf("list %v", l)
	}
}

func TestCacheReachableTime(t *testing.T) {
	c := NewCache(Config{Rand: seqRand{0}})
	if c.ReachableTime() != 15e9 {
		t.Fatalf("reachable %d", c.ReachableTime())
	}
	c.SetBaseReachable(0, 10e9)
	if c.ReachableTime() != 5e9 {
		t.Fatalf("reachable %d", c.ReachableTime())
	}
	c2 := NewCache(Config{Rand: seqRand{-1}})
	if c2.ReachableTime() != 45e9-1 {
		t.Fatalf("reachable %d", c2.ReachableTime())
	}
}

// seqRand returns v, or n+v when v is negative.
type seqRand struct{ v int64 }

func (s seqRand) Int64N(n int64) int64 {
	if s.v < 0 {
		return n + s.v
	}
	return s.v
}

func TestCacheNoAllocs(t *testing.T) {
	c := newCache(Config{})
	c.Advertised(0, ip(1), macA, true, 0, nil)
	c.Lookup(0, ip(1), 0, false)
	c.Advertised(0, ip(1), macA, true, header.NDPFlagSolicited, nil)
	if n := testing.AllocsPerRun(100, func() {
		c.Lookup(1, ip(1), 1, true)
		c.Confirm(1, ip(1))
		c.Advertised(1, ip(1), macA, true, header.NDPFlagSolicited, nil)
	}); n != 0 {
		t.Fatalf("%v allocations", n)
	}
}

func BenchmarkCacheLookup(b *testing.B) {
	c := newCache(Config{})
	for i := range byte(200) {
		c.SetPermanent(0, ip(i), macA, nil)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, act := c.Lookup(1, ip(77), 0, false); act != Send {
			b.Fatal(act)
		}
	}
}
