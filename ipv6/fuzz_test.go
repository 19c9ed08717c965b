package ipv6

import (
	"encoding/binary"
	"testing"

	"github.com/xdpengine/engine/header"
)

// fuzzSrc is the data source of FuzzReassemble: a fragment's data is a
// window of it chosen by its fill byte and offset, so that equal records
// carry equal bytes.
var fuzzSrc = testPayload(256+65536+2048, 99)

// fuzzFragment builds the fragment packet of one 8-byte record: key
// selector, flags (bit 0 M, bit 1 hop-by-hop unfragmentable part), offset
// in 8-byte units, length, fill.
func fuzzFragment(rec []byte) []byte {
	key, flags := rec[0], rec[1]
	off := int(binary.BigEndian.Uint16(rec[2:])&0x1fff) * 8
	n := int(binary.BigEndian.Uint16(rec[4:]) % 2048)
	fill := int(rec[7])
	unfrag := 40
	if flags&2 != 0 {
		unfrag = 48
	}
	p := make([]byte, unfrag+8+n)
	src := srcA
	src[15] = key >> 4
	header.PutIPv6(p, 0, 0, uint16(len(p)-40), header.ProtocolFragment, 64, src, dstB)
	if unfrag == 48 {
		p[6] = header.ProtocolHopByHop
		copy(p[40:], []byte{header.ProtocolFragment, 0, 1, 4, 0, 0, 0, 0})
	}
	w := uint16(off)
	if flags&1 != 0 {
		w |= 1
	}
	p[unfrag] = header.ProtocolUDP
	binary.BigEndian.PutUint16(p[unfrag+2:], w)
	binary.BigEndian.PutUint32(p[unfrag+4:], uint32(key&15))
	start := fill + off
	copy(p[unfrag+8:], fuzzSrc[start:start+n])
	return p
}

// FuzzReassemble feeds arbitrary fragment sequences, one 8-byte record
// each (see fuzzFragment; byte 6 is the time step). Invariants: no panic,
// memory never above the threshold, bookkeeping consistent, completed
// packets well formed, memory back to 0 after Flush.
func FuzzReassemble(f *testing.F) {
	rec := func(key, flags byte, off, n uint16, dt, fill byte) []byte {
		return []byte{key, flags, byte(off >> 8), byte(off), byte(n >> 8), byte(n), dt, fill}
	}
	var inorder, overlap []byte
	for i := range uint16(5) {
		inorder = append(inorder, rec(1, 3, i*151, 1208, 0, 0)...)
	}
	inorder = append(inorder, rec(1, 2, 5*151, 100, 0, 0)...)
	overlap = append(overlap, rec(2, 1, 0, 64, 0, 1)...)
	overlap = append(overlap, rec(2, 1, 4, 64, 0, 1)...)
	overlap = append(overlap, rec(2, 0, 8, 8, 0, 1)...)
	f.Add(inorder)
	f.Add(overlap)
	f.Add(rec(3, 0, 0, 100, 0, 0))       // atomic
	f.Add(rec(4, 1, 0, 100, 0, 0))       // odd length with M
	f.Add(rec(5, 1, 8190, 1000, 200, 0)) // too big
	f.Add(append(rec(6, 1, 0, 8, 0, 0), rec(6, 0, 1, 8, 255, 0)...))
	f.Fuzz(func(t *testing.T, b []byte) {
		quotes := 0
		r := NewReassembler(Config{HighThresh: 192 << 10, LowThresh: 128 << 10, MaxQueues: 8, MaxFragments: 32,
			Timeout: 1000, OnTimeExceeded: func(q []byte) {
				quotes++
				if len(q) < 48 || len(q) > QuoteLen || q[0]>>4 != 6 {
					t.Fatalf("quote of %d bytes", len(q))
				}
			}, OnParamProblem: func(p []byte, ptr uint32) {
				if int(ptr) >= len(p) {
					t.Fatalf("pointer %d past %d bytes", ptr, len(p))
				}
			}})
		now := int64(0)
		for ; len(b) >= 8; b = b[8:] {
			now += int64(b[6]) * 10
			var e header.IPv6Ext
			fr, err := ParseFragment(fuzzFragment(b[:8]), &e)
			if err != nil {
				continue
			}
			d, ok, _ := r.Add(&fr, now)
			checkAccounting(t, r)
			if !ok {
				continue
			}
			ip, err := header.ParseIPv6(d.Bytes())
			if err != nil || len(ip) != len(d.Bytes()) {
				t.Fatalf("delivered packet: %v", err)
			}
			var de header.IPv6Ext
			if err := header.ParseIPv6Ext(ip, &de); err != nil || de.Frag || de.Proto != header.ProtocolUDP {
				t.Fatalf("delivered chain: %v %+v", err, de)
			}
			d.Release()
		}
		if st := r.Stats(); st.ReasmTimeExceeded != uint64(quotes) {
			t.Fatalf("%d quotes, %d counted", quotes, st.ReasmTimeExceeded)
		}
		r.Flush()
		if r.Mem() != 0 || r.Stats().Queues != 0 {
			t.Fatal("memory left after Flush")
		}
	})
}

// FuzzParseFragment: arbitrary packets through ParseFragment and Add, and
// through the Fragmenter: no panic, and what the Fragmenter makes
// reassembles to its input.
func FuzzParseFragment(f *testing.F) {
	pkt := udpPacket([]ext{hopByHop(), destOpts(1), routing0()}, testPayload(1500, 1))
	for _, p := range split(pkt, 64, 56, 1000, 3) {
		f.Add(p)
	}
	f.Add(pkt)
	f.Fuzz(func(t *testing.T, b []byte) {
		r := NewReassembler(Config{})
		var e header.IPv6Ext
		if fr, err := ParseFragment(b, &e); err == nil {
			if d, ok, _ := r.Add(&fr, 0); ok {
				if _, err := header.ParseIPv6(d.Bytes()); err != nil {
					t.Fatalf("delivered: %v", err)
				}
			}
			checkAccounting(t, r)
		}
		var fg Fragmenter
		n, err := fg.Count(b, 1280)
		if err != nil || n > 64 {
			return
		}
		out := outBufs(n, 1280)
		if _, err := fg.Fragment(b, 1280, 1, out); err != nil {
			t.Fatalf("Fragment after Count: %v", err)
		}
		if n == 1 {
			return
		}
		r.Flush()
		var got []byte
		for i := range out {
			fr, err := ParseFragment(out[i], &e)
			if err != nil {
				return // the original's own chain may be malformed past the unfragmentable part
			}
			if d, ok, err := r.Add(&fr, 0); err != nil {
				t.Fatalf("fragment %d of ours refused: %v", i, err)
			} else if ok {
				got = d.Bytes()
			}
		}
		ip, _ := header.ParseIPv6(b)
		if string(got) != string(ip) {
			t.Fatalf("our fragments reassemble to %d bytes, want %d", len(got), len(ip))
		}
	})
}
