package engine_test

import (
	"errors"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xdpengine/engine/engine"
	"github.com/xdpengine/engine/header"
	"github.com/xdpengine/engine/internal/enginetest"
	"github.com/xdpengine/engine/internal/testbed"
	"github.com/xdpengine/engine/stack/socktab"
)

// The engine as the backend of a balancer's tunnel DSR. This kernel has no
// ipip or fou module, so the peer namespace plays the balancer with a TUN
// device: the peer's own sockets, bound to the client address, reach the
// VIP through a route into the TUN, and the test wraps what the TUN hands
// it (dsr-ipip: a raw IPPROTO_IPIP socket, the kernel writing the outer
// header; dsr-gue: a UDP socket to the GUE port, the kernel's default
// offloads leaving a partial checksum) and sends it to the engine's
// address. The engine answers from the VIP straight to the client, which
// is the peer's too: having no tunnel module, the peer's sockets receive
// only unencapsulated replies.
//
//	 engine (.1)                          peer namespace (.2, client 198.19.88.9)
//	+----------------------+   outer     +-------------------------------------+
//	| VIP 198.19.77.10     |<------------| dsr0 (TUN) -> test wraps -> raw/UDP  |
//	| transparent sockets  |------------>| client's sockets (UDP, TCP)          |
//	+----------------------+  from VIP   +-------------------------------------+

// Encapsulations the peer's balancer uses (dsrPeer.mode).
const (
	encIPIP int32 = iota
	encGUE
)

// dsrPeer is the peer namespace acting as client and balancer.
type dsrPeer struct {
	bed         *testbed.Bed
	engine      [4]byte
	client, vip netip.Addr
	mode        atomic.Int32
	raw, udp    int // the balancer's sockets: IPPROTO_IPIP, and UDP for GUE
}

// newDSRBed starts an engine that decapsulates IPIP and GUE (port 6080)
// beside a peer that plays client and balancer, with a UDP echo (port
// 7000) and a TCP echo (port 80) bound transparently to the VIP. The link
// has two queues: every tunnel packet arrives on the one its outer header
// hashes to, and the inner flows another worker owns are handed over.
func newDSRBed(t *testing.T) (*engine.Engine, *dsrPeer) {
	t.Helper()
	bed := testbed.New(t, testbed.Config{Queues: 2})
	eng := enginetest.Start(t, bed, engine.Config{Queues: 2, BindService: true, Gateway: bed.PeerAddr,
		Decap: engine.DecapConfig{IPIP: true, GUE: true}})
	p := &dsrPeer{bed: bed, engine: bed.EngineAddr.As4(),
		client: netip.MustParseAddr("198.19.88.9"), vip: netip.MustParseAddr("198.19.77.10")}
	tp := engine.SocketOptions{Transparent: true}
	uc, err := eng.ListenUDP("udp4", netip.AddrPortFrom(p.vip, 7000).String(), tp)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { uc.Close() })
	go enginetest.ServeUDPEcho(uc)
	enginetest.EchoTCP(t, eng, netip.AddrPortFrom(p.vip, 80).String(), engine.TCPListenConfig{SocketOptions: tp})

	p.raw, p.udp = -1, -1
	t.Cleanup(func() { unix.Close(p.raw); unix.Close(p.udp) })
	err = bed.Do(func() (err error) {
		if p.raw, err = unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_IPIP); err != nil {
			return err
		}
		if p.udp, err = unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0); err != nil {
			return err
		}
		for _, fd := range []int{p.raw, p.udp} {
			// Outer packets larger than the link go out in fragments,
			// as a balancer without MTU headroom sends them.
			if err := unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MTU_DISCOVER, unix.IP_PMTUDISC_DONT); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("balancer sockets: %v", err)
	}
	tun := p.openTUN(t, "dsr0")
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		p.encapsulate(tun)
	}()
	t.Cleanup(func() { tun.Close(); wg.Wait() })
	for _, args := range [][]string{
		// The replies come from the VIP on the veth while the VIP's route
		// is the TUN: no reverse-path filter.
		{"sysctl", "-qw", "net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf." + bed.PeerIf + ".rp_filter=0",
			"net.ipv6.conf.dsr0.disable_ipv6=1"},
		{"ip", "addr", "add", p.client.String() + "/32", "dev", bed.PeerIf},
		{"ip", "link", "set", "dsr0", "up", "mtu", "1500"},
		{"ip", "route", "add", p.vip.String() + "/32", "dev", "dsr0", "src", p.client.String()},
	} {
		if out, err := bed.Command(t.Context(), args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
	}
	enginetest.PeerResolve(t, bed)
	return eng, p
}

// openTUN creates a TUN device in the peer namespace (gone with the
// namespace, or when the file closes).
func (p *dsrPeer) openTUN(t *testing.T, name string) *os.File {
	t.Helper()
	var fd int
	err := p.bed.Do(func() (err error) {
		if fd, err = unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_NONBLOCK|unix.O_CLOEXEC, 0); err != nil {
			return err
		}
		ifr, err := unix.NewIfreq(name)
		if err == nil {
			ifr.SetUint16(unix.IFF_TUN | unix.IFF_NO_PI)
			err = unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr)
		}
		if err != nil {
			unix.Close(fd)
		}
		return err
	})
	if err != nil {
		t.Fatalf("TUN %s in the peer: %v", name, err)
	}
	return os.NewFile(uintptr(fd), name) // non-blocking: Close ends a Read
}

// encapsulate sends every IPv4 packet the TUN hands over to the engine,
// wrapped as p.mode says, until the TUN closes.
func (p *dsrPeer) encapsulate(tun *os.File) {
	buf := make([]byte, 65536)
	for {
		n, err := tun.Read(buf)
		if err != nil {
			return
		}
		if n > 0 && buf[0]>>4 == 4 {
			p.send(p.mode.Load(), buf[:n])
		}
	}
}

// send wraps inner as the balancer's mode enc does and sends it to the
// engine's address.
func (p *dsrPeer) send(enc int32, inner []byte) error {
	if enc == encIPIP {
		return unix.Sendto(p.raw, inner, 0, &unix.SockaddrInet4{Addr: p.engine})
	}
	return unix.Sendto(p.udp, inner, 0, &unix.SockaddrInet4{Addr: p.engine, Port: engine.DefaultGUEPort})
}

// TestDecapDSR: through dsr-ipip and through dsr-gue, the client's UDP
// datagrams (one that fits, one whose outer packet is fragmented) and TCP
// connections (full-size segments, their outer packets fragmented too)
// reach the engine's transparent sockets on the VIP, and the answers come
// straight back from the VIP to the client, unencapsulated. Inner packets
// of flows the receiving worker does not own are handed over, frame and
// all, and taken there as plain packets.
func TestDecapDSR(t *testing.T) {
	eng, p := newDSRBed(t)
	k := enginetest.PeerKernelUDP(t, p.bed, netip.AddrPortFrom(p.client, 0))
	vipUDP := netip.AddrPortFrom(p.vip, 7000)
	for _, tc := range []struct {
		name string
		enc  int32
	}{{"ipip", encIPIP}, {"gue", encGUE}} {
		t.Run(tc.name, func(t *testing.T) {
			p.mode.Store(tc.enc)
			before := eng.Stats().Total
			for i, size := range []int{5, 1472} { // 1472: a full-size inner packet, its outer one cut in two
				msg := make([]byte, size)
				enginetest.Pattern(msg, uint32(i))
				if err := k.SendTo(msg, vipUDP); err != nil {
					t.Fatal(err)
				}
				got, _, _, from := k.Recv(t)
				if got != string(msg) || from != vipUDP {
					t.Fatalf("%d-byte echo: %d bytes from %v, want the same from %v", size, len(got), from, vipUDP)
				}
			}
			for i := range 8 { // flows of both workers
				c, err := enginetest.PeerDialTCP(t, p.bed, netip.AddrPortFrom(p.vip, 80))
				if err != nil {
					t.Fatalf("connect to the VIP through the tunnel: %v", err)
				}
				if from, _ := netip.ParseAddrPort(c.LocalAddr().String()); from.Addr() != p.client {
					t.Fatalf("the connection is from %v, want the client address %v", c.LocalAddr(), p.client)
				}
				if i == 0 {
					enginetest.RoundTrips(t, c)
				} else if got := enginetest.Exchange(t, c, []byte("ping")); string(got) != "ping" {
					t.Fatalf("connection %d: echo %q", i, got)
				}
				c.Close()
			}
			// The last packets of the closes (the client's final ACKs) go
			// through the tunnel too: wait for them before counting, so
			// none is counted in the next encapsulation's round.
			enginetest.WaitFor(t, "the engine's connections through the tunnel to close", func() bool {
				for _, s := range eng.Sockets(socktab.TCP) {
					if s.Peer.IsValid() {
						return false
					}
				}
				return true
			})

			after := eng.Stats().Total
			d := after.Decap
			unwrapped := map[int32]uint64{encIPIP: d.IPIP - before.Decap.IPIP, encGUE: d.GUE - before.Decap.GUE}
			if unwrapped[tc.enc] == 0 || unwrapped[1-tc.enc] != 0 {
				t.Errorf("unwrapped %d IPIP and %d GUE packets, want only %s", unwrapped[encIPIP], unwrapped[encGUE], tc.name)
			}
			if after.Reasm.ReasmOKs == before.Reasm.ReasmOKs {
				t.Error("no outer packet was reassembled")
			}
			if drops := d.DropMalformed + d.DropUnsupported + d.DropNested + d.DropNotLocal; drops != 0 {
				t.Errorf("decapsulation drops: %+v", d)
			}
			t.Logf("%s: %d packets unwrapped, %d reassembled, %d handed to their flow's worker, partial checksums %d",
				tc.name, unwrapped[tc.enc], after.Reasm.ReasmOKs-before.Reasm.ReasmOKs, after.Steered-before.Steered,
				after.RxCsumPartial-before.RxCsumPartial)
		})
	}
	// 16 connections: the chance that every one belongs to the worker
	// its tunnel packets arrive on is 2^-16.
	if st := eng.Stats().Total; st.Steered == 0 || st.SteeredIn == 0 {
		t.Errorf("%d inner packets handed to the worker owning their flow, %d taken there: want some", st.Steered, st.SteeredIn)
	}
}

// TestDecapDrops: tunnel packets the engine must not unwrap are counted
// and dropped: an inner packet that is not a valid IPv4 packet, a tunnel
// inside the tunnel (IPIP in IPIP, GUE in IPIP, IPIP in GUE), a GUE
// payload that is not variant 1 IPv4, an inner packet to an address that
// is not the engine's. None of them reaches the echo on the VIP.
func TestDecapDrops(t *testing.T) {
	eng, p := newDSRBed(t)
	k := enginetest.PeerKernelUDP(t, p.bed, netip.AddrPortFrom(p.client, 7001))
	c4, v4, e4 := p.client.As4(), p.vip.As4(), p.engine
	echo := func(dst [4]byte, dport uint16) []byte { // the client's datagram to the echo
		return ipv4Packet(c4, dst, header.ProtocolUDP, udpFull(c4, dst, 7001, dport, []byte("echo me")))
	}
	good := echo(v4, 7000)
	badSum := append([]byte(nil), good...)
	badSum[10] ^= 0xff
	for _, tc := range []struct {
		name  string
		enc   int32
		inner []byte
		count func(d *engine.DecapStats) uint64
	}{
		{"bad inner checksum", encIPIP, badSum, func(d *engine.DecapStats) uint64 { return d.DropMalformed }},
		{"inner truncated", encGUE, good[:len(good)-3], func(d *engine.DecapStats) uint64 { return d.DropMalformed }},
		{"ipip in ipip", encIPIP, ipv4Packet(c4, v4, 4, good), func(d *engine.DecapStats) uint64 { return d.DropNested }},
		{"ipip in gue", encGUE, ipv4Packet(c4, e4, 4, good), func(d *engine.DecapStats) uint64 { return d.DropNested }},
		{"gue in ipip", encIPIP, ipv4Packet(c4, e4, header.ProtocolUDP, udpFull(c4, e4, 5555, engine.DefaultGUEPort, good)),
			func(d *engine.DecapStats) uint64 { return d.DropNested }},
		{"ipv6 in gue", encGUE, append([]byte{0x60}, good[1:]...), func(d *engine.DecapStats) uint64 { return d.DropUnsupported }},
		{"not local", encIPIP, echo([4]byte{198, 19, 99, 99}, 7000), func(d *engine.DecapStats) uint64 { return d.DropNotLocal }},
	} {
		before := eng.Stats().Total.Decap
		if err := p.send(tc.enc, tc.inner); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		enginetest.WaitFor(t, tc.name+" counted", func() bool {
			after := eng.Stats().Total.Decap
			return tc.count(&after) == tc.count(&before)+1
		})
		if after := eng.Stats().Total.Decap; after.IPIP != before.IPIP || after.GUE != before.GUE {
			t.Errorf("%s: unwrapped (%+v, was %+v)", tc.name, after, before)
		}
	}
	// What a wrong unwrap would have delivered has had time to come back.
	time.Sleep(200 * time.Millisecond)
	if n, _, err := unix.Recvfrom(k.FD, make([]byte, 64), unix.MSG_DONTWAIT); !errors.Is(err, unix.EAGAIN) {
		t.Errorf("the client got %d bytes back (%v), want nothing", n, err)
	}
	// The tunnel still works.
	if err := p.send(encIPIP, good); err != nil {
		t.Fatal(err)
	}
	if got, _, _, from := k.Recv(t); got != "echo me" || from != netip.AddrPortFrom(p.vip, 7000) {
		t.Errorf("echo after the drops: %q from %v", got, from)
	}
}

// ipv4Packet builds an IPv4 packet (TTL 64, no options) from src to dst.
func ipv4Packet(src, dst [4]byte, proto uint8, payload []byte) []byte {
	ip := make(header.IPv4, header.IPv4MinHeaderLen+len(payload))
	ip[0] = 0x45
	ip.SetTotalLength(uint16(len(ip)))
	ip.SetTTL(64)
	ip.SetProtocol(proto)
	ip.SetSrc4(src)
	ip.SetDst4(dst)
	copy(ip[header.IPv4MinHeaderLen:], payload)
	ip.UpdateChecksum()
	return ip
}

// udpFull builds a UDP datagram with a full checksum.
func udpFull(src, dst [4]byte, sport, dport uint16, payload []byte) []byte {
	u := make(header.UDP, header.UDPHeaderLen+len(payload))
	u.SetSrcPort(sport)
	u.SetDstPort(dport)
	u.SetLength(uint16(len(u)))
	copy(u.Payload(), payload)
	u.UpdateChecksum(src, dst)
	return u
}
