package mld

import (
	"errors"
	"testing"
	"time"

	"github.com/xdpengine/engine/header"
	"github.com/xdpengine/engine/internal/testbed"
	"golang.org/x/sys/unix"
)

// TestKernel compares the package with the Linux kernel as a listener on
// a bed's veth: a socket of the peer kernel and a Host join the same
// group, and the kernel's report is read with header's MLD view and
// compared with ours (record type, group; the Hop-by-Hop header byte for
// byte); then our general query, sent with HopByHopRouterAlert, gets the
// kernel's IS_EX answer.
func TestKernel(t *testing.T) {
	testbed.RequirePrivileged(t)
	bed := testbed.New(t, testbed.Config{IPv6: true})
	pc, err := testbed.ListenPacket(bed.HostIf)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	group := [16]byte{0xff, 0x0e, 14: 0x12, 15: 0x34}

	var fd int
	err = bed.Do(func() (err error) {
		fd, err = unix.Socket(unix.AF_INET6, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		return unix.SetsockoptIPv6Mreq(fd, unix.IPPROTO_IPV6, unix.IPV6_JOIN_GROUP,
			&unix.IPv6Mreq{Multiaddr: group, Interface: uint32(bed.PeerIndex)})
	})
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)

	h := newHost(Config{})
	h.Join(0, group)
	var s sink
	h.Poll(1, s.send(t))
	ours := s.take()
	if len(ours) != 1 || len(ours[0].recs) != 1 {
		t.Fatalf("our report %+v", ours)
	}
	want := ours[0].recs[0]
	kern := nextReport(t, pc, group, want.typ)
	if kern != want {
		t.Fatalf("kernel's record %+v, ours %+v", kern, want)
	}

	// Our general query (1 s) from a link-local source: the kernel answers
	// with the group's current state, as our Host does.
	q := query(t, false, 1000, [16]byte{}, 2)
	src := [16]byte{0xfe, 0x80, 15: 0x03}
	b := make([]byte, 14+40+8+len(q))
	eth := header.EthernetFields{Dst: header.MulticastMAC6(AllNodes), Src: header.MAC(bed.HostMAC), Type: header.EtherTypeIPv6}
	eth.Put(b)
	header.PutIPv6(b[14:], 0, 0, uint16(8+len(q)), header.ProtocolHopByHop, 1, src, AllNodes)
	copy(b[54:], HopByHopRouterAlert[:])
	copy(b[62:], q)
	header.ICMPv6(b[62:]).UpdateChecksum(src, AllNodes)
	if err := pc.Send(b); err != nil {
		t.Fatal(err)
	}
	h.Poll(h.Next(), s.send(t)) // our join's repetition
	s.take()
	h.Input(2e9, src, AllNodes, q)
	h.Poll(h.Next(), s.send(t))
	ours = s.take()
	if len(ours) != 1 || len(ours[0].recs) != 1 || ours[0].recs[0] != (rec{header.MLDv2ModeIsExclude, group}) {
		t.Fatalf("our answer %+v", ours)
	}
	if kern := nextReport(t, pc, group, header.MLDv2ModeIsExclude); kern != ours[0].recs[0] {
		t.Fatalf("kernel's answer %+v, ours %+v", kern, ours[0].recs[0])
	}
}

// nextReport returns the record of type typ about group of the next MLDv2
// report the kernel sends with one (the join's repetition may come
// before the answer to a query), after checking its IPv6 and Hop-by-Hop headers
// and checksum.
func nextReport(t *testing.T, pc *testbed.PacketConn, group [16]byte, typ uint8) rec {
	t.Helper()
	buf := make([]byte, 2048)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		n, out, err := pc.Recv(buf, time.Until(deadline))
		if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		e, err := header.ParseEthernet(buf[:n])
		if out || err != nil || e.Type() != header.EtherTypeIPv6 {
			continue
		}
		ip, err := header.ParseIPv6(e.Payload())
		if err != nil || ip.NextHeader() != header.ProtocolHopByHop || len(ip.Payload()) < 8 {
			continue
		}
		p := ip.Payload()
		if [8]byte(p[:8]) != HopByHopRouterAlert || ip.HopLimit() != 1 || ip.Dst16() != AllMLDv2Routers {
			t.Fatalf("kernel's MLD header: hbh %x hop limit %d dst %v", p[:8], ip.HopLimit(), ip.Dst())
		}
		msg := p[8:]
		if !header.ICMPv6(msg).ChecksumValid(ip.Src16(), ip.Dst16()) {
			t.Fatal("kernel's report: bad checksum")
		}
		m, err := header.ParseMLD(msg)
		if err != nil {
			t.Fatal(err)
		}
		it := m.Records()
		for r, ok := it.Next(); ok; r, ok = it.Next() {
			if r.Address() == group && r.Type() == typ {
				return rec{r.Type(), r.Address()}
			}
		}
	}
	t.Fatal("no report from the kernel")
	return rec{}
}
