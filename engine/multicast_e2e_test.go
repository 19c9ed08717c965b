package engine_test

import (
	"context"
	"errors"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xdpengine/engine/engine"
	"github.com/xdpengine/engine/header"
	"github.com/xdpengine/engine/internal/enginetest"
	"github.com/xdpengine/engine/internal/testbed"
)

// peerMulticastSender is a kernel UDP socket in the peer namespace that
// sends to groups out of the bed's link from src.
func peerMulticastSender(t *testing.T, bed *testbed.Bed, src netip.Addr) *enginetest.KernelUDP {
	t.Helper()
	k := enginetest.PeerKernelUDP(t, bed, netip.AddrPortFrom(src, 0))
	var mreq unix.IPMreqn
	mreq.Address = src.As4()
	if err := unix.SetsockoptIPMreqn(k.FD, unix.IPPROTO_IP, unix.IP_MULTICAST_IF, &mreq); err != nil {
		t.Fatal(err)
	}
	return k
}

// readWithin reads one datagram from c within d, or reports none.
func readWithin(c *engine.UDPConn, d time.Duration) (string, netip.AddrPort, bool) {
	c.SetReadDeadline(time.Now().Add(d))
	buf := make([]byte, 256)
	n, from, err := c.ReadFromUDPAddrPort(buf)
	if err != nil {
		return "", from, false
	}
	return string(buf[:n]), from, true
}

// igmpReports collects the IGMPv3 group records the peer's link sees.
func igmpReports(t *testing.T, pc *testbed.PacketConn, until time.Time, want func(typ uint8, group netip.Addr) bool) bool {
	t.Helper()
	buf := make([]byte, 2048)
	for time.Now().Before(until) {
		n, out, err := pc.Recv(buf, 200*time.Millisecond)
		if err != nil || out {
			continue
		}
		eth, err := header.ParseEthernet(buf[:n])
		if err != nil || eth.Type() != header.EtherTypeIPv4 {
			continue
		}
		ip, err := header.ParseIPv4(eth.Payload())
		if err != nil || ip.Protocol() != header.ProtocolIGMP {
			continue
		}
		m, err := header.ParseIGMP(ip.Payload())
		if err != nil || m.Type() != header.IGMPv3MembershipReport {
			continue
		}
		recs := m.Records()
		for r, ok := recs.Next(); ok; r, ok = recs.Next() {
			if want(r.Type(), r.Group()) {
				return true
			}
		}
	}
	return false
}

// TestMulticastReceive: a socket that joins a group receives what the
// peer kernel sends to it, after the engine reported the membership with
// IGMPv3 (a TO_EX record, as Linux sends); a source-specific membership
// receives from its source only; a group nobody joined, or left, is not
// delivered; memberships follow Linux's limits and errnos.
func TestMulticastReceive(t *testing.T) {
	bed := testbed.New(t, testbed.Config{})
	other := bed.Prefix.Addr().Next().Next().Next().Next().Next() // .5, a second peer address
	if out, err := bed.Command(context.Background(), "ip", "addr", "add", other.String()+"/24", "dev", bed.PeerIf).CombinedOutput(); err != nil {
		t.Fatalf("second peer address: %v\n%s", err, out)
	}
	var pc *testbed.PacketConn
	if err := bed.Do(func() (err error) { pc, err = testbed.ListenPacket(bed.PeerIf); return err }); err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	eng := enginetest.Start(t, bed, engine.Config{})
	asm := netip.MustParseAddr("239.7.7.7")
	ssm := netip.MustParseAddr("232.1.1.1")

	any, err := eng.ListenUDP("udp4", ":6700", engine.SocketOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer any.Close()
	any.SetMulticastAll(false) // only its own groups
	if err := any.JoinGroup(asm); err != nil {
		t.Fatal(err)
	}
	if !igmpReports(t, pc, time.Now().Add(3*time.Second), func(typ uint8, g netip.Addr) bool {
		return typ == header.IGMPv3ChangeToExclude && g == asm
	}) {
		t.Fatal("no IGMPv3 TO_EX report for the joined group on the peer's link")
	}
	if err := any.JoinGroup(asm); !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("joining twice: %v, want EADDRINUSE", err)
	}
	if _, err := eng.ListenPacket("udp4", ":6700"); !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("a second socket on the port without SO_REUSEADDR: %v", err)
	}
	ss, err := eng.ListenUDP("udp4", ":6701", engine.SocketOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer ss.Close()
	ss.SetMulticastAll(false)
	if err := ss.JoinSourceSpecificGroup(ssm, bed.PeerAddr); err != nil {
		t.Fatal(err)
	}

	send := func(from netip.Addr, group netip.Addr, port uint16, msg string) {
		t.Helper()
		if err := peerMulticastSender(t, bed, from).SendTo([]byte(msg), netip.AddrPortFrom(group, port)); err != nil {
			t.Fatal(err)
		}
	}
	send(bed.PeerAddr, asm, 6700, "any-source")
	if m, from, ok := readWithin(any, 5*time.Second); !ok || m != "any-source" || from.Addr() != bed.PeerAddr {
		t.Fatalf("joined group: %q from %v, %v", m, from, ok)
	}
	send(bed.PeerAddr, ssm, 6701, "from the source")
	if m, _, ok := readWithin(ss, 5*time.Second); !ok || m != "from the source" {
		t.Fatalf("source-specific group from its source: %q, %v", m, ok)
	}
	send(other, ssm, 6701, "from another source")
	send(bed.PeerAddr, netip.MustParseAddr("239.7.7.8"), 6700, "group nobody joined")
	if m, _, ok := readWithin(ss, 300*time.Millisecond); ok {
		t.Fatalf("source-specific group delivered %q from another source", m)
	}
	if m, _, ok := readWithin(any, 300*time.Millisecond); ok {
		t.Fatalf("a group nobody joined delivered %q", m)
	}
	if err := any.LeaveGroup(asm); err != nil {
		t.Fatal(err)
	}
	if err := any.LeaveGroup(asm); !errors.Is(err, syscall.EADDRNOTAVAIL) {
		t.Fatalf("leaving twice: %v, want EADDRNOTAVAIL", err)
	}
	send(bed.PeerAddr, asm, 6700, "after leave")
	if m, _, ok := readWithin(any, 300*time.Millisecond); ok {
		t.Fatalf("a left group delivered %q", m)
	}
	// Linux's igmp_max_memberships (20) per socket: ENOBUFS past it.
	var lastErr error
	for i := range 21 {
		lastErr = any.JoinGroup(netip.AddrFrom4([4]byte{239, 10, 0, byte(i + 1)}))
	}
	if !errors.Is(lastErr, syscall.ENOBUFS) {
		t.Fatalf("21st membership: %v, want ENOBUFS", lastErr)
	}
	if err := any.JoinGroup(bed.PeerAddr); !errors.Is(err, syscall.EINVAL) {
		t.Fatalf("joining a unicast address: %v, want EINVAL", err)
	}
}

// TestMulticastSend: the engine sends to a group with the group's MAC and
// IP_MULTICAST_TTL (1 by default, as Linux); a peer kernel socket that
// joined the group receives it. IP_MULTICAST_LOOP (on by default) also
// delivers it to the engine's own members; off, it does not.
func TestMulticastSend(t *testing.T) {
	bed := testbed.New(t, testbed.Config{})
	eng := enginetest.Start(t, bed, engine.Config{})
	group := netip.MustParseAddr("239.8.8.8")
	k := enginetest.PeerKernelUDP(t, bed, netip.AddrPortFrom(netip.IPv4Unspecified(), 6800))
	mreq := unix.IPMreqn{Multiaddr: group.As4(), Address: bed.PeerAddr.As4()}
	if err := unix.SetsockoptIPMreqn(k.FD, unix.IPPROTO_IP, unix.IP_ADD_MEMBERSHIP, &mreq); err != nil {
		t.Fatal(err)
	}
	k.SetInt(t, unix.IPPROTO_IP, unix.IP_RECVTTL, 1)

	member, err := eng.ListenUDP("udp4", ":6800", engine.SocketOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer member.Close()
	if err := member.JoinGroup(group); err != nil {
		t.Fatal(err)
	}
	sender, err := eng.ListenUDP("udp4", ":6801", engine.SocketOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer sender.Close()
	if sender.MulticastTTL() != 1 || !sender.MulticastLoopback() {
		t.Fatalf("defaults: TTL %d loop %v, want 1, true", sender.MulticastTTL(), sender.MulticastLoopback())
	}
	if _, err := sender.WriteToUDPAddrPort([]byte("hello group"), netip.AddrPortFrom(group, 6800)); err != nil {
		t.Fatal(err)
	}
	if p, ttl, _, from := k.Recv(t); p != "hello group" || ttl != 1 || from.Addr() != bed.EngineAddr {
		t.Fatalf("peer member got %q ttl %d from %v", p, ttl, from)
	}
	if m, _, ok := readWithin(member, 5*time.Second); !ok || m != "hello group" {
		t.Fatalf("looped back to the engine's member: %q, %v", m, ok)
	}
	sender.SetMulticastLoopback(false)
	if err := sender.SetMulticastTTL(9); err != nil {
		t.Fatal(err)
	}
	sender.WriteToUDPAddrPort([]byte("no loop"), netip.AddrPortFrom(group, 6800))
	if p, ttl, _, _ := k.Recv(t); p != "no loop" || ttl != 9 {
		t.Fatalf("peer member got %q ttl %d, want TTL 9", p, ttl)
	}
	if m, _, ok := readWithin(member, 300*time.Millisecond); ok {
		t.Fatalf("IP_MULTICAST_LOOP off still looped %q", m)
	}
	// The peer's address: a fixed one (198.19.99.1 was) is the engine's
	// own when the bed's random subnet is its /24.
	if err := sender.SetMulticastInterface(bed.PeerAddr); !errors.Is(err, syscall.EADDRNOTAVAIL) {
		t.Fatalf("IP_MULTICAST_IF to an address not the engine's (%v): %v", bed.PeerAddr, err)
	}

}

// TestBroadcastReceive: a wildcard UDP socket receives the peer's
// datagrams to the subnet broadcast and to 255.255.255.255 (the XDP
// program steers broadcasts to ports the engine's sockets can receive
// them on), every member of a SO_REUSEPORT group gets a copy, a socket
// bound to the engine's unicast address gets none, and IP_PKTINFO gives
// the broadcast as Dst and the engine's address as Local, the address to
// answer from.
func TestBroadcastReceive(t *testing.T) {
	bed := testbed.New(t, testbed.Config{})
	eng := enginetest.Start(t, bed, engine.Config{})
	subnet := bed.Prefix.Addr().As4()
	subnet[3] = 255
	bcast := netip.AddrFrom4(subnet)
	var members []*engine.UDPConn
	for range 2 {
		c, err := eng.ListenUDP("udp4", ":6900", engine.SocketOptions{ReusePort: true})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetControlMessage(engine.FlagDst, true)
		members = append(members, c)
	}
	unicast, err := eng.ListenUDP("udp4", netip.AddrPortFrom(bed.EngineAddr, 6901).String(), engine.SocketOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer unicast.Close()
	k := enginetest.PeerKernelUDP(t, bed, netip.AddrPortFrom(bed.PeerAddr, 0))
	k.SetInt(t, unix.SOL_SOCKET, unix.SO_BROADCAST, 1)
	for _, dst := range []netip.Addr{bcast, netip.AddrFrom4([4]byte{255, 255, 255, 255})} {
		if err := k.SendTo([]byte("to all"), netip.AddrPortFrom(dst, 6900)); err != nil {
			t.Fatal(err)
		}
		if err := k.SendTo([]byte("to all"), netip.AddrPortFrom(dst, 6901)); err != nil {
			t.Fatal(err)
		}
		for i, c := range members {
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			buf := make([]byte, 64)
			n, cm, from, err := c.ReadMsg(buf)
			if err != nil || string(buf[:n]) != "to all" || from.Addr() != bed.PeerAddr {
				t.Fatalf("broadcast to %v, member %d: %q from %v, %v", dst, i, buf[:n], from, err)
			}
			if cm.Dst != dst || cm.Local != bed.EngineAddr {
				t.Fatalf("broadcast to %v: control message %+v, want Dst %v, Local %v", dst, cm, dst, bed.EngineAddr)
			}
		}
		if m, _, ok := readWithin(unicast, 200*time.Millisecond); ok {
			t.Fatalf("a socket bound to a unicast address got the broadcast %q", m)
		}
	}
}

// TestReuseportIncomingQueue: two SO_REUSEPORT members homed on the two
// queues each get exactly the flows the link delivers on their queue
// (SetIncomingQueue, as SO_INCOMING_CPU), one datagram at a time so that
// the queue each arrived on is read from the per-queue counters.
func TestReuseportIncomingQueue(t *testing.T) {
	bed := testbed.New(t, testbed.Config{Queues: 2})
	eng := enginetest.Start(t, bed, engine.Config{Queues: 2})
	enginetest.PeerResolve(t, bed)
	var members [2]*engine.UDPConn
	for q := range members {
		c, err := eng.ListenUDP("udp4", ":6950", engine.SocketOptions{ReusePort: true})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := c.SetIncomingQueue(q); err != nil {
			t.Fatal(err)
		}
		members[q] = c
	}
	if err := members[0].SetIncomingQueue(2); !errors.Is(err, syscall.EINVAL) {
		t.Fatalf("SetIncomingQueue past the last queue: %v, want EINVAL", err)
	}
	seen := [2]int{}
	for i := range 24 {
		before := eng.Stats()
		k := enginetest.PeerKernelUDP(t, bed, netip.AddrPortFrom(bed.PeerAddr, uint16(20000+i)))
		if err := k.SendTo([]byte("flow"), netip.AddrPortFrom(bed.EngineAddr, 6950)); err != nil {
			t.Fatal(err)
		}
		got := -1
		for deadline := time.Now().Add(5 * time.Second); got < 0 && time.Now().Before(deadline); {
			for q, c := range members {
				if _, _, ok := readWithin(c, 20*time.Millisecond); ok {
					got = q
				}
			}
		}
		after := eng.Stats()
		arrived, moved := -1, 0
		for q := range 2 {
			if after.Workers[q].RxPackets > before.Workers[q].RxPackets {
				arrived = q
				moved++
			}
		}
		if moved > 1 && got >= 0 {
			continue // another frame (ARP) came in meanwhile: the queue is not known
		}
		if got < 0 || arrived < 0 || got != arrived {
			t.Fatalf("flow %d arrived on queue %d and went to member %d", i, arrived, got)
		}
		seen[got]++
	}
	t.Logf("flows per queue/member: %v", seen)
	if seen[0]+seen[1] < 16 {
		t.Fatalf("only %d of 24 flows with a known arrival queue", seen[0]+seen[1])
	}
}
