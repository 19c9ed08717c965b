package tcp

import (
	"bytes"
	"testing"
)

// TestSendBufferAutoTuning: over a 10 ms round trip at 125 MB/s (1.25 MB
// in flight) a fixed 256 KiB send ring caps the sender near 26 MB/s; grown
// toward two congestion windows (up to 4 MiB, as the engine does) it fills
// the path. Data stays intact across the growths, with and without loss.
// Times are simulated.
func TestSendBufferAutoTuning(t *testing.T) {
	size := 32 << 20
	if testing.Short() {
		size = 8 << 20
	}
	run := func(o simOpts) (secs float64, grown int, capacity int) {
		o.seed, o.bytes, o.sack, o.ts, o.bw, o.maxQueue = 5, size, true, true, 0.125, 10*ms
		o.recvBufMin, o.recvBufM = 64<<10, 4<<20
		s := newSim(t, o)
		s.run(600_000 * ms)
		s.verify()
		return float64(s.now) / 1e9, s.grown[0], s.eps[0].SendRing().Cap()
	}
	fixed, _, _ := run(simOpts{delay: 5 * ms, sendBuf: 256 << 10})
	auto, grown, capacity := run(simOpts{delay: 5 * ms, sendBuf: 256 << 10, sendMax: 4 << 20})
	t.Logf("%d MiB over 10 ms: a fixed 256 KiB send ring in %.2f s (%.0f MB/s), auto-tuned in %.2f s (%.0f MB/s): %d growths to %d KiB",
		size>>20, fixed, float64(size)/fixed/1e6, auto, float64(size)/auto/1e6, grown, capacity>>10)
	if grown == 0 || capacity != 4<<20 {
		t.Errorf("send ring grew %d times to %d bytes, want up to 4 MiB", grown, capacity)
	}
	if auto > fixed/2 {
		t.Errorf("auto-tuned %.2f s, fixed %.2f s: want at least twice as fast", auto, fixed)
	}
	// Growths while retransmissions are outstanding keep the data intact
	// (verify compares SHA-256): 1% loss, from a 16 KiB ring.
	secs, grown, capacity := run(simOpts{delay: ms, loss: 0.01, sendBuf: 16 << 10, sendMax: 4 << 20})
	t.Logf("1%% loss from 16 KiB: %.2f s, %d growths to %d KiB", secs, grown, capacity>>10)
	if grown == 0 {
		t.Error("the send ring never grew under loss")
	}
}

// TestRegrow: growing a ring keeps its bytes at their stream offsets,
// wrapped or not, and both sides go on using it.
func TestRegrow(t *testing.T) {
	for _, start := range []int{0, 3000, 4090} {
		r, _ := NewByteRing(MinRing)
		pad := make([]byte, start)
		r.Write(pad)
		r.Discard(start) // indexes now at start
		data := make([]byte, MinRing-5)
		for i := range data {
			data[i] = byte(i * 7)
		}
		r.Write(data)
		r.Discard(100)
		old := r.regrow(make([]byte, 4*MinRing))
		if len(old) != MinRing || r.Cap() != 4*MinRing || r.Len() != len(data)-100 {
			t.Fatalf("start %d: old %d, cap %d, len %d", start, len(old), r.Cap(), r.Len())
		}
		more := bytes.Repeat([]byte{0xee}, 2*MinRing)
		if n := r.Write(more); n != len(more) {
			t.Fatalf("start %d: wrote %d after growing", start, n)
		}
		got := make([]byte, r.Len())
		r.Read(got)
		if want := append(append([]byte{}, data[100:]...), more...); !bytes.Equal(got, want) {
			t.Fatalf("start %d: content changed across regrow", start)
		}
	}
}
