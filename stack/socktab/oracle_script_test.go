package socktab

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/xdpengine/engine/internal/testbed"
)

// A script is a sequence of socket calls performed on the peer kernel and on
// a fresh Table; every call that can fail records its errno, and "off"
// records which parity of the range a chosen port has. Steps:
//
//	range LO HI        set net.ipv4.ip_local_port_range (Table.SetPortRange)
//	lo off|on          127.0.0.1/8 on the kernel's lo (the engine has no loopback)
//	N-M=KIND OPTS      open sockets N..M: T, T6, U, U6; OPTS as sockSpec ("-": none)
//	N=accept L         a connection to listener L, accepted as socket N (Table.Accept)
//	N-M bind ADDR PORT ADDR a token of addrs.resolve; PORT +k (base+k), 0, =J (J's local port)
//	N-M listen
//	N-M connect S|S2   to A:base+8 or A:base+9 (TCP: the kernel has listeners there)
//	N-M connect H|H2   to the host kernel's H:base+9 or H:base+8 (UDP; beds with a host address)
//	N-M off            record the parity of the local port's offset from the range's first port
//	N tw               an orderly close ending with N in TIME-WAIT (Table.SetState)
//	N close            an abortive close (SO_LINGER 0) (Table.Close)
type script struct {
	name  string
	steps []string
}

var scripts = []script{
	// connect's port choice, one call at a time (item: ephemeral ports).
	{"tcp connect: even offsets first, then odd, then EADDRNOTAVAIL", []string{
		"range 40000 40007", "0-8=T -", "0-8 connect S", "0-7 off"}},
	{"tcp connect: the parity is relative to an odd first port", []string{
		"range 40101 40108", "0-7=T -", "0-7 connect S", "0-7 off"}},
	{"tcp connect: ports are shared across destinations", []string{
		"range 40200 40203", "0-9=T -", "0-3 connect S", "4-7 connect S2", "8 connect S", "9 connect S2"}},
	{"udp connect: every port once, then EAGAIN", []string{
		"range 40300 40303", "0-4=U -", "0-4 connect S"}},
	{"tcp bind(0): odd offsets first, then even, then EADDRINUSE", []string{
		"range 40400 40403", "0-4=T -", "0-4 bind A 0", "0-3 off"}},
	{"udp bind(0): every port once, then EADDRINUSE", []string{
		"range 40500 40503", "0-4=U -", "0-4 bind A 0"}},
	{"tcp listen without bind picks a port", []string{
		"range 40600 40601", "0-2=T -", "0-2 listen", "0-1 off"}},
	{"tcp bind(0) skips a port connect took", []string{
		"range 40700 40701", "0-2=T -", "0 connect S", "1-2 bind A 0"}},
	{"IP_BIND_ADDRESS_NO_PORT: bound sockets share ports across destinations", []string{
		"range 40800 40801", "0-4=T n", "0-4 bind A 0", "0-1 connect S", "2-3 connect S2", "4 connect S"}},
	{"without IP_BIND_ADDRESS_NO_PORT, bind(A, 0) takes the port", []string{
		"range 40900 40901", "0-2=T -", "0-2 bind A 0"}},
	{"tcp connect on a v4-mapped IPv6 socket", []string{
		"range 41000 41001", "0-2=T6 -", "0-2 connect S", "0-1 off"}},
	// The range itself.
	{"the range may not start below ip_unprivileged_port_start", []string{
		"range 500 600", "range 1023 2000", "range 1024 1024", "0-1=T -", "0-1 connect S"}},
	{"the range needs first <= last", []string{"range 41101 41100", "range 41100 41100"}},
	{"a new range leaves connected ports taken", []string{
		"range 41200 41201", "0-1=T -", "0-1 connect S", "range 41210 41211", "2-4=T -", "2-4 connect S",
		"2-3 off", "5=T -", "5 bind A =0"}},
	// Binding one socket twice.
	{"tcp bind twice", []string{"0=T -", "0 bind A +0", "0 bind A +1"}},
	{"udp bind twice", []string{"0=U -", "0 bind A +0", "0 bind A +1"}},
	{"tcp bind after a failed bind", []string{"0-1=T -", "0 bind A +0", "1 bind A +0", "1 bind A +1"}},
	{"tcp bind after listen", []string{"0=T -", "0 listen", "0 bind A +1"}},
	{"udp bind after connect", []string{"0=U -", "0 connect S", "0 bind A +1"}},
	{"tcp bind again after an IP_BIND_ADDRESS_NO_PORT bind", []string{"0=T n", "0 bind A 0", "0 bind B +1", "0 bind B +2"}},
	{"tcp rebind of a closed listener's port", []string{"0-1=T -", "0 bind A +0", "0 listen", "0 close", "1 bind A +0", "1 listen"}},
	// The engine has no loopback: its kernel analogue is a lo without
	// 127.0.0.1 (a Linux lo that is merely down keeps 127.0.0.0/8 local).
	{"127.0.0.1 without a loopback address", []string{"lo off", "0=T -", "0 bind L +0", "1=U -", "1 bind L +1", "2=T f", "2 bind L +2", "lo on"}},
	// Accepted connections hold the listener's port (item: passive sockets).
	{"accepted, listener closed, no reuseaddr", []string{
		"0=T -", "0 bind A +0", "0 listen", "1=accept 0", "0 close", "2=T -", "2 bind A +0"}},
	{"accepted, listener closed, reuseaddr on the new socket only", []string{
		"0=T -", "0 bind A +0", "0 listen", "1=accept 0", "0 close", "2=T r", "2 bind A +0"}},
	{"accepted, listener closed, reuseaddr on both", []string{
		"0=T r", "0 bind A +0", "0 listen", "1=accept 0", "0 close", "2=T r", "2 bind A +0", "2 listen"}},
	{"accepted, listener open, reuseaddr on both", []string{
		"0=T r", "0 bind A +0", "0 listen", "1=accept 0", "2=T r", "2 bind A +0", "2 listen"}},
	{"accepted, wildcard rebind, reuseaddr on both", []string{
		"0=T r", "0 bind A +0", "0 listen", "1=accept 0", "0 close", "2=T r", "2 bind 0 +0", "2 listen"}},
	{"accepted, reuseport, same owner", []string{
		"0=T p", "0 bind A +0", "0 listen", "1=accept 0", "0 close", "2=T p", "2 bind A +0", "2 listen"}},
	{"accepted, reuseport, other owner", []string{
		"0=T pu", "0 bind A +0", "0 listen", "1=accept 0", "0 close", "2=T p", "2 bind A +0"}},
	{"accepted, closed: the port is free", []string{
		"0=T -", "0 bind A +0", "0 listen", "1=accept 0", "0 close", "1 close", "2=T -", "2 bind A +0", "2 listen"}},
	{"accepted in TIME-WAIT, no reuseaddr", []string{
		"0=T -", "0 bind A +0", "0 listen", "1=accept 0", "0 close", "1 tw", "2=T -", "2 bind A +0"}},
	{"accepted in TIME-WAIT, reuseaddr on the new socket only", []string{
		"0=T -", "0 bind A +0", "0 listen", "1=accept 0", "0 close", "1 tw", "2=T r", "2 bind A +0"}},
	{"accepted in TIME-WAIT, reuseaddr on both", []string{
		"0=T r", "0 bind A +0", "0 listen", "1=accept 0", "0 close", "1 tw", "2=T r", "2 bind A +0", "2 listen"}},
	{"accepted in TIME-WAIT, reuseport, other owner", []string{
		"0=T pu", "0 bind A +0", "0 listen", "1=accept 0", "0 close", "1 tw", "2=T p", "2 bind A +0", "2 listen"}},
	{"accepted by a dual-stack listener, in TIME-WAIT, IPv4 rebind", []string{
		"0=T6 r", "0 bind :: +0", "0 listen", "1=accept 0", "0 close", "1 tw", "2=T -", "2 bind A +0", "3=T r", "3 bind A +0"}},
	// Active opens: connected and TIME-WAIT sockets hold their port.
	{"connected: bind its port, no reuseaddr", []string{"0-1=T -", "0 connect S", "1 bind A =0"}},
	{"connected: bind its port, reuseaddr on both", []string{"0-1=T r", "0 connect S", "1 bind A =0", "1 listen"}},
	{"connected in TIME-WAIT: bind its port, no reuseaddr", []string{"0-1=T -", "0 connect S", "0 tw", "1 bind A =0"}},
	{"connected in TIME-WAIT: reuseaddr on the new socket only", []string{"0=T -", "1=T r", "0 connect S", "0 tw", "1 bind A =0"}},
	{"connected in TIME-WAIT: reuseaddr on both", []string{"0-1=T r", "0 connect S", "0 tw", "1 bind A =0", "1 listen"}},
}

// TestScriptsAgainstKernel performs every script on the peer kernel and on a
// fresh Table and requires the same results.
func TestScriptsAgainstKernel(t *testing.T) {
	testbed.RequirePrivileged(t)
	bed, x := newOracleBed(t, false)
	for i, sc := range scripts {
		t.Run(sc.name, func(t *testing.T) {
			base := 25000 + 10*i
			var kres []string
			err := bed.Do(func() error {
				k := newKernelSide(x)
				defer k.cleanup()
				var err error
				kres, err = runScript(k, sc.steps, x, base)
				return err
			})
			if err != nil {
				t.Fatalf("kernel: %v", err)
			}
			eres, err := runScript(newEngineSide(t, x, bed.Prefix), sc.steps, x, base)
			if err != nil {
				t.Fatalf("engine: %v", err)
			}
			if strings.Join(eres, " ") != strings.Join(kres, " ") {
				t.Errorf("engine %v\nkernel %v", eres, kres)
			} else {
				t.Logf("engine and kernel: %v", kres)
			}
		})
	}
}

// side is one implementation a script runs on.
type side interface {
	setRange(lo, hi int) (syscall.Errno, error)
	loopback(up bool) error
	open(i int, kind, opts string) error
	bind(i int, a netip.Addr, port int) (syscall.Errno, error)
	listen(i int) (syscall.Errno, error)
	connect(i int, dst netip.AddrPort) (syscall.Errno, error)
	localPort(i int) (int, error)
	accept(i, l int) error
	timeWait(i int) error
	close(i int) error
}

func runScript(sd side, steps []string, x addrs, base int) ([]string, error) {
	first := 32768
	var out []string
	for _, st := range steps {
		f := strings.Fields(st)
		switch f[0] {
		case "range":
			lo, hi := atoi(f[1]), atoi(f[2])
			e, err := sd.setRange(lo, hi)
			if err != nil {
				return out, err
			}
			if e == 0 {
				first = lo
			}
			out = append(out, "range:"+errnoName(e))
			continue
		case "lo":
			if err := sd.loopback(f[1] == "on"); err != nil {
				return out, err
			}
			continue
		}
		if lhs, kind, ok := strings.Cut(f[0], "="); ok {
			lo, hi := span(lhs)
			for j := lo; j <= hi; j++ {
				var err error
				if kind == "accept" {
					err = sd.accept(j, atoi(f[1]))
				} else {
					err = sd.open(j, kind, strings.Trim(f[1], "-"))
				}
				if err != nil {
					return out, fmt.Errorf("%s: %w", st, err)
				}
			}
			continue
		}
		lo, hi := span(f[0])
		for j := lo; j <= hi; j++ {
			var e syscall.Errno
			var err error
			switch f[1] {
			case "bind":
				var port int
				switch p := f[3]; {
				case p == "0":
				case p[0] == '+':
					port = base + atoi(p[1:])
				case p[0] == '=':
					port, err = sd.localPort(atoi(p[1:]))
				}
				if err == nil {
					e, err = sd.bind(j, x.resolve(f[2]), port)
				}
			case "listen":
				e, err = sd.listen(j)
			case "connect":
				dst := netip.AddrPortFrom(x.a, uint16(base+8))
				switch f[2] {
				case "S2":
					dst = netip.AddrPortFrom(x.a, uint16(base+9))
				case "H":
					dst = netip.AddrPortFrom(x.h, uint16(base+9))
				case "H2":
					dst = netip.AddrPortFrom(x.h, uint16(base+8))
				}
				e, err = sd.connect(j, dst)
			case "off":
				var p int
				if p, err = sd.localPort(j); err != nil {
					return out, fmt.Errorf("%s: %w", st, err)
				}
				out = append(out, fmt.Sprintf("%d:%s", j, [2]string{"even", "odd"}[(p-first)&1]))
				continue
			case "tw":
				err = sd.timeWait(j)
			case "close":
				err = sd.close(j)
			default:
				return out, fmt.Errorf("unknown step %q", st)
			}
			if err != nil {
				return out, fmt.Errorf("%s: %w", st, err)
			}
			if f[1] == "bind" || f[1] == "listen" || f[1] == "connect" {
				out = append(out, fmt.Sprintf("%d %s:%s", j, f[1], errnoName(e)))
			}
		}
	}
	return out, nil
}

func atoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		panic(err)
	}
	return n
}

// span parses "N" or "N-M".
func span(s string) (int, int) {
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		return atoi(a), atoi(a)
	}
	return atoi(a), atoi(b)
}

func errnoName(e syscall.Errno) string {
	if e == 0 {
		return "ok"
	}
	return errnos([]syscall.Errno{e})
}
