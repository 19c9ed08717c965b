package testbed

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// SegmentBridge is the name, inside the peer namespace, of the bridge that
// AddSegmentHosts makes; the peer's address (Bed.PeerAddr) lives on it.
const SegmentBridge = "br0"

// First and last host numbers (the last byte of the address) of segment hosts.
const (
	firstSegmentHost = 11
	lastSegmentHost  = 254
)

// segmentHostIf is the name of a segment host's link inside its own namespace.
const segmentHostIf = "xebseg"

// SegmentHost is a kernel host on the bed's link segment: a namespace of its
// own whose link is a port of the bridge in the peer namespace, so it shares
// one Ethernet segment (one broadcast domain, one /24) with the engine's
// HostIf and with the peer (Bed.PeerAddr). Its fields are read-only.
//
//	engine HostIf --- PeerIf -+- br0 (peer stack, PeerAddr .2)
//	                          +- xebs0 --- host 0 (.11)
//	                          +- xebs1 --- host 1 (.12) ...
type SegmentHost struct {
	Addr      netip.Addr       // .11, .12, ... of Bed.Prefix (a /24, no gateway)
	MAC       net.HardwareAddr // the source MAC of its frames
	NetnsName string           // Bed.NetnsName + "s" + its number
	Ifname    string           // its link, in its namespace ("xebseg")
	Index     int              // Ifname's index in its namespace
	PortIf    string           // the other end of its link: a bridge port in the peer namespace

	bed *Bed
	ns  netns.NsHandle
}

// segment is the bed's state for AddSegmentHosts.
type segment struct {
	mu          sync.Mutex
	bridgeIndex int // in the peer namespace; 0 until the peer is a switch
	hosts       []*SegmentHost
	links       []*SegmentLink // AddSegmentLink's
}

// AddSegmentHosts turns the peer namespace into a switch and adds n kernel
// hosts to the bed's link segment, for tests with several hosts on one L2
// segment with the engine (a client and backends of a load balancer).
//
// The first call creates the bridge SegmentBridge in the peer namespace (STP
// off, forward delay 0, the MTU of the bed and PeerMAC as its own address),
// makes PeerIf one of its ports and moves PeerAddr from PeerIf to the bridge,
// with any permanent ARP entries (SetPeerNeighbor). The peer namespace stays
// a host at .2 with the same MAC and address; only its interface changes:
// PeerIf and PeerIndex now name a bridge port, and the peer's stack uses
// SegmentBridge (SetPeerNeighbor follows it; a test that needs the ifindex,
// for a multicast socket, looks up SegmentBridge in Bed.Do). Routes a test
// added through PeerIf before the first call are lost, so add hosts first.
//
// Each host gets a namespace named Bed.NetnsName+"s"+k (k counts from 0 over
// the bed's life, so Sweep removes it after a killed process), lo up, IPv6
// off, and a veth pair with the bed's MTU: Ifname with the address .11+k/24
// in its namespace, PortIf on the bridge. Hosts have only the connected /24;
// a test adds routes, a default gateway or ARP entries with Do. The links keep
// the kernel's default offloads, so hosts send partial UDP and TCP checksums
// like the peer; with Config.FullChecksums the frames they send to HostIf
// still carry full checksums, because PeerIf, which they leave by, has
// transmit checksum offload off and the kernel finishes them there.
//
// A second call adds n more hosts, numbered on (.11+k continuing), up to
// .254 (244 hosts in all). n must be at least 1. AddSegmentHosts returns when
// every new link is operationally up. On error the hosts of this call are
// removed (the bridge stays until Close). Bed.Close removes all hosts. It may
// be called from several goroutines, one call at a time taking effect.
func (b *Bed) AddSegmentHosts(n int) (_ []*SegmentHost, err error) {
	if n < 1 {
		return nil, fmt.Errorf("testbed: AddSegmentHosts(%d): need at least one host", n)
	}
	b.seg.mu.Lock()
	defer b.seg.mu.Unlock()
	if b.closed.Load() {
		return nil, errors.New("testbed: bed is closed")
	}
	first := len(b.seg.hosts)
	if firstSegmentHost+first+n-1 > lastSegmentHost-len(b.seg.links) {
		return nil, fmt.Errorf("testbed: AddSegmentHosts(%d): the bed has %d segment hosts, at most %d fit in %v (.%d to .%d)",
			n, first, lastSegmentHost-firstSegmentHost+1, b.Prefix, firstSegmentHost, lastSegmentHost)
	}
	if b.seg.bridgeIndex == 0 {
		if err := b.Do(b.makeBridge); err != nil {
			return nil, fmt.Errorf("testbed: turn %s into a switch: %w", b.NetnsName, err)
		}
	}
	var added []*SegmentHost
	defer func() {
		if err != nil {
			for _, h := range added {
				_ = h.close()
			}
			b.seg.hosts = b.seg.hosts[:first]
		}
	}()
	for k := first; k < first+n; k++ {
		h, err := b.addSegmentHost(k)
		if h != nil {
			added = append(added, h)
			b.seg.hosts = append(b.seg.hosts, h)
		}
		if err != nil {
			return nil, err
		}
	}
	if err := b.waitSegmentUp(added, 5*time.Second); err != nil {
		return nil, err
	}
	return added, nil
}

// makeBridge runs in the peer namespace.
func (b *Bed) makeBridge() error {
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: SegmentBridge, MTU: b.MTU, HardwareAddr: b.PeerMAC}}
	if err := netlink.LinkAdd(br); err != nil {
		return fmt.Errorf("add bridge %s: %w", SegmentBridge, err)
	}
	link, err := netlink.LinkByName(SegmentBridge)
	if err != nil {
		return err
	}
	if err := setBridgeNoSTP(link.Attrs().Index); err != nil {
		return err
	}
	if err := disableIPv6(SegmentBridge); err != nil {
		return err
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return fmt.Errorf("up %s: %w", SegmentBridge, err)
	}
	peer, err := netlink.LinkByName(b.PeerIf)
	if err != nil {
		return err
	}
	// Keep the permanent ARP entries the peer had on PeerIf.
	neighs, err := netlink.NeighList(b.PeerIndex, netlink.FAMILY_V4)
	if err != nil {
		return fmt.Errorf("ARP entries of %s: %w", b.PeerIf, err)
	}
	addr := &netlink.Addr{IPNet: ipNet(b.PeerAddr, b.Prefix.Bits())}
	if err := netlink.AddrDel(peer, addr); err != nil {
		return fmt.Errorf("remove %s from %s: %w", b.PeerAddr, b.PeerIf, err)
	}
	if err := netlink.LinkSetMaster(peer, link); err != nil {
		return fmt.Errorf("%s into %s: %w", b.PeerIf, SegmentBridge, err)
	}
	if err := netlink.AddrAdd(link, addr); err != nil {
		return fmt.Errorf("address %s on %s: %w", b.PeerAddr, SegmentBridge, err)
	}
	for _, n := range neighs {
		if n.State&netlink.NUD_PERMANENT == 0 {
			continue
		}
		n.LinkIndex = link.Attrs().Index
		if err := netlink.NeighSet(&n); err != nil {
			return fmt.Errorf("move ARP entry %s to %s: %w", n.IP, SegmentBridge, err)
		}
	}
	b.seg.bridgeIndex = link.Attrs().Index
	return nil
}

// setBridgeNoSTP sets STP off and the forward delay to 0 on the bridge with
// the given index, in the calling thread's namespace. The netlink package's
// Bridge has no field for the forward delay, so this is a plain RTM_NEWLINK.
// The kernel applies the forward delay before the STP state, and refuses a
// delay under 2 s while STP is on; a new bridge starts with STP off.
func setBridgeNoSTP(index int) error {
	req := nl.NewNetlinkRequest(unix.RTM_NEWLINK, unix.NLM_F_ACK)
	msg := nl.NewIfInfomsg(unix.AF_UNSPEC)
	msg.Index = int32(index)
	req.AddData(msg)
	info := nl.NewRtAttr(unix.IFLA_LINKINFO, nil)
	info.AddRtAttr(nl.IFLA_INFO_KIND, nl.NonZeroTerminated("bridge"))
	data := info.AddRtAttr(nl.IFLA_INFO_DATA, nil)
	data.AddRtAttr(unix.IFLA_BR_FORWARD_DELAY, nl.Uint32Attr(0))
	data.AddRtAttr(unix.IFLA_BR_STP_STATE, nl.Uint32Attr(0))
	req.AddData(info)
	if _, err := req.Execute(unix.NETLINK_ROUTE, 0); err != nil {
		return fmt.Errorf("bridge %s: STP off, forward delay 0: %w", SegmentBridge, err)
	}
	return nil
}

// addSegmentHost creates host k. It returns the host, for removal, as soon
// as its namespace exists, even with an error.
func (b *Bed) addSegmentHost(k int) (*SegmentHost, error) {
	a := b.Prefix.Addr().As4()
	a[3] = byte(firstSegmentHost + k)
	h := &SegmentHost{
		Addr:      netip.AddrFrom4(a),
		NetnsName: b.NetnsName + "s" + strconv.Itoa(k),
		Ifname:    segmentHostIf,
		PortIf:    "xebs" + strconv.Itoa(k),
		bed:       b,
		ns:        -1,
	}
	var err error
	if h.ns, err = newNamedNetns(h.NetnsName); err != nil {
		return nil, fmt.Errorf("testbed: create namespace %s: %w", h.NetnsName, err)
	}
	err = b.Do(func() error {
		veth := &netlink.Veth{
			LinkAttrs:     netlink.LinkAttrs{Name: h.PortIf, MTU: b.MTU},
			PeerName:      h.Ifname,
			PeerMTU:       uint32(b.MTU),
			PeerNamespace: netlink.NsFd(h.ns),
		}
		if err := netlink.LinkAdd(veth); err != nil {
			return fmt.Errorf("add veth %s/%s: %w", h.PortIf, h.Ifname, err)
		}
		if err := disableIPv6(h.PortIf); err != nil {
			return err
		}
		port, err := netlink.LinkByName(h.PortIf)
		if err != nil {
			return err
		}
		if err := netlink.LinkSetMasterByIndex(port, b.seg.bridgeIndex); err != nil {
			return fmt.Errorf("%s into %s: %w", h.PortIf, SegmentBridge, err)
		}
		if err := netlink.LinkSetUp(port); err != nil {
			return fmt.Errorf("up %s: %w", h.PortIf, err)
		}
		return nil
	})
	if err != nil {
		return h, fmt.Errorf("testbed: segment host %s, bridge side: %w", h.Addr, err)
	}
	err = h.Do(func() error {
		lo, err := netlink.LinkByName("lo")
		if err == nil {
			err = netlink.LinkSetUp(lo)
		}
		if err != nil {
			return fmt.Errorf("lo: %w", err)
		}
		if err := disableIPv6(h.Ifname); err != nil {
			return err
		}
		link, err := netlink.LinkByName(h.Ifname)
		if err != nil {
			return err
		}
		h.Index = link.Attrs().Index
		h.MAC = link.Attrs().HardwareAddr
		if err := netlink.AddrAdd(link, &netlink.Addr{IPNet: ipNet(h.Addr, b.Prefix.Bits())}); err != nil {
			return fmt.Errorf("address %s on %s: %w", h.Addr, h.Ifname, err)
		}
		if err := netlink.LinkSetUp(link); err != nil {
			return fmt.Errorf("up %s: %w", h.Ifname, err)
		}
		return nil
	})
	if err != nil {
		return h, fmt.Errorf("testbed: segment host %s: %w", h.Addr, err)
	}
	return h, nil
}

// waitSegmentUp waits until the bridge, and each host's link at both ends,
// are operationally up: as for the bed's own link (waitOperUp), frames sent
// before that may be dropped silently.
func (b *Bed) waitSegmentUp(hosts []*SegmentHost, timeout time.Duration) error {
	up := func(name string) (bool, error) {
		l, err := netlink.LinkByName(name)
		if err != nil {
			return false, fmt.Errorf("testbed: %s: %w", name, err)
		}
		return l.Attrs().OperState == netlink.OperUp, nil
	}
	deadline := time.Now().Add(timeout)
	for {
		var down []string
		err := b.Do(func() error {
			for _, name := range append([]string{SegmentBridge}, portNames(hosts)...) {
				ok, err := up(name)
				if err != nil {
					return err
				}
				if !ok {
					down = append(down, name)
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, h := range hosts {
			err := h.Do(func() error {
				ok, err := up(h.Ifname)
				if !ok && err == nil {
					down = append(down, h.NetnsName+"/"+h.Ifname)
				}
				return err
			})
			if err != nil {
				return err
			}
		}
		if len(down) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("testbed: not operationally up after %v: %v", timeout, down)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func portNames(hosts []*SegmentHost) []string {
	names := make([]string, len(hosts))
	for i, h := range hosts {
		names[i] = h.PortIf
	}
	return names
}

// peerStackLink is the link in the peer namespace that holds PeerAddr:
// PeerIf, or SegmentBridge once AddSegmentHosts made the peer a switch.
func (b *Bed) peerStackLink() (name string, index int) {
	b.seg.mu.Lock()
	defer b.seg.mu.Unlock()
	if b.seg.bridgeIndex != 0 {
		return SegmentBridge, b.seg.bridgeIndex
	}
	return b.PeerIf, b.PeerIndex
}

// closeSegment removes the segment hosts' namespaces; their links go with
// them, and the bridge with the peer namespace.
func (b *Bed) closeSegment() []error {
	b.seg.mu.Lock()
	defer b.seg.mu.Unlock()
	var errs []error
	for _, h := range b.seg.hosts {
		if err := h.close(); err != nil {
			errs = append(errs, err)
		}
	}
	b.seg.hosts = nil
	return append(errs, b.closeLinks()...)
}

// Do runs fn on an OS thread that has entered the host's namespace, with the
// same rules as Bed.Do: sockets fn opens belong to the host's stack.
func (h *SegmentHost) Do(fn func() error) error {
	if h.bed.closed.Load() {
		return errors.New("testbed: bed is closed")
	}
	return inNetns(h.ns, fn)
}

// Command prepares a command that runs in the host's namespace, like
// Bed.Command for the peer.
func (h *SegmentHost) Command(ctx context.Context, name string, arg ...string) *Cmd {
	return &Cmd{Cmd: exec.CommandContext(ctx, name, arg...), do: h.Do}
}

func (h *SegmentHost) close() error {
	if h.ns >= 0 {
		h.ns.Close()
	}
	if err := netns.DeleteNamed(h.NetnsName); err != nil && !errors.Is(err, os.ErrNotExist) &&
		!errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOENT) {
		return fmt.Errorf("testbed: delete namespace %s: %w", h.NetnsName, err)
	}
	return nil
}
