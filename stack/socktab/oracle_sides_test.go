package socktab

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/xdpengine/engine/flowtable"
	"github.com/xdpengine/engine/portalloc"
)

// kernelSide runs a script on the peer kernel. Every method must run on
// the thread bed.Do locked into the peer namespace (sysctl and /proc/net
// follow the calling thread's namespace).
type kernelSide struct {
	x       addrs
	fd      map[int]int
	v6, udp map[int]bool
	opts    map[int]string
	peer    map[int]int    // the other end of a connection, when the script made it
	port    map[int]int    // the local port of a socket left in TIME-WAIT (its fd is closed)
	helper  map[uint16]int // listeners at the connect destinations, by port
	extra   []int          // other fds to close at cleanup
	saved   []byte         // ip_local_port_range before the script changed it
	loDown  bool
}

const rangeSysctl = "/proc/sys/net/ipv4/ip_local_port_range"

func newKernelSide(x addrs) *kernelSide {
	return &kernelSide{x: x, fd: map[int]int{}, v6: map[int]bool{}, udp: map[int]bool{}, opts: map[int]string{},
		peer: map[int]int{}, port: map[int]int{}, helper: map[uint16]int{}}
}

// cleanup aborts every connection (no FIN-WAIT or TIME-WAIT left behind by
// the script's own closes), restores the range and the loopback.
func (k *kernelSide) cleanup() {
	abort := func(fd int) {
		_ = unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1})
		unix.Close(fd)
	}
	for _, fd := range k.fd {
		abort(fd)
	}
	for _, fd := range k.peer {
		abort(fd)
	}
	for _, fd := range k.helper {
		abort(fd)
	}
	for _, fd := range k.extra {
		abort(fd)
	}
	if k.saved != nil {
		_ = os.WriteFile(rangeSysctl, k.saved, 0o644)
	}
	if k.loDown {
		_ = k.loopback(true)
	}
}

func (k *kernelSide) setRange(lo, hi int) (syscall.Errno, error) {
	if k.saved == nil {
		b, err := os.ReadFile(rangeSysctl)
		if err != nil {
			return 0, err
		}
		k.saved = b
	}
	return errnoOf(os.WriteFile(rangeSysctl, fmt.Appendf(nil, "%d %d", lo, hi), 0o644)), nil
}

// loopback removes (or restores) 127.0.0.1/8 on lo. Bringing lo down is not
// enough: Linux keeps the local routes of a loopback device that is down,
// and 127.0.0.0/8 stays bindable.
func (k *kernelSide) loopback(up bool) error {
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		return err
	}
	k.loDown = !up
	a := &netlink.Addr{IPNet: &net.IPNet{IP: net.IPv4(127, 0, 0, 1).To4(), Mask: net.CIDRMask(8, 32)}, Scope: unix.RT_SCOPE_HOST}
	if up {
		if err := netlink.AddrAdd(lo, a); err != nil && !errors.Is(err, unix.EEXIST) {
			return err
		}
		return nil
	}
	return netlink.AddrDel(lo, a)
}

func (k *kernelSide) open(i int, kind, opts string) error {
	fam, typ := unix.AF_INET, unix.SOCK_STREAM
	if strings.HasSuffix(kind, "6") {
		fam = unix.AF_INET6
	}
	if strings.HasPrefix(kind, "U") {
		typ = unix.SOCK_DGRAM
	}
	fd, err := kernelSocket(fam, typ, opts)
	if err != nil {
		return err
	}
	k.fd[i], k.v6[i], k.udp[i], k.opts[i] = fd, fam == unix.AF_INET6, typ == unix.SOCK_DGRAM, opts
	return nil
}

func (k *kernelSide) bind(i int, a netip.Addr, port int) (syscall.Errno, error) {
	return errnoOf(unix.Bind(k.fd[i], sockaddr(k.v6[i] != strings.Contains(k.opts[i], "x"), a, port))), nil
}

func (k *kernelSide) listen(i int) (syscall.Errno, error) {
	return errnoOf(unix.Listen(k.fd[i], 64)), nil
}

func (k *kernelSide) connect(i int, dst netip.AddrPort) (syscall.Errno, error) {
	if !k.udp[i] && k.helper[dst.Port()] == 0 {
		h, err := kernelSocket(unix.AF_INET, unix.SOCK_STREAM, "r")
		if err != nil {
			return 0, err
		}
		k.helper[dst.Port()] = h
		if err := unix.Bind(h, sockaddr(false, dst.Addr(), int(dst.Port()))); err != nil {
			return 0, fmt.Errorf("helper listener %v: %w", dst, err)
		}
		if err := unix.Listen(h, 128); err != nil {
			return 0, err
		}
	}
	e := errnoOf(unix.Connect(k.fd[i], sockaddr(k.v6[i], dst.Addr(), int(dst.Port()))))
	if e == unix.EINPROGRESS {
		e = 0
	}
	return e, nil
}

func (k *kernelSide) localPort(i int) (int, error) {
	if p, ok := k.port[i]; ok {
		return p, nil
	}
	return sockPort(unix.Getsockname(k.fd[i]))
}

func sockPort(sa unix.Sockaddr, err error) (int, error) {
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		return sa.Port, err
	case *unix.SockaddrInet6:
		return sa.Port, err
	}
	return 0, fmt.Errorf("no address: %w", err)
}

// waitFD polls fd for events, up to two seconds.
func waitFD(fd int, events int16) error {
	pfd := []unix.PollFd{{Fd: int32(fd), Events: events}}
	deadline := time.Now().Add(2 * time.Second)
	n, err := unix.Poll(pfd, 2000)
	for err == unix.EINTR && time.Now().Before(deadline) {
		n, err = unix.Poll(pfd, int(time.Until(deadline)/time.Millisecond))
	}
	if err == nil && n == 0 {
		err = errors.New("poll: timed out")
	}
	return err
}

// accept connects a client of the kernel's own to listener l, on address A,
// and accepts the connection as socket i (as uid 1000 when l is owned by
// it: Linux gives an accepted socket the accepting thread's uid).
func (k *kernelSide) accept(i, l int) error {
	port, err := k.localPort(l)
	if err != nil {
		return err
	}
	c, err := kernelSocket(unix.AF_INET, unix.SOCK_STREAM, "")
	if err != nil {
		return err
	}
	k.extra = append(k.extra, c)
	if err := unix.Connect(c, sockaddr(false, k.x.a, port)); err != nil && err != unix.EINPROGRESS {
		return fmt.Errorf("client connect: %w", err)
	}
	if err := waitFD(k.fd[l], unix.POLLIN); err != nil {
		return fmt.Errorf("listener: %w", err)
	}
	uid := strings.Contains(k.opts[l], "u")
	if uid {
		if err := setThreadEUID(1000); err != nil {
			return err
		}
	}
	nfd, _, err := unix.Accept4(k.fd[l], unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
	if uid {
		if e := setThreadEUID(0); e != nil {
			panic(e)
		}
	}
	if err != nil {
		return fmt.Errorf("accept: %w", err)
	}
	k.extra = k.extra[:len(k.extra)-1]
	k.fd[i], k.peer[i], k.v6[i], k.opts[i] = nfd, c, k.v6[l], k.opts[l]
	return nil
}

// timeWait closes i first and its peer second, so that i ends in
// TIME-WAIT, and waits until /proc/net shows it there.
func (k *kernelSide) timeWait(i int) error {
	fd := k.fd[i]
	if err := waitFD(fd, unix.POLLOUT); err != nil {
		return fmt.Errorf("not connected: %w", err)
	}
	lport, err := k.localPort(i)
	if err != nil {
		return err
	}
	rport, err := sockPort(unix.Getpeername(fd))
	if err != nil {
		return err
	}
	peer, ok := k.peer[i]
	for h := k.helper[uint16(rport)]; !ok; {
		if err := waitFD(h, unix.POLLIN); err != nil {
			return fmt.Errorf("helper accept: %w", err)
		}
		c, _, err := unix.Accept4(h, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
		if err != nil {
			return err
		}
		if p, _ := sockPort(unix.Getpeername(c)); p == lport {
			peer, ok = c, true
		} else {
			k.extra = append(k.extra, c)
		}
	}
	delete(k.fd, i)
	delete(k.peer, i)
	k.port[i] = lport
	unix.Close(fd)
	if err := waitFD(peer, unix.POLLIN); err != nil { // the FIN arrived
		return err
	}
	unix.Close(peer)
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if tw, err := inTimeWait(lport, rport); err != nil || tw {
			return err
		}
	}
	return fmt.Errorf("port %d never reached TIME-WAIT", lport)
}

// inTimeWait reports whether /proc/net/tcp{,6} of the calling thread's
// namespace lists a TIME-WAIT socket (state 06) from lport to rport.
func inTimeWait(lport, rport int) (bool, error) {
	for _, f := range []string{"/proc/thread-self/net/tcp", "/proc/thread-self/net/tcp6"} {
		b, err := os.ReadFile(f)
		if err != nil {
			return false, err
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			fs := strings.Fields(line)
			if len(fs) < 4 || fs[3] != "06" {
				continue
			}
			port := func(s string) int {
				_, h, _ := strings.Cut(s, ":")
				n, _ := strconv.ParseInt(h, 16, 32)
				return int(n)
			}
			if port(fs[1]) == lport && port(fs[2]) == rport {
				return true, nil
			}
		}
	}
	return false, nil
}

func (k *kernelSide) close(i int) error {
	fd, ok := k.fd[i]
	if !ok {
		return fmt.Errorf("socket %d is not open", i)
	}
	if err := unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1}); err != nil {
		return err
	}
	delete(k.fd, i)
	return unix.Close(fd)
}

// engineSide runs a script on a fresh Table owning the peer's addresses.
type engineSide struct {
	tab   *Table
	x     addrs
	socks map[int]*Socket
	v6    map[int]bool
	opts  map[int]string
}

func newEngineSide(t *testing.T, x addrs, prefix netip.Prefix) *engineSide {
	tab, err := New(Config{
		Addrs:       []netip.Prefix{netip.PrefixFrom(x.a, prefix.Bits()), netip.PrefixFrom(x.b, prefix.Bits())},
		BindService: true,
		Logger:      slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	return &engineSide{tab: tab, x: x, socks: map[int]*Socket{}, v6: map[int]bool{}, opts: map[int]string{}}
}

// errnoFrom is the errno of an engine error, which must be a *net.OpError
// (or, for configuration, a wrapped errno).
func errnoFrom(err error, op bool) (syscall.Errno, error) {
	if err == nil {
		return 0, nil
	}
	var e syscall.Errno
	var oe *net.OpError
	if !errors.As(err, &e) || op && !errors.As(err, &oe) {
		return 0, fmt.Errorf("engine error %v is not a *net.OpError wrapping its errno", err)
	}
	return e, nil
}

func (e *engineSide) setRange(lo, hi int) (syscall.Errno, error) {
	return errnoFrom(e.tab.SetPortRange(portalloc.Range{First: uint16(lo), Last: uint16(hi)}), false)
}

func (e *engineSide) loopback(bool) error { return nil }

func (e *engineSide) open(i int, kind, opts string) error {
	proto, fam := TCP, IPv4
	if strings.HasPrefix(kind, "U") {
		proto = UDP
	}
	if strings.HasSuffix(kind, "6") {
		fam = IPv6
	}
	s, err := e.tab.Open(proto, fam, optionsOf(opts), i)
	e.socks[i], e.v6[i], e.opts[i] = s, fam == IPv6, opts
	return err
}

func (e *engineSide) bind(i int, a netip.Addr, port int) (syscall.Errno, error) {
	a = engineAddr(e.v6[i], e.opts[i], a)
	if e.v6[i] && a.Is4() && !strings.Contains(e.opts[i], "x") {
		a = netip.AddrFrom16(a.As16())
	}
	return errnoFrom(e.tab.Bind(e.socks[i], netip.AddrPortFrom(a, uint16(port))), true)
}

func (e *engineSide) listen(i int) (syscall.Errno, error) {
	return errnoFrom(e.tab.Listen(e.socks[i]), true)
}

func (e *engineSide) connect(i int, dst netip.AddrPort) (syscall.Errno, error) {
	if e.v6[i] {
		dst = netip.AddrPortFrom(netip.AddrFrom16(dst.Addr().As16()), dst.Port())
	}
	_, err := e.tab.Connect(e.socks[i], 0, dst)
	return errnoFrom(err, true)
}

func (e *engineSide) localPort(i int) (int, error) { return int(e.tab.Local(e.socks[i]).Port()), nil }

// accept registers a connection from N:50000+i to listener l on address A.
func (e *engineSide) accept(i, l int) error {
	ln := e.socks[l]
	k := flowtable.KeyFrom(netip.AddrPortFrom(e.x.n, uint16(50000+i)), netip.AddrPortFrom(e.x.a, e.tab.Local(ln).Port()), uint8(TCP))
	c, err := e.tab.Accept(ln, k, i)
	e.socks[i], e.v6[i], e.opts[i] = c, e.v6[l], e.opts[l]
	return err
}

func (e *engineSide) timeWait(i int) error {
	e.tab.SetState(e.socks[i], StateTimeWait)
	return nil
}

func (e *engineSide) close(i int) error { return e.tab.Close(e.socks[i]) }
