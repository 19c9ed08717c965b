package bench

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/xdpengine/engine/engine"
	"github.com/xdpengine/engine/internal/testbed"
)

// shortServer answers each connection's 64-byte request with 64 bytes and
// closes once the client has closed: the same code on both stacks.
func shortServer(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			var req [64]byte
			if _, err := io.ReadFull(c, req[:]); err != nil {
				return
			}
			if _, err := c.Write(req[:]); err != nil {
				return
			}
			c.Read(req[:1]) // wait for the client's FIN
		}()
	}
}

// shortRound makes n connections one after another from the peer kernel:
// connect, send 64 bytes, read 64 bytes, close.
func shortRound(bed *testbed.Bed, to netip.AddrPort, n int) (time.Duration, error) {
	var el time.Duration
	err := bed.Do(func() error {
		var req, resp [64]byte
		start := time.Now()
		for range n {
			c, err := net.DialTimeout("tcp4", to.String(), 5*time.Second)
			if err != nil {
				return err
			}
			c.SetDeadline(time.Now().Add(5 * time.Second))
			if _, err := c.Write(req[:]); err != nil {
				c.Close()
				return err
			}
			if _, err := io.ReadFull(c, resp[:]); err != nil {
				c.Close()
				return err
			}
			c.Close()
		}
		el = time.Since(start)
		return nil
	})
	return el, err
}

// BenchmarkTCPShortConn measures short connections per second (connect,
// 64-byte request, 64-byte reply, close; the client closes first, so
// TIME-WAIT stays with the client) against the engine's TCP and against the
// host kernel's (the bed's .3 address, passed to the kernel by the XDP
// program), from the same client in the peer namespace, rounds alternating.
// One op is one connection to each server.
//
//	go test ./bench -run '^$' -bench TCPShortConn -benchtime=4000x -count=5
func BenchmarkTCPShortConn(b *testing.B) {
	bed, eng := engineBed(b, engine.Config{})
	eln, err := eng.Listen("tcp4", ":5301")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { eln.Close() })
	kln, err := net.Listen("tcp4", netip.AddrPortFrom(bed.HostAddr, 5302).String())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { kln.Close() })
	go shortServer(eln)
	go shortServer(kln)
	toEngine := netip.AddrPortFrom(bed.EngineAddr, 5301)
	toKernel := netip.AddrPortFrom(bed.HostAddr, 5302)
	for _, to := range []netip.AddrPort{toEngine, toKernel} { // warm up: ARP, caches
		if _, err := shortRound(bed, to, 20); err != nil {
			b.Fatalf("warm-up to %v: %v", to, err)
		}
	}

	const round = 500
	var engRate, kerRate []float64
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; done += round {
		n := min(round, b.N-done)
		for _, side := range []struct {
			to    netip.AddrPort
			rates *[]float64
		}{{toEngine, &engRate}, {toKernel, &kerRate}} {
			el, err := shortRound(bed, side.to, n)
			if err != nil {
				if errors.Is(err, net.ErrClosed) {
					return
				}
				b.Fatalf("to %v: %v", side.to, err)
			}
			*side.rates = append(*side.rates, float64(n)/el.Seconds())
		}
	}
	b.StopTimer()
	e, k := median(engRate), median(kerRate)
	b.ReportMetric(e, "engine-conn/s")
	b.ReportMetric(k, "kernel-conn/s")
	b.ReportMetric(e/k, "engine/kernel")
}
