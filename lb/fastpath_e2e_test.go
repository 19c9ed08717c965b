package lb_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/xdpengine/engine/afxdp"
	"github.com/xdpengine/engine/engine"
	"github.com/xdpengine/engine/header"
	"github.com/xdpengine/engine/internal/enginetest"
	"github.com/xdpengine/engine/internal/testbed"
	"github.com/xdpengine/engine/lb"
)

// fastBed is a segment with the engine balancing a TCP and a UDP VIP over
// two kernel backends, each an echo server (TCP port 7, UDP port 7), with
// the XDP fast path on.
//
// Two settings that the fast path needs on a veth bed, and a NIC does
// not: the links send full checksums (Config.FullChecksums: a NIC
// delivers full checksums, and packets with partial ones, which a Linux
// sender on a veth sends by default, stay in the workers — tested by
// TestFastPathPartialChecksums), and in native XDP mode the bridge port
// facing the engine has an XDP program (XDP_PASS), because veth delivers
// XDP_TX frames promptly only to a peer with one: it queues them for a
// peer with NAPI (GRO on) but schedules that NAPI only when the peer has
// an XDP program (veth_xdp_flush in drivers/net/veth.c); without either
// it drops them.
type fastBed struct {
	bed   *testbed.Bed
	hosts []*testbed.SegmentHost
	eng   *engine.Engine
	vip   netip.Addr
}

func newFastBed(t *testing.T, mode lb.Mode, xdp afxdp.XDPMode, full bool, timeouts lb.Timeouts) *fastBed {
	t.Helper()
	bed := testbed.New(t, testbed.Config{FullChecksums: full})
	hosts, err := bed.AddSegmentHosts(2)
	if err != nil {
		t.Fatal(err)
	}
	b := &fastBed{bed: bed, hosts: hosts, vip: enginetest.RouteVIP(t, bed, 0)}
	if xdp == afxdp.XDPNative {
		detach, err := bed.AttachPeerPassXDP()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { detach() })
	}
	var backends []lb.Backend
	for _, h := range hosts {
		backends = append(backends, lb.Backend{Addr: h.Addr, Weight: 1})
		if mode == lb.DSRL2 {
			if out, err := h.Command(context.Background(), "ip", "addr", "add", b.vip.String()+"/32", "dev", "lo").CombinedOutput(); err != nil {
				t.Fatalf("VIP on the backend's loopback: %v: %s", err, out)
			}
		}
		udp := netip.AddrPortFrom(netip.IPv4Unspecified(), 7)
		if mode == lb.DSRL2 {
			udp = netip.AddrPortFrom(b.vip, 7) // answer from the VIP
		}
		serveEcho(t, h, udp)
	}
	cfg := &lb.Config{Timeouts: timeouts, VIPs: []lb.VIP{
		{Addr: b.vip, Port: 7, Proto: header.ProtocolTCP, Mode: mode, Backends: backends, FastPath: true},
		{Addr: b.vip, Port: 7, Proto: header.ProtocolUDP, Mode: mode, Backends: backends, FastPath: true},
	}}
	b.eng = enginetest.Start(t, bed, engine.Config{LoadBalancer: cfg, XDPMode: xdp})
	return b
}

// serveEcho runs a TCP echo server on port 7 of h and a UDP one on udp.
func serveEcho(t *testing.T, h *testbed.SegmentHost, udp netip.AddrPort) {
	t.Helper()
	var ln net.Listener
	var pc net.PacketConn
	if err := h.Do(func() (err error) {
		if ln, err = net.Listen("tcp4", ":7"); err != nil {
			return err
		}
		pc, err = net.ListenPacket("udp4", udp.String())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close(); pc.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()
	go func() {
		buf := make([]byte, 65536)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			pc.WriteTo(buf[:n], from)
		}
	}()
}

// echoTCP sends size bytes through the TCP VIP on one connection and reads
// them back.
func (b *fastBed) echoTCP(t *testing.T, size int) {
	t.Helper()
	c, err := enginetest.PeerDialTCP(t, b.bed, netip.AddrPortFrom(b.vip, 7))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	out := make([]byte, size)
	enginetest.Pattern(out, 7)
	errc := make(chan error, 1)
	go func() { _, err := c.Write(out); errc <- err }()
	in := make([]byte, size)
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.ReadFull(c, in); err != nil {
		t.Fatalf("echo of %d bytes through the VIP: %v", size, err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(in, out) {
		t.Fatalf("echo differs at byte %d", enginetest.FirstDiff(in, out))
	}
}

// echoUDP exchanges n datagrams through the UDP VIP from one socket (one
// flow).
func (b *fastBed) echoUDP(t *testing.T, c *net.UDPConn, n int) {
	t.Helper()
	buf := make([]byte, 2048)
	for i := range n {
		msg := []byte(fmt.Sprintf("datagram %d", i))
		if _, err := c.Write(msg); err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		m, err := c.Read(buf)
		if err != nil {
			t.Fatalf("datagram %d: %v", i, err)
		}
		if !bytes.Equal(buf[:m], msg) {
			t.Fatalf("datagram %d came back as %q", i, buf[:m])
		}
	}
}

// fastCounters are the fast path's counters and the workers' received
// packets.
func (b *fastBed) counters(t *testing.T) (entries int64, installs uint64, rx uint64) {
	t.Helper()
	s, ok := b.eng.Balancer().FastPath()
	if !ok || s.Full != 0 || s.Errors != 0 {
		t.Fatalf("fast path: on %v, %+v", ok, s)
	}
	return s.Entries, s.Installs, b.eng.Stats().Total.RxPackets
}

// vipPackets is the VIP's packet counter (both directions in NAT mode).
func (b *fastBed) vipPackets(t *testing.T, proto string) uint64 {
	t.Helper()
	key := fmt.Sprintf("%v:7/%s", b.vip, proto)
	for _, s := range b.eng.Balancer().Stats() {
		if s.VIP == key {
			return s.Packets
		}
	}
	t.Fatalf("no VIP %s in %+v", key, b.eng.Balancer().Stats())
	return 0
}

// TestFastPathNAT: a NAT VIP's established TCP connection and UDP flow
// move to the XDP fast path: 8 MiB echoed through one connection and 2,000
// datagrams through one flow come back intact while the workers receive a
// small part of the packets; the VIP's counters include what XDP
// forwarded (read back within about a second); the flows are listed as on
// the fast path; closed connections leave it.
func TestFastPathNAT(t *testing.T) {
	testbed.RequirePrivileged(t)
	for _, xdp := range []afxdp.XDPMode{afxdp.XDPNative, afxdp.XDPGeneric} {
		t.Run(xdp.String(), func(t *testing.T) {
			b := newFastBed(t, lb.NAT, xdp, true, lb.Timeouts{})
			_, _, rx0 := b.counters(t)
			b.echoTCP(t, 8<<20)
			_, installs, rx1 := b.counters(t)
			if installs < 2 {
				t.Errorf("TCP: %d keys installed, want the client's and the reply's", installs)
			}
			var vp uint64
			enginetest.WaitFor(t, "the TCP VIP's counters to include the fast path's", func() bool {
				vp = b.vipPackets(t, "tcp")
				return vp > 4*(rx1-rx0)
			})
			t.Logf("TCP: %d packets through the VIP, %d received by the workers", vp, rx1-rx0)
			enginetest.WaitFor(t, "the closed connection to leave the fast path", func() bool {
				e, _, _ := b.counters(t)
				return e == 0
			})

			c := enginetest.PeerDialUDP(t, b.bed, netip.AddrPortFrom(b.vip, 7))
			b.echoUDP(t, c, 2000)
			_, _, rx2 := b.counters(t)
			flows := b.eng.Balancer().Flows(fmt.Sprintf("%v:7/udp", b.vip), 0, time.Second)
			if len(flows) != 1 || !flows[0].FastPath {
				t.Fatalf("UDP flows: %+v, want one on the fast path", flows)
			}
			enginetest.WaitFor(t, "the UDP VIP's counters to include the fast path's", func() bool {
				return b.vipPackets(t, "udp") == 4000
			})
			if rx := rx2 - rx1; rx > 400 {
				t.Errorf("UDP: the workers received %d of 4,000 packets, want most in XDP", rx)
			}
		})
	}
}

// TestFastPathDSR: a dsr-l2 VIP's established flows are forwarded by XDP
// (the Ethernet destination rewritten), the backends answering the client
// directly.
func TestFastPathDSR(t *testing.T) {
	testbed.RequirePrivileged(t)
	b := newFastBed(t, lb.DSRL2, afxdp.XDPNative, true, lb.Timeouts{})
	_, _, rx0 := b.counters(t)
	b.echoTCP(t, 4<<20)
	c := enginetest.PeerDialUDP(t, b.bed, netip.AddrPortFrom(b.vip, 7))
	b.echoUDP(t, c, 1000)
	_, installs, rx1 := b.counters(t)
	if installs < 2 {
		t.Errorf("%d keys installed, want the TCP and the UDP flow's", installs)
	}
	enginetest.WaitFor(t, "the UDP VIP's counters to include the fast path's", func() bool {
		return b.vipPackets(t, "udp") == 1000
	})
	tcp := b.vipPackets(t, "tcp")
	t.Logf("DSR: %d TCP and 1000 UDP packets through the VIPs, %d received by the workers", tcp, rx1-rx0)
	if rx1-rx0 > (tcp+1000)/4 {
		t.Errorf("the workers received %d of %d packets, want most in XDP", rx1-rx0, tcp+1000)
	}
}

// TestFastPathIdleTimeout: a UDP flow busy in the fast path outlives its
// idle timeout in the connection table (1 s here): the worker reads the
// program's last-packet time before it would expire the flow, which keeps
// its backend and NAT port (one new flow in all); once idle, it expires
// and leaves the table.
func TestFastPathIdleTimeout(t *testing.T) {
	testbed.RequirePrivileged(t)
	b := newFastBed(t, lb.NAT, afxdp.XDPNative, true, lb.Timeouts{UDP: time.Second})
	c := enginetest.PeerDialUDP(t, b.bed, netip.AddrPortFrom(b.vip, 7))
	end := time.Now().Add(3500 * time.Millisecond)
	for time.Now().Before(end) {
		b.echoUDP(t, c, 20)
		time.Sleep(20 * time.Millisecond)
	}
	st := b.eng.Balancer().Stats()
	for _, s := range st {
		if s.VIP == fmt.Sprintf("%v:7/udp", b.vip) && s.NewFlows != 1 {
			t.Errorf("UDP VIP: %d new flows in 3.5 s of traffic, want 1 (the flow outlived its 1 s timeout)", s.NewFlows)
		}
	}
	enginetest.WaitFor(t, "the idle flow to expire and leave the fast path", func() bool {
		e, _, _ := b.counters(t)
		return e == 0 && len(b.eng.Balancer().Flows("", 0, time.Second)) == 0
	})
}

// TestFastPathPartialChecksums: with the kernel's default offloads the
// client and the backends send partial checksums, which the program
// leaves to the workers (they complete them): everything still arrives,
// and no key is installed for flows whose packets are partial.
func TestFastPathPartialChecksums(t *testing.T) {
	testbed.RequirePrivileged(t)
	b := newFastBed(t, lb.NAT, afxdp.XDPNative, false, lb.Timeouts{})
	b.echoTCP(t, 1<<20)
	c := enginetest.PeerDialUDP(t, b.bed, netip.AddrPortFrom(b.vip, 7))
	b.echoUDP(t, c, 200)
	if _, installs, _ := b.counters(t); installs != 0 {
		t.Errorf("%d keys installed for flows with partial checksums, want 0", installs)
	}
}

// TestFastPathVXLAN: a dsr-vxlan VIP's established flows are encapsulated
// by the XDP program for kernel VXLAN backends: an 8 MiB upload arrives
// whole at one backend (its answer names it and the size), while the
// workers receive a small part of the client's segments. Full-sized
// segments do not fit the MTU once encapsulated: the program leaves them
// to the worker, which answers ICMP "fragmentation needed" as without the
// fast path, and the client's smaller segments then take the fast path.
func TestFastPathVXLAN(t *testing.T) {
	testbed.RequirePrivileged(t)
	bed := testbed.New(t, testbed.Config{FullChecksums: true})
	hosts, err := bed.AddSegmentHosts(2)
	if err != nil {
		t.Fatal(err)
	}
	detach, err := bed.AttachPeerPassXDP()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { detach() })
	vip := enginetest.RouteVIP(t, bed, 0)
	var backends []lb.Backend
	for i, h := range hosts {
		mac := header.MAC{2, 0, 0x5e, 0x10, 0, byte(i + 1)}
		run(t, h, "ip", "link", "add", "vx0", "address", mac.String(), "type", "vxlan", "id", fmt.Sprint(vxlanVNI),
			"dstport", "4789", "local", h.Addr.String(), "dev", h.Ifname)
		run(t, h, "ip", "link", "set", "vx0", "up")
		run(t, h, "ip", "addr", "add", vip.String()+"/32", "dev", "lo")
		run(t, h, "sysctl", "-qw", "net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.vx0.rp_filter=0")
		serveUpload(t, h, 81, fmt.Sprintf("backend-%d", i))
		backends = append(backends, lb.Backend{Addr: h.Addr, Weight: 1, MAC: mac})
	}
	eng := enginetest.Start(t, bed, engine.Config{LoadBalancer: &lb.Config{VIPs: []lb.VIP{
		{Addr: vip, Port: 81, Proto: header.ProtocolTCP, Mode: lb.DSRVXLAN, VNI: vxlanVNI, Backends: backends, FastPath: true},
	}}})
	rx0 := eng.Stats().Total.RxPackets
	c, err := enginetest.PeerDialTCP(t, bed, netip.AddrPortFrom(vip, 81))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const size = 8 << 20
	if _, err := c.Write(make([]byte, size)); err != nil {
		t.Fatal(err)
	}
	c.(*net.TCPConn).CloseWrite()
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	answer, err := io.ReadAll(c)
	if err != nil || !bytes.HasSuffix(answer, []byte(fmt.Sprintf(" %d", size))) {
		t.Fatalf("upload of %d bytes: answer %q, %v", size, answer, err)
	}
	rx := eng.Stats().Total.RxPackets - rx0
	fp, _ := eng.Balancer().FastPath()
	var vp uint64
	enginetest.WaitFor(t, "the VIP's counters to include the fast path's", func() bool {
		vp = eng.Balancer().Stats()[0].Packets
		return vp > 4*rx
	})
	t.Logf("dsr-vxlan: %s; %d packets through the VIP, %d received by the workers; fast path %+v", answer, vp, rx, fp)
	if fp.Installs == 0 || eng.Stats().Total.ICMP.OutDestUnreachs == 0 {
		t.Errorf("fast path %+v, ICMP unreachables sent %d: want an install and the worker's fragmentation needed",
			fp, eng.Stats().Total.ICMP.OutDestUnreachs)
	}
}

// TestFastPathToEngineBackends: dsr-ipip and dsr-gue VIPs' flows are
// encapsulated by the XDP program for two engines that decapsulate them
// (this kernel has no ipip or fou module): 500 datagrams of one UDP flow
// are answered from the VIP, the workers of the balancer seeing few of
// them.
func TestFastPathToEngineBackends(t *testing.T) {
	testbed.RequirePrivileged(t)
	for _, mode := range []lb.Mode{lb.DSRIPIP, lb.DSRGUE} {
		t.Run(mode.String(), func(t *testing.T) {
			bed := testbed.New(t, testbed.Config{FullChecksums: true})
			if _, err := bed.AddSegmentHosts(1); err != nil {
				t.Fatal(err)
			}
			detach, err := bed.AttachPeerPassXDP()
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { detach() })
			vip := enginetest.RouteVIP(t, bed, 0)
			var backends []lb.Backend
			for i := range 2 {
				backends = append(backends, lb.Backend{Addr: engineBackend(t, bed, vip, fmt.Sprintf("backend-%d", i)), Weight: 1})
			}
			eng := enginetest.Start(t, bed, engine.Config{LoadBalancer: &lb.Config{VIPs: []lb.VIP{
				{Addr: vip, Port: 53, Proto: header.ProtocolUDP, Mode: mode, Backends: backends, FastPath: true},
			}}})
			rx0 := eng.Stats().Total.RxPackets
			c := enginetest.PeerDialUDP(t, bed, netip.AddrPortFrom(vip, 53))
			buf := make([]byte, 2048)
			const n = 500
			for i := range n {
				msg := fmt.Sprintf("datagram %d", i)
				var err error
				for range 5 { // the first may wait for ARP
					c.Write([]byte(msg))
					c.SetReadDeadline(time.Now().Add(time.Second))
					var k int
					if k, err = c.Read(buf); err == nil {
						if !strings.HasSuffix(string(buf[:k]), ":"+msg) {
							t.Fatalf("datagram %d: answer %q", i, buf[:k])
						}
						break
					}
				}
				if err != nil {
					t.Fatalf("datagram %d: %v", i, err)
				}
			}
			rx := eng.Stats().Total.RxPackets - rx0
			fp, _ := eng.Balancer().FastPath()
			t.Logf("%v: %d datagrams, %d received by the workers; fast path %+v", mode, n, rx, fp)
			if fp.Installs != 1 || rx > n/10 {
				t.Errorf("fast path %+v, the workers received %d of %d datagrams: want one install and few", fp, rx, n)
			}
		})
	}
}
