package testbed

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"time"

	"github.com/vishvananda/netlink"
)

// SegmentLink is a link of the caller's namespace on the bed's segment: a
// veth pair whose other end is a port of the bridge in the peer namespace,
// for a second engine on the segment (a backend behind the engine under
// test, the far end of a tunnel). Its fields are read-only.
//
//	engine HostIf --- PeerIf -+- br0 (peer stack, PeerAddr .2)
//	                          +- xebs0 --- host 0 (.11) ...
//	second engine Ifname --- PortIf (.254, .253, ...)
type SegmentLink struct {
	Ifname string           // in the caller's namespace: the second engine's interface
	Addr   netip.Addr       // a host number of the segment nobody uses: the second engine's
	MAC    net.HardwareAddr // Ifname's
	PortIf string           // the other end: a bridge port in the peer namespace
}

// AddSegmentLink adds a SegmentLink to the bed's segment (making the peer
// namespace a switch first, as AddSegmentHosts does). Links take host
// numbers from the top of the /24 down (.254, .253, ...), so they never
// collide with segment hosts; Ifname keeps the kernel's default offloads,
// has IPv6 off and no address (the engine on it owns Addr). It returns when
// both ends are operationally up; Bed.Close removes it.
func (b *Bed) AddSegmentLink() (*SegmentLink, error) {
	b.seg.mu.Lock()
	defer b.seg.mu.Unlock()
	if b.closed.Load() {
		return nil, errors.New("testbed: bed is closed")
	}
	k := len(b.seg.links)
	if lastSegmentHost-k <= firstSegmentHost+len(b.seg.hosts) {
		return nil, fmt.Errorf("testbed: AddSegmentLink: no free host number left in %v", b.Prefix)
	}
	if b.seg.bridgeIndex == 0 {
		if err := b.Do(b.makeBridge); err != nil {
			return nil, fmt.Errorf("testbed: turn %s into a switch: %w", b.NetnsName, err)
		}
	}
	a := b.Prefix.Addr().As4()
	a[3] = byte(lastSegmentHost - k)
	pid, n := os.Getpid(), counter.Add(1)
	l := &SegmentLink{
		Ifname: fmt.Sprintf("%s%dl%d", namePrefix, pid, n),
		Addr:   netip.AddrFrom4(a),
		PortIf: fmt.Sprintf("xebl%d", k),
	}
	veth := &netlink.Veth{
		LinkAttrs:     netlink.LinkAttrs{Name: l.Ifname, MTU: b.MTU, NumTxQueues: 1, NumRxQueues: 1},
		PeerName:      l.PortIf,
		PeerMTU:       uint32(b.MTU),
		PeerNamespace: netlink.NsFd(b.peerNS),
	}
	if err := netlink.LinkAdd(veth); err != nil {
		return nil, fmt.Errorf("testbed: add veth %s/%s: %w", l.Ifname, l.PortIf, err)
	}
	b.seg.links = append(b.seg.links, l)
	if err := disableIPv6(l.Ifname); err != nil {
		return nil, err
	}
	link, err := netlink.LinkByName(l.Ifname)
	if err != nil {
		return nil, fmt.Errorf("testbed: %s: %w", l.Ifname, err)
	}
	l.MAC = link.Attrs().HardwareAddr
	if err := netlink.LinkSetUp(link); err != nil {
		return nil, fmt.Errorf("testbed: up %s: %w", l.Ifname, err)
	}
	err = b.Do(func() error {
		port, err := netlink.LinkByName(l.PortIf)
		if err != nil {
			return err
		}
		if err := disableIPv6(l.PortIf); err != nil {
			return err
		}
		if err := netlink.LinkSetMasterByIndex(port, b.seg.bridgeIndex); err != nil {
			return fmt.Errorf("%s into %s: %w", l.PortIf, SegmentBridge, err)
		}
		return netlink.LinkSetUp(port)
	})
	if err != nil {
		return nil, fmt.Errorf("testbed: segment link %s, bridge side: %w", l.Ifname, err)
	}
	return l, b.waitLinkUp(l, 5*time.Second)
}

// waitLinkUp waits until both ends of l are operationally up.
func (b *Bed) waitLinkUp(l *SegmentLink, timeout time.Duration) error {
	up := func(name string) bool {
		link, err := netlink.LinkByName(name)
		return err == nil && link.Attrs().OperState == netlink.OperUp
	}
	for deadline := time.Now().Add(timeout); ; {
		ok := up(l.Ifname)
		_ = b.Do(func() error { ok = ok && up(l.PortIf); return nil })
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("testbed: %s/%s not operationally up after %v", l.Ifname, l.PortIf, timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// closeLinks deletes the segment links (their bridge ends go with them).
func (b *Bed) closeLinks() []error {
	var errs []error
	for _, l := range b.seg.links {
		if link, err := netlink.LinkByName(l.Ifname); err == nil {
			if err := netlink.LinkDel(link); err != nil {
				errs = append(errs, fmt.Errorf("testbed: delete %s: %w", l.Ifname, err))
			}
		}
	}
	b.seg.links = nil
	return errs
}
