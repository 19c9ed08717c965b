package socktab

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/xdpengine/engine/flowtable"
	"github.com/xdpengine/engine/internal/testbed"
)

// sockSpec is one socket of a scenario: opened, optioned, bound, maybe
// listened, in order.
type sockSpec struct {
	udp    bool
	v6     bool
	opts   string // letters: r SO_REUSEADDR, p SO_REUSEPORT, o IPV6_V6ONLY, f IP_FREEBIND, n IP_BIND_ADDRESS_NO_PORT, u owned by uid 1000, x the address in the other family's sockaddr, a IP_MULTICAST_ALL on, k IP_MULTICAST_ALL off (kernel only: the engine filters groups outside the table)
	addr   string // A, B (a second peer address), N (not local), C (subnet broadcast), Z (network address), W (255.255.255.255), L (127.0.0.1), M (multicast), H (the host kernel, .3), 0, ::, mA, mN, mB, mC, mW, mM, m0 (::ffff:0.0.0.0)
	port   int    // offset from the scenario's base port; -1: port 0; >= 1000: absolute
	listen bool
}

type scenario struct {
	name  string
	noCap bool // bind without CAP_NET_BIND_SERVICE
	socks []sockSpec
}

func T(addr, opts string) sockSpec  { return sockSpec{addr: addr, opts: opts} }
func TL(addr, opts string) sockSpec { return sockSpec{addr: addr, opts: opts, listen: true} }
func T6(addr, opts string) sockSpec { return sockSpec{addr: addr, opts: opts, v6: true} }
func T6L(addr, opts string) sockSpec {
	return sockSpec{addr: addr, opts: opts, v6: true, listen: true}
}
func U(addr, opts string) sockSpec  { return sockSpec{udp: true, addr: addr, opts: opts} }
func U6(addr, opts string) sockSpec { return sockSpec{udp: true, v6: true, addr: addr, opts: opts} }
func at(s sockSpec, port int) sockSpec {
	s.port = port
	return s
}

// bindScenarios transcribes the rules of ip(7), tcp(7), udp(7) and the
// kernel's inet_bind_conflict / udp_lib_lport_inuse; the peer kernel is the
// oracle for every one of them.
var bindScenarios = []scenario{
	{"tcp same address twice", false, []sockSpec{T("A", ""), T("A", "")}},
	{"tcp specific then wildcard", false, []sockSpec{T("A", ""), T("0", "")}},
	{"tcp wildcard then specific", false, []sockSpec{T("0", ""), T("A", "")}},
	{"tcp two different addresses", false, []sockSpec{T("A", ""), T("B", "")}},
	{"tcp reuseaddr both, no listen", false, []sockSpec{T("A", "r"), T("A", "r")}},
	{"tcp reuseaddr, first listens", false, []sockSpec{TL("A", "r"), T("A", "r")}},
	{"tcp reuseaddr: two bound, then a third listens", false, []sockSpec{T("A", "r"), T("A", "r"), TL("A", "r")}},
	{"tcp reuseaddr only on the second", false, []sockSpec{T("A", ""), T("A", "r")}},
	{"tcp reuseaddr only on the first", false, []sockSpec{T("A", "r"), T("A", "")}},
	{"tcp reuseport both listen", false, []sockSpec{TL("A", "p"), TL("A", "p")}},
	{"tcp reuseport wildcard and specific", false, []sockSpec{TL("0", "p"), TL("A", "p")}},
	{"tcp reuseport only on the first", false, []sockSpec{TL("A", "p"), T("A", "")}},
	{"tcp reuseaddr listener vs reuseaddr+reuseport", false, []sockSpec{TL("A", "r"), T("A", "rp")}},
	{"tcp reuseaddr wildcard and specific, no listen", false, []sockSpec{T("0", "r"), T("A", "r")}},
	{"tcp reuseaddr wildcard listens, then specific", false, []sockSpec{TL("0", "r"), T("A", "r")}},
	{"tcp 0.0.0.0 then :: dual-stack", false, []sockSpec{T("0", ""), T6("::", "")}},
	{"tcp 0.0.0.0 then :: v6only", false, []sockSpec{T("0", ""), T6("::", "o")}},
	{"tcp :: dual-stack then 0.0.0.0", false, []sockSpec{T6("::", ""), T("0", "")}},
	{"tcp :: v6only then 0.0.0.0", false, []sockSpec{T6("::", "o"), T("0", "")}},
	{"tcp :: dual-stack then specific IPv4", false, []sockSpec{T6("::", ""), T("A", "")}},
	{"tcp v4-mapped then same IPv4", false, []sockSpec{T6("mA", ""), T("A", "")}},
	{"tcp v4-mapped then other IPv4", false, []sockSpec{T6("mA", ""), T("B", "")}},
	{"tcp v4-mapped on a v6only socket", false, []sockSpec{T6("mA", "o")}},
	{"tcp :: twice, reuseaddr, one listens", false, []sockSpec{T6L("::", "r"), T6("::", "r")}},
	{"tcp non-local address", false, []sockSpec{T("N", "")}},
	{"tcp non-local address with freebind", false, []sockSpec{T("N", "f")}},
	{"tcp v4-mapped non-local", false, []sockSpec{T6("mN", "")}},
	{"tcp v4-mapped non-local with freebind", false, []sockSpec{T6("mN", "f")}},
	{"tcp port 0 picks a port", false, []sockSpec{at(T("A", ""), -1)}},
	{"tcp privileged port without capability", true, []sockSpec{at(T("A", ""), 1080-1000+1000)}},
	{"tcp privileged port with capability", false, []sockSpec{at(T("A", ""), 1081-1000+1000)}},
	{"tcp non-local privileged port without capability (IPv4 checks the address first)", true, []sockSpec{at(T("N", ""), 1082)}},
	{"tcp6 v4-mapped non-local privileged without capability (IPv6 checks the port first)", true, []sockSpec{at(T6("mN", ""), 1083)}},
	{"udp same address twice", false, []sockSpec{U("A", ""), U("A", "")}},
	{"udp reuseaddr both", false, []sockSpec{U("A", "r"), U("A", "r")}},
	{"udp reuseaddr only on the first", false, []sockSpec{U("A", "r"), U("A", "")}},
	{"udp reuseport both", false, []sockSpec{U("A", "p"), U("A", "p")}},
	{"udp reuseport only on the second", false, []sockSpec{U("A", ""), U("A", "p")}},
	{"udp two different addresses", false, []sockSpec{U("A", ""), U("B", "")}},
	{"udp wildcard then specific", false, []sockSpec{U("0", ""), U("A", "")}},
	{"udp reuseaddr wildcard and specific", false, []sockSpec{U("0", "r"), U("A", "r")}},
	{"udp 0.0.0.0 then :: dual-stack", false, []sockSpec{U("0", ""), U6("::", "")}},
	{"udp 0.0.0.0 then :: v6only", false, []sockSpec{U("0", ""), U6("::", "o")}},
	{"udp :: then v4-mapped", false, []sockSpec{U6("::", ""), U6("mA", "")}},
	{"udp subnet broadcast address", false, []sockSpec{U("C", "")}},
	{"udp multicast address", false, []sockSpec{U("M", "")}},
	{"udp non-local address", false, []sockSpec{U("N", "")}},
	{"udp privileged port without capability", true, []sockSpec{at(U("A", ""), 1084)}},
	{"tcp and udp on the same port", false, []sockSpec{T("0", ""), U("0", "")}},
	// ::ffff:0.0.0.0 on an IPv6 socket: the IPv4 wildcard.
	{"tcp6 ::ffff:0.0.0.0 then 0.0.0.0", false, []sockSpec{T6("m0", ""), T("0", "")}},
	{"tcp6 ::ffff:0.0.0.0 then a specific IPv4", false, []sockSpec{T6("m0", ""), T("A", "")}},
	{"tcp specific IPv4 then ::ffff:0.0.0.0", false, []sockSpec{T("A", ""), T6("m0", "")}},
	{"tcp6 ::ffff:0.0.0.0 then :: dual-stack", false, []sockSpec{T6("m0", ""), T6("::", "")}},
	{"tcp6 ::ffff:0.0.0.0 then :: v6only", false, []sockSpec{T6("m0", ""), T6("::", "o")}},
	{"tcp6 :: v6only then ::ffff:0.0.0.0", false, []sockSpec{T6("::", "o"), T6("m0", "")}},
	{"tcp6 ::ffff:0.0.0.0 on a v6only socket", false, []sockSpec{T6("m0", "o")}},
	{"tcp6 ::ffff:0.0.0.0 twice, reuseaddr, one listens", false, []sockSpec{T6L("m0", "r"), T6("m0", "r")}},
	{"udp6 ::ffff:0.0.0.0 then v4-mapped specific", false, []sockSpec{U6("m0", ""), U6("mA", "")}},
	{"udp6 ::ffff:0.0.0.0 then 0.0.0.0, reuseaddr", false, []sockSpec{U6("m0", "r"), U("0", "r")}},
	// The wrong family: a sockaddr_in on an IPv6 socket is too short
	// (EINVAL); a sockaddr_in6 on an IPv4 socket is EAFNOSUPPORT.
	{"tcp6 sockaddr_in on an IPv6 socket", false, []sockSpec{T6("A", "x")}},
	{"udp6 sockaddr_in 0.0.0.0 on an IPv6 socket", false, []sockSpec{U6("0", "x")}},
	{"tcp sockaddr_in6 v4-mapped on an IPv4 socket", false, []sockSpec{T("mA", "x")}},
	{"udp sockaddr_in6 :: on an IPv4 socket", false, []sockSpec{U("::", "x")}},
	// Addresses any socket may bind, and one it may not.
	{"tcp 255.255.255.255", false, []sockSpec{T("W", "")}},
	{"udp 255.255.255.255", false, []sockSpec{U("W", "")}},
	{"tcp subnet broadcast address", false, []sockSpec{T("C", "")}},
	{"tcp multicast address", false, []sockSpec{T("M", "")}},
	{"udp network address", false, []sockSpec{U("Z", "")}},
	{"tcp6 v4-mapped subnet broadcast", false, []sockSpec{T6("mC", "")}},
	// SO_REUSEPORT groups: the owner (uid) decides.
	{"tcp reuseport three listeners", false, []sockSpec{TL("A", "p"), TL("A", "p"), TL("A", "p")}},
	{"tcp reuseport listener, other owner", false, []sockSpec{TL("A", "p"), TL("A", "pu")}},
	{"tcp reuseport bound, other owner", false, []sockSpec{T("A", "pu"), T("A", "p")}},
	{"tcp reuseport other owner, both reuseaddr, no listen", false, []sockSpec{T("A", "rpu"), T("A", "rp")}},
	{"tcp reuseport wildcard listener, specific of another owner", false, []sockSpec{TL("0", "p"), T("A", "pu")}},
	{"udp reuseport other owner", false, []sockSpec{U("A", "p"), U("A", "pu")}},
	{"udp reuseport three sockets", false, []sockSpec{U("A", "p"), U("A", "p"), U("0", "p")}},
	{"tcp reuseport on a dual-stack :: and 0.0.0.0", false, []sockSpec{T6L("::", "p"), TL("0", "p")}},
}

type addrs struct{ a, b, n, c, z, m, h netip.Addr }

func (x addrs) resolve(tok string) netip.Addr {
	m := func(a netip.Addr) netip.Addr { return netip.AddrFrom16(a.As16()) }
	switch tok {
	case "A":
		return x.a
	case "B":
		return x.b
	case "N":
		return x.n
	case "C":
		return x.c
	case "M":
		return x.m
	case "0":
		return netip.IPv4Unspecified()
	case "::":
		return netip.IPv6Unspecified()
	case "mA":
		return m(x.a)
	case "mB":
		return m(x.b)
	case "mN":
		return m(x.n)
	case "mC":
		return m(x.c)
	case "mW":
		return m(netip.AddrFrom4([4]byte{255, 255, 255, 255}))
	case "mM":
		return m(x.m)
	case "H":
		return x.h
	case "m0":
		return v4MappedAny
	case "Z":
		return x.z
	case "W":
		return netip.AddrFrom4([4]byte{255, 255, 255, 255})
	case "L":
		return netip.AddrFrom4([4]byte{127, 0, 0, 1})
	}
	panic("unknown address token " + tok)
}

func (sp sockSpec) portFor(base int) uint16 {
	switch {
	case sp.port < 0:
		return 0
	case sp.port >= 1000:
		return uint16(sp.port - 1000)
	}
	return uint16(base + sp.port)
}

// kernelRun performs a scenario on the peer kernel; it returns the errno
// (0 for success) of every bind and listen, and leaves the sockets open
// (closed by the returned func).
func kernelRun(sc scenario, x addrs, base int) (results []syscall.Errno, fds []int, err error) {
	if sc.noCap {
		if err := setBindServiceCap(false); err != nil {
			return nil, nil, err
		}
		defer func() {
			if e := setBindServiceCap(true); e != nil && err == nil {
				err = e
			}
		}()
	}
	for _, sp := range sc.socks {
		fam, typ := unix.AF_INET, unix.SOCK_STREAM
		if sp.v6 {
			fam = unix.AF_INET6
		}
		if sp.udp {
			typ = unix.SOCK_DGRAM
		}
		fd, err := kernelSocket(fam, typ, sp.opts)
		if err != nil {
			return nil, fds, err
		}
		fds = append(fds, fd)
		a := x.resolve(sp.addr)
		port := int(sp.portFor(base))
		results = append(results, errnoOf(unix.Bind(fd, sockaddr(sp.v6 != strings.Contains(sp.opts, "x"), a, port))))
		if sp.listen {
			results = append(results, errnoOf(unix.Listen(fd, 16)))
		}
	}
	return results, fds, nil
}

// kernelSocket opens a non-blocking socket with the options of opts
// (sockSpec letters); with u it is created by uid 1000 (Linux records the
// creator's uid for SO_REUSEPORT), on the calling thread only.
func kernelSocket(fam, typ int, opts string) (int, error) {
	if strings.Contains(opts, "u") {
		if err := setThreadEUID(1000); err != nil {
			return -1, err
		}
	}
	fd, err := unix.Socket(fam, typ|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	if strings.Contains(opts, "u") {
		if e := setThreadEUID(0); e != nil {
			panic(e) // this thread must not go on as uid 1000
		}
	}
	if err != nil {
		return -1, fmt.Errorf("socket: %w", err)
	}
	for _, o := range opts {
		var lvl, opt int
		switch o {
		case 'r':
			lvl, opt = unix.SOL_SOCKET, unix.SO_REUSEADDR
		case 'p':
			lvl, opt = unix.SOL_SOCKET, unix.SO_REUSEPORT
		case 'o':
			lvl, opt = unix.IPPROTO_IPV6, unix.IPV6_V6ONLY
		case 'f':
			lvl, opt = unix.IPPROTO_IP, unix.IP_FREEBIND
		case 'n':
			lvl, opt = unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT
		case 'a', 'k':
			lvl, opt = unix.IPPROTO_IP, unix.IP_MULTICAST_ALL
		default:
			continue
		}
		v := 1
		if o == 'k' {
			v = 0
		}
		if err := unix.SetsockoptInt(fd, lvl, opt, v); err != nil {
			unix.Close(fd)
			return -1, fmt.Errorf("setsockopt %c: %w", o, err)
		}
	}
	return fd, nil
}

// setThreadEUID sets the effective uid of the calling thread only (the raw
// system call: Go's syscall.Setresuid changes every thread). Back to 0, the
// thread's effective capabilities return from its permitted set.
func setThreadEUID(uid int) error {
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESUID, ^uintptr(0), uintptr(uid), ^uintptr(0)); e != 0 {
		return fmt.Errorf("setresuid(-1, %d, -1): %w", uid, e)
	}
	return nil
}

// sockaddr builds an AF_INET6 (v6) or AF_INET sockaddr for a and port.
func sockaddr(v6 bool, a netip.Addr, port int) unix.Sockaddr {
	if v6 {
		return &unix.SockaddrInet6{Port: port, Addr: a.As16()}
	}
	return &unix.SockaddrInet4{Port: port, Addr: a.As4()}
}

func errnoOf(err error) syscall.Errno {
	if err == nil {
		return 0
	}
	var e syscall.Errno
	if errors.As(err, &e) {
		return e
	}
	return syscall.EIO
}

// setBindServiceCap raises or drops CAP_NET_BIND_SERVICE in the effective
// set of the calling thread only (capabilities are per thread in Linux;
// bed.Do runs on a locked thread). The permitted set keeps it, so it can be
// raised again before the thread is reused.
func setBindServiceCap(on bool) error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return fmt.Errorf("capget: %w", err)
	}
	const bit = unix.CAP_NET_BIND_SERVICE
	if on {
		data[0].Effective |= 1 << bit
	} else {
		data[0].Effective &^= 1 << bit
	}
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return fmt.Errorf("capset: %w", err)
	}
	return nil
}

// engineRun performs a scenario on a fresh Table owning the same addresses.
func engineRun(t *testing.T, sc scenario, x addrs, prefix netip.Prefix, base int) ([]syscall.Errno, *Table, []*Socket) {
	tab, err := New(Config{
		Addrs:       []netip.Prefix{netip.PrefixFrom(x.a, prefix.Bits()), netip.PrefixFrom(x.b, prefix.Bits())},
		BindService: !sc.noCap,
		Logger:      slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	var res []syscall.Errno
	var socks []*Socket
	for _, sp := range sc.socks {
		proto, fam := TCP, IPv4
		if sp.udp {
			proto = UDP
		}
		if sp.v6 {
			fam = IPv6
		}
		s, err := tab.Open(proto, fam, optionsOf(sp.opts), len(socks))
		if err != nil {
			t.Fatal(err)
		}
		socks = append(socks, s)
		err = tab.Bind(s, netip.AddrPortFrom(engineAddr(sp.v6, sp.opts, x.resolve(sp.addr)), sp.portFor(base)))
		res = append(res, engineErrno(t, err))
		if sp.listen {
			res = append(res, engineErrno(t, tab.Listen(s)))
		}
	}
	return res, tab, socks
}

// optionsOf maps sockSpec option letters to Options.
func optionsOf(opts string) Options {
	o := Options{ReuseAddr: strings.Contains(opts, "r"), ReusePort: strings.Contains(opts, "p"),
		V6Only: strings.Contains(opts, "o"), Freebind: strings.Contains(opts, "f"),
		BindAddressNoPort: strings.Contains(opts, "n")}
	if strings.Contains(opts, "u") {
		o.Owner = 1000
	}
	return o
}

// engineAddr is the address the kernel decodes from the sockaddr that
// kernelRun builds: with x, an IPv6 socket gets a sockaddr_in (a plain IPv4
// address) and an IPv4 socket a sockaddr_in6 (the 16-byte form).
func engineAddr(v6 bool, opts string, a netip.Addr) netip.Addr {
	switch {
	case !strings.Contains(opts, "x"):
		return a
	case v6:
		return a.Unmap()
	}
	return netip.AddrFrom16(a.As16())
}

func engineErrno(t *testing.T, err error) syscall.Errno {
	if err == nil {
		return 0
	}
	var e syscall.Errno
	if !errors.As(err, &e) {
		t.Fatalf("engine error %v carries no errno", err)
	}
	var op *net.OpError
	if !errors.As(err, &op) || !errors.Is(err, e) {
		t.Fatalf("engine error %v is not a *net.OpError wrapping its errno", err)
	}
	return e
}

func newOracleBed(t *testing.T, hostAddr bool) (*testbed.Bed, addrs) {
	bed := testbed.New(t, testbed.Config{HostKernelAddr: hostAddr})
	base := bed.Prefix.Addr().As4()
	mk := func(last byte) netip.Addr { b := base; b[3] = last; return netip.AddrFrom4(b) }
	x := addrs{a: bed.PeerAddr, b: mk(10), n: mk(99), c: mk(255), z: mk(0), m: netip.MustParseAddr("239.1.2.3"), h: bed.HostAddr}
	err := bed.Do(func() error {
		link, err := netlink.LinkByName(bed.PeerIf)
		if err != nil {
			return err
		}
		return netlink.AddrAdd(link, &netlink.Addr{IPNet: &net.IPNet{IP: x.b.AsSlice(), Mask: net.CIDRMask(bed.Prefix.Bits(), 32)}})
	})
	if err != nil {
		t.Fatalf("second peer address: %v", err)
	}
	return bed, x
}

func closeAll(fds []int) {
	for _, fd := range fds {
		unix.Close(fd)
	}
}

// TestBindRulesAgainstKernel performs every scenario on the peer kernel and
// on the engine's table and requires the same success or errno at each
// bind and listen.
func TestBindRulesAgainstKernel(t *testing.T) {
	testbed.RequirePrivileged(t)
	bed, x := newOracleBed(t, false)
	for i, sc := range slices.Concat(bindScenarios, fanoutBindScenarios) {
		t.Run(sc.name, func(t *testing.T) {
			base := 20000 + 10*i
			var kres []syscall.Errno
			err := bed.Do(func() error {
				r, fds, err := kernelRun(sc, x, base)
				closeAll(fds)
				kres = r
				return err
			})
			if err != nil {
				t.Fatalf("kernel: %v", err)
			}
			eres, _, _ := engineRun(t, sc, x, bed.Prefix, base)
			if fmt.Sprint(eres) != fmt.Sprint(kres) {
				t.Errorf("engine %v, kernel %v (errno per bind/listen; 0 is success)", errnos(eres), errnos(kres))
			} else {
				t.Logf("engine and kernel: %v", errnos(kres))
			}
		})
	}
}

func errnos(es []syscall.Errno) string {
	var s []string
	for _, e := range es {
		if e == 0 {
			s = append(s, "ok")
		} else {
			s = append(s, unix.ErrnoName(e))
		}
	}
	return strings.Join(s, ",")
}

// lookupScenarios: UDP sockets bound on the peer; a datagram from the host
// kernel (.3) to dst; which socket receives it (-1: none, the kernel
// answers with ICMP port unreachable). The engine's Lookup must pick the
// same socket, or one of the same SO_REUSEPORT group when group is set.
var lookupScenarios = []struct {
	name  string
	socks []sockSpec
	dst   string
	group bool
}{
	{"specific wins over wildcard", []sockSpec{U("0", "r"), U("A", "r")}, "A", false},
	{"wildcard fills the gap", []sockSpec{U("0", "r"), U("A", "r")}, "B", false},
	{"wildcard only", []sockSpec{U("0", "")}, "A", false},
	{"dual-stack :: takes IPv4", []sockSpec{U6("::", "")}, "A", false},
	{"v6only :: does not take IPv4", []sockSpec{U6("::", "o")}, "A", false},
	{"IPv4 wildcard wins over dual-stack ::", []sockSpec{U6("::", "r"), U("0", "r")}, "A", false},
	{"IPv4 wildcard wins over dual-stack :: bound first", []sockSpec{U("0", "r"), U6("::", "r")}, "A", false},
	{"v4-mapped specific wins over IPv4 wildcard", []sockSpec{U("0", "r"), U6("mA", "r")}, "A", false},
	{"specific on another address: nothing", []sockSpec{U("B", "")}, "A", false},
	{"two reuseaddr sockets on one address", []sockSpec{U("A", "r"), U("A", "r")}, "A", false},
	{"reuseport group", []sockSpec{U("A", "p"), U("A", "p")}, "A", true},
	{"::ffff:0.0.0.0 takes IPv4 for every address", []sockSpec{U6("m0", "")}, "B", false},
	{"IPv4 wildcard wins over ::ffff:0.0.0.0", []sockSpec{U("0", "r"), U6("m0", "r")}, "A", false},
	{"v4-mapped specific wins over ::ffff:0.0.0.0", []sockSpec{U6("mA", "r"), U6("m0", "r")}, "A", false},
	{"::ffff:0.0.0.0 and dual-stack ::, the newer wins", []sockSpec{U6("::", "r"), U6("m0", "r")}, "A", false},
	{"dual-stack :: and ::ffff:0.0.0.0, the newer wins", []sockSpec{U6("m0", "r"), U6("::", "r")}, "A", false},
	{"nothing bound", nil, "A", false},
}

func TestLookupOrderAgainstKernel(t *testing.T) {
	testbed.RequirePrivileged(t)
	bed, x := newOracleBed(t, true)
	warmUp(t, bed, x)
	for i, sc := range lookupScenarios {
		t.Run(sc.name, func(t *testing.T) {
			base := 30000 + 10*i
			spec := scenario{name: sc.name, socks: sc.socks}
			var fds []int
			err := bed.Do(func() error {
				r, f, err := kernelRun(spec, x, base)
				fds = f
				for j, e := range r {
					if e != 0 {
						return fmt.Errorf("kernel bind %d: %v", j, e)
					}
				}
				return err
			})
			defer closeAll(fds)
			if err != nil {
				t.Fatalf("kernel: %v", err)
			}
			dst := netip.AddrPortFrom(x.resolve(sc.dst), uint16(base))
			conn, err := net.DialUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(bed.HostAddr, 0)), net.UDPAddrFromAddrPort(dst))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if _, err := conn.Write([]byte("which socket?")); err != nil {
				t.Fatal(err)
			}
			got := -1
			buf := make([]byte, 64)
			// A datagram crosses the veth in microseconds; half a second
			// without delivery means the kernel found no socket.
			for deadline := time.Now().Add(500 * time.Millisecond); got < 0 && time.Now().Before(deadline); {
				for j, fd := range fds {
					if n, _, err := unix.Recvfrom(fd, buf, unix.MSG_DONTWAIT); err == nil && n > 0 {
						got = j
					}
				}
				if got < 0 {
					time.Sleep(5 * time.Millisecond)
				}
			}
			_, tab, _ := engineRun(t, spec, x, bed.Prefix, base)
			src := netip.MustParseAddrPort(conn.LocalAddr().String())
			k := flowtable.KeyFrom(src, dst, uint8(UDP))
			s, m := tab.Lookup(&k)
			want := -1
			if s != nil {
				want = s.Endpoint().(int)
			}
			if sc.group && got >= 0 && want >= 0 {
				if m != MatchSpecific {
					t.Errorf("engine match %v, want specific", m)
				}
				return // kernel and engine each chose a member of the group
			}
			if want != got {
				t.Errorf("engine picked socket %d (%v), kernel delivered to %d", want, m, got)
			}
		})
	}
}

// warmUp sends datagrams from the host to both peer addresses until one
// arrives on each, so that link bring-up and ARP do not delay the
// scenarios' single datagrams past their wait.
func warmUp(t *testing.T, bed *testbed.Bed, x addrs) {
	for _, a := range []netip.Addr{x.a, x.b} {
		var fd int
		err := bed.Do(func() error {
			var err error
			fd, err = unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				return err
			}
			return unix.Bind(fd, &unix.SockaddrInet4{Port: 29999, Addr: a.As4()})
		})
		if err != nil {
			t.Fatalf("warm-up socket: %v", err)
		}
		conn, err := net.DialUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(bed.HostAddr, 0)),
			net.UDPAddrFromAddrPort(netip.AddrPortFrom(a, 29999)))
		if err != nil {
			t.Fatal(err)
		}
		ok := false
		buf := make([]byte, 16)
		for deadline := time.Now().Add(10 * time.Second); !ok && time.Now().Before(deadline); {
			_, _ = conn.Write([]byte("warm"))
			time.Sleep(20 * time.Millisecond)
			if n, _, err := unix.Recvfrom(fd, buf, unix.MSG_DONTWAIT); err == nil && n > 0 {
				ok = true
			}
		}
		conn.Close()
		unix.Close(fd)
		if !ok {
			t.Fatalf("no datagram reached the peer at %v within 10s", a)
		}
	}
}
