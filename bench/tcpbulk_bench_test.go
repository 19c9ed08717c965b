package bench

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/xdpengine/engine/engine"
	"github.com/xdpengine/engine/internal/enginetest"
)

// BenchmarkTCPBulk measures TCP bulk throughput over the veth pair: the
// peer kernel sending to the engine, the engine sending to the peer
// kernel, and, as the baseline, the peer kernel sending to the host kernel
// (the bed's .3 address) over the same link. Each iteration moves 1 MiB on
// every stream; MB/s is reported (b.SetBytes).
//
// queues=N runs the engine with N workers on a bed of N queues (see
// queues_test.go) and N streams at once, one per queue: the peer's
// connections come from source ports that land on queue i (peerPorts), the
// engine's are bound to local ports whose replies do, and each stack
// accepts on N SO_REUSEPORT listeners (the engine's homed one per queue).
// The peer's ends of the streams are kernel sockets of this process (in
// the peer namespace), so their reading and writing runs on the CPUs of
// this process, which the CPU split gives the engine and the kernel server.
// q0-share... are each queue's share of the packets the engine received
// and sent.
//
//	go test ./bench -run '^$' -bench TCPBulk -benchtime=200x -count=5 [-args -queues=1,2]
func BenchmarkTCPBulk(b *testing.B) {
	forQueues(b, benchTCPBulk)
}

func benchTCPBulk(b *testing.B, queues int) {
	s := startScaled(b, queues, engine.Config{Poll: pollFlag(b)})
	bed, eng := s.bed, s.eng
	b.Logf("queues=%d: %v; steering %s", queues, s.split, eng.Steering())
	elns := s.engineListeners(b, 5201)
	klns := s.kernelListeners(b, 5202)
	peerLn := enginetest.PeerListenTCP(b, bed, 5203)
	peerDial := func(b *testing.B, to netip.AddrPort, port uint16) net.Conn {
		var c net.Conn
		err := bed.Do(func() (err error) {
			d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{Port: int(port)}}
			c, err = d.Dial("tcp4", to.String())
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
		return c
	}
	toEngine := enginetest.EngineAddr(bed, 5201)
	toKernel := netip.AddrPortFrom(bed.HostAddr, 5202)
	toPeer := netip.AddrPortFrom(bed.PeerAddr, 5203)

	// Each run binds new ports: -count and b.N growth run a direction
	// again, and the last run's connections are in TIME-WAIT at the side
	// that closed first (the writer).
	next := uint16(41000)
	fresh := func(ports []uint16) []uint16 {
		next = ports[len(ports)-1] + 1
		return ports
	}
	b.Run("kernel-to-engine", func(b *testing.B) {
		var ws []net.Conn
		for _, p := range fresh(s.peerPorts(bed.PeerAddr, toEngine, next, queues)) {
			ws = append(ws, peerDial(b, toEngine, p))
		}
		runBulk(b, s, ws, acceptN(b, elns, queues))
	})
	b.Run("engine-to-kernel", func(b *testing.B) {
		var ws []net.Conn
		for _, p := range fresh(s.enginePorts(toPeer, next, queues)) {
			w, err := eng.DialTCP("tcp4", net.TCPAddrFromAddrPort(netip.AddrPortFrom(bed.EngineAddr, p)),
				net.TCPAddrFromAddrPort(toPeer))
			if err != nil {
				b.Fatal(err)
			}
			ws = append(ws, w)
		}
		runBulk(b, s, ws, acceptN(b, []net.Listener{peerLn}, queues))
	})
	b.Run("kernel-to-kernel", func(b *testing.B) {
		var ws []net.Conn
		for _, p := range fresh(s.peerPorts(bed.PeerAddr, toKernel, next, queues)) {
			ws = append(ws, peerDial(b, toKernel, p))
		}
		runBulk(b, nil, ws, acceptN(b, klns, queues))
	})
}

// acceptN accepts n connections from any of lns, taking turns with a
// short deadline on each so that no accept is left pending afterwards.
func acceptN(b *testing.B, lns []net.Listener, n int) []net.Conn {
	type deadliner interface{ SetDeadline(time.Time) error }
	var rs []net.Conn
	for end := time.Now().Add(5 * time.Second); len(rs) < n; {
		if time.Now().After(end) {
			b.Fatalf("accepted %d of %d connections", len(rs), n)
		}
		for _, ln := range lns {
			ln.(deadliner).SetDeadline(time.Now().Add(5 * time.Millisecond))
			c, err := ln.Accept()
			if errors.Is(err, os.ErrDeadlineExceeded) {
				continue
			}
			if err != nil {
				b.Fatal(err)
			}
			rs = append(rs, c)
		}
	}
	for _, ln := range lns {
		ln.(deadliner).SetDeadline(time.Time{})
	}
	return rs
}

// runBulk writes 1 MiB per iteration on each of ws at once while
// goroutines drain rs, and stops the clock when everything arrived. With
// s, it reports each queue's share of the engine's packets.
func runBulk(b *testing.B, s *scaledBed, ws, rs []net.Conn) {
	const chunk = 1 << 20
	got := make(chan int64, len(rs))
	for _, r := range rs {
		go func() {
			n, _ := io.Copy(io.Discard, r)
			got <- n
		}()
	}
	// One writer goroutine per stream, one iteration per token.
	tokens := make([]chan struct{}, len(ws))
	done := make(chan error, len(ws))
	for i, w := range ws {
		tokens[i] = make(chan struct{})
		go func() {
			buf := make([]byte, chunk)
			for range tokens[i] {
				_, err := w.Write(buf)
				done <- err
			}
			w.Close()
		}()
	}
	var shares *queueShares
	if s != nil {
		shares = newQueueShares(s.eng)
		shares.start()
	}
	b.SetBytes(int64(len(ws)) * chunk)
	b.ReportAllocs()
	var total int64
	start := time.Now()
	for b.Loop() {
		for _, t := range tokens {
			t <- struct{}{}
		}
		for range ws {
			if err := <-done; err != nil {
				b.Fatal(err)
			}
		}
		total += int64(len(ws)) * chunk
	}
	for _, t := range tokens {
		close(t)
	}
	var n int64
	for range rs {
		n += <-got
	}
	el := time.Since(start)
	for _, r := range rs {
		r.Close()
	}
	if n != total {
		b.Fatalf("received %d of %d bytes", n, total)
	}
	b.ReportMetric(float64(total)/el.Seconds()/1e6, "MB/s-delivered")
	if shares != nil {
		shares.stop()
		shares.report(b)
	}
}
