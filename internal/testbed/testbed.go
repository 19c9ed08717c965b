package testbed

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// Config describes a bed. The zero value is a usable default: one queue,
// MTU 1500, no kernel address on the engine side.
type Config struct {
	// Queues is the number of rx and tx queues of each veth end (default 1).
	Queues int
	// MTU of both ends (default 1500).
	MTU int
	// HostKernelAddr gives the caller's kernel the address .3 of the bed's
	// subnet on HostIf, for comparisons with the kernel's own stack. The
	// engine's address (.1) is never given to a kernel.
	HostKernelAddr bool
	// FullChecksums turns transmit checksum offload off on both ends, so
	// the kernels finish every UDP and TCP checksum as on a wire. Only for
	// tests about full checksums: by default the ends keep the kernel's
	// default offloads, which users' containers and namespaces have, and a
	// Linux peer then sends partial checksums (CHECKSUM_PARTIAL).
	FullChecksums bool
	// IPv6 keeps IPv6 on in the peer namespace and gives the bed a /64 of
	// 2001:2::/48 (ipv6.go): Prefix6, EngineAddr6 (::1, for the engine)
	// and PeerAddr6 (::2, the peer kernel's, without DAD). Off by default:
	// neighbor discovery is noise in the IPv4 tests.
	IPv6 bool
	// PeerEhashEntries gives the peer namespace a TCP established hash
	// table of its own with this many buckets (a power of two up to 16M;
	// net.ipv4.tcp_child_ehash_entries), for tests that hold a million
	// connections in the peer kernel, as a server sized for them would be.
	// By default a namespace shares the host's table, sized at boot
	// (262,144 buckets on a 24 GiB machine): a million sockets make its
	// chains four long, and every lookup of the peer's, the tests'
	// measurements included, walks them. The kernel sizes more from it:
	// tcp_max_tw_buckets (half) and tcp_max_syn_backlog (1/128, at least
	// 128). Needs Linux 6.1 (Create's error then wraps os.ErrNotExist).
	// 0: the host's table.
	PeerEhashEntries int
}

// Bed is one veth pair with its peer namespace. Its fields are read-only.
type Bed struct {
	// HostIf is the engine-side link, in the caller's namespace.
	HostIf     string
	HostIndex  int
	HostMAC    net.HardwareAddr
	PeerIf     string
	PeerIndex  int
	PeerMAC    net.HardwareAddr
	NetnsName  string
	Prefix     netip.Prefix // the bed's /24
	EngineAddr netip.Addr   // .1: for the engine, never given to a kernel
	PeerAddr   netip.Addr   // .2: the peer kernel
	HostAddr   netip.Addr   // .3: the caller's kernel, if Config.HostKernelAddr
	// With Config.IPv6: the bed's /64 (2001:2:0:N::/64, N from the /24),
	// the engine's ::1 and the peer kernel's ::2; else invalid.
	Prefix6                netip.Prefix
	EngineAddr6, PeerAddr6 netip.Addr
	Queues, MTU            int

	peerNS netns.NsHandle
	far    []*Far  // hosts behind the peer (AddFar)
	seg    segment // hosts on the peer's bridge (AddSegmentHosts)
	closed atomic.Bool
}

// namePrefix starts every link and namespace name the beds make.
const namePrefix = "xeb"

var counter atomic.Uint32

// Create builds a bed. The caller must Close it; on error nothing is left.
func Create(cfg Config) (_ *Bed, err error) {
	if err := checkPrivileges(); err != nil {
		return nil, err
	}
	if cfg.Queues <= 0 {
		cfg.Queues = 1
	}
	if cfg.MTU <= 0 {
		cfg.MTU = 1500
	}
	unlock, err := lockBeds()
	if err != nil {
		return nil, err
	}
	defer unlock()
	Sweep() // beds of processes that died without cleaning up

	pid := os.Getpid()
	n := counter.Add(1)
	b := &Bed{
		HostIf:    fmt.Sprintf("%s%dh%d", namePrefix, pid, n),
		PeerIf:    fmt.Sprintf("%s%dp%d", namePrefix, pid, n),
		NetnsName: fmt.Sprintf("%s-%d-%d", namePrefix, pid, n),
		Queues:    cfg.Queues,
		MTU:       cfg.MTU,
		peerNS:    -1,
	}
	defer func() {
		if err != nil {
			b.Close()
		}
	}()

	if b.Prefix, err = pickSubnet(); err != nil {
		return nil, err
	}
	base := b.Prefix.Addr().As4()
	base[3] = 1
	b.EngineAddr = netip.AddrFrom4(base)
	base[3] = 2
	b.PeerAddr = netip.AddrFrom4(base)
	if cfg.HostKernelAddr {
		base[3] = 3
		b.HostAddr = netip.AddrFrom4(base)
	}
	if cfg.IPv6 {
		b.setAddrs6()
	}

	if b.peerNS, err = newNamedNetnsEhash(b.NetnsName, cfg.PeerEhashEntries); err != nil {
		return nil, fmt.Errorf("testbed: create namespace %s: %w", b.NetnsName, err)
	}
	veth := &netlink.Veth{
		LinkAttrs: netlink.LinkAttrs{
			Name:        b.HostIf,
			MTU:         cfg.MTU,
			NumTxQueues: cfg.Queues,
			NumRxQueues: cfg.Queues,
		},
		PeerName:        b.PeerIf,
		PeerNamespace:   netlink.NsFd(b.peerNS),
		PeerNumTxQueues: uint32(cfg.Queues),
		PeerNumRxQueues: uint32(cfg.Queues),
		PeerMTU:         uint32(cfg.MTU),
	}
	if err := netlink.LinkAdd(veth); err != nil {
		return nil, fmt.Errorf("testbed: add veth %s/%s: %w", b.HostIf, b.PeerIf, err)
	}
	if err := b.setupHost(cfg); err != nil {
		return nil, err
	}
	if err := b.Do(func() error { return b.setupPeer(cfg.FullChecksums, cfg.IPv6) }); err != nil {
		return nil, err
	}
	// The kernel attaches a link's real qdisc only when its link watcher sees
	// the carrier, up to a second after "up"; until then frames sent on the
	// link are dropped silently. A bed is ready when both ends are oper-up.
	if err := b.waitOperUp(5 * time.Second); err != nil {
		return nil, err
	}
	return b, nil
}

func (b *Bed) waitOperUp(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	up := func(name string) (bool, error) {
		l, err := netlink.LinkByName(name)
		if err != nil {
			return false, err
		}
		return l.Attrs().OperState == netlink.OperUp, nil
	}
	for {
		hostUp, err := up(b.HostIf)
		if err != nil {
			return fmt.Errorf("testbed: %s: %w", b.HostIf, err)
		}
		var peerUp bool
		if err := b.Do(func() (err error) { peerUp, err = up(b.PeerIf); return err }); err != nil {
			return fmt.Errorf("testbed: %s: %w", b.PeerIf, err)
		}
		if hostUp && peerUp {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("testbed: %s/%s not operationally up after %v", b.HostIf, b.PeerIf, timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (b *Bed) setupHost(cfg Config) error {
	if err := disableIPv6(b.HostIf); err != nil {
		return err
	}
	if cfg.FullChecksums {
		if err := disableTxChecksum(b.HostIf); err != nil {
			return err
		}
	}
	link, err := netlink.LinkByName(b.HostIf)
	if err != nil {
		return fmt.Errorf("testbed: %s: %w", b.HostIf, err)
	}
	b.HostIndex = link.Attrs().Index
	b.HostMAC = link.Attrs().HardwareAddr
	if cfg.HostKernelAddr {
		addr := &netlink.Addr{IPNet: ipNet(b.HostAddr, b.Prefix.Bits())}
		if err := netlink.AddrAdd(link, addr); err != nil {
			return fmt.Errorf("testbed: address %s on %s: %w", b.HostAddr, b.HostIf, err)
		}
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return fmt.Errorf("testbed: up %s: %w", b.HostIf, err)
	}
	return nil
}

// setupPeer runs inside the peer namespace.
func (b *Bed) setupPeer(full, ipv6 bool) error {
	lo, err := netlink.LinkByName("lo")
	if err == nil {
		err = netlink.LinkSetUp(lo)
	}
	if err != nil {
		return fmt.Errorf("testbed: peer lo: %w", err)
	}
	if !ipv6 {
		if err := disableIPv6(b.PeerIf); err != nil {
			return err
		}
	}
	if full {
		if err := disableTxChecksum(b.PeerIf); err != nil {
			return err
		}
	}
	link, err := netlink.LinkByName(b.PeerIf)
	if err != nil {
		return fmt.Errorf("testbed: %s: %w", b.PeerIf, err)
	}
	b.PeerIndex = link.Attrs().Index
	b.PeerMAC = link.Attrs().HardwareAddr
	addr := &netlink.Addr{IPNet: ipNet(b.PeerAddr, b.Prefix.Bits())}
	if err := netlink.AddrAdd(link, addr); err != nil {
		return fmt.Errorf("testbed: address %s on %s: %w", b.PeerAddr, b.PeerIf, err)
	}
	if ipv6 {
		if err := b.addPeerAddr6(link); err != nil {
			return err
		}
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return fmt.Errorf("testbed: up %s: %w", b.PeerIf, err)
	}
	return nil
}

// SetPeerNeighbor installs a permanent ARP entry in the peer namespace, so
// the peer kernel can send to addr before anything answers ARP for it.
func (b *Bed) SetPeerNeighbor(addr netip.Addr, mac net.HardwareAddr) error {
	ifname, index := b.peerStackLink()
	return b.Do(func() error {
		err := netlink.NeighSet(&netlink.Neigh{
			LinkIndex:    index,
			State:        netlink.NUD_PERMANENT,
			IP:           net.IP(addr.AsSlice()),
			HardwareAddr: mac,
		})
		if err != nil {
			return fmt.Errorf("testbed: neighbor %s on %s: %w", addr, ifname, err)
		}
		return nil
	})
}

// Do runs fn on an OS thread that has entered the peer namespace. Sockets
// opened by fn belong to the peer's kernel stack for their whole life, and
// may be used afterwards from any goroutine. fn must not start goroutines
// that expect to stay in the peer namespace.
func (b *Bed) Do(fn func() error) error {
	if b.closed.Load() {
		return errors.New("testbed: bed is closed")
	}
	return inNetns(b.peerNS, fn)
}

// inNetns runs fn on a locked thread switched into ns. The thread goes back
// to its namespace afterwards; if that fails, the thread is left locked so
// the runtime destroys it instead of reusing a thread in the wrong namespace.
func inNetns(ns netns.NsHandle, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			errc <- fmt.Errorf("testbed: current namespace: %w", err)
			return // thread stays locked and dies with the goroutine
		}
		defer orig.Close()
		if err := netns.Set(ns); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("testbed: enter namespace: %w", err)
			return
		}
		var ferr error
		func() {
			defer func() {
				if r := recover(); r != nil {
					ferr = fmt.Errorf("testbed: panic in namespace: %v", r)
				}
			}()
			ferr = fn()
		}()
		if err := netns.Set(orig); err == nil {
			runtime.UnlockOSThread()
		}
		errc <- ferr
	}()
	return <-errc
}

// newNamedNetns creates a named namespace (visible to `ip netns`) without
// moving any of the caller's threads into it for good.
func newNamedNetns(name string) (netns.NsHandle, error) {
	return newNamedNetnsEhash(name, 0)
}

// newNamedNetnsEhash is newNamedNetns with, when ehash > 0, a TCP
// established hash table of ehash buckets of the namespace's own. The
// kernel sizes a new namespace's table from tcp_child_ehash_entries of the
// namespace its creator is in: the thread first enters a namespace of its
// own, short-lived, sets that there and creates the named one from it, so
// the host's setting is never touched.
func newNamedNetnsEhash(name string, ehash int) (netns.NsHandle, error) {
	if ehash < 0 || ehash&(ehash-1) != 0 || ehash > 1<<24 {
		return -1, fmt.Errorf("testbed: %d established hash buckets: want a power of two up to %d", ehash, 1<<24)
	}
	type result struct {
		h   netns.NsHandle
		err error
	}
	c := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			c <- result{-1, err}
			return
		}
		defer orig.Close()
		if ehash > 0 {
			if err := enterEhashParent(ehash); err != nil {
				if serr := netns.Set(orig); serr == nil {
					runtime.UnlockOSThread()
				}
				c <- result{-1, err}
				return
			}
		}
		h, err := netns.NewNamed(name)
		if serr := netns.Set(orig); serr == nil {
			runtime.UnlockOSThread()
		}
		c <- result{h, err}
	}()
	r := <-c
	return r.h, r.err
}

// enterEhashParent moves the calling (locked) thread into a new unnamed
// namespace whose tcp_child_ehash_entries is ehash: the namespaces it
// creates get tables of that size. The namespace goes when the thread
// leaves it.
func enterEhashParent(ehash int) error {
	tmp, err := netns.New()
	if err != nil {
		return fmt.Errorf("namespace for the established hash size: %w", err)
	}
	tmp.Close()
	// /proc/sys/net is the opening thread's namespace's.
	if err := os.WriteFile("/proc/sys/net/ipv4/tcp_child_ehash_entries", []byte(strconv.Itoa(ehash)), 0); err != nil {
		return fmt.Errorf("tcp_child_ehash_entries %d (Linux 6.1 or newer): %w", ehash, err)
	}
	return nil
}

// Close deletes the veth pair and the namespace. It is safe to call twice.
func (b *Bed) Close() error {
	if b.closed.Swap(true) {
		return nil
	}
	errs := b.closeSegment()
	for _, f := range b.far {
		errs = append(errs, f.close())
	}
	if link, err := netlink.LinkByName(b.HostIf); err == nil {
		if err := netlink.LinkDel(link); err != nil {
			errs = append(errs, fmt.Errorf("testbed: delete %s: %w", b.HostIf, err))
		}
	}
	if b.peerNS >= 0 {
		b.peerNS.Close()
	}
	if err := netns.DeleteNamed(b.NetnsName); err != nil && !errors.Is(err, os.ErrNotExist) &&
		!errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOENT) {
		errs = append(errs, fmt.Errorf("testbed: delete namespace %s: %w", b.NetnsName, err))
	}
	return errors.Join(errs...)
}

func disableIPv6(ifname string) error {
	p := "/proc/sys/net/ipv6/conf/" + ifname + "/disable_ipv6"
	if _, err := os.Stat(p); errors.Is(err, os.ErrNotExist) {
		return nil // kernel without IPv6
	}
	if err := os.WriteFile(p, []byte("1"), 0o644); err != nil {
		return fmt.Errorf("testbed: disable IPv6 on %s: %w", ifname, err)
	}
	return nil
}

func ipNet(a netip.Addr, bits int) *net.IPNet {
	return &net.IPNet{IP: net.IP(a.AsSlice()), Mask: net.CIDRMask(bits, 32)}
}

// ownedBy reports the pid encoded in a bed link or namespace name, or 0.
func ownedBy(name string) int {
	rest, ok := strings.CutPrefix(name, namePrefix)
	if !ok {
		return 0
	}
	rest = strings.TrimPrefix(rest, "-")
	pid := 0
	for _, c := range rest {
		if c < '0' || c > '9' {
			break
		}
		pid = pid*10 + int(c-'0')
	}
	return pid
}
