package afxdp

import (
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xdpengine/engine/internal/pktgen"
	"github.com/xdpengine/engine/internal/testbed"
	"github.com/xdpengine/engine/internal/udpframe"
)

// startGenerator sends 60-byte UDP frames to the engine address from the
// peer namespace until the returned stop is called; stop returns the number
// sent. It waits until the generator runs, so its setup allocations fall
// before the benchmark's measurement.
func startGenerator(b *testing.B, e *engine) (stop func() uint64) {
	spec := udpframe.Spec{SrcMAC: e.bed.PeerMAC, DstMAC: e.bed.HostMAC,
		Src: e.bed.PeerAddr, Dst: e.bed.EngineAddr, SrcPort: 1000, DstPort: 2000}
	frame := make([]byte, spec.Len(18))
	spec.Put(frame, make([]byte, 18))
	var quit atomic.Bool
	ready, done := make(chan error, 1), make(chan uint64, 1)
	go e.bed.Do(func() error {
		g, err := pktgen.New(e.bed.PeerIf, [][]byte{frame}, 32)
		ready <- err
		if err != nil {
			return err
		}
		defer g.Close()
		for !quit.Load() {
			if _, err := g.Send(); err != nil {
				break
			}
		}
		done <- g.Sent()
		return nil
	})
	if err := <-ready; err != nil {
		b.Fatal(err)
	}
	return func() uint64 { quit.Store(true); return <-done }
}

// BenchmarkRxDrop receives and drops the peer kernel's frames. One op is
// one Receive burst (up to 64 packets) with Release and Fill; allocs/op 0
// with pkts/op > 0 means no allocation per packet.
func BenchmarkRxDrop(b *testing.B) {
	e := newEngine(b, testbed.Config{}, Config{})
	s := e.socks[0]
	stop := startGenerator(b, e)
	descs := make([]Desc, 64)
	var pkts uint64
	b.ReportAllocs()
	start := time.Now()
	for b.Loop() {
		n := s.Receive(descs)
		s.Release(descs[:n])
		s.Fill()
		pkts += uint64(n)
	}
	el := time.Since(start)
	b.StopTimer()
	stop()
	if pkts == 0 {
		b.Fatal("no packets received")
	}
	b.ReportMetric(float64(pkts)/float64(b.N), "pkts/op")
	b.ReportMetric(float64(el.Nanoseconds())/float64(pkts), "ns/pkt")
	b.ReportMetric(float64(pkts)/el.Seconds()/1e6, "Mpps")
}

// BenchmarkTxOnly transmits 60-byte frames to the peer. One op is one
// CompleteTo plus one Transmit burst of up to 64 frames, reusing completed
// frames.
func BenchmarkTxOnly(b *testing.B) {
	e := newEngine(b, testbed.Config{}, Config{})
	s := e.socks[0]
	spec := udpframe.Spec{SrcMAC: e.bed.HostMAC, DstMAC: e.bed.PeerMAC,
		Src: e.bed.EngineAddr, Dst: e.bed.PeerAddr, SrcPort: 1000, DstPort: 9}
	payload := make([]byte, 18)
	const burst = 64
	addrs := make([]uint64, burst)
	descs := make([]Desc, burst)
	var sent uint64
	runtime.GC()
	b.ReportAllocs()
	start := time.Now()
	for b.Loop() {
		n := s.CompleteTo(addrs)
		sent += uint64(n)
		n += s.Alloc(addrs[n:])
		for i := range n {
			l := spec.Put(s.FrameBuffer(addrs[i]), payload)
			descs[i] = Desc{Addr: addrs[i], Len: uint32(l)}
		}
		if k := s.Transmit(descs[:n]); k < n {
			s.Release(descs[k:n])
		}
	}
	el := time.Since(start)
	if sent == 0 {
		b.Fatal("nothing transmitted")
	}
	b.ReportMetric(float64(sent)/float64(b.N), "pkts/op")
	b.ReportMetric(float64(el.Nanoseconds())/float64(sent), "ns/pkt")
	b.ReportMetric(float64(sent)/el.Seconds()/1e6, "Mpps")
}
