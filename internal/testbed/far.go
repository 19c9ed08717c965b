package testbed

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"syscall"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Far is a host one router away from the engine: the bed's peer namespace
// forwards between the bed's link and a second veth link to Far's own
// namespace. The engine reaches it through the peer (Config.Gateway =
// Bed.PeerAddr).
//
//	engine --(bed link)-- peer namespace: router --(far link)-- Far
//
// With PathMTU set, the router forwards at most that many bytes in either
// direction (a route MTU on each of its two routes), as if the path had a
// narrow link between two routers: both ends keep 1500-byte links and
// advertise MSS 1460, and a DF packet that does not fit is answered with
// ICMP fragmentation needed, the path MTU discovery case. (A narrow link
// at either end would not need discovery: the MSS would say it.)
type Far struct {
	Addr       netip.Addr   // the far host
	RouterAddr netip.Addr   // the router's address on the far link
	Prefix     netip.Prefix // the far link's /24
	NetnsName  string
	// With FarConfig.IPv6: the far link's /64 (the bed's with its fifth
	// and sixth bytes 0x0001: 2001:2:1:N::/64), the far host's ::2 and
	// the router's ::1. The engine reaches it through Bed.PeerAddr6
	// (Config.Gateway6).
	Addr6, RouterAddr6 netip.Addr
	Prefix6            netip.Prefix

	ns netns.NsHandle
}

// FarConfig describes a Far host.
type FarConfig struct {
	// PathMTU is the most the router forwards (0: the links' 1500); over
	// IPv6 too (a locked route MTU: Linux forwards IPv6 within the
	// device's MTU otherwise), where a packet that does not fit is
	// answered with ICMPv6 Packet Too Big.
	PathMTU int
	// IPv6 routes IPv6 too (the bed needs Config.IPv6): the router
	// forwards between the bed's /64 and the far link's (Far.Prefix6).
	IPv6 bool
}

// AddFar creates a host one router away; Bed.Close removes it. Its /24 is
// the bed's with the second octet flipped (198.18.N.0 <-> 198.19.N.0), an
// address that exists only in the bed's namespaces.
func (b *Bed) AddFar(cfg FarConfig) (_ *Far, err error) {
	if b.closed.Load() {
		return nil, errors.New("testbed: bed is closed")
	}
	a := b.Prefix.Addr().As4()
	a[1] ^= 1
	f := &Far{Prefix: netip.PrefixFrom(netip.AddrFrom4(a), 24), NetnsName: fmt.Sprintf("%sf%d", b.NetnsName, len(b.far)), ns: -1}
	a[3] = 1
	f.RouterAddr = netip.AddrFrom4(a)
	a[3] = 2
	f.Addr = netip.AddrFrom4(a)
	if cfg.IPv6 {
		if !b.Prefix6.IsValid() {
			return nil, errors.New("testbed: an IPv6 far host needs an IPv6 bed (Config.IPv6)")
		}
		a6 := b.Prefix6.Addr().As16()
		a6[5] = 1
		f.Prefix6 = netip.PrefixFrom(netip.AddrFrom16(a6), 64)
		a6[15] = 1
		f.RouterAddr6 = netip.AddrFrom16(a6)
		a6[15] = 2
		f.Addr6 = netip.AddrFrom16(a6)
	}
	if f.ns, err = newNamedNetns(f.NetnsName); err != nil {
		return nil, fmt.Errorf("testbed: create namespace %s: %w", f.NetnsName, err)
	}
	b.far = append(b.far, f)
	const routerIf, farIf = "xebr", "xebf"
	peerIf, _ := b.peerStackLink()
	err = b.Do(func() error {
		if err := netlink.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: routerIf, MTU: 1500},
			PeerName: farIf, PeerMTU: 1500, PeerNamespace: netlink.NsFd(f.ns)}); err != nil {
			return fmt.Errorf("add far link: %w", err)
		}
		if err := os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1"), 0o644); err != nil {
			return err
		}
		if err := f.linkUp(routerIf, f.RouterAddr, f.RouterAddr6); err != nil {
			return err
		}
		if cfg.IPv6 {
			if err := os.WriteFile("/proc/sys/net/ipv6/conf/all/forwarding", []byte("1"), 0o644); err != nil {
				return err
			}
		}
		if cfg.PathMTU > 0 {
			if err := narrowRoutes(cfg.PathMTU, map[string]netip.Prefix{routerIf: f.Prefix, peerIf: b.Prefix}); err != nil {
				return err
			}
			if cfg.IPv6 {
				return narrowRoutes(cfg.PathMTU, map[string]netip.Prefix{routerIf: f.Prefix6, peerIf: b.Prefix6})
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("testbed: far host, router side: %w", err)
	}
	err = inNetns(f.ns, func() error {
		lo, err := netlink.LinkByName("lo")
		if err == nil {
			err = netlink.LinkSetUp(lo)
		}
		if err != nil {
			return err
		}
		if err := f.linkUp(farIf, f.Addr, f.Addr6); err != nil {
			return err
		}
		link, err := netlink.LinkByName(farIf)
		if err != nil {
			return err
		}
		if f.Addr6.IsValid() {
			if err := netlink.RouteAdd(&netlink.Route{LinkIndex: link.Attrs().Index, Gw: f.RouterAddr6.AsSlice()}); err != nil {
				return err
			}
		}
		return netlink.RouteAdd(&netlink.Route{LinkIndex: link.Attrs().Index, Gw: f.RouterAddr.AsSlice()})
	})
	if err != nil {
		return nil, fmt.Errorf("testbed: far host: %w", err)
	}
	return f, nil
}

// linkUp gives the far link's end name its IPv4 address (a /24) and, when
// a6 is valid, its IPv6 one (a /64, without DAD; else IPv6 is off on
// it), and sets it up. In the calling thread's namespace.
func (f *Far) linkUp(name string, a, a6 netip.Addr) error {
	if !a6.IsValid() {
		if err := disableIPv6(name); err != nil {
			return err
		}
	}
	link, err := netlink.LinkByName(name)
	if err != nil {
		return err
	}
	if err := netlink.AddrAdd(link, &netlink.Addr{IPNet: ipNet(a, 24)}); err != nil {
		return err
	}
	if a6.IsValid() {
		if err := netlink.AddrAdd(link, &netlink.Addr{IPNet: &net.IPNet{IP: a6.AsSlice(), Mask: net.CIDRMask(64, 128)}, Flags: unix.IFA_F_NODAD}); err != nil {
			return err
		}
	}
	return netlink.LinkSetUp(link)
}

// narrowRoutes sets the MTU of the connected route of each link's prefix
// (in the calling thread's namespace: the locked thread forks ip(8)); an
// IPv6 route's MTU is locked, which Linux needs to forward within it.
func narrowRoutes(mtu int, links map[string]netip.Prefix) error {
	for name, p := range links {
		args := []string{"route", "change", p.Masked().String(), "dev", name,
			"proto", "kernel", "scope", "link", "mtu", strconv.Itoa(mtu)}
		if p.Addr().Is6() {
			args = []string{"-6", "route", "replace", p.Masked().String(), "dev", name,
				"proto", "kernel", "metric", "256", "mtu", "lock", strconv.Itoa(mtu)}
		}
		out, err := exec.Command("ip", args...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("route %s mtu %d: %v: %s", p, mtu, err, out)
		}
	}
	return nil
}

// Do runs fn on a thread inside the far host's namespace.
func (f *Far) Do(fn func() error) error { return inNetns(f.ns, fn) }

func (f *Far) close() error {
	if f.ns >= 0 {
		f.ns.Close()
	}
	if err := netns.DeleteNamed(f.NetnsName); err != nil && !errors.Is(err, os.ErrNotExist) &&
		!errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOENT) {
		return fmt.Errorf("testbed: delete namespace %s: %w", f.NetnsName, err)
	}
	return nil
}
