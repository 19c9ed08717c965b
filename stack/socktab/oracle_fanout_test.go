package socktab

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xdpengine/engine/flowtable"
	"github.com/xdpengine/engine/internal/testbed"
)

// fanoutBindScenarios join bindScenarios: binds to broadcast and multicast
// addresses.
var fanoutBindScenarios = []scenario{
	{"udp6 v4-mapped 255.255.255.255", false, []sockSpec{U6("mW", "")}},
	{"udp6 v4-mapped multicast", false, []sockSpec{U6("mM", "")}},
	{"udp6 v4-mapped multicast on a v6only socket", false, []sockSpec{U6("mM", "o")}},
	// TCP may bind and listen on them too (Linux drops a SYN to them later,
	// in tcp_v4_conn_request).
	{"tcp listen on 255.255.255.255", false, []sockSpec{TL("W", "")}},
	{"tcp listen on a subnet broadcast address", false, []sockSpec{TL("C", "")}},
	{"tcp listen on a multicast address", false, []sockSpec{TL("M", "")}},
	{"udp 255.255.255.255 and the wildcard", false, []sockSpec{U("W", ""), U("0", "")}},
	{"udp multicast, then the same group", false, []sockSpec{U("M", ""), U("M", "")}},
	{"udp multicast and the subnet broadcast", false, []sockSpec{U("M", ""), U("C", "")}},
}

// fanoutScripts set up sockets on port base (script syntax, see script);
// the host kernel then sends one datagram from H:base+9 to each of
// fanoutDests on port base, and every socket that receives it on the peer
// kernel must be one LookupAll returns, and the other way round.
var fanoutScripts = []script{
	{"every kind of socket (15 on the port: the kernel's address-hash path)", []string{
		"0-14=U r", "0 bind 0 +0", "1 bind A +0", "2 bind W +0", "3 bind C +0", "4 bind M +0", "13 bind B +0",
		"5=U6 r", "5 bind :: +0", "6=U6 ro", "6 bind :: +0", "7=U6 r", "7 bind m0 +0", "8=U6 r", "8 bind mC +0",
		"9=U6 r", "9 bind mM +0", "14=U6 r", "14 bind mW +0",
		"10 bind 0 +0", "10 connect H", // connected from a wildcard bind: its address became A
		"11 bind W +0", "11 connect H", // bound to 255.255.255.255, connected to the sender
		"12 bind W +0", "12 connect H2", // connected to another port of the sender
	}},
	{"a few sockets (the kernel's port-hash path)", []string{
		"0-2=U r", "0 bind 0 +0", "1 bind W +0", "2 bind M +0"}},
	{"SO_REUSEPORT group on the wildcard", []string{"0-2=U p", "0-2 bind 0 +0"}},
	{"SO_REUSEPORT groups on broadcast and multicast addresses", []string{
		"0-5=U p", "0-1 bind W +0", "2-3 bind C +0", "4-5 bind M +0", "6=U6 p", "6 bind :: +0"}},
	{"SO_REUSEPORT group and SO_REUSEADDR sockets", []string{"0-2=U rp", "3=U r", "0-3 bind 0 +0"}},
	{"dual-stack :: alone", []string{"0=U6 -", "0 bind :: +0"}},
	{"v6only :: alone", []string{"0=U6 o", "0 bind :: +0"}},
	{"connected sockets on a multicast address", []string{
		"0-1=U r", "0-1 bind M +0", "0 connect H", "1 connect H2"}},
	{"IP_MULTICAST_ALL: on by default for IPv4 sockets only", []string{
		"0-1=U6 r", "2=U6 ra", "3=U r", "4=U rk", "5=U6 ra", "0 bind :: +0", "1 bind m0 +0", "2 bind :: +0",
		"3-4 bind 0 +0", "5 bind mM +0"}},
	{"nothing on the port", nil},
}

// fanoutDests are the destinations sent to: the limited broadcast, the
// subnet broadcast, the group some sockets bind, and another group the
// peer joined.
var fanoutDests = []string{"W", "C", "M", "M2"}

// TestFanoutAgainstKernel compares LookupAll with the sockets the peer
// kernel delivers broadcasts and multicasts to. The peer joined both
// groups on its link through a socket on another port; the sockets of the
// scripts joined nothing, so for a group the kernel's per-socket filter
// (ip_mc_sf_allow) leaves the sockets with IP_MULTICAST_ALL set, which
// Linux sets by default on IPv4 sockets and not on IPv6 ones
// (inet6_create leaves it clear). The engine applies that filter outside
// the table (LookupAll's doc), so the test applies it to LookupAll's
// result through mcAll.
func TestFanoutAgainstKernel(t *testing.T) {
	testbed.RequirePrivileged(t)
	bed, x := newOracleBed(t, true)
	warmUp(t, bed, x)
	m2 := netip.MustParseAddr("239.1.2.4")
	resolve := func(tok string) netip.Addr {
		if tok == "M2" {
			return m2
		}
		return x.resolve(tok)
	}
	var joiner int
	err := bed.Do(func() error {
		var err error
		if joiner, err = unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0); err != nil {
			return err
		}
		if err := unix.Bind(joiner, &unix.SockaddrInet4{Port: 29998}); err != nil {
			return err
		}
		for _, g := range []netip.Addr{x.m, m2} {
			mr := &unix.IPMreqn{Multiaddr: g.As4(), Ifindex: int32(bed.PeerIndex)}
			if err := unix.SetsockoptIPMreqn(joiner, unix.IPPROTO_IP, unix.IP_ADD_MEMBERSHIP, mr); err != nil {
				return fmt.Errorf("join %v: %w", g, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("peer joiner: %v", err)
	}
	defer unix.Close(joiner)

	for i, sc := range fanoutScripts {
		t.Run(sc.name, func(t *testing.T) {
			base := 33000 + 10*i
			var k *kernelSide
			err := bed.Do(func() error {
				k = newKernelSide(x)
				_, err := runScript(k, sc.steps, x, base)
				return err
			})
			if k != nil {
				defer bed.Do(func() error { k.cleanup(); return nil })
			}
			if err != nil {
				t.Fatalf("kernel: %v", err)
			}
			e := newEngineSide(t, x, bed.Prefix)
			if _, err := runScript(e, sc.steps, x, base); err != nil {
				t.Fatalf("engine: %v", err)
			}

			got := kernelFanout(t, bed, k, base, fanoutDests, resolve)
			src := netip.AddrPortFrom(x.h, uint16(base+9))
			for _, d := range fanoutDests {
				key := flowtable.KeyFrom(src, netip.AddrPortFrom(resolve(d), uint16(base)), uint8(UDP))
				socks, ok := e.tab.LookupAll(&key, nil)
				if !ok {
					t.Errorf("%s: LookupAll does not take %v as a broadcast or multicast", d, key)
				}
				var want []int
				for _, s := range socks {
					i := s.Endpoint().(int)
					if resolve(d).IsMulticast() && !mcAll(e.v6[i], e.opts[i]) {
						continue
					}
					want = append(want, i)
				}
				slices.Sort(want)
				if fmt.Sprint(want) != fmt.Sprint(got[d]) {
					t.Errorf("to %s (%v): engine delivers to %v, kernel to %v", d, resolve(d), want, got[d])
				} else {
					t.Logf("to %s: engine and kernel deliver to %v", d, want)
				}
			}
		})
	}
}

// kernelFanout sends one datagram from the host kernel (H:base+9, out of
// the bed's link) to each destination on port base and returns, per
// destination, the sorted indexes of k's sockets that received it.
func kernelFanout(t *testing.T, bed *testbed.Bed, k *kernelSide, base int, dests []string, resolve func(string) netip.Addr) map[string][]int {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	for _, o := range []func() error{
		func() error { return unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_BROADCAST, 1) },
		func() error { return unix.BindToDevice(fd, bed.HostIf) }, // 255.255.255.255 leaves by the bed's link only
		func() error {
			return unix.SetsockoptIPMreqn(fd, unix.IPPROTO_IP, unix.IP_MULTICAST_IF, &unix.IPMreqn{Ifindex: int32(bed.HostIndex)})
		},
		func() error { return unix.Bind(fd, &unix.SockaddrInet4{Port: base + 9, Addr: bed.HostAddr.As4()}) },
	} {
		if err := o(); err != nil {
			t.Fatalf("sender: %v", err)
		}
	}
	for _, d := range dests {
		if err := unix.Sendto(fd, []byte(d), 0, &unix.SockaddrInet4{Port: base, Addr: resolve(d).As4()}); err != nil {
			t.Fatalf("send to %s: %v", d, err)
		}
	}
	got := map[string][]int{}
	buf := make([]byte, 64)
	// A datagram crosses the veth in microseconds; half a second is ample
	// for every copy to be queued.
	time.Sleep(500 * time.Millisecond)
	for i, s := range k.fd {
		for {
			n, _, err := unix.Recvfrom(s, buf, unix.MSG_DONTWAIT)
			if err != nil {
				break
			}
			d := strings.TrimSpace(string(buf[:n]))
			got[d] = append(got[d], i)
		}
	}
	for _, v := range got {
		slices.Sort(v)
	}
	return got
}

// mcAll is the model of the per-socket filter for a socket that joined no
// group: IP_MULTICAST_ALL, on by default for IPv4 sockets only.
func mcAll(v6 bool, opts string) bool {
	return strings.Contains(opts, "a") || !v6 && !strings.Contains(opts, "k")
}
