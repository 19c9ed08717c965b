package ipv4

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"testing"

	"github.com/xdpengine/engine/header"
)

// checkAccounting verifies the table's internal bookkeeping: the age list,
// the hash table and the memory sum agree.
func checkAccounting(t *testing.T, r *Reassembler) {
	t.Helper()
	n, mem := 0, 0
	var prev *queue
	for q := r.oldest; q != nil; q = q.next {
		if q.prev != prev {
			t.Fatal("age list back link broken")
		}
		if r.table.lookup(&q.key, q.hash) != q {
			t.Fatal("queue on the age list missing from the hash table")
		}
		want := r.qOverhd
		if q.buf != nil {
			want += len(q.buf.B)
		}
		if q.mem != want {
			t.Fatalf("queue accounts %d bytes, holds %d", q.mem, want)
		}
		n++
		mem += q.mem
		prev = q
	}
	if n != r.nqueues || mem != r.mem {
		t.Fatalf("list has %d queues / %d bytes, table says %d / %d", n, mem, r.nqueues, r.mem)
	}
	slots := 0
	for _, q := range r.table.slots {
		if q != nil {
			slots++
		}
	}
	if slots != n {
		t.Fatalf("hash table holds %d queues, list %d", slots, n)
	}
}

// fuzzSrc is the payload source of FuzzReassemble: fragments are windows
// of it, so that a fragment's bytes depend on its fill byte and offset.
var fuzzSrc = testPayload(256+65536, 99)

// FuzzReassemble feeds arbitrary fragment sequences. Each 8-byte record is
// one fragment: key selector, flags (MF, TCP), offset (8-byte units),
// length, time step, fill byte. Invariants: no panic, memory never above
// the threshold, bookkeeping consistent, completed datagrams well formed,
// and memory back to 0 after Flush.
func FuzzReassemble(f *testing.F) {
	rec := func(key, flags byte, off, n uint16, dt, fill byte) []byte {
		b := []byte{key, flags, 0, 0, 0, 0, dt, fill}
		binary.BigEndian.PutUint16(b[2:], off)
		binary.BigEndian.PutUint16(b[4:], n)
		return b
	}
	f.Add(append(rec(0, 1, 0, 16, 0, 1), rec(0, 0, 2, 16, 0, 1)...))
	f.Add(append(append(rec(1, 1, 0, 24, 0, 2), rec(1, 0, 2, 16, 0, 2)...), rec(1, 1, 1, 8, 0, 2)...))
	f.Add(append(rec(2, 1, 8000, 1480, 200, 3), rec(3, 0, 4, 8, 255, 4)...))
	f.Add(bytes.Repeat(rec(0, 1, 1, 8, 1, 5), 40))

	const high = 96 << 10
	f.Fuzz(func(t *testing.T, data []byte) {
		r := NewReassembler(Config{HighThresh: high, LowThresh: 64 << 10, Timeout: 100, MaxFragments: 16, MaxQueues: 8,
			OnTimeExceeded: func(q []byte) {
				if len(q) < 28 || len(q) > 68 {
					t.Fatalf("quote of %d bytes", len(q))
				}
			}})
		now := int64(0)
		for recs := 0; len(data) >= 8 && recs < 512; recs++ {
			k := testKey
			k.ID = uint16(data[0] & 7)
			if data[1]&2 != 0 {
				k.Proto = header.ProtocolTCP
			}
			off := int(binary.BigEndian.Uint16(data[2:])&0x1fff) * 8
			n := int(binary.BigEndian.Uint16(data[4:]))
			now += int64(data[6])
			pl := fuzzSrc[data[7] : int(data[7])+n]
			hl := 20 + int(data[1]>>4&3)*4
			fr := Fragment{Key: k, Offset: off, More: data[1]&1 != 0,
				Header: testHeader(k, hl, off, 0, data[1]&1 != 0), Payload: pl}
			data = data[8:]
			d, ok, err := r.Add(&fr, now)
			if ok {
				if err != nil {
					t.Fatal("completed with an error")
				}
				b := d.Bytes()
				if len(b) > 65535 || int(binary.BigEndian.Uint16(b[2:])) != len(b) {
					t.Fatalf("datagram of %d bytes, length field %d", len(b), binary.BigEndian.Uint16(b[2:]))
				}
				d.Release()
			}
			if r.Mem() > high {
				t.Fatalf("memory %d above threshold %d", r.Mem(), high)
			}
			checkAccounting(t, r)
		}
		r.Flush()
		if st := r.Stats(); st.MemInUse != 0 || st.Queues != 0 {
			t.Fatalf("after Flush: %+v", st)
		}
		checkAccounting(t, r)
	})
}

// FuzzFragmentReassemble: a valid datagram fragmented at random sizes (a
// first MTU, then every fragment re-fragmented at its own MTU), delivered
// in random order with duplicates, must come out byte-identical.
func FuzzFragmentReassemble(f *testing.F) {
	f.Add([]byte("hello, fragments"), uint16(3000), uint16(1500), uint64(1), uint8(2), false)
	f.Add([]byte{0}, uint16(65000), uint16(68), uint64(2), uint8(0), true)
	f.Add([]byte{1, 2, 3}, uint16(9000), uint16(576), uint64(3), uint8(9), true)
	f.Fuzz(func(t *testing.T, seed []byte, size, mtu uint16, shuffle uint64, dups uint8, opts bool) {
		if len(seed) == 0 {
			return
		}
		var o []byte
		if opts {
			o = []byte{0x88, 4, 0xab, 0xcd, 0x07, 7, 4, 0, 0, 0, 0, 1} // copied + not copied
		}
		n := int(size) % (65535 - 20 - len(o) + 1)
		payload := bytes.Repeat(seed, n/len(seed)+1)[:n]
		pkt := datagram(testKey, o, payload, false)
		rng := rand.New(rand.NewPCG(shuffle, uint64(mtu)))
		m1 := 68 + int(mtu)%9000

		var fr Fragmenter
		cnt, err := fr.Count(pkt, m1)
		if err != nil {
			t.Fatal(err)
		}
		out := outBufs(cnt, m1)
		if _, err := fr.Fragment(pkt, m1, out); err != nil {
			t.Fatal(err)
		}
		var frames [][]byte
		for _, fb := range out {
			m2 := 68 + rng.IntN(m1-68+1)
			c2, err := fr.Count(fb, m2)
			if err != nil {
				t.Fatal(err)
			}
			sub := outBufs(c2, m2)
			if _, err := fr.Fragment(fb, m2, sub); err != nil {
				t.Fatal(err)
			}
			frames = append(frames, sub...)
		}
		total := len(frames)
		for range int(dups) % 8 {
			frames = append(frames, frames[rng.IntN(total)])
		}
		rng.Shuffle(len(frames), func(i, j int) { frames[i], frames[j] = frames[j], frames[i] })

		if total == 1 {
			if !bytes.Equal(frames[0], pkt) {
				t.Fatal("datagram that fits was changed")
			}
			return
		}
		r := NewReassembler(Config{MaxFragments: len(frames)})
		done := false
		for i, b := range frames {
			fg, err := ParseFragment(b)
			if err != nil {
				t.Fatalf("fragment %d does not parse: %v", i, err)
			}
			d, ok, err := r.Add(&fg, 0)
			if done {
				// Duplicates after completion open a new datagram
				// that never completes.
				continue
			}
			if err != nil && err != ErrDuplicate {
				t.Fatalf("fragment %d: %v", i, err)
			}
			if ok {
				done = true
				if !bytes.Equal(d.Bytes(), pkt) {
					t.Fatal("reassembled datagram differs from the original")
				}
				d.Release()
			}
		}
		if !done {
			t.Fatalf("datagram not completed from %d fragments (%d distinct)", len(frames), total)
		}
	})
}
