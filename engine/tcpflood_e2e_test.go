package engine_test

import (
	"bytes"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/xdpengine/engine/engine"
	"github.com/xdpengine/engine/internal/enginetest"
	"github.com/xdpengine/engine/internal/testbed"
)

// TestTCPNeverReaders: peers that send and never read, and a peer that
// never reads what the engine sends, cannot grow the engine past its
// limits (Config.TCPMem, TCPMaxOrphans), and what the limits did is
// counted, while a connection opened before keeps working.
//
//   - 200 connections from the peer flood an echo with 1 MiB each and
//     read nothing: the echo's writes fill the peer's receive buffer,
//     then the engine's send rings, then the echo stops reading and the
//     engine's receive windows close. Pressure (16 MiB here) stops every
//     growth; the memory stays under High (24 MiB) but for the minimum
//     buffer (4 KiB) each ring may always hold.
//   - 40 connections to a service that writes 192 KiB to each (what fits
//     in half a second) and closes: the peer never reads, so each close
//     leaves an orphan with data the peer's zero window holds back; past
//     TCPMaxOrphans (10) the closes reset instead (AbortOnMemory).
//   - Throughout, an echo on a connection made before the flood answers.
//   - Once the flood's connections are gone, pressure ends.
func TestTCPNeverReaders(t *testing.T) {
	const (
		floods, talkers, maxOrphans = 200, 40, 10
		low, pressure, high         = 12 << 20, 16 << 20, 24 << 20
	)
	bed := testbed.New(t, testbed.Config{})
	eng := enginetest.Start(t, bed, engine.Config{
		TCPMem:        engine.TCPMemLimits{Low: low, Pressure: pressure, High: high},
		TCPMaxOrphans: maxOrphans,
	})
	echo, err := eng.ListenTCP("tcp4", ":7600", engine.TCPListenConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { echo.Close() })
	go copyEcho(echo)
	talk, err := eng.ListenTCP("tcp4", ":7601", engine.TCPListenConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { talk.Close() })
	start := make(chan struct{}) // the talkers wait until every connection is made
	go func() {
		for {
			c, err := talk.AcceptTCP()
			if err != nil {
				return
			}
			go func() {
				<-start
				c.SetWriteDeadline(time.Now().Add(500 * time.Millisecond))
				c.Write(make([]byte, 192<<10))
				c.Close()
			}()
		}
	}()

	normal, err := enginetest.PeerDialTCP(t, bed, enginetest.EngineAddr(bed, 7600))
	if err != nil {
		t.Fatal(err)
	}
	// The flood overloads the worker (most of all under the race
	// detector): its receive ring overflows and the peer's segments are
	// lost, so an echo may wait for several of the peer's retransmissions
	// (backing off from 200 ms: the sixth goes 12.6 s after the first).
	roundTrip := func(what string) {
		t.Helper()
		normal.SetDeadline(time.Now().Add(30 * time.Second))
		if _, err := normal.Write([]byte(what)); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		got := make([]byte, len(what))
		if _, err := io.ReadFull(normal, got); err != nil || !bytes.Equal(got, []byte(what)) {
			t.Fatalf("%s: echo %q: %v", what, got, err)
		}
	}
	roundTrip("before the flood")

	// Every connection first: above the high threshold new ones are
	// refused, which is what the flood would soon cause.
	var conns []net.Conn
	for i := range floods + talkers {
		port := uint16(7600)
		if i >= floods {
			port = 7601
		}
		c, err := enginetest.PeerDialTCP(t, bed, enginetest.EngineAddr(bed, port))
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	close(start)
	var wg sync.WaitGroup
	for _, c := range conns[:floods] {
		wg.Add(1)
		go func() { // send 1 MiB, or what fits in 5 s; read nothing
			defer wg.Done()
			c.SetWriteDeadline(time.Now().Add(5 * time.Second))
			c.Write(make([]byte, 1<<20))
		}()
	}
	roundTrip("during the flood")
	wg.Wait() // the floods are blocked: every window is closed
	roundTrip("with every flood connection stuck")
	waitStats(t, eng, "the talkers' closes", 10*time.Second, func(s engine.TCPStats) bool {
		return s.CurrOrphans+s.AbortOnMemory >= talkers
	})
	st := eng.Stats().Total.TCP
	t.Logf("during: %d KiB of buffers (peak %d KiB), pressure %d (entered %d times), %d growths held back, "+
		"%d segments dropped, %d orphans, %d closes reset, %d connections refused",
		st.MemBytes>>10, st.MemPeakBytes>>10, st.MemPressure, st.MemPressures, st.MemDenied,
		st.MemDrops, st.CurrOrphans, st.AbortOnMemory, st.MemRefused)
	if st.MemPressures == 0 || st.MemDenied == 0 {
		t.Errorf("pressure entered %d times, %d growths held back: want both", st.MemPressures, st.MemDenied)
	}
	if bound := uint64(high + (floods+talkers+1)*2*engine.DefaultTCPBufferMin); st.MemPeakBytes > bound {
		t.Errorf("buffers peaked at %d KiB, above the high threshold and each ring's minimum, %d KiB", st.MemPeakBytes>>10, bound>>10)
	}
	if st.CurrOrphans > maxOrphans || st.AbortOnMemory < talkers-maxOrphans {
		t.Errorf("%d orphans (at most %d), %d closes reset (at least %d)", st.CurrOrphans, maxOrphans, st.AbortOnMemory, talkers-maxOrphans)
	}
	// That new connections are refused above high is TestTCPRefusedAboveHigh's
	// (here the memory hovers about high as orphans end and floods refill).

	// The flood ends: the peer closes with unread data (RSTs), the
	// engine's connections reset, their memory goes back.
	for _, c := range conns {
		c.(*net.TCPConn).SetLinger(0)
		c.Close()
	}
	st = waitStats(t, eng, "pressure over", 30*time.Second, func(s engine.TCPStats) bool {
		return s.MemPressure == 0 && s.MemBytes < low
	})
	roundTrip("after the flood")
	t.Logf("after: %d KiB of buffers, pool %d KiB", st.MemBytes>>10, st.PoolBytes>>10)
}

// copyEcho echoes on every connection ln accepts with a 64 KiB buffer.
func copyEcho(ln *engine.TCPListener) {
	for {
		c, err := ln.AcceptTCP()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			io.CopyBuffer(struct{ io.Writer }{c}, struct{ io.Reader }{c}, make([]byte, 64<<10))
		}()
	}
}

// TestTCPBuffersGrowAndShrink: one connection's buffers grow to carry a
// bulk transfer each way (the receive window by auto-tuning, the send ring
// toward two congestion windows) and are given back once it is idle; the
// buffer pool then decays to nothing.
func TestTCPBuffersGrowAndShrink(t *testing.T) {
	bed := testbed.New(t, testbed.Config{})
	eng := enginetest.Start(t, bed, engine.Config{TCPBufferIdle: 300 * time.Millisecond})
	size := enginetest.BulkSize(64 << 20)
	for _, dir := range []string{"kernel to engine", "engine to kernel"} {
		var ec, kc net.Conn
		if dir == "kernel to engine" {
			ec, kc = enginetest.ConnectFromPeer(t, bed, eng, 7610)
		} else {
			ec, kc = enginetest.ConnectToPeer(t, bed, eng, 7611)
		}
		before := eng.Stats().Total.TCP
		var w, r net.Conn = kc, ec
		if dir == "engine to kernel" {
			w, r = ec, kc
		}
		d := enginetest.Bulk(t, w, r, size)
		st := eng.Stats().Total.TCP
		info := enginetest.TCPSocket(t, eng, ec.LocalAddr()).TCP
		t.Logf("%s: %d MiB in %v (%.0f MB/s); buffers peaked at %d KiB; receive window limit %d KiB; send ring growths %d",
			dir, size>>20, d.Round(time.Millisecond), float64(size)/d.Seconds()/1e6, st.MemPeakBytes>>10,
			info.RcvSpace>>10, st.SendBufGrowths-before.SendBufGrowths)
		switch {
		case dir == "kernel to engine" && (info.RcvSpace <= 64<<10 || st.MemPeakBytes <= 64<<10):
			t.Errorf("%s: the receive side did not grow (window limit %d, peak %d)", dir, info.RcvSpace, st.MemPeakBytes)
		case dir == "engine to kernel" && st.SendBufGrowths == before.SendBufGrowths:
			t.Errorf("%s: the send ring did not grow", dir)
		}
		st = waitStats(t, eng, dir+": buffers given back when idle", 10*time.Second, func(s engine.TCPStats) bool { return s.MemBytes == 0 })
		if st.MemTrims == before.MemTrims {
			t.Errorf("%s: no trim counted", dir)
		}
		if _, err := ec.Write([]byte("x")); err != nil && !errors.Is(err, net.ErrClosed) {
			t.Fatal(err)
		}
	}
	waitStats(t, eng, "the buffer pool decayed", 30*time.Second, func(s engine.TCPStats) bool { return s.PoolBytes == 0 })
}
