package engine_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/xdpengine/engine/engine"
	"github.com/xdpengine/engine/internal/enginetest"
	"github.com/xdpengine/engine/internal/testbed"
)

// echoOnce writes msg on c and reads it back within 5 s.
func echoOnce(t *testing.T, c net.Conn, msg string) {
	t.Helper()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != msg {
		t.Fatalf("echo of %q: %q, %v", msg, buf, err)
	}
}

// peerEchoUDP runs a kernel UDP echo on the peer's port until t ends.
func peerEchoUDP(t *testing.T, bed *testbed.Bed, port uint16) {
	var pc *net.UDPConn
	if err := bed.Do(func() (err error) {
		pc, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(bed.PeerAddr, port)))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go enginetest.ServeUDPEcho(pc)
}

// TestDialNetworks: Dial and DialContext choose the protocol from the
// network argument as net.Dial does, and the AddrPort variants and
// ListenPacket give the engine's concrete types.
func TestDialNetworks(t *testing.T) {
	bed := testbed.New(t, testbed.Config{})
	eng := enginetest.Start(t, bed, engine.Config{})
	enginetest.PeerEchoTCP(t, bed, 7)
	peerEchoUDP(t, bed, 7)
	peer := netip.AddrPortFrom(bed.PeerAddr, 7)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	for _, network := range []string{"tcp", "tcp4", "udp", "udp4"} {
		for _, viaCtx := range []bool{false, true} {
			var c net.Conn
			var err error
			if viaCtx {
				c, err = eng.DialContext(ctx, network, peer.String())
			} else {
				c, err = eng.Dial(network, peer.String())
			}
			if err != nil {
				t.Fatalf("%s (context %v): %v", network, viaCtx, err)
			}
			switch c.(type) {
			case *engine.TCPConn:
				if network[:3] != "tcp" {
					t.Errorf("%s gave a *TCPConn", network)
				}
			case *engine.UDPConn:
				if network[:3] != "udp" {
					t.Errorf("%s gave a *UDPConn", network)
				}
			default:
				t.Errorf("%s gave a %T", network, c)
			}
			if c.RemoteAddr().String() != peer.String() {
				t.Errorf("%s: remote %v, want %v", network, c.RemoteAddr(), peer)
			}
			echoOnce(t, c, fmt.Sprintf("%s %v", network, viaCtx))
			c.Close()
		}
	}

	// The AddrPort variants parse nothing.
	tc, err := eng.DialTCPAddrPort("tcp4", netip.AddrPort{}, peer)
	if err != nil {
		t.Fatal(err)
	}
	echoOnce(t, tc, "tcp addrport")
	tc.Close()
	uc, err := eng.DialUDPAddrPort("udp", netip.AddrPortFrom(bed.EngineAddr, 0), peer)
	if err != nil {
		t.Fatal(err)
	}
	if la := uc.LocalAddr().(*net.UDPAddr).AddrPort(); la.Addr() != bed.EngineAddr || la.Port() == 0 {
		t.Errorf("DialUDPAddrPort local address %v", la)
	}
	echoOnce(t, uc, "udp addrport")
	uc.Close()

	ln, err := eng.ListenTCPAddrPort("tcp4", netip.AddrPortFrom(netip.Addr{}, 7500), engine.TCPListenConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if got := ln.Addr().String(); got != "0.0.0.0:7500" {
		t.Errorf("ListenTCPAddrPort address %s, want 0.0.0.0:7500", got)
	}
	go func() {
		if c, err := ln.Accept(); err == nil {
			io.Copy(c, c)
			c.Close()
		}
	}()
	pc, err := enginetest.PeerDialTCP(t, bed, enginetest.EngineAddr(bed, 7500))
	if err != nil {
		t.Fatal(err)
	}
	echoOnce(t, pc, "to ListenTCPAddrPort")

	lu, err := eng.ListenUDPAddrPort("udp4", enginetest.EngineAddr(bed, 7501), engine.SocketOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer lu.Close()
	go enginetest.ServeUDPEcho(lu)
	echoOnce(t, enginetest.PeerUDP(t, bed, 7501), "to ListenUDPAddrPort")

	// ListenPacket is net.ListenPacket's shape; the type is the engine's.
	p, err := eng.ListenPacket("udp4", ":7502")
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if _, ok := p.(*engine.UDPConn); !ok {
		t.Errorf("ListenPacket gave a %T, want *engine.UDPConn", p)
	}
	go func() {
		buf := make([]byte, 100)
		for {
			n, from, err := p.ReadFrom(buf)
			if err != nil {
				return
			}
			p.WriteTo(buf[:n], from)
		}
	}()
	echoOnce(t, enginetest.PeerUDP(t, bed, 7502), "to ListenPacket")
}

// fakeResolver answers names from a map, as a *net.Resolver would.
type fakeResolver map[string][]netip.Addr

func (r fakeResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if a, ok := r[host]; ok {
		return a, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

// TestDialerResolverHTTP: an http.Transport dialing through a Dialer with
// a Resolver fetches http://name:port/ from a kernel HTTP server in the
// peer namespace. The name's first address (the link's broadcast
// address: ENETUNREACH for TCP at once) fails, and the next one is tried,
// as net.Dialer tries them; an IPv6 address among them is skipped.
func TestDialerResolverHTTP(t *testing.T) {
	bed := testbed.New(t, testbed.Config{})
	eng := enginetest.Start(t, bed, engine.Config{})
	ln := enginetest.PeerListenTCP(t, bed, 8080)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello %s from %s", r.Host, r.RemoteAddr)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	bcast := bed.Prefix.Masked().Addr().As4()
	bcast[3] |= byte(1<<(32-bed.Prefix.Bits()) - 1)
	d := &engine.Dialer{Engine: eng, Timeout: 10 * time.Second, Resolver: fakeResolver{
		"web.test": {netip.MustParseAddr("2001:db8::80"), netip.AddrFrom4(bcast), bed.PeerAddr},
		"bad.test": {netip.AddrFrom4(bcast)},
	}}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: d.DialContext}}
	defer client.CloseIdleConnections()
	resp, err := client.Get("http://web.test:8080/")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	want := "hello web.test:8080 from " + bed.EngineAddr.String() + ":"
	if err != nil || len(body) < len(want) || string(body[:len(want)]) != want {
		t.Fatalf("GET http://web.test:8080/: %q, %v; want %q...", body, err, want)
	}
	if st := eng.Stats().Total.TCP; st.ActiveOpens == 0 {
		t.Errorf("the engine opened no connection: %+v", st)
	}

	// Every address failing: the first error. An unknown name: the
	// resolver's *net.DNSError.
	if _, err := d.Dial("tcp", "bad.test:8080"); !errors.Is(err, syscall.ENETUNREACH) {
		t.Errorf("bad.test: %v, want ENETUNREACH", err)
	}
	var de *net.DNSError
	if _, err := client.Get("http://nowhere.test:8080/"); !errors.As(err, &de) || !de.IsNotFound {
		t.Errorf("nowhere.test: %v, want a *net.DNSError, not found", err)
	}
}
