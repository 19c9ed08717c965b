package flowtable

import (
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"unsafe"
)

func randKey4(r *rand.Rand) Key4 {
	var s, d [4]byte
	for i := range s {
		s[i], d[i] = byte(r.IntN(256)), byte(r.IntN(256))
	}
	return MakeKey4(s, d, uint16(r.IntN(65536)), uint16(r.IntN(65536)), uint8(r.IntN(256)))
}

func TestKey4Fields(t *testing.T) {
	k := MakeKey4([4]byte{198, 18, 0, 1}, [4]byte{198, 19, 255, 254}, 65535, 80, 17)
	if k.Src() != [4]byte{198, 18, 0, 1} || k.Dst() != [4]byte{198, 19, 255, 254} ||
		k.SrcPort() != 65535 || k.DstPort() != 80 || k.Proto() != 17 {
		t.Fatalf("fields of %v", k)
	}
	if got, want := k.String(), "198.18.0.1:65535 -> 198.19.255.254:80/17"; got != want {
		t.Errorf("String %q, want %q", got, want)
	}
	r := k.Reverse()
	if r.Src() != k.Dst() || r.SrcPort() != 80 || r.DstPort() != 65535 || r.Reverse() != k {
		t.Errorf("Reverse of %v: %v", k, r)
	}
	if got, want := k.Key(), KeyFrom4(k.Src(), k.Dst(), 65535, 80, 17); got != want {
		t.Errorf("Key %v, want %v", got, want)
	}
	if k.rest&key4Low != 0 {
		t.Errorf("a key has bits in the entry's bookkeeping: %#x", k.rest)
	}
}

// TestTable4AgainstMap runs random inserts, updates, class changes and
// deletes on a small, crowded table (long probes, overflow counts in use)
// and checks every key's lookup against a map after each step.
func TestTable4AgainstMap(t *testing.T) {
	r := rand.New(rand.NewPCG(4, 4))
	tab, err := NewTable4(Config{Capacity: 256, MaxProbe: 16, Rand: r}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tab.Close()
	ref := map[Key4]uint64{}
	var keys []Key4
	for range 300 {
		keys = append(keys, randKey4(r))
	}
	// Keys differing in one field only: the packing must keep them apart.
	base := keys[0]
	keys = append(keys, MakeKey4(base.Src(), base.Dst(), base.SrcPort(), base.DstPort(), base.Proto()+1),
		MakeKey4(base.Src(), base.Dst(), base.SrcPort()+1, base.DstPort(), base.Proto()),
		MakeKey4(base.Src(), base.Dst(), base.SrcPort(), base.DstPort()^1, base.Proto()), Key4{})
	full := 0
	for step := range 20000 {
		k := keys[r.IntN(len(keys))]
		_, in := ref[k]
		switch op := r.IntN(10); {
		case op < 5:
			v := r.Uint64()
			err := tab.Insert(k, v, Class(r.IntN(3)), int64(step))
			switch {
			case in && !errors.Is(err, ErrExists):
				t.Fatalf("step %d: insert of present %v: %v", step, k, err)
			case !in && errors.Is(err, ErrFull):
				full++
			case !in && err != nil:
				t.Fatalf("step %d: insert %v: %v", step, k, err)
			case !in:
				ref[k] = v
			}
		case op < 7:
			v := r.Uint64()
			if err := tab.Update(k, v); in != (err == nil) {
				t.Fatalf("step %d: update %v (present %v): %v", step, k, in, err)
			} else if in {
				ref[k] = v
			}
		case op < 8:
			c := Class(r.IntN(3))
			if err := tab.SetClass(k, c, int64(step)); in != (err == nil) {
				t.Fatalf("step %d: set class %v (present %v): %v", step, k, in, err)
			} else if e, _ := tab.Meta(k); in && e.Class != c {
				t.Fatalf("step %d: class %d, want %d", step, e.Class, c)
			}
		default:
			v, err := tab.Delete(k)
			if in != (err == nil) || in && v != ref[k] {
				t.Fatalf("step %d: delete %v (present %v): %d, %v; want %d", step, k, in, v, err, ref[k])
			}
			delete(ref, k)
		}
		if step%97 == 0 || step > 19900 {
			checkTable4(t, tab, keys, ref)
		}
	}
	if full == 0 {
		t.Error("no insert was refused: the table was never crowded")
	}
	if st := tab.Stats(); st.FullRefusals != uint64(full) || int(st.Entries) != len(ref) {
		t.Errorf("stats %+v, want %d refusals and %d entries", st, full, len(ref))
	}
	// Deleting every key leaves every overflow count at zero.
	for k := range ref {
		if _, err := tab.Delete(k); err != nil {
			t.Fatal(err)
		}
	}
	for i := range tab.buckets {
		if o := tab.buckets[i].over.Load(); o != 0 {
			t.Fatalf("bucket %d: overflow %d in an empty table", i, o)
		}
	}
}

func checkTable4(t *testing.T, tab *Table4, keys []Key4, ref map[Key4]uint64) {
	t.Helper()
	vals := make([]uint64, len(keys))
	found := make([]bool, len(keys))
	if n := tab.LookupBatch(keys, vals, found); n > len(ref) {
		t.Fatalf("batch found %d keys, %d present", n, len(ref))
	}
	for j, k := range keys {
		want, in := ref[k]
		if v, ok := tab.Lookup(k); ok != in || v != want {
			t.Fatalf("lookup %v: %d %v, want %d %v", k, v, ok, want, in)
		}
		if found[j] != in || vals[j] != want {
			t.Fatalf("batch lookup %v: %d %v, want %d %v", k, vals[j], found[j], want, in)
		}
	}
	n := 0
	for k, e := range tab.All() {
		if ref[k] != e.Value {
			t.Fatalf("All: %v = %d, want %d", k, e.Value, ref[k])
		}
		n++
	}
	if n != len(ref) || tab.Len() != len(ref) {
		t.Fatalf("All gave %d entries, Len %d, want %d", n, tab.Len(), len(ref))
	}
}

// TestTable4Aging: entries expire by their class's timeout, a touch keeps
// one alive, class 0 without a timeout never expires, and a timeout change
// applies to entries already in the table.
func TestTable4Aging(t *testing.T) {
	const ms = int64(1e6)
	var removed []Key4
	tab, err := NewTable4(Config{Capacity: 64, IdleTimeouts: []int64{0, 10 * ms, 100 * ms}},
		func(k Key4, _ Entry4, why RemoveReason) {
			if why != RemoveExpired {
				t.Errorf("%v removed: %v", k, why)
			}
			removed = append(removed, k)
		})
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	forever, short, touched, long := randKey4(r), randKey4(r), randKey4(r), randKey4(r)
	now := int64(1) << 40 // stamps are taken modulo 2^32 units
	for k, c := range map[Key4]Class{forever: 0, short: 1, touched: 1, long: 2} {
		if err := tab.Insert(k, 7, c, now); err != nil {
			t.Fatal(err)
		}
	}
	sweep := func(at int64) {
		t.Helper()
		tab.Sweep(at, len(tab.buckets))
	}
	sweep(now + 5*ms)
	if e, ok := tab.Meta(long); !ok || e.Class != 2 || e.Idle(now+5*ms) < 4*ms || e.Idle(now+5*ms) > 5*ms ||
		e.Idle(now-ms) != 0 || e.LastSeen(now+5*ms) != now+5*ms-e.Idle(now+5*ms) {
		t.Errorf("entry %+v: idle %d ns 5 ms after its insert", e, e.Idle(now+5*ms))
	}
	if _, c, ok := tab.LookupHashed(short, tab.Hash(short)); !ok || c != 1 {
		t.Errorf("LookupHashed: class %d, %v", c, ok)
	}
	if _, ok := tab.LookupTouch(touched, now+8*ms); !ok || len(removed) != 0 {
		t.Fatalf("removed %v after 5 ms", removed)
	}
	sweep(now + 15*ms)
	if len(removed) != 1 || removed[0] != short {
		t.Fatalf("after 15 ms removed %v, want only %v", removed, short)
	}
	sweep(now + 50*ms)
	if len(removed) != 2 || removed[1] != touched {
		t.Fatalf("after 50 ms removed %v, want %v second", removed, touched)
	}
	if err := tab.SetIdleTimeouts([]int64{0, 10 * ms, 20 * ms}); err != nil {
		t.Fatal(err)
	}
	sweep(now + 60*ms)
	if len(removed) != 3 || removed[2] != long {
		t.Fatalf("with class 2 at 20 ms, removed %v", removed)
	}
	sweep(now + 1e15) // about 12 days later
	if _, ok := tab.Lookup(forever); !ok || len(removed) != 3 {
		t.Fatalf("class 0 expired (removed %v)", removed)
	}
	// 40 days on (past half the stamps' wrap), swept every 10: the entry
	// that never expires has the oldest age there is, about 13 days, and
	// reads as seen before a fresh one.
	for d := int64(10); d <= 40; d += 10 {
		sweep(now + d*24*3600*1e9)
	}
	late := now + 40*24*3600*1e9
	fresh := randKey4(r)
	if err := tab.Insert(fresh, 1, 0, late); err != nil {
		t.Fatal(err)
	}
	e, _ := tab.Meta(forever)
	ef, _ := tab.Meta(fresh)
	if idle := e.Idle(late); idle < 13*24*3600*1e9 || idle > 13.1*24*3600*1e9 || e.SeenAfter(ef) || !ef.SeenAfter(e) {
		t.Errorf("40 days idle: Idle %v days, seen after a fresh entry %v", float64(idle)/86400e9, e.SeenAfter(ef))
	}
	if st := tab.Stats(); st.Expired != 3 || st.Entries != 2 {
		t.Errorf("stats %+v", st)
	}
	if err := tab.SetIdleTimeouts([]int64{-1}); err == nil {
		t.Error("a negative timeout was accepted")
	}
}

// TestTable4EvictOldest: with every bucket of a key's probe window full,
// FullEvictOldest makes room by removing the least recently seen entry.
func TestTable4EvictOldest(t *testing.T) {
	var evicted []Key4
	tab, err := NewTable4(Config{Capacity: 8, MaxProbe: 4, Full: FullEvictOldest},
		func(k Key4, _ Entry4, why RemoveReason) {
			if why != RemoveEvicted {
				t.Errorf("%v: %v", k, why)
			}
			evicted = append(evicted, k)
		})
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(3, 3))
	var keys []Key4
	for i := range 8 {
		k := randKey4(r)
		keys = append(keys, k)
		if err := tab.Insert(k, uint64(i), 0, int64(i+1)<<StampShift); err != nil {
			t.Fatal(err)
		}
	}
	oldest := keys[0]
	tab.LookupTouch(oldest, 100<<StampShift) // keys[1] is now the oldest
	k := randKey4(r)
	if err := tab.Insert(k, 99, 0, 101<<StampShift); err != nil {
		t.Fatal(err)
	}
	if len(evicted) != 1 || evicted[0] != keys[1] {
		t.Fatalf("evicted %v, want %v", evicted, keys[1])
	}
	if v, ok := tab.Lookup(k); !ok || v != 99 {
		t.Errorf("the new key: %d %v", v, ok)
	}
	if _, ok := tab.Lookup(oldest); !ok {
		t.Error("the touched key was evicted")
	}
}

// TestTable4Concurrent: readers on other goroutines look keys up while the
// writer inserts, updates and deletes them; a value is always one stored
// for its key (each value encodes its key), and keys present throughout
// are always found. Run with -race.
func TestTable4Concurrent(t *testing.T) {
	tab, err := NewTable4(Config{Capacity: 1024, MaxProbe: 8, Rand: rand.New(rand.NewPCG(9, 9))}, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(5, 6))
	stable := make([]Key4, 200)
	churn := make([]Key4, 400)
	tag := func(k Key4) uint64 { return hash4(k, 1, 2) &^ 0xffff }
	for i := range stable {
		stable[i] = randKey4(r)
		if err := tab.Insert(stable[i], tag(stable[i]), 0, 0); err != nil {
			t.Fatal(err)
		}
	}
	for i := range churn {
		churn[i] = randKey4(r)
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	errs := make(chan string, 4)
	for g := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			vals := make([]uint64, len(stable))
			found := make([]bool, len(stable))
			for n := 0; !stop.Load(); n++ {
				for _, k := range churn {
					if v, ok := tab.Lookup(k); ok && v&^0xffff != tag(k) {
						errs <- "a churned key's lookup returned another key's value"
						return
					}
				}
				if g == 0 {
					tab.LookupBatch(stable, vals, found)
				}
				for i, k := range stable {
					v, ok := tab.LookupTouch(k, int64(n))
					if g == 0 {
						ok, v = ok && found[i], vals[i]
					}
					if !ok || v&^0xffff != tag(k) {
						errs <- "a key present throughout was not found, or had another key's value"
						return
					}
				}
			}
		}()
	}
	for i := range 200000 {
		k := churn[r.IntN(len(churn))]
		switch r.IntN(3) {
		case 0:
			_ = tab.Insert(k, tag(k)|uint64(i&0xffff), 0, 0)
		case 1:
			_ = tab.Update(k, tag(k)|uint64(i&0xffff))
		default:
			_, _ = tab.Delete(k)
		}
		if k := stable[r.IntN(len(stable))]; i%7 == 0 {
			if err := tab.Update(k, tag(k)|uint64(i&0xffff)); err != nil {
				t.Fatal(err)
			}
		}
	}
	stop.Store(true)
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
}

// TestTable4Config: bad configurations are refused with ErrConfig; a
// large table is mapped, a small one or NoHugePages is on the heap, 64-byte
// aligned either way.
func TestTable4Config(t *testing.T) {
	for _, cfg := range []Config{{}, {Capacity: -1}, {Capacity: 8, MaxProbe: 500}, {Capacity: 8, Full: 9},
		{Capacity: 8, IdleTimeouts: []int64{-5}}, {Capacity: 8, OnRemove: func(Key, uint64, RemoveReason) {}}} {
		if _, err := NewTable4(cfg, nil); !errors.Is(err, ErrConfig) {
			t.Errorf("%+v: %v, want ErrConfig", cfg, err)
		}
	}
	for _, tc := range []struct {
		cfg    Config
		mapped bool
	}{{Config{Capacity: 100}, false}, {Config{Capacity: 1 << 17}, true}, {Config{Capacity: 1 << 17, NoHugePages: true}, false}} {
		tab, err := NewTable4(tc.cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		if st := tab.Stats(); st.Mapped != tc.mapped || st.Capacity < uint64(tc.cfg.Capacity) {
			t.Errorf("capacity %d: %+v, want mapped %v", tc.cfg.Capacity, st, tc.mapped)
		}
		if a := uintptr(unsafePointer(&tab.buckets[0])) % 64; a != 0 {
			t.Errorf("capacity %d: buckets %d bytes off a cache line", tc.cfg.Capacity, a)
		}
		tab.Close()
	}
}

func TestTable4Allocs(t *testing.T) {
	tab, err := NewTable4(Config{Capacity: 1024, Full: FullEvictOldest}, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(7, 7))
	keys := make([]Key4, 64)
	for i := range keys {
		keys[i] = randKey4(r)
	}
	vals, found, hs := make([]uint64, 64), make([]bool, 64), make([]uint64, 64)
	if n := testing.AllocsPerRun(100, func() {
		for i, k := range keys {
			_ = tab.Insert(k, uint64(i), 1, 5)
		}
		tab.PrefetchHash(keys, hs)
		for i, k := range keys {
			tab.LookupTouchHashed(k, hs[i], 9)
		}
		tab.LookupBatch(keys, vals, found)
		tab.Sweep(1<<40, 64)
		for _, k := range keys {
			_, _ = tab.Delete(k)
		}
	}); n != 0 {
		t.Errorf("%v allocations a round", n)
	}
}

func unsafePointer(b *bucket4) unsafe.Pointer { return unsafe.Pointer(b) }
