package main

import (
	"flag"
	"fmt"
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

// expandShort turns combined single-letter flags ("-ua") into separate ones
// ("-u", "-a"), as ss(8) users type them. Only arguments made entirely of
// letters in boolFlags are expanded; everything after "--" is left alone.
func expandShort(args []string, boolFlags string) []string {
	out := make([]string, 0, len(args))
	for i, a := range args {
		if a == "--" {
			return append(out, args[i:]...)
		}
		if len(a) > 2 && a[0] == '-' && a[1] != '-' && strings.Trim(a[1:], boolFlags) == "" {
			for _, c := range a[1:] {
				out = append(out, "-"+string(c))
			}
			continue
		}
		out = append(out, a)
	}
	return out
}

// flagSet returns a FlagSet whose usage prints synopsis, then the flags.
func flagSet(name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), strings.TrimSpace(synopsis))
		fmt.Fprintln(fs.Output(), "\nFlags (one or two dashes):")
		fs.PrintDefaults()
	}
	return fs
}
