package engine_test

import (
	"errors"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/xdpengine/engine/engine"
	"github.com/xdpengine/engine/flowtable"
	"github.com/xdpengine/engine/header"
	"github.com/xdpengine/engine/internal/enginetest"
	"github.com/xdpengine/engine/internal/testbed"
	"github.com/xdpengine/engine/stack/inet4"
)

// TestTCPResetBeforeAccept: a connection reset while it waits in the
// accept queue is still returned by Accept, and its first read gives
// ECONNRESET, as Linux does.
func TestTCPResetBeforeAccept(t *testing.T) {
	bed := testbed.New(t, testbed.Config{})
	eng := enginetest.Start(t, bed, engine.Config{})
	ln, err := eng.ListenTCP("tcp4", ":7400", engine.TCPListenConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	kc, err := enginetest.PeerDialTCP(t, bed, enginetest.EngineAddr(bed, 7400))
	if err != nil {
		t.Fatal(err)
	}
	kc.(*net.TCPConn).SetLinger(0)
	kc.Close() // RST
	enginetest.WaitFor(t, "the engine to see the reset", func() bool { return eng.Stats().Total.TCP.EstabResets != 0 })
	ln.SetDeadline(time.Now().Add(5 * time.Second))
	c, err := ln.Accept()
	if err != nil {
		t.Fatalf("accept of the reset connection: %v", err)
	}
	defer c.Close()
	if got, want := c.RemoteAddr().String(), kc.LocalAddr().String(); got != want {
		t.Errorf("remote address %s, want %s", got, want)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 10)); !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("read: %v, want ECONNRESET", err)
	}
	// The listener goes on: a new connection is accepted and works.
	kc2, err := enginetest.PeerDialTCP(t, bed, enginetest.EngineAddr(bed, 7400))
	if err != nil {
		t.Fatal(err)
	}
	c2, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	go c2.Write([]byte("ok"))
	kc2.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 2)
	if _, err := kc2.Read(buf); err != nil || string(buf) != "ok" {
		t.Errorf("second connection: %q, %v", buf, err)
	}
}

// TestTCPFragmentedSteered: SYNs sent in two IPv4 fragments to a
// two-worker engine. A fragment carries no ports, so the queue that
// receives the fragments is not the one the steering hash gives the
// connection; the worker that reassembles the segment hands it to the
// owner, and every SYN opens a connection on its owner.
func TestTCPFragmentedSteered(t *testing.T) {
	const n = 64
	bed := testbed.New(t, testbed.Config{Queues: 2})
	eng := enginetest.Start(t, bed, engine.Config{Queues: 2})
	ln, err := eng.ListenTCP("tcp4", ":7401", engine.TCPListenConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	raw := enginetest.PeerRawSocket(t, bed)
	enginetest.PeerResolve(t, bed) // the fragments must not wait for ARP (and be dropped)
	src, dst := bed.PeerAddr.As4(), bed.EngineAddr.As4()
	owned := make([]int, 2)
	for i := range n {
		sport := uint16(20000 + i)
		key := flowtable.KeyFrom4(src, dst, sport, 7401, header.ProtocolTCP)
		owned[eng.SteerKey(key)]++
		var syn [40]byte
		enginetest.PutSYN(syn[:], src, dst, sport, 7401, uint32(i)*7919)
		// Two fragments: TCP bytes 0-15 (MF), then 16-19 at offset 16.
		for _, f := range []struct {
			from, to int
			flags    uint8
			off      uint16
		}{{20, 36, header.IPv4FlagMoreFragments, 0}, {36, 40, 0, 16}} {
			p := make([]byte, 20+f.to-f.from)
			inet4.PutIPv4(p, bed.PeerAddr, bed.EngineAddr, uint16(1000+i), false, header.ProtocolTCP, len(p), 64, 0)
			header.IPv4(p).SetFlagsFragmentOffset(f.flags, f.off)
			header.IPv4(p).UpdateChecksum()
			copy(p[20:], syn[f.from:f.to])
			if err := syscall.Sendto(raw, p, 0, &syscall.SockaddrInet4{Addr: dst}); err != nil {
				t.Fatal(err)
			}
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	var st engine.Stats
	for {
		st = eng.Stats()
		if st.Total.TCP.PassiveOpens >= n || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	steered := false
	for q, w := range st.Workers {
		t.Logf("queue %d: reassembled %d, owns %d tuples, passive opens %d, steered %d/%d, DropProto %d",
			q, w.Reasm.ReasmOKs, owned[q], w.TCP.PassiveOpens, w.Steered, w.SteeredIn, w.DropProto)
		if w.TCP.PassiveOpens != uint64(owned[q]) {
			t.Errorf("queue %d: %d passive opens, want %d (the tuples it owns)", q, w.TCP.PassiveOpens, owned[q])
		}
		if w.Reasm.ReasmOKs != uint64(owned[q]) {
			steered = true
		}
	}
	if st.Total.Reasm.ReasmOKs != n {
		t.Errorf("%d datagrams reassembled, want %d", st.Total.Reasm.ReasmOKs, n)
	}
	if !steered {
		t.Error("every worker reassembled exactly the segments it owns: steering was not exercised")
	}
}
