package ipv4

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"sync"
	"syscall"
	"testing"

	"github.com/xdpengine/engine/header"
)

// datagram builds a full IPv4 datagram with the given options.
func datagram(k FragKey, opts []byte, payload []byte, df bool) []byte {
	hl := 20 + len(opts)
	b := make([]byte, hl+len(payload))
	b[0] = 0x40 | byte(hl/4)
	binary.BigEndian.PutUint16(b[2:], uint16(len(b)))
	binary.BigEndian.PutUint16(b[4:], k.ID)
	if df {
		b[6] = 0x40
	}
	b[8] = 64
	b[9] = k.Proto
	copy(b[12:], k.Src[:])
	copy(b[16:], k.Dst[:])
	copy(b[20:], opts)
	copy(b[hl:], payload)
	header.IPv4(b).UpdateChecksum()
	return b
}

func outBufs(n, size int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = make([]byte, size)
	}
	return out
}

// fragmentsOf turns fragment frames back into Fragments for the reassembler.
func fragmentsOf(t testing.TB, frames [][]byte) []Fragment {
	fs := make([]Fragment, len(frames))
	for i, b := range frames {
		f, err := ParseFragment(b)
		if err != nil {
			t.Fatalf("fragment %d: %v", i, err)
		}
		fs[i] = f
	}
	return fs
}

// TestFragmentGolden: a 56-byte datagram whose 32-byte header carries a
// copied option (type 0x88, stream ID, 4 bytes) and a non-copied one (type
// 0x07, record route, 7 bytes) plus a NOP, fragmented at MTU 48. The
// checksums in the golden bytes were computed independently (Python's
// struct, RFC 1071 sum).
func TestFragmentGolden(t *testing.T) {
	k := FragKey{Src: [4]byte{198, 18, 0, 1}, Dst: [4]byte{198, 18, 0, 2}, ID: 0xbeef, Proto: 17}
	opts := []byte{0x88, 4, 0x12, 0x34, 0x07, 7, 4, 0, 0, 0, 0, 1} // stream ID (copied), RR (not), NOP
	payload := make([]byte, 24)
	for i := range payload {
		payload[i] = byte(i)
	}
	pkt := datagram(k, opts, payload, false) // 32 + 24 = 56 bytes
	var fr Fragmenter
	out := outBufs(4, 48)
	n, err := fr.Fragment(pkt, 48, out)
	if err != nil {
		t.Fatal(err)
	}
	want := [][]byte{
		// First: the full 32-byte header, 16 bytes (48-32 rounded to 8), MF, offset 0.
		{0x48, 0x00, 0x00, 0x30, 0xbe, 0xef, 0x20, 0x00, 0x40, 0x11, 0x67, 0x65,
			198, 18, 0, 1, 198, 18, 0, 2,
			0x88, 4, 0x12, 0x34, 0x07, 7, 4, 0, 0, 0, 0, 1,
			0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15},
		// Second: 24-byte header with only the copied option, last 8 bytes, offset 2 (16 bytes).
		{0x46, 0x00, 0x00, 0x20, 0xbe, 0xef, 0x00, 0x02, 0x40, 0x11, 0x94, 0x7b,
			198, 18, 0, 1, 198, 18, 0, 2,
			0x88, 4, 0x12, 0x34,
			16, 17, 18, 19, 20, 21, 22, 23},
	}
	if n != len(want) {
		t.Fatalf("%d fragments, want %d", n, len(want))
	}
	for i := range want {
		if !bytes.Equal(out[i], want[i]) {
			t.Errorf("fragment %d\n got %x\nwant %x", i, out[i], want[i])
		}
	}
	if st := fr.Stats(); st.FragOKs != 1 || st.FragCreates != 2 || st.FragFails != 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestFragmentDF(t *testing.T) {
	pkt := datagram(testKey, nil, make([]byte, 2000), true)
	var fr Fragmenter
	_, err := fr.Fragment(pkt, 1500, outBufs(2, 1500))
	if !errors.Is(err, syscall.EMSGSIZE) {
		t.Fatalf("DF datagram over MTU: %v, want EMSGSIZE", err)
	}
	var me *MTUError
	if !errors.As(err, &me) || me.MTU != 1500 || me.Len != 2020 {
		t.Fatalf("error %#v does not carry MTU 1500 and length 2020", err)
	}
	// DF set but it fits: copied unchanged.
	small := datagram(testKey, nil, make([]byte, 100), true)
	out := outBufs(1, 1500)
	if n, err := fr.Fragment(small, 1500, out); n != 1 || err != nil || !bytes.Equal(out[0], small) {
		t.Fatalf("fitting DF datagram: n=%d err=%v", n, err)
	}
	if st := fr.Stats(); st.FragFails != 1 || st.FragOKs != 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestFragmentErrors(t *testing.T) {
	pkt := datagram(testKey, nil, make([]byte, 3000), false)
	var fr Fragmenter
	if _, err := fr.Fragment(pkt, 1500, outBufs(2, 1500)); !errors.Is(err, ErrShortBuffers) {
		t.Errorf("two buffers for three fragments: %v", err)
	}
	if _, err := fr.Fragment(pkt, 1500, outBufs(3, 1000)); !errors.Is(err, ErrShortBuffers) {
		t.Errorf("buffers shorter than the MTU: %v", err)
	}
	if _, err := fr.Fragment(pkt, 27, outBufs(400, 27)); !errors.Is(err, ErrBadMTU) {
		t.Errorf("MTU 27: %v", err)
	}
	bad := bytes.Clone(pkt)
	bad[0] = 0x45 + 0x10 // version 5
	if _, err := fr.Fragment(bad, 1500, outBufs(3, 1500)); !errors.Is(err, ErrBadPacket) {
		t.Errorf("bad version: %v", err)
	}
	bad = datagram(testKey, []byte{0x88, 9, 0, 0}, make([]byte, 3000), false) // option runs past header
	if _, err := fr.Fragment(bad, 1500, outBufs(3, 1500)); !errors.Is(err, ErrBadPacket) {
		t.Errorf("bad option: %v", err)
	}
	if st := fr.Stats(); st.FragFails != 5 {
		t.Errorf("FragFails %d, want 5", st.FragFails)
	}
}

func TestFragmentReassembleRoundTrip(t *testing.T) {
	for _, mtu := range []int{68, 576, 1280, 1500, 9000} {
		payload := testPayload(65535-20, uint64(mtu))
		pkt := datagram(testKey, nil, payload, false)
		var fr Fragmenter
		n, _ := fr.Count(pkt, mtu)
		out := outBufs(n, mtu)
		if _, err := fr.Fragment(pkt, mtu, out); err != nil {
			t.Fatalf("mtu %d: %v", mtu, err)
		}
		for i, b := range out {
			if len(b) > mtu {
				t.Fatalf("mtu %d: fragment %d is %d bytes", mtu, i, len(b))
			}
		}
		r := NewReassembler(Config{MaxFragments: n})
		fs := fragmentsOf(t, out)
		rand.New(rand.NewPCG(1, uint64(mtu))).Shuffle(n, func(i, j int) { fs[i], fs[j] = fs[j], fs[i] })
		for i := range fs {
			d, ok, err := r.Add(&fs[i], 0)
			if err != nil {
				t.Fatalf("mtu %d fragment %d: %v", mtu, i, err)
			}
			if ok != (i == n-1) {
				t.Fatalf("mtu %d: done after %d of %d fragments", mtu, i+1, n)
			}
			if ok && !bytes.Equal(d.Bytes(), pkt) {
				t.Fatalf("mtu %d: reassembled datagram differs from the original", mtu)
			}
		}
	}
}

// TestRefragment: fragmenting a non-final fragment keeps offsets relative
// to the original datagram and MF on every piece.
func TestRefragment(t *testing.T) {
	payload := testPayload(3000, 21)
	pkt := datagram(testKey, nil, payload, false)
	var fr Fragmenter
	out := outBufs(3, 1500)
	if _, err := fr.Fragment(pkt, 1500, out); err != nil {
		t.Fatal(err)
	}
	var pieces [][]byte
	for _, f := range out {
		sub := outBufs(4, 576)
		n, err := fr.Fragment(f, 576, sub)
		if err != nil {
			t.Fatal(err)
		}
		pieces = append(pieces, sub[:n]...)
	}
	r := NewReassembler(Config{})
	fs := fragmentsOf(t, pieces)
	for i := range fs {
		d, ok, err := r.Add(&fs[i], 0)
		if err != nil {
			t.Fatalf("piece %d: %v", i, err)
		}
		if ok != (i == len(fs)-1) {
			t.Fatalf("done after %d of %d pieces", i+1, len(fs))
		}
		if ok && !bytes.Equal(d.Bytes(), pkt) {
			t.Fatal("re-fragmented datagram differs")
		}
	}
}

func TestFragmentNoAlloc(t *testing.T) {
	pkt := datagram(testKey, nil, testPayload(65535-20, 22), false)
	var fr Fragmenter
	out := outBufs(45, 1500)
	bufs := make([][]byte, 45)
	if a := testing.AllocsPerRun(20, func() {
		copy(bufs, out)
		if _, err := fr.Fragment(pkt, 1500, bufs); err != nil {
			t.Fatal(err)
		}
	}); a != 0 {
		t.Errorf("%.1f allocations per datagram, want 0", a)
	}
}

type lockedRand struct {
	mu sync.Mutex
	r  *rand.Rand
}

func (l *lockedRand) Uint32N(n uint32) uint32 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.r.Uint32N(n)
}

func TestIDGenerator(t *testing.T) {
	rnd := &lockedRand{r: rand.New(rand.NewPCG(1, 2))}
	g := NewIDGenerator(2048, [2]uint64{0x1111, 0x2222}, rnd)
	src := [4]byte{198, 18, 0, 1}
	d1 := [4]byte{198, 18, 0, 2}
	// Within one tick, consecutive IDs to one destination.
	a := g.Next(src, d1, 17, 5*idTick)
	b := g.Next(src, d1, 17, 5*idTick)
	c := g.NextN(src, d1, 17, 3, 5*idTick)
	e := g.Next(src, d1, 17, 5*idTick)
	if b != a+1 || c != b+1 || e != c+3 {
		t.Errorf("IDs in one tick %d %d %d %d, want consecutive (NextN reserving 3)", a, b, c, e)
	}
	// Other destinations use other counters: the sequence to d1 does not
	// move when traffic goes to many others (bar hash collisions, which
	// the 2048 buckets make rare for 20 destinations).
	for i := range 20 {
		g.Next(src, [4]byte{198, 19, 0, byte(i)}, 17, 5*idTick)
	}
	if f := g.Next(src, d1, 17, 5*idTick); f != e+1 {
		t.Errorf("traffic to other destinations advanced the counter of d1 (%d after %d)", f, e)
	}
	// After idle ticks the counter jumps by a random amount below the
	// idle time: over many trials, not always by zero.
	jumps := 0
	last := g.Next(src, d1, 17, 5*idTick)
	for i := range 50 {
		now := int64(100+i*100) * idTick
		v := g.Next(src, d1, 17, now)
		if d := v - last; d != 1 {
			jumps++
			if d == 0 || int(d) > 101 {
				t.Fatalf("jump of %d after 100 idle ticks", d)
			}
		}
		last = v
	}
	if jumps < 40 {
		t.Errorf("only %d of 50 idle periods perturbed the counter", jumps)
	}
}

func TestIDGeneratorConcurrent(t *testing.T) {
	g := NewIDGenerator(16, [2]uint64{3, 4}, nil)
	src, dst := [4]byte{198, 18, 0, 1}, [4]byte{198, 18, 0, 2}
	var wg sync.WaitGroup
	seen := make([][]uint16, 4)
	for w := range 4 {
		wg.Go(func() {
			for range 1000 {
				seen[w] = append(seen[w], g.Next(src, dst, 17, 0))
			}
		})
	}
	wg.Wait()
	uniq := map[uint16]bool{}
	for _, s := range seen {
		for _, v := range s {
			uniq[v] = true
		}
	}
	if len(uniq) != 4000 {
		t.Errorf("%d distinct IDs from 4000 concurrent calls, want 4000", len(uniq))
	}
}
