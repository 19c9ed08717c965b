package testbed

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// A datagram sent by the peer kernel's UDP socket arrives, as an Ethernet
// frame, on the engine side of the veth.
func TestPeerKernelToEngineSide(t *testing.T) {
	bed := New(t, Config{})
	if err := bed.SetPeerNeighbor(bed.EngineAddr, bed.HostMAC); err != nil {
		t.Fatal(err)
	}
	pc, err := ListenPacket(bed.HostIf)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()

	payload := []byte(fmt.Sprintf("hello from the peer kernel %d", os.Getpid()))
	const port = 7007
	var local netip.AddrPort
	err = bed.Do(func() error {
		c, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(bed.EngineAddr, port)))
		if err != nil {
			return err
		}
		defer c.Close()
		local = c.LocalAddr().(*net.UDPAddr).AddrPort()
		_, err = c.Write(payload)
		return err
	})
	if err != nil {
		t.Fatalf("send from peer: %v", err)
	}

	buf := make([]byte, 2048)
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		n, _, err := pc.Recv(buf, time.Until(deadline))
		if err != nil {
			t.Fatalf("no frame on %s: %v", bed.HostIf, err)
		}
		f, ok := parseUDPFrame(buf[:n])
		if !ok || f.dstPort != port {
			continue // ARP, IGMP or other noise
		}
		if !bytes.Equal(f.dstMAC, bed.HostMAC) || !bytes.Equal(f.srcMAC, bed.PeerMAC) {
			t.Errorf("MACs: got %v -> %v, want %v -> %v", f.srcMAC, f.dstMAC, bed.PeerMAC, bed.HostMAC)
		}
		if f.src != local.Addr() || f.srcPort != local.Port() || f.dst != bed.EngineAddr {
			t.Errorf("addresses: got %v:%d -> %v, want %v -> %v", f.src, f.srcPort, f.dst, local, bed.EngineAddr)
		}
		if !bytes.Equal(f.payload, payload) {
			t.Errorf("payload: got %q, want %q", f.payload, payload)
		}
		return
	}
	t.Fatalf("the datagram never reached %s", bed.HostIf)
}

// A frame injected on the engine side is delivered by the peer kernel to
// its UDP socket.
func TestEngineSideToPeerKernel(t *testing.T) {
	bed := New(t, Config{})
	const port = 7008
	var conn *net.UDPConn
	err := bed.Do(func() (err error) {
		conn, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(bed.PeerAddr, port)))
		return err
	})
	if err != nil {
		t.Fatalf("listen in peer: %v", err)
	}
	defer conn.Close()

	pc, err := ListenPacket(bed.HostIf)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	payload := []byte("hello from the engine side")
	frame := buildUDPFrame(bed.HostMAC, bed.PeerMAC, bed.EngineAddr, bed.PeerAddr, 40000, port, payload)
	if err := pc.Send(frame); err != nil {
		t.Fatal(err)
	}

	if err := conn.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 2048)
	n, from, err := conn.ReadFromUDPAddrPort(buf)
	if err != nil {
		t.Fatalf("peer kernel socket received nothing: %v", err)
	}
	if !bytes.Equal(buf[:n], payload) {
		t.Errorf("payload: got %q, want %q", buf[:n], payload)
	}
	if want := netip.AddrPortFrom(bed.EngineAddr, 40000); from != want {
		t.Errorf("source: got %v, want %v", from, want)
	}
}

// Command runs in the peer namespace: /proc/net/dev lists the peer link and
// not the engine-side one.
func TestCommandRunsInPeerNamespace(t *testing.T) {
	bed := New(t, Config{})
	out, err := bed.Command(context.Background(), "cat", "/proc/net/dev").CombinedOutput()
	if err != nil {
		t.Fatalf("cat /proc/net/dev: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), bed.PeerIf+":") {
		t.Errorf("peer namespace does not list %s:\n%s", bed.PeerIf, out)
	}
	if strings.Contains(string(out), bed.HostIf+":") {
		t.Errorf("peer namespace lists the engine-side link %s:\n%s", bed.HostIf, out)
	}
}

func TestQueuesAndIPv6Disabled(t *testing.T) {
	bed := New(t, Config{Queues: 4, MTU: 3000})
	link, err := netlink.LinkByName(bed.HostIf)
	if err != nil {
		t.Fatal(err)
	}
	if got := link.Attrs().NumRxQueues; got != 4 {
		t.Errorf("rx queues: got %d, want 4", got)
	}
	if got := link.Attrs().MTU; got != 3000 {
		t.Errorf("MTU: got %d, want 3000", got)
	}
	for _, side := range []struct {
		ifname string
		in     func(func() error) error
	}{
		{bed.HostIf, func(f func() error) error { return f() }},
		{bed.PeerIf, bed.Do},
	} {
		err := side.in(func() error {
			v, err := os.ReadFile("/proc/sys/net/ipv6/conf/" + side.ifname + "/disable_ipv6")
			if err != nil {
				return err
			}
			if strings.TrimSpace(string(v)) != "1" {
				return fmt.Errorf("IPv6 enabled on %s", side.ifname)
			}
			return nil
		})
		if err != nil {
			t.Error(err)
		}
	}
	if !bed.Prefix.Contains(bed.EngineAddr) || !benchRange.Contains(bed.PeerAddr) {
		t.Errorf("addresses outside the benchmarking range: %v %v", bed.EngineAddr, bed.PeerAddr)
	}
}

func TestHostKernelAddrAndCleanClose(t *testing.T) {
	RequirePrivileged(t)
	bed, err := Create(Config{HostKernelAddr: true})
	if err != nil {
		t.Fatal(err)
	}
	defer bed.Close()
	other, err := Create(Config{HostKernelAddr: true})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if bed.Prefix == other.Prefix {
		t.Errorf("two beds share the subnet %v", bed.Prefix)
	}
	if !bed.HostAddr.IsValid() {
		t.Fatal("no host kernel address")
	}
	for _, b := range []*Bed{bed, other} {
		if err := b.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
		if left := b.Leftovers(); len(left) > 0 {
			t.Errorf("left behind after Close: %v", left)
		}
		if err := b.Close(); err != nil {
			t.Errorf("second close: %v", err)
		}
	}
}

// Sweep removes what a dead process left, and nothing of a live one.
func TestSweepRemovesDeadOwners(t *testing.T) {
	RequirePrivileged(t)
	const deadPid = 4194303 // above the default pid_max: no process has it
	name := fmt.Sprintf("%s-%d-1", namePrefix, deadPid)
	h, err := newNamedNetns(name)
	if err != nil {
		t.Fatal(err)
	}
	h.Close()
	t.Cleanup(func() { _ = netns.DeleteNamed(name) })
	live := New(t, Config{})

	Sweep()
	for _, l := range Leftovers(deadPid) {
		t.Errorf("Sweep left %s", l)
	}
	if _, err := os.Stat(netnsDir + "/" + live.NetnsName); err != nil {
		t.Errorf("Sweep removed a live bed: %v", err)
	}
}

type udpFrame struct {
	dstMAC, srcMAC   net.HardwareAddr
	src, dst         netip.Addr
	srcPort, dstPort uint16
	payload          []byte
}

// parseUDPFrame is a minimal Ethernet/IPv4/UDP reader for these tests; the
// engine's real parsers live in the wire packages.
func parseUDPFrame(b []byte) (f udpFrame, ok bool) {
	if len(b) < 14+20+8 || binary.BigEndian.Uint16(b[12:]) != 0x0800 {
		return f, false
	}
	ip := b[14:]
	ihl := int(ip[0]&0x0f) * 4
	if ip[0]>>4 != 4 || ihl < 20 || len(ip) < ihl+8 || ip[9] != 17 {
		return f, false
	}
	total := int(binary.BigEndian.Uint16(ip[2:]))
	if total > len(ip) || total < ihl+8 {
		return f, false
	}
	udp := ip[ihl:total]
	f.dstMAC, f.srcMAC = net.HardwareAddr(b[0:6]), net.HardwareAddr(b[6:12])
	f.src = netip.AddrFrom4([4]byte(ip[12:16]))
	f.dst = netip.AddrFrom4([4]byte(ip[16:20]))
	f.srcPort, f.dstPort = binary.BigEndian.Uint16(udp), binary.BigEndian.Uint16(udp[2:])
	f.payload = udp[8:]
	return f, true
}

func buildUDPFrame(src, dst net.HardwareAddr, sip, dip netip.Addr, sport, dport uint16, payload []byte) []byte {
	b := make([]byte, 14+20+8+len(payload))
	copy(b[0:], dst)
	copy(b[6:], src)
	binary.BigEndian.PutUint16(b[12:], 0x0800)
	ip := b[14:]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], uint16(20+8+len(payload)))
	ip[8] = 64
	ip[9] = 17
	s4, d4 := sip.As4(), dip.As4()
	copy(ip[12:], s4[:])
	copy(ip[16:], d4[:])
	var sum uint32
	for i := 0; i < 20; i += 2 {
		sum += uint32(binary.BigEndian.Uint16(ip[i:]))
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	binary.BigEndian.PutUint16(ip[10:], ^uint16(sum))
	udp := ip[20:]
	binary.BigEndian.PutUint16(udp[0:], sport)
	binary.BigEndian.PutUint16(udp[2:], dport)
	binary.BigEndian.PutUint16(udp[4:], uint16(8+len(payload)))
	copy(udp[8:], payload) // checksum 0: none, allowed for UDP over IPv4
	return b
}

// A new bed is ready: both ends are operationally up, so the first frame
// sent is not dropped by a link still waiting for its carrier.
func TestReadyWhenCreated(t *testing.T) {
	bed := New(t, Config{})
	for _, side := range []struct {
		name string
		in   func(func() error) error
	}{
		{bed.HostIf, func(f func() error) error { return f() }},
		{bed.PeerIf, bed.Do},
	} {
		err := side.in(func() error {
			l, err := netlink.LinkByName(side.name)
			if err != nil {
				return err
			}
			if st := l.Attrs().OperState; st != netlink.OperUp {
				return fmt.Errorf("%s is %v, want up", side.name, st)
			}
			return nil
		})
		if err != nil {
			t.Error(err)
		}
	}
}

// Config.PeerEhashEntries gives the peer namespace an established hash of
// its own, of that size (the sysctl reads it positive; a namespace that
// shares the host's reads the host's size negated), and leaves the host's
// tcp_child_ehash_entries as it was.
func TestPeerEhashEntries(t *testing.T) {
	hostBefore, err := os.ReadFile("/proc/sys/net/ipv4/tcp_child_ehash_entries")
	if errors.Is(err, os.ErrNotExist) {
		t.Skip("this kernel has no tcp_child_ehash_entries (Linux 6.1 or newer)")
	}
	if err != nil {
		t.Fatal(err)
	}
	ehash := func(bed *Bed) string {
		t.Helper()
		out, err := bed.Command(context.Background(), "cat", "/proc/sys/net/ipv4/tcp_ehash_entries").Output()
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(out))
	}
	own := New(t, Config{PeerEhashEntries: 1 << 16})
	if got := ehash(own); got != "65536" {
		t.Errorf("peer's tcp_ehash_entries with PeerEhashEntries 65536: %s, want 65536", got)
	}
	if got := ehash(New(t, Config{})); strings.TrimSpace(string(hostBefore)) == "0" && !strings.HasPrefix(got, "-") {
		t.Errorf("peer's tcp_ehash_entries by default: %s, want the host's, negative", got)
	}
	if hostAfter, err := os.ReadFile("/proc/sys/net/ipv4/tcp_child_ehash_entries"); err != nil || !bytes.Equal(hostAfter, hostBefore) {
		t.Errorf("host's tcp_child_ehash_entries %q after the beds, %q before (%v)", hostAfter, hostBefore, err)
	}
	if _, err := Create(Config{PeerEhashEntries: 1000}); err == nil || !strings.Contains(err.Error(), "power of two") {
		t.Errorf("PeerEhashEntries 1000: %v, want an error about a power of two", err)
	}
}
