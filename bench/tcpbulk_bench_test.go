package bench

import (
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/xdpengine/engine/engine"
	"github.com/xdpengine/engine/internal/enginetest"
)

// BenchmarkTCPBulk measures one TCP connection's bulk throughput over the
// veth pair: the peer kernel sending to the engine, the engine sending to
// the peer kernel, and, as the baseline, the peer kernel sending to the
// host kernel (the bed's .3 address) over the same link. Each iteration
// moves 1 MiB; MB/s is reported (b.SetBytes).
//
//	go test ./bench -run '^$' -bench TCPBulk -benchtime=200x -count=5
func BenchmarkTCPBulk(b *testing.B) {
	bed, eng := enginetest.StartBesideKernel(b, engine.Config{Poll: pollFlag(b)})
	eln, err := eng.Listen("tcp4", ":5201")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { eln.Close() })
	kln, err := net.Listen("tcp4", netip.AddrPortFrom(bed.HostAddr, 5202).String())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { kln.Close() })
	peerLn := enginetest.PeerListenTCP(b, bed, 5203)
	peerDial := func(b *testing.B, to netip.AddrPort) net.Conn {
		c, err := enginetest.PeerDialTCP(b, bed, to)
		if err != nil {
			b.Fatal(err)
		}
		return c
	}
	accept := func(ln net.Listener) net.Conn {
		c, err := ln.Accept()
		if err != nil {
			b.Fatal(err)
		}
		return c
	}

	b.Run("kernel-to-engine", func(b *testing.B) {
		w := peerDial(b, enginetest.EngineAddr(bed, 5201))
		r := accept(eln)
		runBulk(b, w, r)
	})
	b.Run("engine-to-kernel", func(b *testing.B) {
		w, err := eng.DialTCP("tcp4", nil, net.TCPAddrFromAddrPort(netip.AddrPortFrom(bed.PeerAddr, 5203)))
		if err != nil {
			b.Fatal(err)
		}
		r := accept(peerLn)
		runBulk(b, w, r)
	})
	b.Run("kernel-to-kernel", func(b *testing.B) {
		w := peerDial(b, netip.AddrPortFrom(bed.HostAddr, 5202))
		r := accept(kln)
		runBulk(b, w, r)
	})
}

// runBulk writes 1 MiB per iteration on w while a goroutine drains r, and
// stops the clock when everything arrived.
func runBulk(b *testing.B, w, r net.Conn) {
	defer w.Close()
	defer r.Close()
	const chunk = 1 << 20
	got := make(chan int64, 1)
	go func() {
		n, _ := io.Copy(io.Discard, r)
		got <- n
	}()
	buf := make([]byte, chunk)
	b.SetBytes(chunk)
	b.ReportAllocs()
	var total int64
	start := time.Now()
	for b.Loop() {
		if _, err := w.Write(buf); err != nil {
			b.Fatal(err)
		}
		total += chunk
	}
	w.Close()
	if n := <-got; n != total {
		b.Fatalf("received %d of %d bytes", n, total)
	}
	b.ReportMetric(float64(total)/time.Since(start).Seconds()/1e6, "MB/s-delivered")
}
