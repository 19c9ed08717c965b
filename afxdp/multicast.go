package afxdp

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ErrTooManyGroups: the program's group map is full.
var ErrTooManyGroups = errors.New("afxdp: multicast group map full (raise ProgramConfig.MaxGroups)")

func checkGroup(g netip.Addr) error {
	if g.Is4In6() || !g.IsMulticast() {
		return fmt.Errorf("%w: %v is not a multicast group", ErrConfig, g)
	}
	return nil
}

// groupMAC is the Ethernet address of an IPv4 group (RFC 1112 6.4).
func groupMAC(g [4]byte) [6]byte { return [6]byte{0x01, 0x00, 0x5e, g[1] & 0x7f, g[2], g[3]} }

// AddGroup steers UDP datagrams to the IPv4 multicast group g, from any
// source, to the sockets (the engine filters sources itself), and makes
// the interface accept g's multicast MAC address: a NIC drops multicast
// frames to addresses it was not told about before XDP sees them. The
// address is held by an AF_PACKET socket of the program
// (PACKET_ADD_MEMBERSHIP), so it goes away with the program or the
// process. From then on the host kernel no longer receives UDP to g on
// this interface, even if its own sockets joined g: XDP cannot copy a
// frame. IGMP is never steered (see the package comment). Adding a group
// twice is a no-op. Errors: ErrConfig (not a multicast group),
// ErrTooManyGroups, ErrClosed.
func (p *Program) AddGroup(g netip.Addr) error {
	if err := checkGroup(g); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ErrClosed
	}
	if p.joined[g] {
		return nil
	}
	if err := p.linkMembership(g, unix.PACKET_ADD_MEMBERSHIP); err != nil {
		return err
	}
	var err error
	if g.Is4() {
		err = p.groups.Put(g.As4(), uint32(1))
	} else {
		err = p.setKind6(g.As16(), addr6Group, true)
	}
	if err != nil {
		p.linkMembership(g, unix.PACKET_DROP_MEMBERSHIP)
		if errors.Is(err, unix.E2BIG) {
			return fmt.Errorf("%w: %v: %w", ErrTooManyGroups, g, err)
		}
		return bpfErr("add group "+g.String(), err)
	}
	p.joined[g] = true
	return nil
}

// RemoveGroup gives UDP to g back to the kernel and drops g's MAC address
// (unless another group that maps to it remains). Removing a group that
// was not added is a no-op.
func (p *Program) RemoveGroup(g netip.Addr) error {
	if err := checkGroup(g); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ErrClosed
	}
	if !p.joined[g] {
		return nil
	}
	delete(p.joined, g)
	var errs []error
	if g.Is6() {
		if err := p.setKind6(g.As16(), addr6Group, false); err != nil {
			errs = append(errs, bpfErr("remove group "+g.String(), err))
		}
	} else if err := p.groups.Delete(g.As4()); err != nil && !errors.Is(err, unix.ENOENT) {
		errs = append(errs, bpfErr("remove group "+g.String(), err))
	}
	errs = append(errs, p.linkMembership(g, unix.PACKET_DROP_MEMBERSHIP))
	return errors.Join(errs...)
}

// Groups returns the groups added, sorted.
func (p *Program) Groups() []netip.Addr {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]netip.Addr, 0, len(p.joined))
	for g := range p.joined {
		out = append(out, g)
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return out
}

// linkMembership adds or drops g's MAC address on the interface through
// p.mcfd, which the kernel counts per address: 32 groups share one MAC.
func (p *Program) linkMembership(g netip.Addr, op int) error {
	if p.mcfd < 0 {
		// Protocol 0: the socket receives nothing; it only holds addresses.
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return wrapErrno("AF_PACKET socket for multicast addresses", err)
		}
		p.mcfd = fd
	}
	mr := unix.PacketMreq{Ifindex: int32(p.ifindex), Type: unix.PACKET_MR_MULTICAST, Alen: 6}
	mac := groupMAC6(g.As16())
	if g.Is4() {
		mac = groupMAC(g.As4())
	}
	copy(mr.Address[:], mac[:])
	if err := unix.SetsockoptPacketMreq(p.mcfd, unix.SOL_PACKET, op, &mr); err != nil {
		return wrapErrno(fmt.Sprintf("multicast address %x for %v", mac, g), err)
	}
	return nil
}

// IGMPTap receives a copy of the IGMP messages an interface receives:
// queries and IGMPv1/v2 reports, the ones a host acts on. It is an
// AF_PACKET socket with a classic BPF filter, so the host kernel, which
// the XDP program leaves IGMP to, handles the same messages for its own
// memberships: both answer, each for its groups. Frames the host sends
// are not seen (PACKET_IGNORE_OUTGOING).
type IGMPTap struct {
	fd int
}

// igmpFilter accepts untagged IPv4 IGMP queries (0x11) and v1/v2 reports
// (0x12, 0x16), first fragments only.
var igmpFilter = []unix.SockFilter{
	{Code: unix.BPF_LD | unix.BPF_H | unix.BPF_ABS, K: 12},              // EtherType
	{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jf: 9, K: 0x0800},  // not IPv4: drop
	{Code: unix.BPF_LD | unix.BPF_B | unix.BPF_ABS, K: 23},              // protocol
	{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jf: 7, K: 2},       // not IGMP: drop
	{Code: unix.BPF_LD | unix.BPF_H | unix.BPF_ABS, K: 20},              // flags, fragment offset
	{Code: unix.BPF_JMP | unix.BPF_JSET | unix.BPF_K, Jt: 5, K: 0x1fff}, // a later fragment: drop
	{Code: unix.BPF_LDX | unix.BPF_B | unix.BPF_MSH, K: 14},             // X = IP header length
	{Code: unix.BPF_LD | unix.BPF_B | unix.BPF_IND, K: 14},              // IGMP type
	{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jt: 3, K: 0x11},
	{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jt: 2, K: 0x12},
	{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jt: 1, K: 0x16},
	{Code: unix.BPF_RET | unix.BPF_K, K: 0},      // drop
	{Code: unix.BPF_RET | unix.BPF_K, K: 0xffff}, // accept
}

// OpenIGMPTap opens a tap on ifname. The filter is attached before the
// socket is bound, so no other frame is ever queued.
func OpenIGMPTap(ifname string) (_ *IGMPTap, err error) {
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return nil, fmt.Errorf("%w: %q: %w", ErrNoInterface, ifname, unix.ENODEV)
	}
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		return nil, wrapErrno("AF_PACKET socket for IGMP", err)
	}
	defer func() {
		if err != nil {
			unix.Close(fd)
		}
	}()
	prog := unix.SockFprog{Len: uint16(len(igmpFilter)), Filter: unsafe.SliceData(igmpFilter)}
	if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &prog); err != nil {
		return nil, wrapErrno("attach the IGMP filter", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_IGNORE_OUTGOING, 1); err != nil {
		return nil, wrapErrno("PACKET_IGNORE_OUTGOING", err)
	}
	proto := htons(unix.ETH_P_IP)
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: proto, Ifindex: ifi.Index}); err != nil {
		return nil, wrapErrno("bind the IGMP tap to "+ifname, err)
	}
	return &IGMPTap{fd: fd}, nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// Recv copies the next waiting frame (a whole Ethernet frame) into buf and
// returns its length; 0 and no error when none is waiting: it never
// blocks. Poll FD for POLLIN, or call it on a timer: IGMP comes at a few
// messages a minute.
func (t *IGMPTap) Recv(buf []byte) (int, error) {
	n, _, err := unix.Recvfrom(t.fd, buf, unix.MSG_DONTWAIT)
	switch {
	case errors.Is(err, unix.EAGAIN), errors.Is(err, unix.EINTR):
		return 0, nil
	case err != nil:
		return 0, wrapErrno("receive from the IGMP tap", err)
	}
	return n, nil
}

// Wait blocks in poll(2) until a frame is waiting or timeout passes; it
// reports whether one is.
func (t *IGMPTap) Wait(timeout time.Duration) bool {
	fds := []unix.PollFd{{Fd: int32(t.fd), Events: unix.POLLIN}}
	n, err := unix.Poll(fds, int(timeout.Milliseconds()))
	return err == nil && n > 0
}

// FD returns the socket, for poll(2).
func (t *IGMPTap) FD() int { return t.fd }

// Close closes the socket.
func (t *IGMPTap) Close() error { return unix.Close(t.fd) }
