package engine_test

import (
	"bytes"
	"crypto/sha256"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/xdpengine/engine/engine"
	"github.com/xdpengine/engine/internal/enginetest"
	"github.com/xdpengine/engine/internal/testbed"
	"github.com/xdpengine/engine/stack/socktab"
)

// digestServer accepts connections on ln and answers each with the
// SHA-256 of everything it read until the peer's FIN.
func digestServer(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			h := sha256.New()
			if _, err := io.Copy(h, c); err == nil {
				c.Write(h.Sum(nil))
			}
		}()
	}
}

// sendDigest writes data on c, half-closes, and checks the digest that
// comes back.
func sendDigest(t *testing.T, c net.Conn, data []byte) {
	t.Helper()
	c.SetDeadline(time.Now().Add(60 * time.Second))
	errc := make(chan error, 1)
	go func() {
		_, err := c.Write(data)
		if err == nil {
			err = c.(interface{ CloseWrite() error }).CloseWrite()
		}
		errc <- err
	}()
	got, err := io.ReadAll(c)
	if werr := <-errc; werr != nil {
		t.Fatalf("write %d bytes: %v", len(data), werr)
	}
	want := sha256.Sum256(data)
	if err != nil || !bytes.Equal(got, want[:]) {
		t.Fatalf("digest of %d bytes: %x, %v; want %x", len(data), got, err, want)
	}
}

// TestTCPPathMTUThroughRouter: the engine and a kernel host one router
// apart, the router forwarding at most 1280 bytes while both ends have
// 1500-byte links (so both advertise MSS 1460). A bulk transfer each way
// completes intact: the router's ICMP fragmentation needed makes the
// engine lower the connection's path MTU and resend what no longer fits,
// and the kernel do the same on its side. Before the engine delivered ICMP
// to TCP, its direction stalled on the first full-size segment.
func TestTCPPathMTUThroughRouter(t *testing.T) {
	bed := testbed.New(t, testbed.Config{})
	far, err := bed.AddFar(testbed.FarConfig{PathMTU: 1280})
	if err != nil {
		t.Fatal(err)
	}
	eng := enginetest.Start(t, bed, engine.Config{Gateway: bed.PeerAddr})
	data := make([]byte, enginetest.BulkSize(16<<20))
	rand.NewChaCha8([32]byte{1}).Read(data)

	// Engine -> far.
	var ln net.Listener
	if err := far.Do(func() (err error) { ln, err = net.Listen("tcp4", ":7700"); return err }); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go digestServer(ln)
	c, err := eng.DialTCP("tcp4", nil, net.TCPAddrFromAddrPort(netip.AddrPortFrom(far.Addr, 7700)))
	if err != nil {
		t.Fatal(err)
	}
	sendDigest(t, c, data)
	for _, e := range eng.Sockets(socktab.TCP) {
		if e.Local == c.LocalAddr().(*net.TCPAddr).AddrPort() && e.TCP != nil && (e.TCP.PMTU != 1280 || !strings.Contains(e.TCP.String(), " pmtu:1280 ")) {
			t.Errorf("ss -ti of the connection: %s, want pmtu:1280", e.TCP)
		}
	}
	c.Close()
	st := eng.Stats().Total
	if st.TCP.PMTUDecreases == 0 || st.ICMP.InDestUnreachs == 0 {
		t.Fatalf("engine -> far: %d path MTU decreases, %d ICMP unreachables received: want some",
			st.TCP.PMTUDecreases, st.ICMP.InDestUnreachs)
	}
	if mtu, _ := c.PathMTU(); mtu != 1280 {
		t.Fatalf("path MTU toward %v: %d, want 1280", far.Addr, mtu)
	}

	// Far -> engine, and a new connection starts at the learned path MTU.
	eln, err := eng.Listen("tcp4", ":7701")
	if err != nil {
		t.Fatal(err)
	}
	defer eln.Close()
	go digestServer(eln)
	var fc net.Conn
	if err := far.Do(func() (err error) {
		fc, err = net.DialTimeout("tcp4", netip.AddrPortFrom(bed.EngineAddr, 7701).String(), 5*time.Second)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer fc.Close()
	sendDigest(t, fc, data)
	before := eng.Stats().Total.TCP.PMTUDecreases
	c2, err := eng.DialTCP("tcp4", nil, net.TCPAddrFromAddrPort(netip.AddrPortFrom(far.Addr, 7700)))
	if err != nil {
		t.Fatal(err)
	}
	sendDigest(t, c2, data[:1<<20])
	c2.Close()
	if after := eng.Stats().Total.TCP.PMTUDecreases; after != before {
		t.Errorf("a connection opened after the path MTU was learned lowered it again (%d -> %d decreases)", before, after)
	}
}
