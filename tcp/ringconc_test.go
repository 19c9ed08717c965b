package tcp

import (
	"crypto/sha256"
	"math/rand/v2"
	"sync"
	"testing"
)

// stream is a deterministic byte stream: byte i is streamByte(i).
func streamByte(i uint64) byte { return byte(i*2654435761>>13) ^ byte(i) }

// TestRecvRingReplaceWhileReading: a reader goroutine reads the receive
// ring while the producer appends and, between appends, gives the ring new
// memory of another size (larger or smaller, as long as the data fits) or
// none when it is empty, through replace, the worker's read-copy-update.
// The reader gets every byte in order; run with -race.
func TestRecvRingReplaceWhileReading(t *testing.T) {
	const total = 8 << 20
	pool := new(RingPool)
	r, _ := NewByteRingOn(pool.Get(MinRing))
	done := make(chan struct{})
	var readErr string
	go func() {
		defer close(done)
		var buf [3000]byte
		for pos := uint64(0); pos < total; {
			n := r.Read(buf[:1+int(pos%2999)])
			for i := range n {
				if buf[i] != streamByte(pos+uint64(i)) {
					readErr = "byte mismatch"
					return
				}
			}
			pos += uint64(n)
		}
	}()
	rng := rand.New(rand.NewPCG(7, 8))
	var chunk [5000]byte
	swaps, toGC := 0, 0
	for pos := uint64(0); pos < total; {
		if rng.IntN(8) == 0 {
			var buf []byte
			if n := r.Len(); n > 0 || rng.IntN(2) == 0 {
				buf = pool.Get(max(pow2Ceil(n+rng.IntN(8000)), MinRing))
			}
			sp, gc := r.replace(buf, 0)
			for _, b := range sp {
				if b != nil {
					pool.Put(b)
				}
			}
			if gc != nil {
				toGC++
			}
			swaps++
		}
		if r.Cap() == 0 {
			sp, _ := r.replace(pool.Get(4*MinRing), 0)
			for _, b := range sp {
				if b != nil {
					pool.Put(b)
				}
			}
		}
		n := min(r.Free(), len(chunk), int(total-pos))
		for i := range n {
			chunk[i] = streamByte(pos + uint64(i))
		}
		pos += uint64(r.Append(chunk[:n]))
		select {
		case <-done:
			t.Fatal(readErr)
		default:
		}
	}
	<-done
	if readErr != "" {
		t.Fatal(readErr)
	}
	for _, b := range r.reclaim() {
		if b != nil {
			pool.Put(b)
		}
	}
	for _, b := range r.detach() {
		if b != nil {
			pool.Put(b)
		}
	}
	if st := pool.Stats(); st.Lent != int64(toGC) {
		t.Errorf("%d buffers lent after the last one came back, want the %d left to the collector", st.Lent, toGC)
	}
	t.Logf("%d replacements, %d buffers left to the collector (two within one Read)", swaps, toGC)
}

// TestSendRingTrimWhileWriting: a writer goroutine writes into an
// endpoint's send ring (attaching memory when the ring has none) while the
// worker side consumes it and, at random, trims it (TrimBuffers: only
// when empty and the writer is outside Write) or grows it (GrowSendRing,
// refused while the writer is inside). The consumer gets every byte in
// order; run with -race.
func TestSendRingTrimWhileWriting(t *testing.T) {
	const total = 8 << 20
	var m Memory
	c := growConfig(1000, &m, new(RingPool))
	c.SendBuf = 16 << 10
	e, err := Dial(0, c)
	if err != nil {
		t.Fatal(err)
	}
	e.state = Established // the ring protocol only; nothing is sent
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		rng := rand.New(rand.NewPCG(1, 2))
		var chunk [7000]byte
		for pos := uint64(0); pos < total; {
			n := min(1+rng.IntN(len(chunk)), int(total-pos))
			for i := range n {
				chunk[i] = streamByte(pos + uint64(i))
			}
			pos += uint64(e.SendRing().Write(chunk[:n]))
		}
	}()
	rng := rand.New(rand.NewPCG(3, 4))
	h := sha256.New()
	trims, grows := 0, 0
	for pos := uint64(0); pos < total; {
		a, b := e.SendRing().Peek(0, 1+rng.IntN(9000))
		for i, x := range append(a, b...) {
			if x != streamByte(pos+uint64(i)) {
				t.Fatalf("byte %d changed", pos+uint64(i))
			}
		}
		h.Write(a)
		h.Write(b)
		e.SendRing().Discard(len(a) + len(b))
		pos += uint64(len(a) + len(b))
		switch rng.IntN(16) {
		case 0:
			if e.TrimBuffers() > 0 {
				trims++
			}
		case 1:
			if r := e.SendRing(); r.Cap() > 0 && r.Cap() < 64<<10 && e.GrowSendRing(2*r.Cap()) == nil {
				grows++
			}
		}
	}
	wg.Wait()
	e.ReleaseBuffers()
	if m.Used() != 0 {
		t.Fatalf("%d bytes still charged after release", m.Used())
	}
	t.Logf("%d trims and %d growths under a concurrent writer", trims, grows)
}
