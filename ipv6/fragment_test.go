package ipv6

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/xdpengine/engine/header"
)

func outBufs(n, size int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = make([]byte, size)
	}
	return out
}

// TestFragmentRoundTrip: Fragmenter's fragments fit the MTU, carry the
// unfragmentable part, walk as fragments, and reassemble to the original.
func TestFragmentRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, c := range []struct {
		name   string
		exts   []ext
		size   int
		mtu    int
		unfrag int
	}{
		{"plain 1500", nil, 3000, 1500, 40},
		{"plain 1280 64KiB", nil, 65535 - 16, 1280, 40},
		{"jumbo frames", nil, 20000, 9000, 40},
		{"hop-by-hop", []ext{hopByHop()}, 5000, 1280, 48},
		{"dest opts after hop-by-hop are fragmentable", []ext{hopByHop(), destOpts(2)}, 5000, 1400, 48},
		{"routing keeps dest opts before it", []ext{hopByHop(), destOpts(1), routing0(), destOpts(3)}, 5000, 1500, 64},
	} {
		t.Run(c.name, func(t *testing.T) {
			pkt := udpPacket(c.exts, testPayload(c.size, uint64(c.size)))
			var fr Fragmenter
			n, err := fr.Count(pkt, c.mtu)
			if err != nil {
				t.Fatal(err)
			}
			out := outBufs(n, c.mtu)
			if m, err := fr.Fragment(pkt, c.mtu, 0x01020304, out); err != nil || m != n {
				t.Fatalf("Fragment: %d %v, Count said %d", m, err, n)
			}
			per := (c.mtu - c.unfrag - 8) &^ 7
			if want := (len(pkt) - c.unfrag + per - 1) / per; n != want {
				t.Fatalf("%d fragments, want %d", n, want)
			}
			fs := make([]Fragment, n)
			for i, b := range out {
				if len(b) > c.mtu {
					t.Fatalf("fragment %d is %d bytes, MTU %d", i, len(b), c.mtu)
				}
				var e header.IPv6Ext
				f, err := ParseFragment(b, &e)
				if err != nil {
					t.Fatalf("fragment %d: %v", i, err)
				}
				want := bytes.Clone(pkt[:c.unfrag])
				want[f.PrevNextHeader] = header.ProtocolFragment
				if f.HdrOffset != c.unfrag || f.Key.ID != 0x01020304 || !bytes.Equal(b[6:c.unfrag], want[6:]) {
					t.Fatalf("fragment %d: unfragmentable part %d bytes, ID %#x", i, f.HdrOffset, f.Key.ID)
				}
				if (i < n-1) != f.More || (i < n-1 && len(f.Data())%8 != 0) {
					t.Fatalf("fragment %d: M %v with %d bytes", i, f.More, len(f.Data()))
				}
				if i == 0 && e.Proto != header.ProtocolUDP {
					t.Fatalf("first fragment's chain ends at %d", e.Proto)
				}
				fs[i] = f
			}
			rng.Shuffle(n, func(i, j int) { fs[i], fs[j] = fs[j], fs[i] })
			r := NewReassembler(Config{})
			if got := feed(t, r, fs, 0); !bytes.Equal(got, pkt) {
				t.Fatal("reassembled packet differs from the original")
			}
			if st := fr.Stats(); st.FragOKs != 1 || st.FragCreates != uint64(n) || st.FragFails != 0 {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

func TestFragmentErrors(t *testing.T) {
	pkt := udpPacket(nil, testPayload(3000, 1))
	var fr Fragmenter
	// Fits: copied unchanged, whatever the MTU.
	out := outBufs(1, 4000)
	if n, err := fr.Fragment(pkt, 4000, 1, out); n != 1 || err != nil || !bytes.Equal(out[0], pkt) {
		t.Fatalf("fitting packet: %d %v", n, err)
	}
	withFrag := split(pkt, 40, 6, 1232, 1)[0]
	bigExt := udpPacket([]ext{hopByHop(), routing0()}, testPayload(3000, 1))
	bigExt[41] = 200 // a hop-by-hop header of 1608 bytes: nothing fits after it
	for _, c := range []struct {
		name string
		pkt  []byte
		mtu  int
		out  [][]byte
		want error
	}{
		{"MTU below 1280", pkt, 1279, outBufs(4, 1500), ErrBadMTU},
		{"already a fragment", withFrag, 1280, outBufs(4, 1500), ErrBadPacket},
		{"truncated", pkt[:100], 1280, outBufs(4, 1500), ErrBadPacket},
		{"unfragmentable part too long", bigExt, 1280, outBufs(4, 1500), ErrBadMTU},
		{"too few buffers", pkt, 1280, outBufs(2, 1500), ErrShortBuffers},
		{"short buffers", pkt, 1500, outBufs(3, 1400), ErrShortBuffers},
	} {
		if _, err := fr.Fragment(c.pkt, c.mtu, 1, c.out); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	if st := fr.Stats(); st.FragFails != 6 || st.FragOKs != 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestIDGenerator(t *testing.T) {
	g := NewIDGenerator(nil)
	seen := map[uint32]bool{}
	for range 1000 {
		id := g.Next()
		if id == 0 || seen[id] {
			t.Fatalf("ID %#x zero or repeated", id)
		}
		seen[id] = true
	}
	z := NewIDGenerator(zeroThenOne{new(int)})
	if id := z.Next(); id != 1 {
		t.Fatalf("zero not skipped: %d", id)
	}
}

type zeroThenOne struct{ n *int }

func (z zeroThenOne) Uint32() uint32 { *z.n++; return uint32(*z.n - 1) }
