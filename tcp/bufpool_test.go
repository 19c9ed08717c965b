package tcp

import (
	"errors"
	"testing"
)

// poisonPool lends buffers filled with a pattern (as memory a previous
// connection left behind would be) and keeps what comes back for reuse.
type poisonPool struct {
	free       map[int][][]byte
	lent       map[*byte]int
	gets, puts int
	reused     int // gets served from free
	badSize    bool
}

func newPoisonPool() *poisonPool {
	return &poisonPool{free: map[int][][]byte{}, lent: map[*byte]int{}}
}

func (p *poisonPool) Get(size int) []byte {
	p.gets++
	if p.badSize {
		return make([]byte, size/2)
	}
	var b []byte
	if l := p.free[size]; len(l) > 0 {
		b, p.free[size] = l[len(l)-1], l[:len(l)-1]
		p.reused++
	} else {
		b = make([]byte, size)
		for i := range b {
			b[i] = 0xa5 ^ byte(i*7)
		}
	}
	p.lent[&b[0]] = size
	return b
}

// Abandon: the buffer is never lent again (a reader may still copy
// from it), and counts as taken back.
func (p *poisonPool) Abandon(b []byte) {
	p.puts++
	if size, ok := p.lent[&b[0]]; ok && size == len(b) {
		delete(p.lent, &b[0])
	}
}

func (p *poisonPool) Put(b []byte) {
	p.puts++
	size, ok := p.lent[&b[0]]
	if p.badSize && !ok {
		return // the endpoint's own allocation, made when Get returned a wrong size
	}
	if !ok || size != len(b) {
		panic("Put of a buffer the pool did not lend")
	}
	delete(p.lent, &b[0])
	p.free[size] = append(p.free[size], b)
}

// TestBuffersReused moves data both ways through loss, reordering and
// duplication (so out-of-order data is parked with WriteAt and published
// with Commit) on rings over poisoned memory, releases them, and does it
// again on the same memory, which now holds the first transfer's bytes:
// the SHA-256 of what each side read matches what the other wrote, so no
// byte the ring did not write was ever read.
func TestBuffersReused(t *testing.T) {
	pool := newPoisonPool()
	for round, seed := range []uint64{3, 4, 5} {
		s := newSim(t, simOpts{seed: seed, bytes: 3 << 20, sack: round != 1, ts: true,
			loss: 0.03, reorder: 0.05, dup: 0.02, jitter: 2 * ms, delay: ms, bw: 0.125, maxQueue: 10 * ms,
			bidirectional: true, recvBufMin: 16 << 10, recvBufM: 256 << 10, bufs: pool})
		s.run(600_000 * ms)
		s.verify()
		ooo := s.eps[0].Stats().OOOSegs + s.eps[1].Stats().OOOSegs
		if ooo == 0 {
			t.Fatalf("round %d: no out-of-order segment: the test does not exercise WriteAt/Commit", round)
		}
		for _, e := range s.eps {
			snd, rcv := e.SendRing(), e.RecvRing()
			e.ReleaseBuffers()
			if !e.Released() || snd.Cap() != 0 || rcv.Cap() != 0 {
				t.Fatalf("round %d: after ReleaseBuffers: released %v, caps %d %d", round, e.Released(), snd.Cap(), rcv.Cap())
			}
			var p [16]byte
			if n := rcv.Read(p[:]); n != 0 {
				t.Fatalf("Read after release returned %d bytes", n)
			}
			if n := snd.Write(p[:]); n != 0 || snd.Free() != 0 || rcv.Len() != 0 {
				t.Fatalf("Write after release took %d bytes (free %d, len %d)", n, snd.Free(), rcv.Len())
			}
			if n := rcv.WriteAt(0, p[:]); n != 0 {
				t.Fatalf("WriteAt after release stored %d bytes", n)
			}
			rcv.Commit(4)
			if a, b := rcv.Peek(0, 16); a != nil || b != nil {
				t.Fatal("Peek after release returned memory")
			}
			e.ReleaseBuffers() // a second call does nothing
		}
		if len(pool.lent) != 0 || pool.gets != pool.puts {
			t.Fatalf("round %d: %d lent, %d gets, %d puts", round, len(pool.lent), pool.gets, pool.puts)
		}
		t.Logf("round %d: %d out-of-order segments, %d buffers taken, %d of them reused", round, ooo, pool.gets, pool.reused)
	}
	if pool.reused == 0 {
		t.Fatal("buffers were not reused")
	}
}

// TestBuffersBadPool: a buffer of the wrong size from the pool is not
// used (the endpoint allocates instead), and the data still goes through.
func TestBuffersBadPool(t *testing.T) {
	pool := newPoisonPool()
	pool.badSize = true
	s := newSim(t, simOpts{seed: 9, bytes: 256 << 10, sack: true, ts: true, delay: ms, bw: 0.125,
		maxQueue: 10 * ms, recvBufMin: 16 << 10, recvBufM: 256 << 10, bufs: pool})
	s.run(60_000 * ms)
	s.verify()
	if pool.gets == 0 {
		t.Fatal("the pool was never asked")
	}
}

// TestBuffersNoPool: without a pool the rings allocate, and
// ReleaseBuffers detaches them all the same (the collector takes the
// memory).
func TestBuffersNoPool(t *testing.T) {
	a, b, _ := pair(t, baseConfig(1000), baseConfig(5000))
	a.SendRing().Write([]byte("hello"))
	settle(t, a, b, 0)
	if a.SendRing().Cap() == 0 || b.RecvRing().Cap() == 0 {
		t.Fatalf("rings without memory after data: send %d, receive %d", a.SendRing().Cap(), b.RecvRing().Cap())
	}
	b.ReleaseBuffers()
	if !b.Released() || b.RecvRing().Cap() != 0 || b.SendRing().Cap() != 0 {
		t.Fatalf("ReleaseBuffers left memory: receive %d, send %d", b.RecvRing().Cap(), b.SendRing().Cap())
	}
}

func TestByteRingOn(t *testing.T) {
	b := make([]byte, 4096)
	for i := range b {
		b[i] = 0xee
	}
	r, err := NewByteRingOn(b)
	if err != nil {
		t.Fatal(err)
	}
	if r.Len() != 0 || r.Free() != 4096 {
		t.Fatalf("len %d free %d", r.Len(), r.Free())
	}
	// Out-of-order bytes at offset 10, then the hole filled: only written bytes come out.
	if n := r.WriteAt(10, []byte("world")); n != 5 {
		t.Fatal(n)
	}
	r.Append([]byte("hello, ...")) // 10 bytes
	r.Commit(5)
	var p [32]byte
	n := r.Read(p[:])
	if string(p[:n]) != "hello, ...world" {
		t.Fatalf("read %q", p[:n])
	}
	if _, err := NewByteRingOn(make([]byte, 3000)); !errors.Is(err, ErrConfig) {
		t.Fatalf("3000-byte buffer: %v", err)
	}
}
