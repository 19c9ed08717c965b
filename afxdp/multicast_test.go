package afxdp

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/xdpengine/engine/header"
	"github.com/xdpengine/engine/internal/testbed"
	"github.com/xdpengine/engine/internal/udpframe"
	"golang.org/x/sys/unix"
)

var (
	mcastG1 = netip.MustParseAddr("239.1.2.3")
	mcastG2 = netip.MustParseAddr("239.1.2.4")
	mcastG3 = netip.MustParseAddr("239.1.2.5")
)

// hostMcastSocket opens a UDP socket of the caller's kernel bound to
// 0.0.0.0:port that joined groups on the bed's engine-side link.
func hostMcastSocket(t *testing.T, bed *testbed.Bed, port int, groups ...netip.Addr) int {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.Bind(fd, &unix.SockaddrInet4{Port: port}); err != nil {
		t.Fatal(err)
	}
	for _, g := range groups {
		mr := &unix.IPMreqn{Multiaddr: g.As4(), Ifindex: int32(bed.HostIndex)}
		if err := unix.SetsockoptIPMreqn(fd, unix.IPPROTO_IP, unix.IP_ADD_MEMBERSHIP, mr); err != nil {
			t.Fatal(err)
		}
	}
	return fd
}

// hostPayloads reads what the kernel socket fd receives for d.
func hostPayloads(fd int, d time.Duration) []string {
	var got []string
	buf := make([]byte, 256)
	for deadline := time.Now().Add(d); time.Now().Before(deadline); {
		n, _, err := unix.Recvfrom(fd, buf, unix.MSG_DONTWAIT)
		if err != nil {
			time.Sleep(5 * time.Millisecond)
			continue
		}
		got = append(got, string(buf[:n]))
	}
	return got
}

// peerMcastUDP is a peer socket that sends multicast out of the peer link.
func peerMcastUDP(t *testing.T, bed *testbed.Bed) int {
	t.Helper()
	fd := peerUDP(t, bed, 4000)
	if err := unix.SetsockoptInet4Addr(fd, unix.IPPROTO_IP, unix.IP_MULTICAST_IF, bed.PeerAddr.As4()); err != nil {
		t.Fatal(err)
	}
	return fd
}

// devMcast returns the link-layer multicast addresses of ifname and their
// use counts, from /proc/net/dev_mcast.
func devMcast(t *testing.T, ifname string) map[string]string {
	t.Helper()
	f, err := os.Open("/proc/net/dev_mcast")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]string{}
	s := bufio.NewScanner(f)
	for s.Scan() {
		if l := strings.Fields(s.Text()); len(l) == 5 && l[1] == ifname {
			out[l[4]] = l[2]
		}
	}
	return out
}

// TestMulticastGroupSteering: UDP to a group in the program's map goes to
// the engine's socket and no longer to the host kernel, which keeps
// receiving the groups the engine did not add; the group's MAC is on the
// interface while added.
func TestMulticastGroupSteering(t *testing.T) {
	e := newEngineWith(t, testbed.Config{HostKernelAddr: true}, Config{}, ProgramConfig{VLAN: true})
	hfd := hostMcastSocket(t, e.bed, 7000, mcastG1, mcastG2)
	if err := e.prog.AddGroup(mcastG1); err != nil {
		t.Fatal(err)
	}
	if err := e.prog.AddGroup(mcastG1); err != nil { // a no-op
		t.Fatal(err)
	}
	pfd := peerMcastUDP(t, e.bed)
	sendTo(t, pfd, mcastG1, 7000, "to g1")
	sendTo(t, pfd, mcastG2, 7000, "to g2")
	if !recv(e.socks[0], 3*time.Second, hasPayload("to g1")) {
		t.Fatal("UDP to a joined group did not reach the engine's socket")
	}
	if got := hostPayloads(hfd, 500*time.Millisecond); !slices.Equal(got, []string{"to g2"}) {
		t.Fatalf("host kernel received %q, want only the group the engine did not add", got)
	}
	if recv(e.socks[0], 200*time.Millisecond, hasPayload("to g2")) {
		t.Fatal("UDP to a group the engine did not add reached its socket")
	}

	// 802.1Q-tagged UDP to the group is steered too (ProgramConfig.VLAN).
	spec := udpframe.Spec{SrcMAC: e.bed.PeerMAC, DstMAC: net.HardwareAddr{1, 0, 0x5e, 1, 2, 3},
		Src: e.bed.PeerAddr, Dst: mcastG1, SrcPort: 1, DstPort: 7000, VLAN: 42}
	frame := make([]byte, spec.Len(6))
	spec.Put(frame, []byte("tagged"))
	if err := e.bed.Do(func() error { return sendFrame(e.bed.PeerIf, frame) }); err != nil {
		t.Fatal(err)
	}
	if !recv(e.socks[0], 3*time.Second, func(b []byte) bool { return string(udpPayload(b)) == "tagged" }) {
		t.Fatal("802.1Q-tagged UDP to a joined group did not reach the socket")
	}

	// The MAC address of an added group is on the interface, counted.
	base := devMcast(t, e.bed.HostIf)
	if err := e.prog.AddGroup(mcastG3); err != nil {
		t.Fatal(err)
	}
	if got := devMcast(t, e.bed.HostIf)["01005e010205"]; got != "1" || base["01005e010205"] != "" {
		t.Fatalf("MAC of an added group: count %q (before: %q)", got, base["01005e010205"])
	}
	if g := e.prog.Groups(); !slices.Equal(g, []netip.Addr{mcastG1, mcastG3}) {
		t.Fatalf("Groups = %v", g)
	}
	if err := e.prog.RemoveGroup(mcastG3); err != nil {
		t.Fatal(err)
	}
	if got := devMcast(t, e.bed.HostIf)["01005e010205"]; got != "" {
		t.Fatalf("MAC of a removed group still there: %q", got)
	}

	// Removed, the group is the host's again.
	if err := e.prog.RemoveGroup(mcastG1); err != nil {
		t.Fatal(err)
	}
	sendTo(t, pfd, mcastG1, 7000, "to g1 again")
	if got := hostPayloads(hfd, 500*time.Millisecond); !slices.Equal(got, []string{"to g1 again"}) {
		t.Fatalf("host kernel received %q after RemoveGroup", got)
	}
	if recv(e.socks[0], 200*time.Millisecond, hasPayload("to g1 again")) {
		t.Fatal("UDP to a removed group reached the engine's socket")
	}
	if err := e.prog.AddGroup(netip.MustParseAddr("10.1.2.3")); !errors.Is(err, ErrConfig) {
		t.Fatalf("AddGroup(unicast) = %v", err)
	}
}

func sendFrame(ifname string, frame []byte) error {
	pc, err := testbed.ListenPacket(ifname)
	if err != nil {
		return err
	}
	defer pc.Close()
	return pc.Send(frame)
}

// TestGroupMapFull: the map's bound is reported with what to do.
func TestGroupMapFull(t *testing.T) {
	bed := testbed.New(t, testbed.Config{})
	p, err := AttachProgram(bed.HostIf, ProgramConfig{MaxGroups: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for i := range 3 {
		err := p.AddGroup(netip.AddrFrom4([4]byte{239, 9, 9, byte(i)}))
		if i < 2 && err != nil || i == 2 && (!errors.Is(err, ErrTooManyGroups) || !errors.Is(err, unix.E2BIG)) {
			t.Fatalf("group %d: %v", i, err)
		}
	}
	// The failed add left no MAC address behind.
	if got := devMcast(t, bed.HostIf)["01005e090902"]; got != "" {
		t.Fatalf("MAC of a refused group: %q", got)
	}
	p.Close()
	if err := p.AddGroup(mcastG1); !errors.Is(err, ErrClosed) {
		t.Fatalf("AddGroup after Close: %v", err)
	}
	if got := devMcast(t, bed.HostIf)["01005e090900"]; got != "" {
		t.Fatalf("MAC left after Close: %q", got)
	}
}

// igmpFrame builds a frame carrying an IGMP message from src to dst.
func igmpFrame(t *testing.T, srcMAC net.HardwareAddr, src, dst netip.Addr, igmp []byte) []byte {
	b := make([]byte, 14+24+len(igmp))
	eth := header.EthernetFields{Dst: header.MulticastMAC(dst.As4()), Src: header.MAC(srcMAC), Type: header.EtherTypeIPv4}
	eth.Put(b)
	ip := header.IPv4Fields{TOS: 0xc0, TotalLength: uint16(24 + len(igmp)), Flags: header.IPv4FlagDontFragment, TTL: 1,
		Protocol: header.ProtocolIGMP, Src: src, Dst: dst, Options: header.IPv4OptionRouterAlert[:]}
	if _, err := ip.Put(b[14:]); err != nil {
		t.Fatal(err)
	}
	copy(b[38:], igmp)
	return b
}

// TestIGMPStaysWithTheHost: IGMP, even to a group the engine added, is
// passed to the host kernel, which answers queries for its own groups;
// the IGMPTap sees the same queries, so the engine can answer for its
// groups; the engine's sockets see no IGMP.
func TestIGMPStaysWithTheHost(t *testing.T) {
	e := newEngine(t, testbed.Config{HostKernelAddr: true}, Config{})
	hostMcastSocket(t, e.bed, 7000, mcastG2)
	if err := e.prog.AddGroup(mcastG1); err != nil {
		t.Fatal(err)
	}
	tap, err := OpenIGMPTap(e.bed.HostIf)
	if err != nil {
		t.Fatal(err)
	}
	defer tap.Close()
	out, err := testbed.ListenPacket(e.bed.HostIf)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	time.Sleep(1500 * time.Millisecond) // the host's join reports are done

	query := func(dst netip.Addr, group netip.Addr, code uint8) []byte {
		f := header.IGMPv3QueryFields{MaxRespCode: code, Group: group, QRV: 2, QQIC: 125}
		b := make([]byte, f.Len())
		f.Put(b)
		return igmpFrame(t, e.bed.PeerMAC, e.bed.PeerAddr, dst, b)
	}
	allHosts := netip.MustParseAddr("224.0.0.1")
	frames := [][]byte{
		query(allHosts, netip.IPv4Unspecified(), 10), // general, 1 s
		query(mcastG1, mcastG1, 10),                  // about the engine's group
	}
	err = e.bed.Do(func() error {
		for _, f := range frames {
			if err := sendFrame(e.bed.PeerIf, f); err != nil {
				return err
			}
		}
		// Also UDP and a non-IGMP frame the tap must not see.
		return sendFrame(e.bed.PeerIf, make([]byte, 60))
	})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	buf := make([]byte, 2048)
	for deadline := time.Now().Add(3 * time.Second); len(got) < 2 && time.Now().Before(deadline); {
		if !tap.Wait(100 * time.Millisecond) {
			continue
		}
		n, err := tap.Recv(buf)
		if err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			got = append(got, fmt.Sprintf("%x", buf[:n]))
		}
	}
	if len(got) != 2 || got[0] != fmt.Sprintf("%x", frames[0]) || got[1] != fmt.Sprintf("%x", frames[1]) {
		t.Fatalf("tap received %q, want the two queries", got)
	}
	if n, err := tap.Recv(buf); n != 0 || err != nil {
		t.Fatalf("tap received more: %d bytes, %v", n, err)
	}
	// The host kernel answers the general query for its group.
	answered := false
	for deadline := time.Now().Add(3 * time.Second); !answered && time.Now().Before(deadline); {
		n, outgoing, err := out.Recv(buf, 200*time.Millisecond)
		if err != nil || !outgoing {
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
		if err != nil {
			continue
		}
		it := m.Records()
		for r, ok := it.Next(); ok; r, ok = it.Next() {
			answered = answered || r.Type() == header.IGMPv3ModeIsExclude && r.Group() == mcastG2
		}
	}
	if !answered {
		t.Fatal("the host kernel did not answer the general query for its group")
	}
	if recv(e.socks[0], 300*time.Millisecond, func(b []byte) bool { return len(b) > 23 && b[12] == 8 && b[23] == 2 }) {
		t.Fatal("an IGMP message reached the engine's socket")
	}
}
