package afxdp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/xdpengine/engine/header"
	"github.com/xdpengine/engine/internal/testbed"
)

var limitedBcast = netip.AddrFrom4([4]byte{255, 255, 255, 255})

func TestDirectedBroadcast(t *testing.T) {
	for p, want := range map[string]string{
		"198.18.0.1/24": "198.18.0.255", "10.1.2.3/16": "10.1.255.255", "10.0.0.0/8": "10.255.255.255",
		"192.0.2.1/30": "192.0.2.3", "0.0.0.0/0": "255.255.255.255",
		"192.0.2.1/31": "", "192.0.2.1/32": "", "2001:db8::1/64": "",
	} {
		a, ok := DirectedBroadcast(netip.MustParsePrefix(p))
		if got := map[bool]string{true: a.String(), false: ""}[ok]; got != want {
			t.Errorf("DirectedBroadcast(%s) = %q, want %q", p, got, want)
		}
	}
}

// bframe describes a test frame for the steering program.
type bframe struct {
	vlan    bool
	arp     bool // an ARP request whose target is dst
	proto   uint8
	dst     netip.Addr
	port    uint16
	flags   uint8  // IPv4 flags (header.IPv4FlagMoreFragments)
	fragOff uint16 // in bytes
	opts    []byte // IPv4 options
	udp     int    // bytes of the UDP header present (0: all 8 and a payload)
}

func (f bframe) bytes(t *testing.T) []byte {
	t.Helper()
	eth := header.EthernetFields{Dst: header.BroadcastMAC, Src: header.MAC{2, 0, 0, 0, 0, 1}, Type: header.EtherTypeIPv4}
	if f.vlan {
		eth.NumTags, eth.Tags[0] = 1, header.VLANTag{TPID: 0x8100, TCI: 42}
	}
	if f.arp {
		eth.Type = 0x0806
	}
	b := make([]byte, 256)
	n, err := eth.Put(b)
	if err != nil {
		t.Fatal(err)
	}
	if f.arp {
		arp := b[n : n+28]
		copy(arp, []byte{0, 1, 8, 0, 6, 4, 0, 1})
		tpa := f.dst.As4()
		copy(arp[24:], tpa[:])
		return b[:n+28]
	}
	proto := f.proto
	if proto == 0 {
		proto = 17
	}
	l4 := 8 + 4
	if f.udp != 0 {
		l4 = f.udp
	}
	ip := header.IPv4Fields{TotalLength: uint16(20 + len(f.opts) + l4), Flags: f.flags, FragmentOffset: f.fragOff,
		TTL: 64, Protocol: proto, Src: netip.MustParseAddr("198.18.0.2"), Dst: f.dst, Options: f.opts}
	m, err := ip.Put(b[n:])
	if err != nil {
		t.Fatal(err)
	}
	u := b[n+m:]
	binary.BigEndian.PutUint16(u[0:], 4000)
	binary.BigEndian.PutUint16(u[2:], f.port)
	binary.BigEndian.PutUint16(u[4:], uint16(l4))
	return b[:n+m+l4]
}

// TestBroadcastClassification runs the program on frames
// (BPF_PROG_TEST_RUN) with a socket on queue 0, so a redirect returns
// XDP_REDIRECT and a pass XDP_PASS. Each frame is tried untagged and with
// an 802.1Q tag, on a program built with and without ProgramConfig.VLAN:
// without it, every tagged frame is passed.
func TestBroadcastClassification(t *testing.T) {
	for _, vlan := range []bool{false, true} {
		t.Run(fmt.Sprintf("VLAN=%v", vlan), func(t *testing.T) { testBroadcastClassification(t, vlan) })
	}
}

func testBroadcastClassification(t *testing.T, progVLAN bool) {
	e := newEngineWith(t, testbed.Config{}, Config{}, ProgramConfig{VLAN: progVLAN})
	p := e.prog
	dbcast := netip.MustParseAddr("198.18.200.255")
	both := netip.MustParseAddr("198.18.201.255") // owned and a broadcast address (a misconfiguration): owned wins
	for _, err := range []error{
		p.AddBroadcastAddr(dbcast), p.AddBroadcastAddr(both), p.AddAddr(both),
		p.AddBroadcastPort(7100), p.AddBroadcastPort(7100), p.AddBroadcastPort(65535), p.AddBroadcastPort(8),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	const redirect, pass = 4, 2
	run := func(f bframe) uint32 {
		ret, err := p.prog.Run(&ebpf.RunOptions{Data: f.bytes(t)})
		if err != nil {
			t.Fatal(err)
		}
		return ret
	}
	cases := []struct {
		name string
		f    bframe
		want uint32
	}{
		{"limited broadcast, registered port", bframe{dst: limitedBcast, port: 7100}, redirect},
		{"limited broadcast, port 65535", bframe{dst: limitedBcast, port: 65535}, redirect},
		{"limited broadcast, port 8", bframe{dst: limitedBcast, port: 8}, redirect},
		{"limited broadcast, port 9 (a neighboring bit)", bframe{dst: limitedBcast, port: 9}, pass},
		{"limited broadcast, DHCP server port", bframe{dst: limitedBcast, port: 67}, pass},
		{"limited broadcast, port 7100 in the low byte", bframe{dst: limitedBcast, port: 0x1c9c}, pass},
		{"directed broadcast, registered port", bframe{dst: dbcast, port: 7100}, redirect},
		{"directed broadcast, other port", bframe{dst: dbcast, port: 7101}, pass},
		{"another subnet's broadcast", bframe{dst: netip.MustParseAddr("198.18.202.255"), port: 7100}, pass},
		{"IP options", bframe{dst: limitedBcast, port: 7100, opts: []byte{1, 1, 1, 0}}, redirect},
		{"first fragment", bframe{dst: limitedBcast, port: 7100, flags: header.IPv4FlagMoreFragments}, pass},
		{"later fragment", bframe{dst: dbcast, port: 7100, fragOff: 1480}, pass},
		{"DF set", bframe{dst: limitedBcast, port: 7100, flags: header.IPv4FlagDontFragment}, redirect},
		{"TCP to a broadcast address", bframe{dst: limitedBcast, port: 7100, proto: 6}, pass},
		{"truncated UDP header", bframe{dst: limitedBcast, port: 7100, udp: 3}, pass},
		{"ARP for a directed broadcast address", bframe{arp: true, dst: dbcast}, pass},
		{"ARP for an owned address", bframe{arp: true, dst: e.bed.EngineAddr}, redirect},
		{"unicast to an owned address", bframe{dst: e.bed.EngineAddr, port: 9}, redirect},
		{"unicast to the host", bframe{dst: netip.MustParseAddr("198.18.200.3"), port: 7100}, pass},
		{"owned and broadcast, TCP", bframe{dst: both, port: 80, proto: 6}, redirect},
	}
	for _, c := range cases {
		for _, vlan := range []bool{false, true} {
			c.f.vlan = vlan
			want := c.want
			if vlan && !progVLAN {
				want = pass
			}
			if got := run(c.f); got != want {
				t.Errorf("%s (802.1Q %v): %d, want %d", c.name, vlan, got, want)
			}
		}
	}
	if got := p.BroadcastPorts(); !slices.Equal(got, []uint16{8, 7100, 65535}) {
		t.Errorf("BroadcastPorts = %v", got)
	}

	// Counted registrations; addresses of two kinds.
	lb := bframe{dst: limitedBcast, port: 7100}
	if err := p.RemoveBroadcastPort(7100); err != nil || run(lb) != redirect {
		t.Fatalf("after one of two removals: %v, %d", err, run(lb))
	}
	if err := p.RemoveBroadcastPort(7100); err != nil || run(lb) != pass {
		t.Fatalf("after the last removal: %v, %d", err, run(lb))
	}
	if err := p.RemoveBroadcastPort(7100); err != nil {
		t.Fatalf("removing an unregistered port: %v", err)
	}
	if err := p.RemoveAddr(both); err != nil {
		t.Fatal(err)
	}
	if got := run(bframe{dst: both, port: 80, proto: 6}); got != pass {
		t.Errorf("TCP to an address left only a broadcast one: %d", got)
	}
	if got := run(bframe{dst: both, port: 65535}); got != redirect {
		t.Errorf("UDP to an address left a broadcast one: %d", got)
	}
	if err := p.RemoveBroadcastAddr(dbcast); err != nil {
		t.Fatal(err)
	}
	if got := run(bframe{dst: dbcast, port: 65535}); got != pass {
		t.Errorf("a removed broadcast address: %d", got)
	}
	for _, err := range []error{p.AddBroadcastPort(0), p.AddBroadcastAddr(netip.MustParseAddr("239.1.1.1")),
		p.AddBroadcastAddr(netip.MustParseAddr("2001:db8::ff"))} {
		if !errors.Is(err, ErrConfig) {
			t.Errorf("bad argument: %v", err)
		}
	}
	p.Close()
	if err := p.AddBroadcastPort(1); !errors.Is(err, ErrClosed) {
		t.Errorf("AddBroadcastPort after Close: %v", err)
	}
}

// hostUDP opens a UDP socket of the caller's kernel bound to 0.0.0.0:port
// on the bed's link.
func hostUDP(t *testing.T, bed *testbed.Bed, port int) int {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.BindToDevice(fd, bed.HostIf); err != nil {
		t.Fatal(err)
	}
	if err := unix.Bind(fd, &unix.SockaddrInet4{Port: port}); err != nil {
		t.Fatal(err)
	}
	return fd
}

// TestBroadcastPortSteering: the peer kernel broadcasts; UDP to a
// registered port reaches the engine's socket and not the host kernel,
// other ports (and fragmented datagrams) reach the host kernel only.
func TestBroadcastPortSteering(t *testing.T) {
	e := newEngineWith(t, testbed.Config{HostKernelAddr: true}, Config{}, ProgramConfig{VLAN: true})
	dbcast, _ := DirectedBroadcast(e.bed.Prefix)
	if err := e.prog.AddBroadcastAddr(dbcast); err != nil {
		t.Fatal(err)
	}
	if err := e.prog.AddBroadcastPort(7100); err != nil {
		t.Fatal(err)
	}
	h100, h101 := hostUDP(t, e.bed, 7100), hostUDP(t, e.bed, 7101)
	pfd := peerUDP(t, e.bed, 4000)
	if err := unix.SetsockoptInt(pfd, unix.SOL_SOCKET, unix.SO_BROADCAST, 1); err != nil {
		t.Fatal(err)
	}
	for _, dst := range []netip.Addr{limitedBcast, dbcast} {
		sendTo(t, pfd, dst, 7100, "engine "+dst.String())
		sendTo(t, pfd, dst, 7101, "host "+dst.String())
		if !recv(e.socks[0], 3*time.Second, hasPayload("engine "+dst.String())) {
			t.Errorf("broadcast to %v on a registered port did not reach the engine's socket", dst)
		}
		if got := hostPayloads(h101, 300*time.Millisecond); !slices.Equal(got, []string{"host " + dst.String()}) {
			t.Errorf("host socket on the other port received %q", got)
		}
		if recv(e.socks[0], 100*time.Millisecond, hasPayload("host "+dst.String())) {
			t.Errorf("broadcast to %v on another port reached the engine's socket", dst)
		}
	}
	if got := hostPayloads(h100, 100*time.Millisecond); len(got) != 0 {
		t.Errorf("host socket on the registered port received %q", got)
	}

	// An 802.1Q-tagged broadcast to the registered port is steered too
	// (ProgramConfig.VLAN).
	f := bframe{vlan: true, dst: limitedBcast, port: 7100}.bytes(t)
	copy(f[len(f)-4:], "vlan")
	if err := e.bed.Do(func() error { return sendFrame(e.bed.PeerIf, f) }); err != nil {
		t.Fatal(err)
	}
	if !recv(e.socks[0], 3*time.Second, hasPayload("vlan")) {
		t.Error("an 802.1Q-tagged broadcast to a registered port did not reach the engine's socket")
	}

	// A fragmented broadcast stays with the host, which reassembles it.
	big := strings.Repeat("f", 3000)
	sendTo(t, pfd, limitedBcast, 7100, big)
	if got := hostPayloads(h100, 500*time.Millisecond); !slices.Equal(got, []string{big[:min(len(big), 256)]}) {
		t.Errorf("host socket received %d datagrams of a fragmented broadcast, want one", len(got))
	}

	// The last registration gone, the port is the host's again.
	if err := e.prog.RemoveBroadcastPort(7100); err != nil {
		t.Fatal(err)
	}
	sendTo(t, pfd, limitedBcast, 7100, "host again")
	if got := hostPayloads(h100, 500*time.Millisecond); !slices.Equal(got, []string{"host again"}) {
		t.Errorf("after RemoveBroadcastPort the host socket received %q", got)
	}
	if recv(e.socks[0], 100*time.Millisecond, hasPayload("host again")) {
		t.Error("a broadcast to a removed port reached the engine's socket")
	}
}
