package testbed

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

const netnsDir = "/var/run/netns"

// benchRange is RFC 2544's benchmarking range; beds take one /24 of it.
var benchRange = netip.MustParsePrefix("198.18.0.0/15")

// pickSubnet chooses a /24 of the benchmarking range that no address or route
// in the caller's namespace uses yet, starting at a per-process offset so
// concurrent test binaries rarely look at the same candidates.
func pickSubnet() (netip.Prefix, error) {
	used := map[netip.Prefix]bool{}
	addrs, err := netlink.AddrList(nil, netlink.FAMILY_V4)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("testbed: list addresses: %w", err)
	}
	for _, a := range addrs {
		if ip, ok := netip.AddrFromSlice(a.IP.To4()); ok && benchRange.Contains(ip) {
			used[netip.PrefixFrom(ip, 24).Masked()] = true
		}
	}
	routes, err := netlink.RouteList(nil, netlink.FAMILY_V4)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("testbed: list routes: %w", err)
	}
	for _, r := range routes {
		if r.Dst == nil {
			continue
		}
		if ip, ok := netip.AddrFromSlice(r.Dst.IP.To4()); ok && benchRange.Contains(ip) {
			used[netip.PrefixFrom(ip, 24).Masked()] = true
		}
	}
	const subnets = 512 // /24s in a /15
	start := (os.Getpid()*37 + int(counter.Load())*11) % subnets
	for i := range subnets {
		idx := (start + i) % subnets
		p := netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 18 + byte(idx/256), byte(idx % 256), 0}), 24)
		if !used[p] {
			return p, nil
		}
	}
	return netip.Prefix{}, errors.New("testbed: every /24 of 198.18.0.0/15 is in use")
}

// lockBeds serialises bed creation among processes on this machine, so that
// two test binaries never pick the same subnet or sweep a half-built bed.
func lockBeds() (unlock func(), err error) {
	f, err := os.OpenFile("/run/"+namePrefix+"-testbed.lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("testbed: lock file: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("testbed: lock: %w", err)
	}
	return func() { f.Close() }, nil
}

func alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// Sweep removes beds left behind by processes that no longer run (killed by
// a signal or a test timeout before their cleanup ran). Beds of live
// processes are never touched.
func Sweep() {
	for _, name := range namespaces() {
		if pid := ownedBy(name); pid != 0 && !alive(pid) {
			_ = netns.DeleteNamed(name) // the veth inside goes with it
		}
	}
	links, _ := netlink.LinkList()
	for _, l := range links {
		if pid := ownedBy(l.Attrs().Name); pid != 0 && !alive(pid) {
			_ = netlink.LinkDel(l)
		}
	}
}

func namespaces() []string {
	ents, err := os.ReadDir(netnsDir)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), namePrefix) {
			out = append(out, e.Name())
		}
	}
	return out
}

// Leftovers lists what beds of process pid (0: of any process) left behind:
// namespaces, links, and XDP programs still attached to a bed link.
func Leftovers(pid int) []string {
	match := func(name string) bool {
		owner := ownedBy(name)
		return owner != 0 && (pid == 0 || owner == pid)
	}
	var out []string
	for _, name := range namespaces() {
		if match(name) {
			out = append(out, "namespace "+filepath.Join(netnsDir, name))
		}
	}
	links, _ := netlink.LinkList()
	for _, l := range links {
		a := l.Attrs()
		if !match(a.Name) {
			continue
		}
		what := "link " + a.Name
		if a.Xdp != nil && a.Xdp.Attached {
			what += fmt.Sprintf(" with XDP program id %d", a.Xdp.ProgId)
		}
		out = append(out, what)
	}
	sort.Strings(out)
	return out
}
