package afxdp

import (
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// fakeSocket builds a Socket whose four rings live in ordinary memory, with
// the test playing the kernel. No syscalls happen: NEED_WAKEUP is never set.
type fakeSocket struct {
	s                  *Socket
	fill, comp, rx, tx *fakeRing
	umem               []byte
}

func newFakeSocket(tb testing.TB, ringSize, frames uint32) *fakeSocket {
	tb.Helper()
	f := &fakeSocket{
		fill: newFakeRing(ringSize, 8, 0, 0), comp: newFakeRing(ringSize, 8, 0, 0),
		rx: newFakeRing(ringSize, sizeofDesc, 0, 0), tx: newFakeRing(ringSize, sizeofDesc, 0, 0),
		umem: make([]byte, int(frames)*2048),
	}
	s := &Socket{fd: -1, flags: unix.XDP_USE_NEED_WAKEUP, umem: &UMEM{mem: f.umem, shift: 11}}
	s.pool = newFramePool(11, 0, frames)
	initRing(&s.fill, f.fill.mem, f.fill.off, ringSize, true)
	initRing(&s.comp, f.comp.mem, f.comp.off, ringSize, false)
	initRing(&s.rx, f.rx.mem, f.rx.off, ringSize, false)
	initRing(&s.tx, f.tx.mem, f.tx.off, ringSize, true)
	f.s = s
	return f
}

// kernelReceive moves up to n frames from the fill ring to the rx ring, as
// the kernel does when packets arrive.
func (f *fakeSocket) kernelReceive(n uint32) uint32 {
	fp, fc := *f.fill.producer(), *f.fill.consumer()
	rp, rc := *f.rx.producer(), *f.rx.consumer()
	size := uint32((len(f.rx.mem) - 256) / int(sizeofDesc))
	k := min(n, fp-fc, size-(rp-rc))
	for i := range k {
		addr := *(*uint64)(unsafe.Pointer(&f.fill.mem[256+uint64((fc+i)&(size-1))*8]))
		*(*Desc)(unsafe.Pointer(&f.rx.mem[256+uint64((rp+i)&(size-1))*uint64(sizeofDesc)])) = Desc{Addr: addr, Len: 60}
	}
	*f.fill.consumer() = fc + k
	*f.rx.producer() = rp + k
	return k
}

func TestFakeSocketRoundTrip(t *testing.T) {
	f := newFakeSocket(t, 64, 128)
	if got := f.s.Fill(); got != 64 {
		t.Fatalf("Fill = %d", got)
	}
	if k := f.kernelReceive(10); k != 10 {
		t.Fatalf("kernel received %d", k)
	}
	descs := make([]Desc, 32)
	if n := f.s.Receive(descs); n != 10 || descs[9].Len != 60 {
		t.Fatalf("Receive = %d %+v", n, descs[9])
	}
	if c := f.s.pool.stats(); c.App != 10 || c.Fill != 54 {
		t.Fatalf("counts %+v", c)
	}
	f.s.Release(descs[:10])
	if got := f.s.Fill(); got != 10 {
		t.Fatalf("refill = %d", got)
	}
}

// BenchmarkRxPathUserspace is the user-space cost of the receive path
// (Receive, Release, Fill) per packet, with a simulated kernel and no
// syscalls: what the worker pays per packet on top of the kernel's work.
func BenchmarkRxPathUserspace(b *testing.B) {
	for _, burst := range []int{1, 16, 64} {
		b.Run("burst="+itoa(burst), func(b *testing.B) {
			f := newFakeSocket(b, 2048, 4096)
			f.s.Fill()
			descs := make([]Desc, burst)
			var pkts int
			b.ReportAllocs()
			for b.Loop() {
				f.kernelReceive(uint32(burst))
				n := f.s.Receive(descs)
				f.s.Release(descs[:n])
				f.s.Fill()
				pkts += n
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(pkts), "ns/pkt")
		})
	}
}

func itoa(v int) string {
	if v < 10 {
		return string(rune('0' + v))
	}
	return itoa(v/10) + string(rune('0'+v%10))
}
