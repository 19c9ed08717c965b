package ipv4

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/xdpengine/engine/header"
)

const sec = int64(1_000_000_000)

var testKey = FragKey{Src: [4]byte{198, 18, 0, 2}, Dst: [4]byte{198, 18, 0, 1}, ID: 0x1234, Proto: 17}

// testHeader builds an IPv4 header for a fragment of k (checksum left 0:
// the reassembler recomputes it).
func testHeader(k FragKey, hl, off, n int, more bool) []byte {
	h := make([]byte, hl)
	h[0] = 0x40 | byte(hl/4)
	binary.BigEndian.PutUint16(h[2:], uint16(hl+n))
	binary.BigEndian.PutUint16(h[4:], k.ID)
	fo := uint16(off / 8)
	if more {
		fo |= 0x2000
	}
	binary.BigEndian.PutUint16(h[6:], fo)
	h[8] = 64
	h[9] = k.Proto
	copy(h[12:], k.Src[:])
	copy(h[16:], k.Dst[:])
	for i := 20; i < hl; i++ {
		h[i] = 1 // NOP options
	}
	return h
}

func frag(k FragKey, payload []byte, off, n int, more bool) Fragment {
	return Fragment{Key: k, Offset: off, More: more, Header: testHeader(k, 20, off, n, more), Payload: payload[off : off+n]}
}

// split cuts payload into fragments of size step (a multiple of 8).
func split(k FragKey, payload []byte, step int) []Fragment {
	var fs []Fragment
	for off := 0; off < len(payload); off += step {
		n := min(step, len(payload)-off)
		fs = append(fs, frag(k, payload, off, n, off+n < len(payload)))
	}
	return fs
}

func testPayload(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func checkDatagram(t *testing.T, d Datagram, k FragKey, payload []byte) {
	t.Helper()
	b := d.Bytes()
	if len(b) != 20+len(payload) {
		t.Fatalf("datagram length %d, want %d", len(b), 20+len(payload))
	}
	if got := int(binary.BigEndian.Uint16(b[2:])); got != len(b) {
		t.Errorf("total length field %d, want %d", got, len(b))
	}
	if fo := binary.BigEndian.Uint16(b[6:]); fo&0x3fff != 0 {
		t.Errorf("flags/offset %#04x: MF or offset left set", fo)
	}
	var s uint32
	for i := 0; i < 20; i += 2 {
		s += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	for s > 0xffff {
		s = s&0xffff + s>>16
	}
	if s != 0xffff {
		t.Errorf("header checksum does not verify (sum %#x)", s)
	}
	if [4]byte(b[12:16]) != k.Src || [4]byte(b[16:20]) != k.Dst {
		t.Errorf("addresses changed")
	}
	if !bytes.Equal(b[20:], payload) {
		t.Errorf("payload differs from what was fragmented")
	}
}

type step struct {
	f    Fragment
	at   int64
	want error // nil: kept
	done bool  // completes the datagram
}

func TestReassembleOrders(t *testing.T) {
	payload := testPayload(4000, 1)
	fs := split(testKey, payload, 1480) // 1480, 1480, 1040
	orders := map[string][]int{
		"in-order": {0, 1, 2},
		"reverse":  {2, 1, 0},
		"middle":   {1, 0, 2},
		"last-mid": {2, 0, 1},
	}
	for name, order := range orders {
		t.Run(name, func(t *testing.T) {
			r := NewReassembler(Config{})
			for i, idx := range order {
				d, ok, err := r.Add(&fs[idx], 0)
				if err != nil {
					t.Fatalf("fragment %d: %v", idx, err)
				}
				if ok != (i == len(order)-1) {
					t.Fatalf("fragment %d: done=%v", idx, ok)
				}
				if ok {
					checkDatagram(t, d, testKey, payload)
					d.Release()
				}
			}
			st := r.Stats()
			if st.ReasmReqds != 3 || st.ReasmOKs != 1 || st.ReasmFails != 0 || st.MemInUse != 0 || st.Queues != 0 {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

func TestReassembleRandom64K(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	r := NewReassembler(Config{})
	for round := range 50 {
		payload := testPayload(65535-20, uint64(round))
		fs := split(testKey, payload, 1480)
		if len(fs) != 45 {
			t.Fatalf("%d fragments, want 45", len(fs))
		}
		rng.Shuffle(len(fs), func(i, j int) { fs[i], fs[j] = fs[j], fs[i] })
		for i := range fs {
			d, ok, err := r.Add(&fs[i], int64(round))
			if err != nil {
				t.Fatal(err)
			}
			if ok != (i == len(fs)-1) {
				t.Fatalf("round %d fragment %d: done=%v", round, i, ok)
			}
			if ok {
				checkDatagram(t, d, testKey, payload)
				d.Release()
			}
		}
	}
	if m := r.Mem(); m != 0 {
		t.Errorf("memory in use %d after all datagrams completed", m)
	}
}

func TestReassembleCases(t *testing.T) {
	p := testPayload(64, 3)
	k := testKey
	tcp := k
	tcp.Proto = header.ProtocolTCP
	tp := testPayload(64, 4)
	other := bytes.Clone(p)
	other[20] ^= 0xff
	cases := []struct {
		name  string
		steps []step
		stats Stats // checked fields: ReasmOKs, ReasmFails, ReasmOverlaps, ReasmDuplicates, ReasmBadFragments
	}{
		{"duplicate dropped alone", []step{
			{f: frag(k, p, 0, 16, true)},
			{f: frag(k, p, 0, 16, true), want: ErrDuplicate},
			{f: frag(k, p, 16, 48, false), done: true},
		}, Stats{ReasmOKs: 1, ReasmDuplicates: 1}},
		{"duplicate inside a coalesced run", []step{
			{f: frag(k, p, 0, 16, true)},
			{f: frag(k, p, 16, 16, true)},
			{f: frag(k, p, 8, 16, true), want: ErrDuplicate},
			{f: frag(k, p, 32, 32, false), done: true},
		}, Stats{ReasmOKs: 1, ReasmDuplicates: 1}},
		{"same extent different bytes is an overlap", []step{
			{f: frag(k, p, 16, 16, true)},
			{f: frag(k, other, 16, 16, true), want: ErrOverlap},
		}, Stats{ReasmFails: 1, ReasmOverlaps: 1}},
		{"teardrop partial overlap discards datagram", []step{
			{f: frag(k, p, 0, 24, true)},
			{f: frag(k, p, 16, 48, false), want: ErrOverlap},
			// The datagram is gone: the rest starts a new one.
			{f: frag(k, p, 24, 40, false)},
		}, Stats{ReasmFails: 1, ReasmOverlaps: 1}},
		{"overlap spanning two runs", []step{
			{f: frag(k, p, 0, 8, true)},
			{f: frag(k, p, 24, 8, true)},
			{f: frag(k, p, 8, 24, true), want: ErrOverlap},
		}, Stats{ReasmFails: 1, ReasmOverlaps: 1}},
		{"second last fragment with another end", []step{
			{f: frag(k, p, 32, 32, false)},
			{f: frag(k, p, 40, 16, false), want: ErrConflict},
		}, Stats{ReasmFails: 1}},
		{"data beyond the known end", []step{
			{f: frag(k, p, 16, 16, false)},
			{f: frag(k, p, 32, 8, true), want: ErrConflict},
		}, Stats{ReasmFails: 1}},
		{"last fragment ending before data already seen", []step{
			{f: frag(k, p, 32, 32, true)},
			{f: frag(k, p, 8, 16, false), want: ErrConflict},
		}, Stats{ReasmFails: 1}},
		{"exact duplicate of the last fragment", []step{
			{f: frag(k, p, 32, 32, false)},
			{f: frag(k, p, 32, 32, false), want: ErrDuplicate},
			{f: frag(k, p, 0, 32, true), done: true},
		}, Stats{ReasmOKs: 1, ReasmDuplicates: 1}},
		{"tcp offset 8 is a tiny fragment", []step{
			{f: frag(tcp, tp, 8, 16, true), want: ErrTinyFragment},
		}, Stats{ReasmBadFragments: 1}},
		{"tcp first fragment too short for flags", []step{
			{f: frag(tcp, tp, 0, 8, true), want: ErrTinyFragment},
		}, Stats{ReasmBadFragments: 1}},
		{"tcp first fragment of 16 bytes is fine", []step{
			{f: frag(tcp, tp, 0, 16, true)},
			{f: frag(tcp, tp, 16, 48, false), done: true},
		}, Stats{ReasmOKs: 1}},
		{"udp offset 8 is fine", []step{
			{f: frag(k, p, 8, 56, false)},
			{f: frag(k, p, 0, 8, true), done: true},
		}, Stats{ReasmOKs: 1}},
		{"not a fragment", []step{
			{f: frag(k, p, 0, 64, false), want: ErrNotFragment},
		}, Stats{ReasmBadFragments: 1}},
		{"non-last fragment not a multiple of 8", []step{
			{f: frag(k, p, 0, 12, true), want: ErrBadFragment},
		}, Stats{ReasmBadFragments: 1}},
		{"empty fragment", []step{
			{f: frag(k, p, 16, 0, true), want: ErrBadFragment},
		}, Stats{ReasmBadFragments: 1}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := NewReassembler(Config{})
			for i, s := range c.steps {
				d, ok, err := r.Add(&s.f, s.at)
				if !errors.Is(err, s.want) || (s.want == nil && err != nil) {
					t.Fatalf("step %d: got error %v, want %v", i, err, s.want)
				}
				if ok != s.done {
					t.Fatalf("step %d: done=%v, want %v", i, ok, s.done)
				}
				if ok {
					pl := p
					if s.f.Key.Proto == header.ProtocolTCP {
						pl = tp
					}
					checkDatagram(t, d, s.f.Key, pl)
					d.Release()
				}
			}
			st := r.Stats()
			got := Stats{ReasmOKs: st.ReasmOKs, ReasmFails: st.ReasmFails, ReasmOverlaps: st.ReasmOverlaps,
				ReasmDuplicates: st.ReasmDuplicates, ReasmBadFragments: st.ReasmBadFragments}
			if got != c.stats {
				t.Errorf("stats %+v, want %+v", got, c.stats)
			}
			if st.ReasmReqds != uint64(len(c.steps)) {
				t.Errorf("ReasmReqds %d, want %d", st.ReasmReqds, len(c.steps))
			}
			r.Flush()
			if r.Mem() != 0 {
				t.Errorf("memory %d after Flush", r.Mem())
			}
		})
	}
}
