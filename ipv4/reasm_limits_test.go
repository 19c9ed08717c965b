package ipv4

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"
)

func TestTimeoutNotExtended(t *testing.T) {
	p := testPayload(64, 5)
	r := NewReassembler(Config{Timeout: 30 * sec})
	f0 := frag(testKey, p, 0, 16, true)
	f1 := frag(testKey, p, 16, 16, true)
	f2 := frag(testKey, p, 32, 32, false)
	if _, _, err := r.Add(&f0, 0); err != nil {
		t.Fatal(err)
	}
	// A fragment just before the deadline is taken but does not move it.
	if _, _, err := r.Add(&f1, 30*sec-1); err != nil {
		t.Fatal(err)
	}
	if n := r.Expire(30*sec - 1); n != 0 {
		t.Fatalf("expired %d datagrams before the deadline", n)
	}
	if n := r.Expire(30 * sec); n != 1 {
		t.Fatalf("expired %d datagrams at the deadline, want 1", n)
	}
	// The last fragment now starts a new datagram that cannot complete.
	if _, ok, err := r.Add(&f2, 30*sec); ok || err != nil {
		t.Fatalf("after timeout: done=%v err=%v, want a new incomplete datagram", ok, err)
	}
	st := r.Stats()
	if st.ReasmTimeout != 1 || st.ReasmFails != 1 || st.ReasmOKs != 0 || st.Queues != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestTimeoutExpiresOnAdd(t *testing.T) {
	p := testPayload(64, 6)
	r := NewReassembler(Config{Timeout: 30 * sec})
	a := frag(testKey, p, 0, 16, true)
	other := testKey
	other.ID++
	b := frag(other, p, 0, 16, true)
	r.Add(&a, 0)
	// Another datagram's fragment at the deadline expires the first one.
	r.Add(&b, 31*sec)
	if st := r.Stats(); st.ReasmTimeout != 1 || st.Queues != 1 {
		t.Errorf("stats %+v, want 1 timeout and 1 queue left", st)
	}
}

func TestTimeExceededReport(t *testing.T) {
	p := testPayload(64, 7)
	var quotes [][]byte
	r := NewReassembler(Config{Timeout: sec, OnTimeExceeded: func(q []byte) {
		quotes = append(quotes, bytes.Clone(q))
	}})
	withFirst := frag(testKey, p, 0, 16, true)
	withFirst.Header = testHeader(testKey, 24, 0, 16, true) // with options: quoted too
	k2 := testKey
	k2.ID = 99
	noFirst := frag(k2, p, 16, 16, true)
	r.Add(&withFirst, 0)
	r.Add(&noFirst, 0)
	if n := r.Expire(sec); n != 2 {
		t.Fatalf("expired %d, want 2", n)
	}
	if len(quotes) != 1 {
		t.Fatalf("%d time exceeded reports, want 1 (only the datagram whose first fragment arrived)", len(quotes))
	}
	want := append(bytes.Clone(withFirst.Header), p[:8]...)
	if !bytes.Equal(quotes[0], want) {
		t.Errorf("quote\n%x\nwant header + 8 bytes\n%x", quotes[0], want)
	}
	if st := r.Stats(); st.ReasmTimeExceeded != 1 || st.ReasmTimeout != 2 || st.MemInUse != 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestMemoryThresholdEviction(t *testing.T) {
	p := testPayload(2048, 8)
	r := NewReassembler(Config{HighThresh: 64 << 10, LowThresh: 48 << 10})
	per := r.qOverhd + headroom + classSize(0)
	fit := (64 << 10) / per
	k := testKey
	for i := range fit {
		k.ID = uint16(i)
		f := frag(k, p, 0, 1024, true)
		if _, _, err := r.Add(&f, int64(i)); err != nil {
			t.Fatalf("datagram %d of %d that fit: %v", i, fit, err)
		}
	}
	if st := r.Stats(); st.ReasmEvictions != 0 || st.Queues != fit {
		t.Fatalf("before the threshold: %+v", st)
	}
	// One more evicts the oldest down to the low threshold.
	k.ID = uint16(fit)
	f := frag(k, p, 0, 1024, true)
	if _, _, err := r.Add(&f, int64(fit)); err != nil {
		t.Fatalf("fragment after eviction: %v", err)
	}
	st := r.Stats()
	if st.ReasmEvictions == 0 || st.MemInUse > 48<<10 || st.ReasmFails != st.ReasmEvictions {
		t.Fatalf("after threshold: %+v", st)
	}
	// The oldest went first: datagram 0 is gone (its second fragment
	// opens a new one), the newest is still there.
	k.ID = 0
	f0 := frag(k, p, 1024, 1024, false)
	r.Add(&f0, int64(fit))
	k.ID = uint16(fit)
	fl := frag(k, p, 1024, 1024, false)
	if _, ok, err := r.Add(&fl, int64(fit)); !ok || err != nil {
		t.Fatalf("newest datagram: done=%v err=%v, want completed", ok, err)
	}
	// A datagram bigger than the whole threshold cannot be held.
	big := testPayload(65000, 9)
	k.ID = 5000
	fb := frag(k, big, 64000, 1000, false)
	if _, _, err := r.Add(&fb, int64(fit)); !errors.Is(err, ErrNoMemory) {
		t.Fatalf("fragment needing 64 KiB under a 64 KiB threshold: %v, want ErrNoMemory", err)
	}
	if r.Mem() > 64<<10 {
		t.Fatalf("memory %d above threshold", r.Mem())
	}
}

func TestQueueCap(t *testing.T) {
	p := testPayload(64, 10)
	r := NewReassembler(Config{MaxQueues: 4})
	k := testKey
	for i := range 10 {
		k.ID = uint16(i)
		f := frag(k, p, 0, 16, true)
		if _, _, err := r.Add(&f, 0); err != nil {
			t.Fatal(err)
		}
		if r.Stats().Queues > 4 {
			t.Fatalf("%d queues, cap 4", r.Stats().Queues)
		}
	}
	if st := r.Stats(); st.ReasmEvictions != 6 {
		t.Errorf("evictions %d, want 6", st.ReasmEvictions)
	}
	// The four newest survive.
	k.ID = 9
	f := frag(k, p, 16, 48, false)
	if _, ok, _ := r.Add(&f, 0); !ok {
		t.Error("newest datagram did not survive the queue cap")
	}
}

func TestTooBig(t *testing.T) {
	big := testPayload(65536+64, 11)
	r := NewReassembler(Config{})
	// A fragment whose end passes 65535 with its own header.
	f := frag(testKey, big, 65520, 8, false)
	if _, _, err := r.Add(&f, 0); !errors.Is(err, ErrTooBig) {
		t.Fatalf("got %v, want ErrTooBig", err)
	}
	// Fits with a 20-byte header, not with the first fragment's 60 bytes.
	k := testKey
	k.ID = 7
	last := frag(k, big, 65480, 32, false) // end 65512: 20+65512 = 65532
	first := frag(k, big, 0, 65480, true)
	first.Header = testHeader(k, 60, 0, 65480, true)
	if _, _, err := r.Add(&last, 0); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := r.Add(&first, 0); ok || !errors.Is(err, ErrTooBig) {
		t.Fatalf("60-byte header + 65512: done=%v err=%v, want ErrTooBig", ok, err)
	}
	if st := r.Stats(); st.ReasmFails != 2 || st.MemInUse != 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestMaxFragments(t *testing.T) {
	p := testPayload(64, 12)
	r := NewReassembler(Config{MaxFragments: 4})
	var err error
	for off := 0; off < 40; off += 8 {
		f := frag(testKey, p, off, 8, true)
		if _, _, err = r.Add(&f, 0); err != nil {
			break
		}
	}
	if !errors.Is(err, ErrTooManyFragments) {
		t.Fatalf("fifth fragment: %v, want ErrTooManyFragments", err)
	}
	if st := r.Stats(); st.ReasmFails != 1 || st.Queues != 0 {
		t.Errorf("stats %+v", st)
	}
	// Exactly the cap completes.
	for off := 0; off < 64; off += 16 {
		f := frag(testKey, p, off, 16, off+16 < 64)
		if _, ok, err := r.Add(&f, 0); err != nil || ok != (off == 48) {
			t.Fatalf("offset %d: done=%v err=%v", off, ok, err)
		}
	}
}

func TestReleaseTwice(t *testing.T) {
	p := testPayload(64, 13)
	r := NewReassembler(Config{})
	run := func(k FragKey) Datagram {
		a, b := frag(k, p, 0, 32, true), frag(k, p, 32, 32, false)
		r.Add(&a, 0)
		d, ok, err := r.Add(&b, 0)
		if !ok || err != nil {
			t.Fatal(ok, err)
		}
		return d
	}
	d1 := run(testKey)
	d1.Release()
	k := testKey
	k.ID = 2
	d2 := run(k) // reuses d1's buffer
	d1.Release() // stale: must not free d2's buffer
	d3 := run(testKey)
	if &d2.Bytes()[0] == &d3.Bytes()[0] {
		t.Fatal("a stale Release returned a buffer still owned by the caller")
	}
	checkDatagram(t, d2, k, p)
	d2.Release()
	d3.Release()
}

// TestNoAllocSteadyState: a 64 KiB datagram from 45 fragments in random
// order reassembles with no allocation once the pool is warm.
func TestNoAllocSteadyState(t *testing.T) {
	payload := testPayload(65535-20, 14)
	fs := split(testKey, payload, 1480)
	rng := rand.New(rand.NewPCG(1, 2))
	r := NewReassembler(Config{})
	run := func() {
		rng.Shuffle(len(fs), func(i, j int) { fs[i], fs[j] = fs[j], fs[i] })
		for i := range fs {
			if d, ok, err := r.Add(&fs[i], 0); ok {
				d.Release()
			} else if err != nil {
				t.Fatal(err)
			}
		}
	}
	run()
	if a := testing.AllocsPerRun(50, run); a != 0 {
		t.Errorf("%.1f allocations per datagram, want 0", a)
	}
}
