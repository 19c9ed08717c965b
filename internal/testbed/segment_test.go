package testbed

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
)

const segmentEchoPort = 7101

// Three hosts and the peer on one segment: every host reaches the peer and
// every other host, with the addresses and MACs the bed reports.
func TestSegmentHosts(t *testing.T) {
	bed := New(t, Config{})
	hosts, err := bed.AddSegmentHosts(3)
	if err != nil {
		t.Fatal(err)
	}
	if len(hosts) != 3 {
		t.Fatalf("got %d hosts, want 3", len(hosts))
	}
	macs := map[string]bool{bed.PeerMAC.String(): true, bed.HostMAC.String(): true}
	for i, h := range hosts {
		want := bed.Prefix.Addr().As4()
		want[3] = byte(11 + i)
		if h.Addr != netip.AddrFrom4(want) {
			t.Errorf("host %d: address %v, want %v", i, h.Addr, netip.AddrFrom4(want))
		}
		if wantNS := bed.NetnsName + "s" + strconv.Itoa(i); h.NetnsName != wantNS {
			t.Errorf("host %d: namespace %q, want %q", i, h.NetnsName, wantNS)
		}
		if ownedBy(h.NetnsName) != os.Getpid() {
			t.Errorf("host %d: Sweep would not see %q as ours", i, h.NetnsName)
		}
		if len(h.MAC) != 6 || macs[h.MAC.String()] {
			t.Errorf("host %d: MAC %v missing or not unique", i, h.MAC)
		}
		macs[h.MAC.String()] = true
	}

	// Every endpoint echoes, prefixed with the source it saw.
	type endpoint struct {
		name string
		addr netip.Addr
		mac  net.HardwareAddr
		do   func(func() error) error
	}
	eps := []endpoint{{"peer", bed.PeerAddr, bed.PeerMAC, bed.Do}}
	for i, h := range hosts {
		eps = append(eps, endpoint{fmt.Sprintf("host %d", i), h.Addr, h.MAC, h.Do})
	}
	for _, ep := range eps {
		udpEcho(t, ep.do, netip.AddrPortFrom(ep.addr, segmentEchoPort))
	}
	for _, from := range eps {
		for _, to := range eps {
			if from.addr == to.addr {
				continue
			}
			if err := udpExchange(from.do, from.addr, to.addr); err != nil {
				t.Errorf("%s -> %s: %v", from.name, to.name, err)
			}
		}
	}

	// ARP saw the MACs the bed reports: the peer's on the bridge is PeerMAC.
	for _, from := range eps {
		err := from.do(func() error {
			neighs, err := netlink.NeighList(0, netlink.FAMILY_V4)
			if err != nil {
				return err
			}
			seen := map[netip.Addr]net.HardwareAddr{}
			for _, n := range neighs {
				if a, ok := netip.AddrFromSlice(n.IP.To4()); ok {
					seen[a] = n.HardwareAddr
				}
			}
			for _, to := range eps {
				if to.addr != from.addr && !bytes.Equal(seen[to.addr], to.mac) {
					return fmt.Errorf("ARP entry for %s (%v): %v, want %v", to.name, to.addr, seen[to.addr], to.mac)
				}
			}
			return nil
		})
		if err != nil {
			t.Errorf("%s: %v", from.name, err)
		}
	}

	// The bridge: STP off, forward delay 0, PeerIf a port, PeerAddr on it.
	out, err := bed.Command(context.Background(), "ip", "-j", "-d", "addr", "show", "dev", SegmentBridge).Output()
	if err != nil {
		t.Fatalf("ip link show %s: %v", SegmentBridge, err)
	}
	var links []struct {
		LinkInfo struct {
			Kind string         `json:"info_kind"`
			Data map[string]any `json:"info_data"`
		} `json:"linkinfo"`
		Addrs []struct {
			Local string `json:"local"`
		} `json:"addr_info"`
	}
	if err := json.Unmarshal(out, &links); err != nil || len(links) != 1 {
		t.Fatalf("ip -j output %q: %v", out, err)
	}
	br := links[0]
	if br.LinkInfo.Kind != "bridge" || br.LinkInfo.Data["stp_state"] != 0.0 || br.LinkInfo.Data["forward_delay"] != 0.0 {
		t.Errorf("%s: kind %q, stp_state %v, forward_delay %v; want bridge, 0, 0", SegmentBridge,
			br.LinkInfo.Kind, br.LinkInfo.Data["stp_state"], br.LinkInfo.Data["forward_delay"])
	}
	if len(br.Addrs) != 1 || br.Addrs[0].Local != bed.PeerAddr.String() {
		t.Errorf("%s addresses: %+v, want only %v", SegmentBridge, br.Addrs, bed.PeerAddr)
	}
	err = bed.Do(func() error {
		peer, err := netlink.LinkByName(bed.PeerIf)
		if err != nil {
			return err
		}
		brl, err := netlink.LinkByName(SegmentBridge)
		if err != nil {
			return err
		}
		if peer.Attrs().MasterIndex != brl.Attrs().Index {
			return fmt.Errorf("%s is not a port of %s", bed.PeerIf, SegmentBridge)
		}
		if addrs, _ := netlink.AddrList(peer, netlink.FAMILY_V4); len(addrs) != 0 {
			return fmt.Errorf("%s still has addresses %v", bed.PeerIf, addrs)
		}
		return nil
	})
	if err != nil {
		t.Error(err)
	}

	// Command runs in the host's namespace.
	out, err = hosts[1].Command(context.Background(), "cat", "/proc/net/dev").CombinedOutput()
	if err != nil {
		t.Fatalf("cat /proc/net/dev: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), hosts[1].Ifname+":") || strings.Contains(string(out), SegmentBridge+":") {
		t.Errorf("host 1's namespace does not look like its own:\n%s", out)
	}
}

// Segment hosts and the peer reach the engine side (HostIf) on the same
// segment, and it reaches them. With the default offloads, hosts' UDP
// arrives with partial checksums like the peer's; with FullChecksums, full.
func TestSegmentEngineSide(t *testing.T) {
	for _, full := range []bool{false, true} {
		t.Run(fmt.Sprintf("FullChecksums=%v", full), func(t *testing.T) {
			bed := New(t, Config{FullChecksums: full})
			hosts, err := bed.AddSegmentHosts(2)
			if err != nil {
				t.Fatal(err)
			}
			// SetPeerNeighbor after the bridge: the entry goes on the bridge.
			if err := bed.SetPeerNeighbor(bed.EngineAddr, bed.HostMAC); err != nil {
				t.Fatal(err)
			}
			err = hosts[0].Do(func() error {
				return netlink.NeighSet(&netlink.Neigh{LinkIndex: hosts[0].Index, State: netlink.NUD_PERMANENT,
					IP: net.IP(bed.EngineAddr.AsSlice()), HardwareAddr: bed.HostMAC})
			})
			if err != nil {
				t.Fatal(err)
			}
			pc, err := ListenPacket(bed.HostIf)
			if err != nil {
				t.Fatal(err)
			}
			defer pc.Close()

			wantSum := "partial"
			if full {
				wantSum = "full"
			}
			for _, src := range []struct {
				name string
				addr netip.Addr
				mac  net.HardwareAddr
				do   func(func() error) error
			}{
				{"peer", bed.PeerAddr, bed.PeerMAC, bed.Do},
				{"host 0", hosts[0].Addr, hosts[0].MAC, hosts[0].Do},
			} {
				port := uint16(7200)
				payload := []byte("to the engine side from " + src.name)
				err := src.do(func() error {
					c, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(bed.EngineAddr, port)))
					if err != nil {
						return err
					}
					defer c.Close()
					_, err = c.Write(payload)
					return err
				})
				if err != nil {
					t.Fatalf("%s: send: %v", src.name, err)
				}
				frame, err := recvUDP(pc, port, payload)
				if err != nil {
					t.Fatalf("%s: %v", src.name, err)
				}
				f, _ := parseUDPFrame(frame)
				if !bytes.Equal(f.srcMAC, src.mac) || !bytes.Equal(f.dstMAC, bed.HostMAC) || f.src != src.addr || f.dst != bed.EngineAddr {
					t.Errorf("%s: frame %v %v -> %v %v, want %v %v -> %v %v", src.name,
						f.srcMAC, f.src, f.dstMAC, f.dst, src.mac, src.addr, bed.HostMAC, bed.EngineAddr)
				}
				if got := udpChecksumKind(frame); got != wantSum {
					t.Errorf("%s: UDP checksum %s, want %s", src.name, got, wantSum)
				}
			}

			// Engine side -> host 1: a frame to its MAC reaches its socket.
			h := hosts[1]
			var conn *net.UDPConn
			err = h.Do(func() (err error) {
				conn, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(h.Addr, 7201)))
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			payload := []byte("from the engine side to host 1")
			if err := pc.Send(buildUDPFrame(bed.HostMAC, h.MAC, bed.EngineAddr, h.Addr, 40001, 7201, payload)); err != nil {
				t.Fatal(err)
			}
			if err := conn.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 2048)
			n, from, err := conn.ReadFromUDPAddrPort(buf)
			if err != nil {
				t.Fatalf("host 1 received nothing: %v", err)
			}
			if !bytes.Equal(buf[:n], payload) || from != netip.AddrPortFrom(bed.EngineAddr, 40001) {
				t.Errorf("host 1 got %q from %v", buf[:n], from)
			}
		})
	}
}

// A second call adds hosts numbered on; a bad count is refused without
// side effects; permanent ARP entries move to the bridge; Close removes
// every host, and the hosts refuse Do afterwards.
func TestSegmentHostsAgainAndClose(t *testing.T) {
	RequirePrivileged(t)
	bed, err := Create(Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer bed.Close()
	if err := bed.SetPeerNeighbor(bed.EngineAddr, bed.HostMAC); err != nil {
		t.Fatal(err)
	}
	first, err := bed.AddSegmentHosts(2)
	if err != nil {
		t.Fatal(err)
	}
	more, err := bed.AddSegmentHosts(1)
	if err != nil {
		t.Fatal(err)
	}
	want := bed.Prefix.Addr().As4()
	want[3] = 13
	if len(more) != 1 || more[0].Addr != netip.AddrFrom4(want) || more[0].NetnsName != bed.NetnsName+"s2" {
		t.Fatalf("second call: got %+v, want one host %v in %ss2", more, netip.AddrFrom4(want), bed.NetnsName)
	}
	for _, n := range []int{0, -1, 242} {
		if hs, err := bed.AddSegmentHosts(n); err == nil {
			t.Errorf("AddSegmentHosts(%d) on a bed with 3 hosts: got %d hosts, want an error", n, len(hs))
		}
	}
	udpEcho(t, first[0].Do, netip.AddrPortFrom(first[0].Addr, segmentEchoPort))
	if err := udpExchange(more[0].Do, more[0].Addr, first[0].Addr); err != nil {
		t.Errorf("host of the second call -> host of the first: %v", err)
	}
	err = bed.Do(func() error {
		br, err := netlink.LinkByName(SegmentBridge)
		if err != nil {
			return err
		}
		neighs, err := netlink.NeighList(br.Attrs().Index, netlink.FAMILY_V4)
		if err != nil {
			return err
		}
		for _, n := range neighs {
			if n.IP.Equal(bed.EngineAddr.AsSlice()) && n.State&netlink.NUD_PERMANENT != 0 && bytes.Equal(n.HardwareAddr, bed.HostMAC) {
				return nil
			}
		}
		return fmt.Errorf("the permanent ARP entry for %v is not on %s: %v", bed.EngineAddr, SegmentBridge, neighs)
	})
	if err != nil {
		t.Error(err)
	}

	all := append(first, more...)
	var names []string
	for _, h := range all {
		names = append(names, h.NetnsName)
	}
	if left := Leftovers(os.Getpid()); !containsAll(left, names) {
		t.Errorf("Leftovers before Close %v does not list every host namespace %v", left, names)
	}
	if err := bed.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if left := bed.Leftovers(); len(left) > 0 {
		t.Errorf("left behind after Close: %v", left)
	}
	for _, h := range all {
		if _, err := os.Stat(netnsDir + "/" + h.NetnsName); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("namespace %s after Close: %v", h.NetnsName, err)
		}
		if err := h.Do(func() error { return nil }); err == nil {
			t.Errorf("%s: Do after Close succeeded", h.NetnsName)
		}
	}
	if _, err := bed.AddSegmentHosts(1); err == nil {
		t.Error("AddSegmentHosts after Close succeeded")
	}
}

// A process killed while it has segment hosts leaves nothing the next bed's
// Sweep does not remove.
func TestSegmentHostsSweptAfterKill(t *testing.T) {
	RequirePrivileged(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestSegmentKilledHelper$", "-test.count=1")
	cmd.Env = append(os.Environ(), segmentHelperEnv+"=1")
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	defer func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		Sweep()
	}()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("helper said nothing: %v", err)
	}
	names := strings.Fields(strings.TrimPrefix(strings.TrimSpace(line), "ready "))
	if !strings.HasPrefix(line, "ready ") || len(names) != 3 {
		t.Fatalf("helper said %q", line)
	}
	if left := Leftovers(pid); !containsAll(left, names) {
		t.Fatalf("the helper's bed %v does not list its hosts %v", left, names)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	Sweep()
	if left := Leftovers(pid); len(left) > 0 {
		t.Errorf("after the helper was killed and Sweep ran: %v", left)
	}
}

const segmentHelperEnv = "XEB_SEGMENT_KILLED_HELPER"

// TestSegmentKilledHelper is the process TestSegmentHostsSweptAfterKill
// kills: it builds a bed with two segment hosts, prints the namespace names
// and waits. Without the environment variable it does nothing.
func TestSegmentKilledHelper(t *testing.T) {
	if os.Getenv(segmentHelperEnv) == "" {
		return
	}
	bed, err := Create(Config{})
	if err != nil {
		t.Fatal(err)
	}
	hosts, err := bed.AddSegmentHosts(2)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("ready %s %s %s\n", bed.NetnsName, hosts[0].NetnsName, hosts[1].NetnsName)
	time.Sleep(time.Minute) // killed before this ends
}

func containsAll(left, names []string) bool {
	for _, n := range names {
		found := false
		for _, l := range left {
			found = found || strings.HasSuffix(l, "/"+n)
		}
		if !found {
			return false
		}
	}
	return true
}

// udpEcho serves at addr, in the namespace do enters, until the test ends:
// it answers each datagram with "<source> <payload>".
func udpEcho(t *testing.T, do func(func() error) error, addr netip.AddrPort) {
	t.Helper()
	var c *net.UDPConn
	if err := do(func() (err error) {
		c, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(addr))
		return err
	}); err != nil {
		t.Fatalf("listen at %v: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := c.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			_, _ = c.WriteToUDPAddrPort(append([]byte(from.String()+" "), buf[:n]...), from)
		}
	}()
}

// udpExchange sends one datagram from the namespace do enters to the echo
// server at dst and checks the answer: the server saw the source src.
func udpExchange(do func(func() error) error, src, dst netip.Addr) error {
	var c *net.UDPConn
	if err := do(func() (err error) {
		c, err = net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(dst, segmentEchoPort)))
		return err
	}); err != nil {
		return err
	}
	defer c.Close()
	msg := fmt.Sprintf("hello %v from %v", dst, src)
	if _, err := c.Write([]byte(msg)); err != nil {
		return err
	}
	if err := c.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		return err
	}
	buf := make([]byte, 2048)
	n, err := c.Read(buf)
	if err != nil {
		return fmt.Errorf("no answer: %w", err)
	}
	want := fmt.Sprintf("%v %s", c.LocalAddr().(*net.UDPAddr).AddrPort(), msg)
	if got := string(buf[:n]); got != want || c.LocalAddr().(*net.UDPAddr).AddrPort().Addr() != src {
		return fmt.Errorf("answer %q, want %q from source address %v", got, want, src)
	}
	return nil
}

// recvUDP waits for a UDP frame to port with payload on pc.
func recvUDP(pc *PacketConn, port uint16, payload []byte) ([]byte, error) {
	buf := make([]byte, 2048)
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		n, _, err := pc.Recv(buf, time.Until(deadline))
		if err != nil {
			return nil, fmt.Errorf("no frame: %w", err)
		}
		if f, ok := parseUDPFrame(buf[:n]); ok && f.dstPort == port && bytes.Equal(f.payload, payload) {
			return buf[:n], nil
		}
	}
	return nil, errors.New("the datagram never arrived")
}

// udpChecksumKind says whether the UDP checksum of an Ethernet/IPv4/UDP frame
// is final ("full"), or holds only the folded pseudo-header sum ("partial",
// what a kernel with transmit checksum offload hands a veth peer).
func udpChecksumKind(frame []byte) string {
	ip := frame[14:]
	ihl := int(ip[0]&0x0f) * 4
	udp := ip[ihl:int(binary.BigEndian.Uint16(ip[2:]))]
	sum := func(b []byte) uint32 {
		var s uint32
		for i := 0; i+1 < len(b); i += 2 {
			s += uint32(binary.BigEndian.Uint16(b[i:]))
		}
		if len(b)%2 == 1 {
			s += uint32(b[len(b)-1]) << 8
		}
		return s
	}
	fold := func(s uint32) uint16 {
		for s > 0xffff {
			s = s>>16 + s&0xffff
		}
		return uint16(s)
	}
	pseudo := sum(ip[12:20]) + 17 + uint32(len(udp))
	field := binary.BigEndian.Uint16(udp[6:])
	switch {
	case fold(pseudo+sum(udp)) == 0xffff:
		return "full"
	case field == fold(pseudo):
		return "partial"
	}
	return fmt.Sprintf("neither (0x%04x)", field)
}
