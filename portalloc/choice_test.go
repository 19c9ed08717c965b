package portalloc

import (
	"errors"
	"sync"
	"syscall"
	"testing"

	"github.com/xdpengine/engine/flowtable"
)

func udpDest(last byte, port uint16) flowtable.Key {
	k := dest(last, port)
	k.Proto = UDP
	return k
}

// offsetParity is 0 when p's offset from the range's first port is even.
func offsetParity(a *Allocator, p uint16) int { return int(p-a.Range().First) & 1 }

// TCP's parity rule is relative to the range's first port: connect takes
// every even offset before any odd one (__inet_hash_connect), bind(0) every
// odd offset before any even one (inet_csk_find_open_port), whatever the
// parity of the first port. UDP has no parity rule.
func TestParityRelativeToFirstPort(t *testing.T) {
	for _, r := range []Range{{32768, 60999}, {40001, 40100}, {40001, 40101}, {50000, 50007}} {
		a, err := New(Config{Range: r, NewRand: seeded(4)})
		if err != nil {
			t.Fatal(err)
		}
		n := int(r.Last-r.First) + 1
		k := dest(2, 80)
		var seq []int
		for i := range min(n, 200) {
			p, err := a.Shard(0).Connect(k)
			if err != nil {
				t.Fatalf("%v: connect %d: %v", r, i, err)
			}
			seq = append(seq, offsetParity(a, p))
		}
		evens := (n + 1) / 2
		for i, par := range seq {
			if want := map[bool]int{true: 0, false: 1}[i < evens]; par != want {
				t.Fatalf("%v: connect %d took offset parity %d, want %d (all %d even offsets first): %v", r, i, par, want, evens, seq)
			}
		}
		b, _ := New(Config{Range: r, NewRand: seeded(5)})
		taken := map[uint16]bool{}
		odds := n / 2
		for i := range min(n, 200) {
			p, err := b.PickBind(func(p uint16) bool { return !taken[p] })
			if err != nil {
				t.Fatal(err)
			}
			taken[p] = true
			if want := map[bool]int{true: 1, false: 0}[i < odds]; offsetParity(b, p) != want {
				t.Fatalf("%v: bind(0) %d took offset parity %d, want %d", r, i, offsetParity(b, p), want)
			}
		}
	}
}

func TestUDPHasNoParityRule(t *testing.T) {
	a, err := New(Config{Proto: UDP, NewRand: seeded(6)})
	if err != nil {
		t.Fatal(err)
	}
	var conn, bind [2]int
	for i := range 400 {
		p, err := a.Shard(0).ConnectExclusive(udpDest(2, uint16(i)))
		if err != nil {
			t.Fatal(err)
		}
		conn[offsetParity(a, p)]++
		q, err := a.PickBind(func(uint16) bool { return true })
		if err != nil {
			t.Fatal(err)
		}
		bind[offsetParity(a, q)]++
	}
	if conn[0] < 150 || conn[1] < 150 || bind[0] < 150 || bind[1] < 150 {
		t.Errorf("UDP choices by offset parity: connect %v, bind %v; want both parities (udp_lib_get_port has no parity rule)", conn, bind)
	}
}

// Exhaustion reports the errno of each call as Linux does: TCP connect
// EADDRNOTAVAIL, UDP connect EAGAIN, bind(0) EADDRINUSE.
func TestExhaustionErrnos(t *testing.T) {
	for _, tc := range []struct {
		proto uint8
		errno syscall.Errno
	}{{TCP, syscall.EADDRNOTAVAIL}, {UDP, syscall.EAGAIN}} {
		a, err := New(Config{Proto: tc.proto, Range: Range{50000, 50003}, NewRand: seeded(7)})
		if err != nil {
			t.Fatal(err)
		}
		k := dest(2, 80)
		k.Proto = tc.proto
		for range 4 {
			if _, _, err := a.ConnectExclusive(k, 0); err != nil {
				t.Fatal(err)
			}
		}
		_, _, err = a.ConnectExclusive(k, 0)
		if !errors.Is(err, tc.errno) || !errors.Is(err, ErrExhausted) {
			t.Errorf("proto %d: exhausted connect: %v, want %v", tc.proto, err, tc.errno)
		}
		if _, err := a.Shard(0).ConnectExclusive(k); !errors.Is(err, tc.errno) {
			t.Errorf("proto %d: exhausted shard connect: %v, want %v", tc.proto, err, tc.errno)
		}
		if _, err := a.PickBind(func(uint16) bool { return true }); err != nil {
			t.Errorf("proto %d: bind(0) with only tuples on the ports: %v", tc.proto, err)
		}
		if _, err := a.PickBind(func(uint16) bool { return false }); !errors.Is(err, syscall.EADDRINUSE) {
			t.Errorf("proto %d: exhausted bind(0): %v, want EADDRINUSE", tc.proto, err)
		}
	}
}

// Allocator.Connect keeps Linux's parity order over the whole range and,
// within each parity, tries the caller's shard first, then the others:
// every port of the range is handed out to one destination before
// EADDRNOTAVAIL, each from the shard its replies steer to.
func TestConnectFallsBackToOtherShards(t *testing.T) {
	for name, st := range steerings(t, 4) {
		t.Run(name, func(t *testing.T) {
			a, err := New(Config{Range: Range{50000, 50199}, Steering: st, NewRand: seeded(8), Probes: 16})
			if err != nil {
				t.Fatal(err)
			}
			k := dest(2, 443)
			// The order expected: (parity, shard) classes, preferred
			// first.
			class := func(p uint16) (int, int) {
				r := k
				r.DstPort = p
				return int(p-50000) % 2, st.Steer(r)
			}
			var mineEven, even int
			for p := uint16(50000); p <= 50199; p++ {
				if par, sh := class(p); par == 0 {
					even++
					if sh == 1 {
						mineEven++
					}
				}
			}
			seen := map[uint16]bool{}
			for i := range 200 {
				p, sh, err := a.Connect(k, 1)
				if err != nil {
					t.Fatalf("connect %d of 200: %v", i+1, err)
				}
				par, want := class(p)
				if want != sh {
					t.Fatalf("port %d reported for shard %d steers to %d", p, sh, want)
				}
				switch {
				case i < mineEven && (sh != 1 || par != 0):
					t.Fatalf("connect %d took port %d (shard %d, parity %d) while the preferred shard had even ports", i, p, sh, par)
				case i < even && par != 0:
					t.Fatalf("connect %d took odd port %d while even ones were free", i, p)
				case i >= even && par != 1:
					t.Fatalf("connect %d took even port %d, want the odd ones", i, p)
				}
				if seen[p] {
					t.Fatalf("port %d handed out twice", p)
				}
				seen[p] = true
			}
			if _, _, err := a.Connect(k, 1); !errors.Is(err, syscall.EADDRNOTAVAIL) {
				t.Fatalf("after the whole range: %v, want EADDRNOTAVAIL", err)
			}
			if _, _, err := a.Connect(k, 4); !errors.Is(err, syscall.EINVAL) {
				t.Fatalf("shard out of range: %v", err)
			}
		})
	}
}

// SetRange at run time: ports held outside the new range stay valid and
// releasable; new choices, small sets and bitmaps alike, come from the new
// range.
func TestSetRangeAtRunTime(t *testing.T) {
	a, err := New(Config{Range: Range{40000, 40999}, NewRand: seeded(9)})
	if err != nil {
		t.Fatal(err)
	}
	busy, quiet := dest(2, 80), dest(3, 80)
	var old []uint16
	for range 100 { // past smallMax: busy gets bitmaps
		p, err := a.Shard(0).Connect(busy)
		if err != nil {
			t.Fatal(err)
		}
		old = append(old, p)
	}
	if err := a.SetRange(Range{50000, 50009}); err != nil {
		t.Fatal(err)
	}
	if err := a.SetRange(Range{100, 200}); !errors.Is(err, syscall.EINVAL) || a.Range() != (Range{50000, 50009}) {
		t.Fatalf("SetRange below 1024: %v, range now %v", err, a.Range())
	}
	for _, k := range []flowtable.Key{busy, quiet} {
		for i := range 10 {
			p, err := a.Shard(0).Connect(k)
			if err != nil || p < 50000 || p > 50009 {
				t.Fatalf("%v: connect %d after SetRange: %d %v", k, i, p, err)
			}
		}
		if _, err := a.Shard(0).Connect(k); !errors.Is(err, ErrExhausted) {
			t.Fatalf("%v: new range used up: %v", k, err)
		}
	}
	for _, p := range old {
		r := busy
		r.DstPort = p
		a.Release(r)
	}
	if got := a.Connections(); got != 20 {
		t.Fatalf("after releasing the old range's tuples: %d connections, want 20", got)
	}
	if err := a.SetReserved([]Range{{50000, 50009}}); err != nil {
		t.Fatal(err)
	}
	if err := a.SetRange(Range{50000, 50019}); err != nil {
		t.Fatal(err)
	}
	for range 10 {
		if p, err := a.Shard(0).Connect(busy); err != nil || p < 50010 {
			t.Fatalf("with 50000-50009 reserved: %d %v", p, err)
		}
	}
	if _, err := a.Shard(0).Connect(busy); !errors.Is(err, ErrExhausted) {
		t.Fatalf("reserved ports handed out: %v", err)
	}
	if err := a.SetReserved([]Range{{9, 8}}); !errors.Is(err, ErrConfig) || !a.Reserved(50000) {
		t.Fatalf("bad reserved set: %v (the old one must stay)", err)
	}
}

// SetRange and SetReserved race with connects on every shard (run with
// -race): every port handed out lies in a range that was current during the
// call, and no tuple is handed out twice.
func TestSetRangeConcurrent(t *testing.T) {
	st := steerings(t, 4)["metro"]
	a, err := New(Config{Range: Range{40000, 40999}, Steering: st, NewRand: seeded(10)})
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		rs := []Range{{40000, 40999}, {41000, 41999}, {40500, 41499}}
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			_ = a.SetRange(rs[i%3])
			_ = a.SetReserved([]Range{{uint16(40000 + i%1000), uint16(40000 + i%1000)}})
		}
	})
	var mu sync.Mutex
	seen := map[flowtable.Key]bool{}
	var workers sync.WaitGroup
	for g := range 4 {
		workers.Go(func() {
			for i := range 300 {
				k := dest(byte(2+i%2), 80)
				p, sh, err := a.Connect(k, g)
				if err != nil {
					t.Error(err)
					return
				}
				if p < 40000 || p > 41999 {
					t.Errorf("port %d outside every range", p)
				}
				k.DstPort = p
				mu.Lock()
				if seen[k] {
					t.Errorf("tuple %v on shard %d twice", k, sh)
				}
				seen[k] = true
				mu.Unlock()
				if i%3 == 0 {
					mu.Lock()
					delete(seen, k)
					mu.Unlock()
					a.Release(k)
				}
			}
		})
	}
	workers.Wait()
	close(stop)
	wg.Wait()
	if got := a.Connections(); got != len(seen) {
		t.Errorf("allocator records %d tuples, test holds %d", got, len(seen))
	}
}

func TestConnectAllocs(t *testing.T) {
	a, err := New(Config{Steering: steerings(t, 4)["toeplitz"], NewRand: seeded(11)})
	if err != nil {
		t.Fatal(err)
	}
	k := dest(2, 443)
	for range 100 { // bitmaps for this destination
		if _, _, err := a.Connect(k, 0); err != nil {
			t.Fatal(err)
		}
	}
	n := testing.AllocsPerRun(200, func() {
		p, _, err := a.Connect(k, 0)
		if err != nil {
			t.Fatal(err)
		}
		r := k
		r.DstPort = p
		a.Release(r)
	})
	if n != 0 {
		t.Errorf("connect and release of a busy destination allocate %v", n)
	}
}
