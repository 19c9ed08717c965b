package main

import (
	"errors"
	"fmt"
	"github.com/spf13/pflag"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/xdpengine/engine/engine"
	"github.com/xdpengine/engine/portalloc"
)

// parsePrefix parses the engine's own address with its prefix length. The
// address is kept as given (198.18.0.1/24 owns 198.18.0.1 on 198.18.0.0/24).
func parsePrefix(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		if a, aerr := netip.ParseAddr(s); aerr == nil && a.Is4() {
			return netip.Prefix{}, fmt.Errorf("%q has no prefix length: give the subnet too, e.g. %s/24", s, a)
		} else if aerr == nil && a.Is6() {
			return netip.Prefix{}, fmt.Errorf("%q has no prefix length: give the subnet too, e.g. %s/64", s, a)
		}
		return netip.Prefix{}, fmt.Errorf("%q is not an IPv4 address with a prefix length (CIDR), e.g. 198.18.0.1/24, nor an IPv6 one, e.g. 2001:db8::1/64", s)
	}
	if a := p.Addr(); a.Is6() && (a.Is4In6() || a.Zone() != "" || a.IsLinkLocalUnicast() || a.IsMulticast() || a.IsLoopback() || a.IsUnspecified()) {
		return netip.Prefix{}, fmt.Errorf("%q: want a global (or unique local) unicast IPv6 address; the link-local address stays the host's", s)
	}
	if p.Addr().Is4() && p.Bits() < 31 && p.Addr() == p.Masked().Addr() {
		return netip.Prefix{}, fmt.Errorf("%q is the network address of its subnet: give the engine's own address, e.g. %s/%d",
			s, p.Addr().Next(), p.Bits())
	}
	return p, nil
}

// parseNeighbor parses a static ARP entry, ADDR=MAC.
func parseNeighbor(s string) (engine.Neighbor, error) {
	as, ms, ok := strings.Cut(s, "=")
	a, aerr := netip.ParseAddr(as)
	mac, merr := net.ParseMAC(ms)
	if !ok || aerr != nil || a.Zone() != "" || merr != nil || len(mac) != 6 {
		return engine.Neighbor{}, fmt.Errorf("%q: want ADDR=MAC, an IPv4 or IPv6 address and an Ethernet address, e.g. 198.18.0.2=02:00:00:00:00:02", s)
	}
	return engine.Neighbor{Addr: a, MAC: mac}, nil
}

// echoSpec is one service given on the command line: --echo or --discard
// with udp:PORT, tcp:PORT, or PROTO:ADDR:PORT.
type echoSpec struct {
	Kind  string         // "echo" or "discard"
	Proto string         // "udp" or "tcp"
	Addr  netip.AddrPort // the address is unspecified for every owned address
}

// label names the service in logs and metrics: "udp:7", "discard tcp:9".
func (s echoSpec) label() string {
	if s.Kind == "discard" {
		return "discard " + s.String()
	}
	return s.String()
}

func (s echoSpec) String() string {
	if s.Addr.Addr().IsUnspecified() {
		return fmt.Sprintf("%s:%d", s.Proto, s.Addr.Port())
	}
	return s.Proto + ":" + s.Addr.String()
}

// listenAddr is the address to give engine.ListenPacket.
func (s echoSpec) listenAddr() string {
	if s.Addr.Addr().IsUnspecified() {
		return fmt.Sprintf(":%d", s.Addr.Port())
	}
	return s.Addr.String()
}

// parseService parses PROTO:PORT or PROTO:ADDR:PORT for a service of kind.
func parseService(kind, v string) (echoSpec, error) {
	proto, rest, ok := strings.Cut(v, ":")
	if !ok {
		return echoSpec{}, fmt.Errorf("%q: want udp:PORT, tcp:PORT or PROTO:ADDR:PORT, e.g. udp:7", v)
	}
	switch proto {
	case "udp", "tcp":
	default:
		return echoSpec{}, fmt.Errorf("%q: unknown protocol %q (want udp:PORT or tcp:PORT)", v, proto)
	}
	addr := netip.IPv4Unspecified()
	portStr := rest
	if i := strings.LastIndexByte(rest, ':'); i >= 0 {
		a, err := netip.ParseAddr(rest[:i])
		if err != nil || !a.Is4() {
			return echoSpec{}, fmt.Errorf("%q: %q is not an IPv4 address", v, rest[:i])
		}
		addr, portStr = a, rest[i+1:]
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil || port == 0 {
		return echoSpec{}, fmt.Errorf("%q: port %q: want 1-65535", v, portStr)
	}
	return echoSpec{Kind: kind, Proto: proto, Addr: netip.AddrPortFrom(addr, uint16(port))}, nil
}

// parseRange parses FIRST-LAST.
func parseRange(s string) (portalloc.Range, error) {
	a, b, ok := strings.Cut(s, "-")
	first, err1 := strconv.ParseUint(a, 10, 16)
	last, err2 := strconv.ParseUint(b, 10, 16)
	if !ok || err1 != nil || err2 != nil || first == 0 || first > last {
		return portalloc.Range{}, fmt.Errorf("%q: want FIRST-LAST with 1 <= FIRST <= LAST <= 65535, e.g. 32768-60999", s)
	}
	return portalloc.Range{First: uint16(first), Last: uint16(last)}, nil
}

// parseRanges parses a port list as ip_local_reserved_ports takes it:
// PORT or FIRST-LAST, comma-separated (empty: none).
func parseRanges(s string) ([]portalloc.Range, error) {
	rs := []portalloc.Range{}
	if s == "" {
		return rs, nil
	}
	for _, part := range strings.Split(s, ",") {
		if !strings.Contains(part, "-") {
			part += "-" + part
		}
		r, err := parseRange(part)
		if err != nil {
			return nil, err
		}
		rs = append(rs, r)
	}
	return rs, nil
}

// parseCPUs parses a comma-separated CPU list such as 2,3 or 2-5.
func parseCPUs(s string) ([]int, error) {
	var cpus []int
	for _, part := range strings.Split(s, ",") {
		a, b, isRange := strings.Cut(part, "-")
		lo, err := strconv.Atoi(a)
		hi := lo
		if err == nil && isRange {
			hi, err = strconv.Atoi(b)
		}
		if err != nil || lo < 0 || hi < lo {
			return nil, fmt.Errorf("%q: want a CPU list such as 2,3 or 2-5", s)
		}
		for c := lo; c <= hi; c++ {
			cpus = append(cpus, c)
		}
	}
	return cpus, nil
}

// flagSet returns a GNU-style flag set (spf13/pflag: -i IFACE, --interface
// IFACE, --interface=IFACE, bundled letters as in -tua) whose usage prints
// synopsis, then each flag once, in the order it was defined. The set is
// recorded for `engine man` and `engine completion` when they ask for it.
func flagSet(name, synopsis string) *pflag.FlagSet {
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	fs.SortFlags = false
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), strings.TrimSpace(synopsis))
		fmt.Fprintln(fs.Output(), "\nFlags:")
		fmt.Fprint(fs.Output(), fs.FlagUsagesWrapped(100))
	}
	recordFlagSet(name, synopsis, fs)
	return fs
}

// longCompat rewrites the single-dash long flags that Go's flag package
// accepted (-addr, -ctl=PATH) as GNU long flags (--addr, --ctl=PATH) when
// fs defines such a long flag, so that older scripts keep working. Short
// flags, bundles of them (-tua) and a value attached to a short flag
// (-ieth0) are left alone, as is everything after "--".
func longCompat(fs *pflag.FlagSet, args []string) []string {
	out := make([]string, 0, len(args))
	for i, a := range args {
		if a == "--" {
			return append(out, args[i:]...)
		}
		if len(a) > 2 && a[0] == '-' && a[1] != '-' {
			if name, _, _ := strings.Cut(a[1:], "="); len(name) > 1 && fs.Lookup(name) != nil {
				a = "-" + a
			}
		}
		out = append(out, a)
	}
	return out
}

// parseGNU parses args with fs: -h or --help prints the help on stdout and
// returns errHelp; a bad flag returns a usageError (exit status 2). With
// interspersed, flags may come after positional arguments; without, the
// first one ends the flags.
func parseGNU(fs *pflag.FlagSet, args []string, stdout io.Writer, interspersed bool) error {
	fs.SetOutput(io.Discard)
	fs.SetInterspersed(interspersed)
	if err := fs.Parse(longCompat(fs, args)); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			fs.SetOutput(stdout)
			fs.Usage()
			return errHelp
		}
		if w := badBundle(fs, args); w != "" && strings.HasPrefix(err.Error(), "unknown shorthand flag") {
			return usagef("unknown flag %s (short flags are one letter, long ones take two dashes: see -h)", w)
		}
		return usagef("%v", err)
	}
	return nil
}

// badBundle returns the first argument written as a single-dash word
// (-frob) that looks like a long flag rather than a bundle of short ones
// with a typo: two of its letters or more are no short flag.
func badBundle(fs *pflag.FlagSet, args []string) string {
	for _, a := range args {
		if a == "--" {
			return ""
		}
		if len(a) < 3 || a[0] != '-' || a[1] == '-' {
			continue
		}
		name, _, _ := strings.Cut(a[1:], "=")
		if f := fs.ShorthandLookup(name[:1]); f != nil && f.NoOptDefVal == "" {
			continue // a short flag with its value attached: -ieth0
		}
		unknown := 0
		for _, c := range name {
			if fs.ShorthandLookup(string(c)) == nil {
				unknown++
			}
		}
		if unknown >= 2 {
			return a
		}
	}
	return ""
}

// hideAlias defines name as a hidden second name of the flag target (kept
// for scripts written before the flag was renamed): help lists the flag
// once.
func hideAlias(fs *pflag.FlagSet, target, name string) {
	f := fs.Lookup(target)
	fs.Var(f.Value, name, "same as --"+target)
	_ = fs.MarkHidden(name)
}
