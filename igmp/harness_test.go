package igmp

import (
	"bytes"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/xdpengine/engine/header"
)

// rec is a group record, or an IGMPv1/v2 message (typ 0x12, 0x16, 0x17
// with group and no sources), in a form tests compare.
type rec struct {
	typ   uint8
	group string
	srcs  string // sources, sorted, comma-separated
}

func (r rec) String() string {
	names := map[uint8]string{1: "IS_IN", 2: "IS_EX", 3: "TO_IN", 4: "TO_EX", 5: "ALLOW", 6: "BLOCK",
		0x12: "V1REPORT", 0x16: "V2REPORT", 0x17: "LEAVE"}
	return fmt.Sprintf("%s(%s{%s})", names[r.typ], r.group, r.srcs)
}

// msg is one IGMP message sent, parsed.
type msg struct {
	at   int64
	dst  string
	recs []rec
}

func (m msg) String() string {
	var s []string
	for _, r := range m.recs {
		s = append(s, r.String())
	}
	return strings.Join(s, " ")
}

func srcList(n int, src func(int) [4]byte) string {
	var l []string
	for i := range n {
		l = append(l, netip.AddrFrom4(src(i)).String())
	}
	slices.Sort(l)
	return strings.Join(l, ",")
}

// parseMsg parses an IGMP message (the IP payload) into records, sorted.
func parseMsg(t testing.TB, p []byte) []rec {
	t.Helper()
	m, err := header.ParseIGMP(p)
	if err != nil {
		t.Fatalf("emitted IGMP does not parse: %v: %x", err, p)
	}
	if m.Type() != header.IGMPv3MembershipReport {
		return []rec{{m.Type(), m.Group().String(), ""}}
	}
	var out []rec
	it := m.Records()
	for g, ok := it.Next(); ok; g, ok = it.Next() {
		out = append(out, rec{g.Type(), g.Group().String(), srcList(g.NumSources(), g.Source4)})
	}
	slices.SortFunc(out, func(a, b rec) int { return strings.Compare(a.String(), b.String()) })
	return out
}

// fakeRand returns the values in seq (scaled by the bound: a value v in
// [0, 1000) gives n*v/1000), then n/2; it records the bounds it was asked
// for.
type fakeRand struct {
	seq    []int64
	bounds []int64
}

func (r *fakeRand) Int64N(n int64) int64 {
	r.bounds = append(r.bounds, n)
	if len(r.seq) > 0 {
		v := r.seq[0]
		r.seq = r.seq[1:]
		return n * v / 1000
	}
	return n / 2
}

var (
	hostMAC  = header.MAC{2, 0, 0, 0, 0, 1}
	hostAddr = netip.MustParseAddr("198.18.7.1")
)

// bed drives a Host with a manual clock and records what it sends.
type bed struct {
	t    testing.TB
	h    *Host
	rnd  *fakeRand
	now  int64
	sent []msg
}

func newBed(t testing.TB, cfg Config) *bed {
	t.Helper()
	b := &bed{t: t, rnd: &fakeRand{}, now: 1e9}
	if cfg.Rand == nil {
		cfg.Rand = b.rnd
	}
	cfg.Addr, cfg.MAC = hostAddr, hostMAC
	h, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	b.h = h
	return b
}

// capture checks the frame's headers and records its message.
func (b *bed) capture(f []byte) {
	t := b.t
	t.Helper()
	e, err := header.ParseEthernet(f)
	if err != nil {
		t.Fatal(err)
	}
	ip, err := header.ParseIPv4(e.Payload())
	if err != nil {
		t.Fatal(err)
	}
	if e.Src() != hostMAC || e.Dst() != header.MulticastMAC(ip.Dst4()) || ip.Src() != hostAddr ||
		ip.TTL() != 1 || ip.TOS() != 0xc0 || !ip.DontFragment() || ip.Protocol() != header.ProtocolIGMP ||
		!bytes.Equal(ip.Options(), header.IPv4OptionRouterAlert[:]) || len(f) != 14+int(ip.TotalLength()) {
		t.Fatalf("frame headers: %x", f)
	}
	b.sent = append(b.sent, msg{b.now, ip.Dst().String(), parseMsg(t, ip.Payload())})
}

func (b *bed) poll() { b.h.Poll(b.now, b.capture) }

// run advances the clock to each deadline up to until and polls there.
func (b *bed) run(until int64) {
	for {
		d := b.h.Next()
		if d == 0 || d > until {
			break
		}
		if d > b.now {
			b.now = d
		}
		b.poll()
	}
	b.now = max(b.now, until)
}

// take returns what was sent since the last take.
func (b *bed) take() []msg {
	s := b.sent
	b.sent = nil
	return s
}

// expect checks the messages sent since the last take, records only.
func (b *bed) expect(want ...string) {
	b.t.Helper()
	var got []string
	for _, m := range b.take() {
		got = append(got, m.String())
	}
	if !slices.Equal(got, want) {
		b.t.Fatalf("sent:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

func (b *bed) must(err error) {
	b.t.Helper()
	if err != nil {
		b.t.Fatal(err)
	}
}

// input feeds a message from src to dst, built from an IGMP payload.
func (b *bed) input(src, dst string, igmp []byte) error {
	b.t.Helper()
	return b.h.Input(b.now, b.packet(src, dst, igmp))
}

// packet builds the IPv4 packet of an IGMP message from src to dst.
func (b *bed) packet(src, dst string, igmp []byte) header.IPv4 {
	b.t.Helper()
	f := header.IPv4Fields{TOS: 0xc0, TotalLength: uint16(24 + len(igmp)), TTL: 1, Protocol: header.ProtocolIGMP,
		Src: netip.MustParseAddr(src), Dst: netip.MustParseAddr(dst), Options: header.IPv4OptionRouterAlert[:]}
	p := make([]byte, 24+len(igmp))
	if _, err := f.Put(p); err != nil {
		b.t.Fatal(err)
	}
	copy(p[24:], igmp)
	ip, err := header.ParseIPv4(p)
	if err != nil {
		b.t.Fatal(err)
	}
	return ip
}

func addrs(s ...string) []netip.Addr {
	var out []netip.Addr
	for _, a := range s {
		out = append(out, netip.MustParseAddr(a))
	}
	return out
}

// v3Query builds an IGMPv3 query.
func v3Query(t testing.TB, group string, maxRespCode, qrv uint8, srcs ...string) []byte {
	g := netip.AddrFrom4([4]byte{})
	if group != "" {
		g = netip.MustParseAddr(group)
	}
	f := header.IGMPv3QueryFields{MaxRespCode: maxRespCode, Group: g, QRV: qrv, QQIC: 125, Sources: addrs(srcs...)}
	b := make([]byte, f.Len())
	if _, err := f.Put(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// oldMsg builds an 8-byte IGMPv1/v2 message.
func oldMsg(t testing.TB, typ, code uint8, group string) []byte {
	g := netip.AddrFrom4([4]byte{})
	if group != "" {
		g = netip.MustParseAddr(group)
	}
	f := header.IGMPFields{Type: typ, MaxRespCode: code, Group: g}
	b := make([]byte, 8)
	if _, err := f.Put(b); err != nil {
		t.Fatal(err)
	}
	return b
}

var (
	g1 = netip.MustParseAddr("239.1.1.1")
	g2 = netip.MustParseAddr("232.2.2.2")
	s1 = netip.MustParseAddr("10.0.0.1")
	s2 = netip.MustParseAddr("10.0.0.2")
	s3 = netip.MustParseAddr("10.0.0.3")
)
