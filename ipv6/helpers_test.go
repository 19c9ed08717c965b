package ipv6

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/xdpengine/engine/header"
)

var (
	srcA = netip.MustParseAddr("2001:2::1").As16()
	dstB = netip.MustParseAddr("2001:2::2").As16()
)

func testPayload(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x5555))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// ext is an extension header to put before the upper layer: its type and
// its bytes (a multiple of 8, length byte set; the next header byte is
// filled by udpPacket).
type ext struct {
	typ uint8
	b   []byte
}

func destOpts(n8 int) ext { // an options header of n8*8 bytes, PadN filled
	b := make([]byte, n8*8)
	b[1] = byte(n8 - 1)
	for i := 2; i < len(b); {
		l := min(len(b)-i, 7)
		if l == 1 {
			b[i] = 0
			i++
			continue
		}
		b[i], b[i+1] = 1, byte(l-2)
		i += l
	}
	return ext{header.ProtocolDestOpts, b}
}

func hopByHop() ext { e := destOpts(1); e.typ = header.ProtocolHopByHop; return e }

func routing0() ext { return ext{header.ProtocolRouting, []byte{0, 0, 4, 0, 0, 0, 0, 0}} } // segments left 0

// udpPacket builds an IPv6 packet srcA -> dstB with the extension headers
// and a UDP datagram carrying msg, checksum set.
func udpPacket(exts []ext, msg []byte) []byte {
	n := header.IPv6HeaderLen
	for _, e := range exts {
		n += len(e.b)
	}
	pkt := make([]byte, n+8+len(msg))
	first := uint8(header.ProtocolUDP)
	if len(exts) > 0 {
		first = exts[0].typ
	}
	header.PutIPv6(pkt, 0, 0x12345, uint16(len(pkt)-40), first, 64, srcA, dstB)
	off := header.IPv6HeaderLen
	for i, e := range exts {
		copy(pkt[off:], e.b)
		pkt[off] = header.ProtocolUDP
		if i+1 < len(exts) {
			pkt[off] = exts[i+1].typ
		}
		off += len(e.b)
	}
	u := header.UDP(pkt[off:])
	u.SetSrcPort(5555)
	u.SetDstPort(7777)
	u.SetLength(uint16(8 + len(msg)))
	copy(u.Payload(), msg)
	ph := header.PseudoHeaderChecksum6(header.ProtocolUDP, srcA, dstB, uint32(len(u)))
	binary.BigEndian.PutUint16(pkt[off+6:], ^header.Checksum(u, ph))
	return pkt
}

// split is the tests' own fragmenter, independent of Fragmenter: it cuts
// pkt after the unfragmentable part of unfrag bytes (whose Next Header field
// is at prevNH) into pieces of per data bytes.
func split(pkt []byte, unfrag, prevNH, per int, id uint32) [][]byte {
	var out [][]byte
	data := pkt[unfrag:]
	for off := 0; off < len(data); off += per {
		n := min(per, len(data)-off)
		f := make([]byte, unfrag+8+n)
		copy(f, pkt[:unfrag])
		f[prevNH] = header.ProtocolFragment
		binary.BigEndian.PutUint16(f[4:], uint16(unfrag-40+8+n))
		f[unfrag] = pkt[prevNH]
		w := uint16(off)
		if off+n < len(data) {
			w |= 1
		}
		binary.BigEndian.PutUint16(f[unfrag+2:], w)
		binary.BigEndian.PutUint32(f[unfrag+4:], id)
		copy(f[unfrag+8:], data[off:off+n])
		out = append(out, f)
	}
	return out
}

// parse returns the Fragment view of a fragment packet.
func parse(t testing.TB, pkt []byte) Fragment {
	t.Helper()
	var e header.IPv6Ext
	f, err := ParseFragment(pkt, &e)
	if err != nil {
		t.Fatalf("ParseFragment(%x...): %v", pkt[:min(len(pkt), 64)], err)
	}
	return f
}

func parseAll(t testing.TB, pkts [][]byte) []Fragment {
	fs := make([]Fragment, len(pkts))
	for i, p := range pkts {
		fs[i] = parse(t, p)
	}
	return fs
}
