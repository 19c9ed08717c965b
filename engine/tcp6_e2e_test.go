package engine_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xdpengine/engine/engine"
	"github.com/xdpengine/engine/internal/enginetest"
	"github.com/xdpengine/engine/internal/testbed"
	"github.com/xdpengine/engine/stack/socktab"
)

// TCP over IPv6 against the peer kernel: the bed's IPv6 /64 (start6 gives
// the engine both families; NoDAD so that the address is usable at once).

// echoOn serves an echo on every connection ln accepts until ln closes.
func echoOn(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			io.Copy(c, c)
		}()
	}
}

// listen6 opens an engine listener (closed when t ends) and echoes on it.
func listen6(t *testing.T, eng *engine.Engine, network, addr string, cfg engine.TCPListenConfig) *engine.TCPListener {
	t.Helper()
	ln, err := eng.ListenTCP(network, addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// peerDial connects from the peer kernel on network ("tcp4", "tcp6").
func peerDial(t *testing.T, bed *testbed.Bed, network string, to netip.AddrPort) (net.Conn, error) {
	t.Helper()
	var c net.Conn
	err := bed.Do(func() (err error) {
		c, err = net.DialTimeout(network, to.String(), 5*time.Second)
		return err
	})
	if err == nil {
		t.Cleanup(func() { c.Close() })
	}
	return c, err
}

// peerListen6 listens on the peer's IPv6 address in the peer kernel.
func peerListen6(t *testing.T, bed *testbed.Bed, port uint16) net.Listener {
	t.Helper()
	var ln net.Listener
	if err := bed.Do(func() (err error) {
		ln, err = net.Listen("tcp6", netip.AddrPortFrom(bed.PeerAddr6, port).String())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// dial6 connects the engine to raddr over network (DialTCPAddrPort).
func dial6(t *testing.T, eng *engine.Engine, network string, raddr netip.AddrPort) (*engine.TCPConn, error) {
	t.Helper()
	c, err := eng.DialTCPAddrPort(network, netip.AddrPort{}, raddr)
	if err == nil {
		t.Cleanup(func() { c.Close() })
	}
	return c, err
}

// TestTCP6Echo: the peer kernel connects to an engine "tcp6" listener and
// the engine connects to a kernel echo server, over IPv6, each exchanging
// messages of every segment-count class; the addresses are the IPv6 ones,
// `ss` lists the connections in brackets, and the MSS is the MTU's less 60
// bytes.
func TestTCP6Echo(t *testing.T) {
	bed := testbed.New(t, testbed.Config{IPv6: true})
	eng := start6(t, bed, true)
	ln := listen6(t, eng, "tcp6", ":7007", engine.TCPListenConfig{})
	if got := ln.Addr().String(); got != "[::]:7007" {
		t.Errorf("listener address %s, want [::]:7007", got)
	}
	go echoOn(ln)
	kc, err := peerDial(t, bed, "tcp6", netip.AddrPortFrom(bed.EngineAddr6, 7007))
	if err != nil {
		t.Fatalf("kernel dial over IPv6: %v (stats %+v)", err, eng.Stats().Total.TCP)
	}
	enginetest.RoundTrips(t, kc)
	if got := kc.LocalAddr().(*net.TCPAddr).AddrPort().Addr(); got != bed.PeerAddr6 {
		t.Errorf("kernel's local address %v", got)
	}

	enginetest.NeedTool(t, "ss")
	pln := peerListen6(t, bed, 7008)
	go echoOn(pln)
	c, err := dial6(t, eng, "tcp6", netip.AddrPortFrom(bed.PeerAddr6, 7008))
	if err != nil {
		t.Fatalf("engine dial over IPv6: %v", err)
	}
	if la, ra := c.LocalAddr().(*net.TCPAddr).AddrPort(), c.RemoteAddr().(*net.TCPAddr).AddrPort(); la.Addr() != bed.EngineAddr6 || ra != netip.AddrPortFrom(bed.PeerAddr6, 7008) {
		t.Errorf("engine's connection %v -> %v", la, ra)
	}
	enginetest.RoundTrips(t, c)
	found := 0
	for _, e := range eng.Sockets(socktab.TCP) {
		if e.Peer == netip.AddrPortFrom(bed.PeerAddr6, 7008) || e.Local == netip.AddrPortFrom(bed.EngineAddr6, 7007) && e.Peer.IsValid() {
			found++
			if e.TCP != nil && e.TCP.MSS != 0 && e.TCP.MSS+12 != 1500-60 {
				t.Errorf("%v: MSS %d, want %d (1500 - 60 - 12 of timestamps)", e.Local, e.TCP.MSS, 1500-72)
			}
		}
	}
	if found != 2 {
		t.Errorf("engine lists %d of its 2 IPv6 connections: %+v", found, eng.Sockets(socktab.TCP))
	}
	var ss strings.Builder
	eng.WriteSS(&ss, socktab.TCP)
	if want := "[" + bed.EngineAddr6.String() + "]:7007"; !strings.Contains(ss.String(), want) {
		t.Errorf("ss lists no %s:\n%s", want, ss.String())
	}
	st := eng.Stats().Total.TCP
	if st.PassiveOpens != 1 || st.ActiveOpens != 1 || st.InCsumErrors != 0 {
		t.Errorf("counters %+v", st)
	}
}

// TestTCP6HalfClose: each side shuts its sending half first; the other
// reads to EOF and still answers; no RST.
func TestTCP6HalfClose(t *testing.T) {
	bed := testbed.New(t, testbed.Config{IPv6: true})
	eng := start6(t, bed, true)
	t.Run("engine closes first", func(t *testing.T) {
		kl := peerListen6(t, bed, 9000)
		got := make(chan error, 1)
		go func() {
			c, err := kl.Accept()
			if err != nil {
				got <- err
				return
			}
			defer c.Close()
			b, err := io.ReadAll(c)
			if err != nil || string(b) != "question" {
				got <- fmt.Errorf("kernel read %q, %v", b, err)
				return
			}
			_, err = c.Write([]byte("answer after your FIN"))
			got <- err
		}()
		c, err := dial6(t, eng, "tcp6", netip.AddrPortFrom(bed.PeerAddr6, 9000))
		if err != nil {
			t.Fatal(err)
		}
		c.Write([]byte("question"))
		if err := c.CloseWrite(); err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if b, err := io.ReadAll(c); err != nil || string(b) != "answer after your FIN" {
			t.Fatalf("engine read %q, %v", b, err)
		}
		if err := <-got; err != nil {
			t.Fatal(err)
		}
	})
	t.Run("kernel closes first", func(t *testing.T) {
		ln := listen6(t, eng, "tcp6", ":9001", engine.TCPListenConfig{})
		got := make(chan error, 1)
		go func() {
			c, err := ln.Accept()
			if err != nil {
				got <- err
				return
			}
			defer c.Close()
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			b, err := io.ReadAll(c)
			if err != nil || string(b) != "question" {
				got <- fmt.Errorf("engine read %q, %v", b, err)
				return
			}
			_, err = c.Write([]byte("answer after your FIN"))
			got <- err
		}()
		kc, err := peerDial(t, bed, "tcp6", netip.AddrPortFrom(bed.EngineAddr6, 9001))
		if err != nil {
			t.Fatal(err)
		}
		kc.Write([]byte("question"))
		kc.(*net.TCPConn).CloseWrite()
		kc.SetReadDeadline(time.Now().Add(5 * time.Second))
		if b, err := io.ReadAll(kc); err != nil || string(b) != "answer after your FIN" {
			t.Fatalf("kernel read %q, %v", b, err)
		}
		if err := <-got; err != nil {
			t.Fatal(err)
		}
	})
	if st := eng.Stats().Total.TCP; st.OutRsts != 0 || st.EstabResets != 0 {
		t.Errorf("graceful closes sent %d RSTs, %d resets", st.OutRsts, st.EstabResets)
	}
}

// TestTCP6Refused: a SYN over IPv6 to a closed engine port is answered
// with a RST (the kernel's connect gets ECONNREFUSED), and the engine's
// connect to a closed kernel port fails the same way.
func TestTCP6Refused(t *testing.T) {
	bed := testbed.New(t, testbed.Config{IPv6: true})
	eng := start6(t, bed, true)
	if _, err := peerDial(t, bed, "tcp6", netip.AddrPortFrom(bed.EngineAddr6, 4242)); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("kernel dial to a closed engine port over IPv6: %v, want ECONNREFUSED", err)
	}
	if st := eng.Stats().Total.TCP; st.OutRsts != 1 {
		t.Errorf("OutRsts %d, want 1", st.OutRsts)
	}
	if _, err := dial6(t, eng, "tcp6", netip.AddrPortFrom(bed.PeerAddr6, 4243)); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("engine dial to a closed kernel port over IPv6: %v, want ECONNREFUSED", err)
	}
}

// acceptOne accepts one connection within 5 s.
func acceptOne(t *testing.T, ln *engine.TCPListener) *engine.TCPConn {
	t.Helper()
	ln.SetDeadline(time.Now().Add(5 * time.Second))
	c, err := ln.AcceptTCP()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestTCP6DualStack: the socket table's dual-stack rules with real
// traffic, addresses as Go's net reports them.
//   - "tcp" on ":P" is one listener on [::]:P that takes IPv4 and IPv6
//     clients; the IPv4 one's addresses are ::ffff:a.b.c.d (what Go's net
//     gives for a connection accepted on a dual-stack socket).
//   - "tcp6" is IPV6_V6ONLY: a "tcp4" listener on the same port binds and
//     takes the IPv4 clients.
//   - A "tcp4" listener beats a dual-stack one for IPv4 clients (both
//     SO_REUSEPORT, as Linux needs to let them share the port); the IPv6
//     client still reaches the dual-stack one.
func TestTCP6DualStack(t *testing.T) {
	bed := testbed.New(t, testbed.Config{IPv6: true})
	eng := start6(t, bed, true)
	mapped := func(a netip.Addr) netip.Addr { return netip.AddrFrom16(a.As16()) }
	addrs := func(c net.Conn) (netip.AddrPort, netip.AddrPort) {
		return c.LocalAddr().(*net.TCPAddr).AddrPort(), c.RemoteAddr().(*net.TCPAddr).AddrPort()
	}

	t.Run("dual-stack", func(t *testing.T) {
		ln := listen6(t, eng, "tcp", ":7100", engine.TCPListenConfig{})
		if got := ln.Addr().String(); got != "[::]:7100" {
			t.Errorf("listener address %s, want [::]:7100", got)
		}
		k4, err := peerDial(t, bed, "tcp4", netip.AddrPortFrom(bed.EngineAddr, 7100))
		if err != nil {
			t.Fatalf("IPv4 client: %v", err)
		}
		c4 := acceptOne(t, ln)
		la, ra := addrs(c4)
		if la != netip.AddrPortFrom(mapped(bed.EngineAddr), 7100) || ra != netip.AddrPortFrom(mapped(bed.PeerAddr), k4.LocalAddr().(*net.TCPAddr).AddrPort().Port()) {
			t.Errorf("IPv4 client's connection %v -> %v, want v4-mapped addresses", la, ra)
		}
		if s := c4.RemoteAddr().String(); s != fmt.Sprintf("%v:%d", bed.PeerAddr, ra.Port()) {
			t.Errorf("RemoteAddr().String() %q: Go's net prints a v4-mapped address as IPv4", s)
		}
		k6, err := peerDial(t, bed, "tcp6", netip.AddrPortFrom(bed.EngineAddr6, 7100))
		if err != nil {
			t.Fatalf("IPv6 client: %v", err)
		}
		c6 := acceptOne(t, ln)
		if la, ra := addrs(c6); la != netip.AddrPortFrom(bed.EngineAddr6, 7100) || ra.Addr() != bed.PeerAddr6 {
			t.Errorf("IPv6 client's connection %v -> %v", la, ra)
		}
		for _, p := range [][2]net.Conn{{k4, c4}, {k6, c6}} {
			p[0].Write([]byte("ping"))
			b := make([]byte, 4)
			p[1].SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, err := io.ReadFull(p[1], b); err != nil || string(b) != "ping" {
				t.Errorf("engine read %q, %v", b, err)
			}
		}
		// ss shows the IPv4 connection as Linux shows a dual-stack one.
		var ss strings.Builder
		eng.WriteSS(&ss, socktab.TCP)
		if want := "[::ffff:" + bed.EngineAddr.String() + "]:7100"; !strings.Contains(ss.String(), want) {
			t.Errorf("ss lists no %s:\n%s", want, ss.String())
		}
	})

	t.Run("v6only beside tcp4", func(t *testing.T) {
		l6 := listen6(t, eng, "tcp6", ":7101", engine.TCPListenConfig{})
		l4 := listen6(t, eng, "tcp4", ":7101", engine.TCPListenConfig{})
		if _, err := peerDial(t, bed, "tcp4", netip.AddrPortFrom(bed.EngineAddr, 7101)); err != nil {
			t.Fatal(err)
		}
		if la, _ := addrs(acceptOne(t, l4)); la != netip.AddrPortFrom(bed.EngineAddr, 7101) {
			t.Errorf("IPv4 connection's local address %v", la)
		}
		if _, err := peerDial(t, bed, "tcp6", netip.AddrPortFrom(bed.EngineAddr6, 7101)); err != nil {
			t.Fatal(err)
		}
		if la, _ := addrs(acceptOne(t, l6)); la != netip.AddrPortFrom(bed.EngineAddr6, 7101) {
			t.Errorf("IPv6 connection's local address %v", la)
		}
		if _, err := eng.ListenTCP("tcp", ":7101", engine.TCPListenConfig{}); !errors.Is(err, syscall.EADDRINUSE) {
			t.Errorf("a dual-stack listener over both: %v, want EADDRINUSE", err)
		}
	})

	t.Run("IPv4 listener wins", func(t *testing.T) {
		opts := engine.TCPListenConfig{SocketOptions: engine.SocketOptions{ReusePort: true}}
		ld := listen6(t, eng, "tcp", ":7102", opts)
		l4 := listen6(t, eng, "tcp4", ":7102", opts)
		for range 3 {
			if _, err := peerDial(t, bed, "tcp4", netip.AddrPortFrom(bed.EngineAddr, 7102)); err != nil {
				t.Fatal(err)
			}
			if la, _ := addrs(acceptOne(t, l4)); la != netip.AddrPortFrom(bed.EngineAddr, 7102) {
				t.Errorf("IPv4 connection's local address %v", la)
			}
		}
		if _, err := peerDial(t, bed, "tcp6", netip.AddrPortFrom(bed.EngineAddr6, 7102)); err != nil {
			t.Fatal(err)
		}
		acceptOne(t, ld)
		if n, _ := ld.Queues(); n != 0 {
			t.Errorf("dual-stack listener holds %d connections", n)
		}
	})
}

// connect6 connects the peer kernel to an engine listener on network and
// port over the given family and returns both ends.
func connect6(t *testing.T, bed *testbed.Bed, eng *engine.Engine, network string, to netip.AddrPort) (engineSide, peerSide net.Conn) {
	t.Helper()
	ln, err := eng.ListenTCP(network, fmt.Sprintf(":%d", to.Port()), engine.TCPListenConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	kc, err := peerDial(t, bed, network, to)
	if err != nil {
		t.Fatal(err)
	}
	return acceptOne(t, ln), kc
}

// TestTCP6Bulk moves 64 MiB each way over IPv4 and IPv6 alternately, twice
// each, on the same bed and engine, and compares SHA-256; the throughputs
// are logged side by side (the first runs warm the pools and rings up, so
// compare the second of each family).
func TestTCP6Bulk(t *testing.T) {
	bed := testbed.New(t, testbed.Config{IPv6: true})
	eng := start6(t, bed, true)
	size := enginetest.BulkSize(64 << 20)
	for _, f := range []struct {
		network string
		to      netip.AddrPort
	}{{"tcp4", netip.AddrPortFrom(bed.EngineAddr, 5100)}, {"tcp6", netip.AddrPortFrom(bed.EngineAddr6, 5101)}, {"tcp4", netip.AddrPortFrom(bed.EngineAddr, 5102)}, {"tcp6", netip.AddrPortFrom(bed.EngineAddr6, 5103)}} {
		c, kc := connect6(t, bed, eng, f.network, f.to)
		in := enginetest.Bulk(t, kc, c, size)
		out := enginetest.Bulk(t, c, kc, size)
		t.Logf("%s: kernel → engine %.0f MB/s, engine → kernel %.0f MB/s (%d MiB)", f.network,
			float64(size)/in.Seconds()/1e6, float64(size)/out.Seconds()/1e6, size>>20)
	}
}

// TestTCP6BulkLoss moves 256 MiB each way over IPv6 while the peer drops
// 5% of the TCP segments it receives (nftables, an inet table: both
// families): recovery runs in both directions and SHA-256 matches.
func TestTCP6BulkLoss(t *testing.T) {
	enginetest.NeedTool(t, "nft")
	bed := testbed.New(t, testbed.Config{IPv6: true})
	eng := start6(t, bed, true)
	size := enginetest.BulkSize(256 << 20)
	c, kc := connect6(t, bed, eng, "tcp6", netip.AddrPortFrom(bed.EngineAddr6, 5103))
	addPeerLoss(t, bed)
	d := enginetest.Bulk(t, kc, c, size)
	t.Logf("kernel → engine over IPv6, 5%% loss: %d MiB in %v (%.0f MB/s)", size>>20, d, float64(size)/d.Seconds()/1e6)
	d = enginetest.Bulk(t, c, kc, size)
	t.Logf("engine → kernel over IPv6, 5%% loss: %d MiB in %v (%.0f MB/s)", size>>20, d, float64(size)/d.Seconds()/1e6)
	if st := eng.Stats().Total.TCP; st.RetransSegs == 0 {
		t.Errorf("no retransmission under 5%% loss: %+v", st)
	}
}

// TestTCP6PathMTUThroughRouter: the engine and a kernel host one IPv6
// router apart, the router forwarding at most 1400 bytes while both ends
// have 1500-byte links (both advertise MSS 1440). A running transfer from
// the engine gets the router's Packet Too Big: the connection's path MTU
// falls to 1400 (ss -ti), what no longer fits is resent smaller, and the
// data arrives intact; a connection opened afterwards starts at the
// learned path MTU, and the far host's transfer to the engine completes
// too (its kernel learns from the same router).
func TestTCP6PathMTUThroughRouter(t *testing.T) {
	bed := testbed.New(t, testbed.Config{IPv6: true})
	far, err := bed.AddFar(testbed.FarConfig{PathMTU: 1400, IPv6: true})
	if err != nil {
		t.Fatal(err)
	}
	eng := enginetest.Start(t, bed, engine.Config{IPv6NoDAD: true, Gateway6: bed.PeerAddr6, Addrs: []netip.Prefix{
		netip.PrefixFrom(bed.EngineAddr, bed.Prefix.Bits()), netip.PrefixFrom(bed.EngineAddr6, 64)}})
	data := make([]byte, enginetest.BulkSize(16<<20))
	for i := range data {
		data[i] = byte(i*7 + i>>11)
	}
	var ln net.Listener
	if err := far.Do(func() (err error) {
		ln, err = net.Listen("tcp6", netip.AddrPortFrom(far.Addr6, 7710).String())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go digestServer(ln)
	c, err := dial6(t, eng, "tcp6", netip.AddrPortFrom(far.Addr6, 7710))
	if err != nil {
		t.Fatal(err)
	}
	sendDigest(t, c, data)
	for _, e := range eng.Sockets(socktab.TCP) {
		if e.Local == c.LocalAddr().(*net.TCPAddr).AddrPort() && e.TCP != nil && (e.TCP.PMTU != 1400 || e.TCP.MSS != 1400-72) {
			t.Errorf("ss -ti of the connection: %s, want pmtu:1400 mss:%d", e.TCP, 1400-72)
		}
	}
	c.Close()
	st := eng.Stats().Total
	if st.TCP.PMTUDecreases == 0 || st.IPv6.ICMP.InPktTooBigs == 0 {
		t.Fatalf("engine -> far: %d path MTU decreases, %d Packet Too Big received: want some",
			st.TCP.PMTUDecreases, st.IPv6.ICMP.InPktTooBigs)
	}
	if mtu, _ := c.PathMTU(); mtu != 1400 {
		t.Fatalf("path MTU toward %v: %d, want 1400", far.Addr6, mtu)
	}
	before := st.TCP.PMTUDecreases
	c2, err := dial6(t, eng, "tcp6", netip.AddrPortFrom(far.Addr6, 7710))
	if err != nil {
		t.Fatal(err)
	}
	sendDigest(t, c2, data[:1<<20])
	if after := eng.Stats().Total.TCP.PMTUDecreases; after != before {
		t.Errorf("a connection opened after the path MTU was learned lowered it again (%d -> %d decreases)", before, after)
	}

	eln := listen6(t, eng, "tcp6", ":7711", engine.TCPListenConfig{})
	go digestServer(eln)
	var fc net.Conn
	if err := far.Do(func() (err error) {
		fc, err = net.DialTimeout("tcp6", netip.AddrPortFrom(bed.EngineAddr6, 7711).String(), 5*time.Second)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer fc.Close()
	sendDigest(t, fc, data)
}

// TestTCP6SYNCookies: a listener whose SYN queue holds one connection
// answers a burst of concurrent IPv6 connects with SYN cookies (IPv6
// tuples in the cookie and ISN hashes, MSSTable6); every connection
// completes and echoes.
func TestTCP6SYNCookies(t *testing.T) {
	bed := testbed.New(t, testbed.Config{IPv6: true})
	eng := start6(t, bed, true)
	go echoOn(listen6(t, eng, "tcp6", ":7300", engine.TCPListenConfig{SYNBacklog: 1, Backlog: 512}))
	to := netip.AddrPortFrom(bed.EngineAddr6, 7300)
	for round := 0; round < 20 && eng.Stats().Total.TCP.SynCookiesRecv == 0; round++ {
		errc := make(chan error, 64)
		for i := range 64 {
			go func() {
				c, err := peerDial(t, bed, "tcp6", to)
				if err == nil {
					msg := fmt.Sprintf("cookie %d", i)
					c.SetDeadline(time.Now().Add(5 * time.Second))
					c.Write([]byte(msg))
					got := make([]byte, len(msg))
					if _, err = io.ReadFull(c, got); err == nil && string(got) != msg {
						err = fmt.Errorf("echo %q", got)
					}
					c.Close()
				}
				errc <- err
			}()
		}
		for range 64 {
			if err := <-errc; err != nil {
				t.Fatalf("connection over IPv6: %v", err)
			}
		}
	}
	st := eng.Stats().Total.TCP
	if st.SynCookiesSent == 0 || st.SynCookiesRecv == 0 || st.SynCookiesFailed != 0 {
		t.Errorf("SYN cookies sent %d, validated %d, failed %d: want some, some, none", st.SynCookiesSent, st.SynCookiesRecv, st.SynCookiesFailed)
	}
}

// TestTCP6TwoWorkers: connections both ways over IPv6 on a two-queue
// engine: segments that arrive on the queue that does not own their
// connection are handed to the owner (inet6.Layer.Steer), and a connect's
// source port is chosen (portalloc, IPv6 keys) so that its replies belong
// to the connecting worker.
func TestTCP6TwoWorkers(t *testing.T) {
	bed := testbed.New(t, testbed.Config{IPv6: true, Queues: 2})
	eng := enginetest.Start(t, bed, engine.Config{Queues: 2, IPv6NoDAD: true, Addrs: []netip.Prefix{
		netip.PrefixFrom(bed.EngineAddr, bed.Prefix.Bits()), netip.PrefixFrom(bed.EngineAddr6, 64)}})
	go echoOn(listen6(t, eng, "tcp6", ":7400", engine.TCPListenConfig{}))
	for i := range 20 {
		c, err := peerDial(t, bed, "tcp6", netip.AddrPortFrom(bed.EngineAddr6, 7400))
		if err != nil {
			t.Fatalf("kernel connection %d: %v", i, err)
		}
		enginetest.RoundTrips(t, c)
		c.Close()
	}
	go echoOn(peerListen6(t, bed, 7401))
	for i := range 20 {
		c, err := dial6(t, eng, "tcp6", netip.AddrPortFrom(bed.PeerAddr6, 7401))
		if err != nil {
			t.Fatalf("engine connection %d: %v", i, err)
		}
		enginetest.RoundTrips(t, c)
		c.Close()
	}
	st := eng.Stats()
	for _, w := range st.Workers {
		t.Logf("queue %d: passive %d active %d in %d out %d steered %d/%d", w.Queue, w.TCP.PassiveOpens, w.TCP.ActiveOpens, w.TCP.InSegs, w.TCP.OutSegs, w.Steered, w.SteeredIn)
	}
	if st.Total.TCP.PassiveOpens != 20 || st.Total.TCP.ActiveOpens != 20 {
		t.Errorf("opens: %+v", st.Total.TCP)
	}
}

// TestTCP6Unreachable: an ICMPv6 destination unreachable (administratively
// prohibited, from an nftables reject in the peer) that quotes the
// engine's SYN is a hard error: the connect fails at once with EACCES, as
// Linux's (icmpv6_err_convert) does.
func TestTCP6Unreachable(t *testing.T) {
	enginetest.NeedTool(t, "nft")
	bed := testbed.New(t, testbed.Config{IPv6: true})
	eng := start6(t, bed, true)
	for _, args := range [][]string{
		{"add", "table", "inet", "u"},
		{"add", "chain", "inet", "u", "c", "{ type filter hook input priority 0; }"},
		{"add", "rule", "inet", "u", "c", "meta", "nfproto", "ipv6", "tcp", "dport", "7500", "reject", "with", "icmpv6", "type", "admin-prohibited"},
	} {
		if out, err := bed.Command(context.Background(), "nft", args...).CombinedOutput(); err != nil {
			t.Fatalf("nft %v: %v: %s", args, err, out)
		}
	}
	start := time.Now()
	_, err := dial6(t, eng, "tcp6", netip.AddrPortFrom(bed.PeerAddr6, 7500))
	if !errors.Is(err, syscall.EACCES) {
		t.Fatalf("connect through an ICMPv6 administratively prohibited: %v, want EACCES", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("the connect failed after %v: want at the first ICMPv6 error", d)
	}
	if st := eng.Stats().Total; st.IPv6.ICMP.InDestUnreachs == 0 || st.TCP.AttemptFails != 1 {
		t.Errorf("unreachables in %d, attempt fails %d", st.IPv6.ICMP.InDestUnreachs, st.TCP.AttemptFails)
	}
}
