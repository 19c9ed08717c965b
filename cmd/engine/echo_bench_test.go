package main

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/xdpengine/engine/engine"
	"github.com/xdpengine/engine/internal/enginetest"
)

// BenchmarkEcho measures one echo round trip through the built-in echo
// service: the peer kernel sends a datagram over the veth pair, the engine
// (in this process) delivers it to the service, which writes it back, and
// the peer reads the answer. allocs/op counts every allocation of the
// process per round trip (engine, service and the peer's socket calls), so
// 0 means the whole path allocates nothing per datagram.
//
// stack=kernel is the same exchange with the same kind of echo loop on a
// kernel UDP socket of the engine side (the bed's .3 address, which the
// engine's XDP program passes to the kernel), run in the same process and
// the same bed, side by side.
func BenchmarkEcho(b *testing.B) {
	bed, eng := enginetest.StartBesideKernel(b, engine.Config{BindService: true})
	svc, err := newEchoService(eng, echoSpec{Proto: "udp", Addr: netip.AddrPortFrom(netip.IPv4Unspecified(), 7)}, slog.Default())
	if err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go svc.run(&wg)
	b.Cleanup(func() {
		eng.Close() // before Start's own cleanup: the service ends with the engine
		wg.Wait()
	})
	kernel, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(bed.HostAddr, 7)))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { kernel.Close() })
	go enginetest.ServeUDPEcho(kernel)
	conns := []struct {
		stack string
		c     *net.UDPConn
	}{{"engine", enginetest.PeerUDP(b, bed, 7)}, {"kernel", enginetest.PeerDialUDP(b, bed, netip.AddrPortFrom(bed.HostAddr, 7))}}
	buf := make([]byte, 65536)
	for _, size := range []int{64, 1472, 8000} {
		for _, conn := range conns {
			b.Run(fmt.Sprintf("stack=%s/payload=%d", conn.stack, size), func(b *testing.B) {
				benchEcho(b, conn.c, size, buf)
			})
		}
	}
}

func benchEcho(b *testing.B, c *net.UDPConn, size int, buf []byte) {
	{
		{
			msg := make([]byte, size)
			// Warm up: ARP, and the first datagram of each size.
			for range 3 {
				if _, err := c.Write(msg); err != nil {
					b.Fatal(err)
				}
				c.SetReadDeadline(time.Now().Add(5 * time.Second))
				if _, err := c.Read(buf); err != nil {
					b.Fatal(err)
				}
			}
			c.SetReadDeadline(time.Time{})
			b.SetBytes(int64(2 * size))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.Write(msg); err != nil {
					b.Fatal(err)
				}
				if n, err := c.Read(buf); err != nil || n != size {
					b.Fatalf("echo: %d bytes, %v", n, err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N), "µs/rtt")
		}
	}
}
