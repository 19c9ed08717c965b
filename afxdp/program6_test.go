package afxdp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/xdpengine/engine/internal/testbed"
)

// frame6 describes an IPv6 test frame for the steering program.
type frame6 struct {
	vlan   bool
	dst    netip.Addr
	next   uint8      // next header (default UDP)
	icmp   uint8      // with next 58: the ICMPv6 type
	target netip.Addr // with type 135/136: the target address
	cut    int        // bytes cut off the end (a truncated frame)
}

func (f frame6) bytes() []byte {
	b := make([]byte, 0, 128)
	b = append(b, 0x33, 0x33, 0, 0, 0, 1, 2, 0, 0, 0, 0, 1)
	if f.vlan {
		b = append(b, 0x81, 0x00, 0, 42)
	}
	b = append(b, 0x86, 0xdd)
	next := f.next
	if next == 0 {
		next = 17
	}
	var l4 []byte
	switch {
	case next == 58 && (f.icmp == 135 || f.icmp == 136):
		l4 = make([]byte, 24)
		t := f.target.As16()
		copy(l4[8:], t[:])
	case next == 58:
		l4 = make([]byte, 16)
	default:
		l4 = make([]byte, 12) // a UDP header and 4 bytes
	}
	if next == 58 {
		l4[0] = f.icmp
	}
	ip := make([]byte, 40)
	ip[0] = 0x60
	binary.BigEndian.PutUint16(ip[4:], uint16(len(l4)))
	ip[6], ip[7] = next, 255
	src, dst := netip.MustParseAddr("2001:2::99").As16(), f.dst.As16()
	copy(ip[8:], src[:])
	copy(ip[24:], dst[:])
	b = append(append(b, ip...), l4...)
	return b[:len(b)-f.cut]
}

// TestIPv6Classification runs the program on IPv6 frames
// (BPF_PROG_TEST_RUN) with a socket on queue 0: owned addresses, their
// solicited-node groups, Neighbor Advertisements to all nodes for an
// owned target, joined groups, and what stays the host's; untagged and
// tagged (a program with ProgramConfig.VLAN).
func TestIPv6Classification(t *testing.T) {
	e := newEngineWith(t, testbed.Config{}, Config{}, ProgramConfig{VLAN: true})
	p := e.prog
	a := netip.MustParseAddr("2001:2:0:7::1")
	twin := netip.MustParseAddr("2001:2:0:8::1") // the same solicited-node group as a
	group := netip.MustParseAddr("ff15::7")
	for _, err := range []error{p.AddAddr(a), p.AddAddr(twin), p.AddAddr(a), p.AddGroup(group)} {
		if err != nil {
			t.Fatal(err)
		}
	}
	const redirect, pass = 4, 2
	run := func(f frame6) uint32 {
		t.Helper()
		ret, err := p.prog.Run(&ebpf.RunOptions{Data: f.bytes()})
		if err != nil {
			t.Fatal(err)
		}
		return ret
	}
	sol := netip.MustParseAddr("ff02::1:ff00:1")
	allNodes := netip.MustParseAddr("ff02::1")
	other := netip.MustParseAddr("2001:2:0:7::2")
	cases := []struct {
		name string
		f    frame6
		want uint32
	}{
		{"UDP to an owned address", frame6{dst: a}, redirect},
		{"TCP to an owned address", frame6{dst: a, next: 6}, redirect},
		{"ICMPv6 echo to an owned address", frame6{dst: a, next: 58, icmp: 128}, redirect},
		{"UDP to another address", frame6{dst: other}, pass},
		{"NS to the solicited-node group", frame6{dst: sol, next: 58, icmp: 135, target: a}, redirect},
		{"NS to another solicited-node group", frame6{dst: netip.MustParseAddr("ff02::1:ff00:2"), next: 58, icmp: 135, target: other}, pass},
		{"NA to all nodes for an owned target", frame6{dst: allNodes, next: 58, icmp: 136, target: a}, redirect},
		{"NA to all nodes for another target", frame6{dst: allNodes, next: 58, icmp: 136, target: other}, pass},
		{"NA to all nodes, truncated target", frame6{dst: allNodes, next: 58, icmp: 136, target: a, cut: 1}, pass},
		{"RA to all nodes", frame6{dst: allNodes, next: 58, icmp: 134}, pass},
		{"MLD query to all nodes", frame6{dst: allNodes, next: 58, icmp: 130}, pass},
		{"UDP to all nodes", frame6{dst: allNodes}, pass},
		{"UDP to a joined group", frame6{dst: group}, redirect},
		{"UDP to another group", frame6{dst: netip.MustParseAddr("ff15::8")}, pass},
		{"link-local unicast", frame6{dst: netip.MustParseAddr("fe80::1")}, pass},
		{"header cut in the destination", frame6{dst: a, cut: 12 + 1}, pass},
	}
	for _, c := range cases {
		for _, vlan := range []bool{false, true} {
			c.f.vlan = vlan
			if got := run(c.f); got != c.want {
				t.Errorf("%s (802.1Q %v): %d, want %d", c.name, vlan, got, c.want)
			}
		}
	}

	// The solicited-node group is shared by a and twin: it stays while
	// one of them is owned.
	ns := frame6{dst: sol, next: 58, icmp: 135, target: twin}
	if err := p.RemoveAddr(a); err != nil {
		t.Fatal(err)
	}
	if run(frame6{dst: a}) != pass || run(ns) != redirect || run(frame6{dst: twin}) != redirect {
		t.Error("after removing one of two addresses of a solicited-node group: want a passed, the group and twin steered")
	}
	if run(frame6{dst: allNodes, next: 58, icmp: 136, target: a}) != pass {
		t.Error("NA to all nodes for a removed address steered")
	}
	if err := p.RemoveAddr(twin); err != nil {
		t.Fatal(err)
	}
	if run(ns) != pass {
		t.Error("the solicited-node group of removed addresses is still steered")
	}
	if err := p.RemoveGroup(group); err != nil {
		t.Fatal(err)
	}
	if run(frame6{dst: group}) != pass {
		t.Error("a left group is still steered")
	}
	if n := len(p.kinds6); n != 0 {
		t.Errorf("%d IPv6 map entries left: %v", n, p.kinds6)
	}
	for _, bad := range []string{"::ffff:198.18.0.1", "ff02::1", "::"} {
		if err := p.AddAddr(netip.MustParseAddr(bad)); !errors.Is(err, ErrConfig) {
			t.Errorf("AddAddr(%s): %v, want ErrConfig", bad, err)
		}
	}
	if err := p.AddGroup(netip.MustParseAddr("2001:2::1")); !errors.Is(err, ErrConfig) {
		t.Errorf("AddGroup(unicast): %v, want ErrConfig", err)
	}
}

// TestNeighborSolicitationFromPeerKernel: the peer kernel, sending UDP to
// the engine's IPv6 address, solicits it (to its solicited-node group):
// the solicitation reaches the engine's socket; with the neighbor set in
// the peer, the datagrams themselves do.
func TestNeighborSolicitationFromPeerKernel(t *testing.T) {
	e := newEngineWith(t, testbed.Config{IPv6: true}, Config{}, ProgramConfig{})
	if err := e.prog.AddAddr(e.bed.EngineAddr6); err != nil {
		t.Fatal(err)
	}
	var fd int
	err := e.bed.Do(func() (err error) {
		fd, err = unix.Socket(unix.AF_INET6, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	to := &unix.SockaddrInet6{Port: 5000, Addr: e.bed.EngineAddr6.As16()}
	target := e.bed.EngineAddr6.As16()
	isNS := func(b []byte) bool {
		return len(b) >= 14+40+24 && binary.BigEndian.Uint16(b[12:]) == 0x86dd && b[14+6] == 58 &&
			b[14+40] == 135 && [16]byte(b[14+48:14+64]) == target
	}
	// The kernel solicits once a second, three times.
	if err := unix.Sendto(fd, []byte("ns"), 0, to); err != nil {
		t.Fatal(err)
	}
	if !recv(e.socks[0], 3*time.Second, isNS) {
		t.Fatal("no Neighbor Solicitation for the engine's address reached the socket")
	}
	if err := e.bed.SetPeerNeighbor(e.bed.EngineAddr6, e.bed.HostMAC); err != nil {
		t.Fatal(err)
	}
	got := 0
	for i := range 20 {
		if err := unix.Sendto(fd, fmt.Appendf(nil, "v6 %d", i), 0, to); err != nil {
			t.Fatal(err)
		}
	}
	recv(e.socks[0], 3*time.Second, func(b []byte) bool {
		// The "ns" datagram, queued while the kernel solicited, comes too.
		if len(b) > 14+48+3 && binary.BigEndian.Uint16(b[12:]) == 0x86dd && b[14+6] == 17 && string(b[14+48:14+51]) == "v6 " {
			got++
		}
		return got == 20
	})
	if got != 20 {
		t.Fatalf("received %d of 20 IPv6 datagrams", got)
	}
}
