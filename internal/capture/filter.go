package capture

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// ErrFilter is wrapped by every error of ParseFilter and ParseBPF.
var ErrFilter = errors.New("capture: bad filter")

// Filter selects frames. A Filter keeps per-frame scratch state: use one
// per goroutine (MatchFunc gives a fresh one).
type Filter interface {
	Match(frame []byte) bool
}

// pkt is what the expression filter reads from a frame, parsed once.
type pkt struct {
	ethType  uint16
	v4       bool // an IPv4 packet (ethType 0x0800, valid header)
	v6       bool // an IPv6 packet (ethType 0x86dd, 40-byte header)
	arp      bool // an ARP packet for IPv4 over Ethernet
	src, dst netip.Addr
	proto    uint8 // IP protocol (IPv6: the next header)
	ports    bool  // sport and dport are valid (TCP or UDP, first fragment)
	sport    uint16
	dport    uint16
}

func (p *pkt) parse(f []byte) {
	*p = pkt{}
	if len(f) < 14 {
		return
	}
	p.ethType = binary.BigEndian.Uint16(f[12:14])
	l3 := f[14:]
	var l4 []byte
	switch p.ethType {
	case 0x0800:
		if len(l3) < 20 || l3[0]>>4 != 4 {
			return
		}
		ihl := int(l3[0]&0xf) * 4
		if ihl < 20 || len(l3) < ihl {
			return
		}
		p.v4 = true
		p.src = netip.AddrFrom4([4]byte(l3[12:16]))
		p.dst = netip.AddrFrom4([4]byte(l3[16:20]))
		p.proto = l3[9]
		if binary.BigEndian.Uint16(l3[6:8])&0x1fff == 0 { // first fragment (or whole)
			l4 = l3[ihl:]
		}
	case 0x86dd:
		if len(l3) < 40 {
			return
		}
		p.v6 = true
		p.src = netip.AddrFrom16([16]byte(l3[8:24]))
		p.dst = netip.AddrFrom16([16]byte(l3[24:40]))
		p.proto = l3[6]
		l4 = l3[40:]
	case 0x0806:
		// htype 1, ptype IPv4, hlen 6, plen 4: sender IP at 14, target at 24.
		if len(l3) < 28 || binary.BigEndian.Uint16(l3[2:4]) != 0x0800 || l3[5] != 4 {
			return
		}
		p.arp = true
		p.src = netip.AddrFrom4([4]byte(l3[14:18]))
		p.dst = netip.AddrFrom4([4]byte(l3[24:28]))
		return
	default:
		return
	}
	if (p.proto == 6 || p.proto == 17) && len(l4) >= 4 {
		p.ports = true
		p.sport = binary.BigEndian.Uint16(l4[0:2])
		p.dport = binary.BigEndian.Uint16(l4[2:4])
	}
}

type node func(p *pkt) bool

// exprFilter is a parsed expression (ParseFilter).
type exprFilter struct {
	root node
	p    pkt
}

func (f *exprFilter) Match(frame []byte) bool {
	f.p.parse(frame)
	return f.root(&f.p)
}

// ParseFilter parses a filter expression in the common subset of
// pcap-filter(7):
//
//	[src|dst] host ADDR        IPv4 or IPv6 source or destination (ARP: sender or target)
//	[src|dst] net CIDR         the same, for an address in CIDR
//	[tcp|udp] [src|dst] port N TCP or UDP port (first fragments only, as tcpdump)
//	[tcp|udp] [src|dst] portrange N-M
//	ip | ip6 | arp | tcp | udp | icmp | icmp6
//	[ip] proto NAME|N          IPv4 protocol or IPv6 next header
//	ether proto N              EtherType
//	not EXPR, EXPR and EXPR, EXPR or EXPR, ( EXPR )   (also !, &&, ||)
//
// "and" binds tighter than "or", as in tcpdump. An empty expression matches
// every frame (nil Filter, nil error). Anything else (VLAN, ether host,
// less/greater, byte offsets) is for classic BPF: ParseBPF of
// `tcpdump -ddd EXPR`.
func ParseFilter(expr string) (Filter, error) {
	toks := tokenize(expr)
	if len(toks) == 0 {
		return nil, nil
	}
	ps := &parser{toks: toks}
	n, err := ps.or()
	if err == nil && ps.i < len(ps.toks) {
		err = fmt.Errorf("unexpected %q", ps.toks[ps.i])
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %q: %w", ErrFilter, expr, err)
	}
	return &exprFilter{root: n}, nil
}

func tokenize(s string) []string {
	s = strings.NewReplacer("(", " ( ", ")", " ) ", "&&", " and ", "||", " or ").Replace(s)
	var out []string
	for _, f := range strings.Fields(s) {
		if f == "!" {
			f = "not"
		} else if strings.HasPrefix(f, "!") {
			out = append(out, "not")
			f = f[1:]
		}
		out = append(out, strings.ToLower(f))
	}
	return out
}

type parser struct {
	toks []string
	i    int
}

func (ps *parser) peek() string {
	if ps.i < len(ps.toks) {
		return ps.toks[ps.i]
	}
	return ""
}

func (ps *parser) next() (string, error) {
	if ps.i >= len(ps.toks) {
		return "", errors.New("unexpected end of expression")
	}
	ps.i++
	return ps.toks[ps.i-1], nil
}

func (ps *parser) or() (node, error) {
	l, err := ps.and()
	for err == nil && ps.peek() == "or" {
		ps.i++
		var r node
		if r, err = ps.and(); err == nil {
			a, b := l, r
			l = func(p *pkt) bool { return a(p) || b(p) }
		}
	}
	return l, err
}

func (ps *parser) and() (node, error) {
	l, err := ps.unary()
	for err == nil && ps.peek() == "and" {
		ps.i++
		var r node
		if r, err = ps.unary(); err == nil {
			a, b := l, r
			l = func(p *pkt) bool { return a(p) && b(p) }
		}
	}
	return l, err
}

func (ps *parser) unary() (node, error) {
	switch ps.peek() {
	case "not":
		ps.i++
		n, err := ps.unary()
		if err != nil {
			return nil, err
		}
		return func(p *pkt) bool { return !n(p) }, nil
	case "(":
		ps.i++
		n, err := ps.or()
		if err != nil {
			return nil, err
		}
		if t, err := ps.next(); err != nil || t != ")" {
			return nil, errors.New("missing )")
		}
		return n, nil
	}
	return ps.primitive()
}

var protoNames = map[string]uint8{"icmp": 1, "igmp": 2, "tcp": 6, "udp": 17, "gre": 47, "esp": 50, "ah": 51, "icmp6": 58, "sctp": 132}

func (ps *parser) primitive() (node, error) {
	t, err := ps.next()
	if err != nil {
		return nil, err
	}
	// Protocol qualifier before port: "tcp port 80", "udp dst port 53".
	var l4 uint8
	if (t == "tcp" || t == "udp") && (ps.peek() == "port" || ps.peek() == "portrange" || ps.peek() == "src" || ps.peek() == "dst") {
		l4 = protoNames[t]
		t, _ = ps.next()
	}
	dir := ""
	if t == "src" || t == "dst" {
		dir = t
		if t, err = ps.next(); err != nil {
			return nil, err
		}
		if t == "or" || t == "and" { // "src or dst host X"
			return nil, fmt.Errorf("%q: give src or dst, or neither for both", dir+" "+t)
		}
	}
	switch t {
	case "host", "net":
		a, err := ps.next()
		if err != nil {
			return nil, err
		}
		pfx, err := parsePrefix(a, t == "host")
		if err != nil {
			return nil, err
		}
		return l4Only(0, addrNode(dir, pfx)), nil
	case "port", "portrange":
		a, err := ps.next()
		if err != nil {
			return nil, err
		}
		lo, hi, err := parsePorts(a, t == "portrange")
		if err != nil {
			return nil, err
		}
		return l4Only(l4, portNode(dir, lo, hi)), nil
	}
	if dir != "" {
		return nil, fmt.Errorf("%s %q: want host, net, port or portrange after %s", dir, t, dir)
	}
	switch t {
	case "ip":
		if ps.peek() == "proto" {
			return ps.primitive()
		}
		return func(p *pkt) bool { return p.v4 }, nil
	case "ip6":
		return func(p *pkt) bool { return p.v6 }, nil
	case "arp":
		return func(p *pkt) bool { return p.ethType == 0x0806 }, nil
	case "icmp":
		return func(p *pkt) bool { return p.v4 && p.proto == 1 }, nil
	case "icmp6":
		return func(p *pkt) bool { return p.v6 && p.proto == 58 }, nil
	case "tcp", "udp":
		n := protoNames[t]
		return func(p *pkt) bool { return (p.v4 || p.v6) && p.proto == n }, nil
	case "proto":
		a, err := ps.next()
		if err != nil {
			return nil, err
		}
		n, ok := protoNames[a]
		if !ok {
			v, err := strconv.ParseUint(a, 0, 8)
			if err != nil {
				return nil, fmt.Errorf("proto %q: want a name (tcp, udp, icmp, ...) or a number 0-255", a)
			}
			n = uint8(v)
		}
		return func(p *pkt) bool { return (p.v4 || p.v6) && p.proto == n }, nil
	case "ether":
		if k, _ := ps.next(); k != "proto" {
			return nil, errors.New("ether: only \"ether proto N\" is supported here (use a BPF filter for the rest)")
		}
		a, err := ps.next()
		if err != nil {
			return nil, err
		}
		v, err := strconv.ParseUint(a, 0, 16)
		if err != nil {
			return nil, fmt.Errorf("ether proto %q: want a number, e.g. 0x0800", a)
		}
		et := uint16(v)
		return func(p *pkt) bool { return p.ethType == et }, nil
	}
	return nil, fmt.Errorf("unknown primitive %q (this parser knows host, net, port, portrange, proto, ip, ip6, arp, tcp, udp, icmp; "+
		"for others pass `tcpdump -ddd EXPR` with --filter-ddd)", t)
}

// l4Only restricts n to IP protocol proto (0: any).
func l4Only(proto uint8, n node) node {
	if proto == 0 {
		return n
	}
	return func(p *pkt) bool { return p.proto == proto && n(p) }
}

func parsePrefix(s string, host bool) (netip.Prefix, error) {
	if a, err := netip.ParseAddr(s); err == nil {
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	if host {
		return netip.Prefix{}, fmt.Errorf("host %q: want an IPv4 or IPv6 address (names are not resolved)", s)
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("net %q: want an address or a CIDR prefix", s)
	}
	return p.Masked(), nil
}

func addrNode(dir string, pfx netip.Prefix) node {
	switch dir {
	case "src":
		return func(p *pkt) bool { return p.src.IsValid() && pfx.Contains(p.src) }
	case "dst":
		return func(p *pkt) bool { return p.dst.IsValid() && pfx.Contains(p.dst) }
	}
	return func(p *pkt) bool { return p.src.IsValid() && (pfx.Contains(p.src) || pfx.Contains(p.dst)) }
}

func parsePorts(s string, rng bool) (lo, hi uint16, err error) {
	a, b := s, s
	if rng {
		var ok bool
		if a, b, ok = strings.Cut(s, "-"); !ok {
			return 0, 0, fmt.Errorf("portrange %q: want FIRST-LAST", s)
		}
	}
	l, err1 := strconv.ParseUint(a, 10, 16)
	h, err2 := strconv.ParseUint(b, 10, 16)
	if err1 != nil || err2 != nil || l > h {
		return 0, 0, fmt.Errorf("port %q: want a number 0-65535 (names are not resolved)", s)
	}
	return uint16(l), uint16(h), nil
}

func portNode(dir string, lo, hi uint16) node {
	in := func(v uint16) bool { return v >= lo && v <= hi }
	switch dir {
	case "src":
		return func(p *pkt) bool { return p.ports && in(p.sport) }
	case "dst":
		return func(p *pkt) bool { return p.ports && in(p.dport) }
	}
	return func(p *pkt) bool { return p.ports && (in(p.sport) || in(p.dport)) }
}
