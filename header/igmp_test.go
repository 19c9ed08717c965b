package header

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// igmpFrames loads testdata/linux-igmp.txt: IGMP frames captured from Linux
// hosts and a Linux bridge querier (see the file's header for how).
func igmpFrames(t testing.TB) map[string][]byte {
	t.Helper()
	f, err := os.Open("testdata/linux-igmp.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m := map[string][]byte{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, h, ok := strings.Cut(line, " ")
		b, err := hex.DecodeString(h)
		if !ok || err != nil {
			t.Fatalf("bad line %q: %v", line, err)
		}
		m[name] = b
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return m
}

// igmpOf parses a golden frame down to its IGMP message and checks the IP
// header every Linux IGMP message carries: TOS 0xc0, TTL 1, DF, ID 0, the
// Router Alert option, and the group's multicast MAC as destination.
func igmpOf(t *testing.T, b []byte) (IPv4, IGMP) {
	t.Helper()
	e, ip := parseIPv4Frame(t, b)
	if ip.Protocol() != ProtocolIGMP || ip.TTL() != 1 || ip.TOS() != 0xc0 || !ip.DontFragment() ||
		ip.ID() != 0 || !bytes.Equal(ip.Options(), IPv4OptionRouterAlert[:]) {
		t.Fatalf("IP header: proto %d ttl %d tos %#x flags %d id %d options %x",
			ip.Protocol(), ip.TTL(), ip.TOS(), ip.Flags(), ip.ID(), ip.Options())
	}
	if e.Dst() != MulticastMAC(ip.Dst4()) {
		t.Fatalf("Ethernet destination %v for %v", e.Dst(), ip.Dst())
	}
	m, err := ParseIGMP(ip.Payload())
	if err != nil {
		t.Fatal(err)
	}
	return ip, m
}

var (
	grp     = netip.MustParseAddr("239.1.2.3")
	ssmGrp  = netip.MustParseAddr("232.1.1.1")
	zero4   = netip.AddrFrom4([4]byte{})
	querier = netip.MustParseAddr("198.19.250.2")
	blocked = netip.MustParseAddr("198.19.250.9")
)

// TestGoldenIGMPRoundTrip parses every captured message into its fields
// struct and emits it again: the bytes, checksum included, must be the
// kernel's.
func TestGoldenIGMPRoundTrip(t *testing.T) {
	for name, b := range igmpFrames(t) {
		t.Run(name, func(t *testing.T) {
			_, m := igmpOf(t, b)
			out := make([]byte, len(m))
			var n int
			var err error
			switch {
			case m.QueryVersion() == 3:
				var f IGMPv3QueryFields
				if err := f.Parse(m); err != nil {
					t.Fatal(err)
				}
				n, err = f.Put(out)
			case m.Type() == IGMPv3MembershipReport:
				var f IGMPv3ReportFields
				if err := f.Parse(m); err != nil {
					t.Fatal(err)
				}
				n, err = f.Put(out)
			default:
				var f IGMPFields
				if err := f.Parse(m); err != nil {
					t.Fatal(err)
				}
				n, err = f.Put(out)
			}
			if err != nil || n != len(m) || !bytes.Equal(out, m) {
				t.Fatalf("Put = %d, %v:\n got %x\nwant %x", n, err, out[:n], []byte(m))
			}
		})
	}
}

func TestGoldenIGMPQueries(t *testing.T) {
	frames := igmpFrames(t)
	for _, tc := range []struct {
		name      string
		dst       netip.Addr
		version   int
		group     netip.Addr
		maxResp   time.Duration
		s         bool
		qrv       uint8
		interval  time.Duration
		sources   []netip.Addr
		checkQQIC bool
	}{
		{"igmpv3-query-general", netip.MustParseAddr("224.0.0.1"), 3, zero4, 10 * time.Second, false, 2, 125 * time.Second, nil, true},
		{"igmpv3-query-group", grp, 3, grp, time.Second, false, 2, 125 * time.Second, nil, true},
		{"igmpv3-query-group-suppress", grp, 3, grp, time.Second, true, 2, 125 * time.Second, nil, true},
		{"igmpv3-query-group-source", grp, 3, grp, time.Second, false, 2, 125 * time.Second, []netip.Addr{blocked}, true},
		{"igmpv2-query-general", netip.MustParseAddr("224.0.0.1"), 2, zero4, 10 * time.Second, false, 0, 0, nil, false},
		// The Linux bridge sends its v2 group-specific queries to 224.0.0.1.
		{"igmpv2-query-group", netip.MustParseAddr("224.0.0.1"), 2, grp, time.Second, false, 0, 0, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ip, m := igmpOf(t, frames[tc.name])
			if ip.Src() != querier || ip.Dst() != tc.dst || m.Type() != IGMPMembershipQuery {
				t.Fatalf("%v > %v type %#x", ip.Src(), ip.Dst(), m.Type())
			}
			if m.QueryVersion() != tc.version || m.Group() != tc.group || m.MaxRespTime() != tc.maxResp ||
				m.SuppressRouterProcessing() != tc.s || m.QRV() != tc.qrv || m.QueryInterval() != tc.interval {
				t.Fatalf("version %d group %v max resp %v S %v QRV %d interval %v",
					m.QueryVersion(), m.Group(), m.MaxRespTime(), m.SuppressRouterProcessing(), m.QRV(), m.QueryInterval())
			}
			var got []netip.Addr
			for i := range m.NumSources() {
				got = append(got, netip.AddrFrom4(m.Source4(i)))
			}
			if !slices.Equal(got, tc.sources) {
				t.Fatalf("sources %v, want %v", got, tc.sources)
			}
			if m.Source4(m.NumSources()) != ([4]byte{}) || m.Source4(-1) != ([4]byte{}) {
				t.Fatal("out-of-range Source4 not zero")
			}
		})
	}
}

type record struct {
	typ     uint8
	group   netip.Addr
	sources []netip.Addr
}

func TestGoldenIGMPReports(t *testing.T) {
	frames := igmpFrames(t)
	host := netip.MustParseAddr("198.19.250.1")
	v3 := netip.MustParseAddr("224.0.0.22")
	for _, tc := range []struct {
		name string
		rec  record
	}{
		{"igmpv3-report-to-ex", record{IGMPv3ChangeToExclude, grp, nil}},
		{"igmpv3-report-is-ex", record{IGMPv3ModeIsExclude, grp, nil}},
		{"igmpv3-report-block", record{IGMPv3BlockOldSources, grp, []netip.Addr{blocked}}},
		{"igmpv3-report-allow", record{IGMPv3AllowNewSources, grp, []netip.Addr{blocked}}},
		{"igmpv3-report-to-in", record{IGMPv3ChangeToInclude, grp, nil}},
		{"igmpv3-report-allow-ssm", record{IGMPv3AllowNewSources, ssmGrp, []netip.Addr{querier}}},
		{"igmpv3-report-block-ssm", record{IGMPv3BlockOldSources, ssmGrp, []netip.Addr{querier}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ip, m := igmpOf(t, frames[tc.name])
			if ip.Src() != host || ip.Dst() != v3 || m.Type() != IGMPv3MembershipReport || m.NumRecords() != 1 ||
				m.Group4() != ([4]byte{}) || m.QueryVersion() != 0 || m.NumSources() != 0 {
				t.Fatalf("%v > %v type %#x records %d", ip.Src(), ip.Dst(), m.Type(), m.NumRecords())
			}
			it := m.Records()
			g, ok := it.Next()
			if !ok {
				t.Fatal("no record")
			}
			var srcs []netip.Addr
			for i := range g.NumSources() {
				srcs = append(srcs, netip.AddrFrom4(g.Source4(i)))
			}
			got := record{g.Type(), g.Group(), srcs}
			if got.typ != tc.rec.typ || got.group != tc.rec.group || !slices.Equal(got.sources, tc.rec.sources) || len(g.AuxData()) != 0 {
				t.Fatalf("record %+v, want %+v", got, tc.rec)
			}
			if _, ok := it.Next(); ok {
				t.Fatal("a second record")
			}
		})
	}
	for _, tc := range []struct {
		name string
		typ  uint8
		dst  netip.Addr
	}{
		{"igmpv2-report", IGMPv2MembershipReport, grp},
		{"igmpv2-leave", IGMPv2LeaveGroup, netip.MustParseAddr("224.0.0.2")},
		{"igmpv1-report", IGMPv1MembershipReport, grp},
	} {
		ip, m := igmpOf(t, frames[tc.name])
		if ip.Src() != host || ip.Dst() != tc.dst || m.Type() != tc.typ || m.Group() != grp || m.Code() != 0 ||
			m.QueryVersion() != 0 || m.MaxRespTime() != 0 || m.NumRecords() != 0 {
			t.Errorf("%s: %v > %v type %#x group %v", tc.name, ip.Src(), ip.Dst(), m.Type(), m.Group())
		}
	}
}

func TestIGMPParseErrors(t *testing.T) {
	frames := igmpFrames(t)
	payload := func(name string) []byte {
		_, ip := parseIPv4Frame(t, frames[name])
		return append([]byte(nil), ip.Payload()...)
	}
	sum := func(b []byte) []byte { b = append([]byte(nil), b...); IGMP(b).UpdateChecksum(); return b }
	gss := payload("igmpv3-query-group-source")
	report := payload("igmpv3-report-block")
	for _, tc := range []struct {
		name string
		b    []byte
		want error
	}{
		{"7 bytes", make([]byte, 7), ErrTruncated},
		{"bad checksum", func() []byte { b := payload("igmpv2-report"); b[7] ^= 1; return b }(), ErrBadChecksum},
		{"query of 10 bytes", sum(append(payload("igmpv2-query-general"), 0, 0)), ErrBadIGMPQueryLength},
		{"v3 query cut in its sources", sum(gss[:14]), ErrTruncated},
		{"v3 query with more sources than bytes", sum(func() []byte { b := append([]byte(nil), gss...); b[11] = 2; return b }()), ErrTruncated},
		{"v3 report cut in its record", sum(report[:14]), ErrTruncated},
		{"v3 report with more records than bytes", sum(func() []byte { b := append([]byte(nil), report...); b[7] = 2; return b }()), ErrTruncated},
		{"record aux data past the end", sum(func() []byte { b := append([]byte(nil), report...); b[9] = 1; return b }()), ErrTruncated},
	} {
		if _, err := ParseIGMP(tc.b); err != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	// Bytes after a v3 query's sources are kept and ignored.
	if m, err := ParseIGMP(sum(append(append([]byte(nil), gss...), 1, 2, 3, 4))); err != nil || m.NumSources() != 1 {
		t.Errorf("query with trailing bytes: %v", err)
	}
	if err := (&IGMPFields{}).Parse(gss); err != ErrIGMPType {
		t.Errorf("IGMPFields.Parse(v3 query) = %v", err)
	}
	if err := (&IGMPv3QueryFields{}).Parse(report); err != ErrIGMPType {
		t.Errorf("IGMPv3QueryFields.Parse(report) = %v", err)
	}
	if err := (&IGMPv3ReportFields{}).Parse(gss); err != ErrIGMPType {
		t.Errorf("IGMPv3ReportFields.Parse(query) = %v", err)
	}
}

func TestIGMPv3Code(t *testing.T) {
	for _, tc := range []struct {
		code  uint8
		value uint32
	}{
		{0, 0}, {100, 100}, {127, 127}, {0x80, 128}, {0x81, 136}, {0x8f, 248}, {0x90, 256},
		{0xf0, 16 << 10}, {0xff, 31744},
	} {
		if v := IGMPv3DecodeCode(tc.code); v != tc.value {
			t.Errorf("Decode(%#x) = %d, want %d", tc.code, v, tc.value)
		}
		if c := IGMPv3EncodeCode(tc.value); c != tc.code {
			t.Errorf("Encode(%d) = %#x, want %#x", tc.value, c, tc.code)
		}
	}
	// Encode rounds down to the largest representable value.
	var values []uint32
	for c := range 256 {
		values = append(values, IGMPv3DecodeCode(uint8(c)))
	}
	if !slices.IsSorted(values) {
		t.Fatal("decoded codes are not increasing")
	}
	for v := uint32(0); v < 40000; v++ {
		i, _ := slices.BinarySearch(values, v+1) // first value above v
		if got, want := IGMPv3DecodeCode(IGMPv3EncodeCode(v)), values[i-1]; got != want {
			t.Fatalf("Decode(Encode(%d)) = %d, want %d", v, got, want)
		}
	}
}

func TestMulticastMAC(t *testing.T) {
	for _, tc := range []struct {
		group [4]byte
		want  MAC
	}{
		{[4]byte{239, 1, 2, 3}, MAC{1, 0, 0x5e, 1, 2, 3}},
		{[4]byte{239, 129, 2, 3}, MAC{1, 0, 0x5e, 1, 2, 3}}, // 32 groups share a MAC
		{[4]byte{224, 0, 0, 22}, MAC{1, 0, 0x5e, 0, 0, 22}},
	} {
		if got := MulticastMAC(tc.group); got != tc.want || !got.IsMulticast() {
			t.Errorf("MulticastMAC(%v) = %v, want %v", tc.group, got, tc.want)
		}
	}
}

func TestIGMPPutErrors(t *testing.T) {
	if _, err := (&IGMPFields{Group: grp}).Put(make([]byte, 7)); err != ErrBufferTooSmall {
		t.Errorf("IGMPFields short: %v", err)
	}
	if _, err := (&IGMPFields{}).Put(make([]byte, 8)); err != ErrBadAddress {
		t.Errorf("IGMPFields zero group: %v", err)
	}
	q := IGMPv3QueryFields{Group: grp, Sources: []netip.Addr{querier}}
	if _, err := q.Put(make([]byte, 15)); err != ErrBufferTooSmall {
		t.Errorf("query short: %v", err)
	}
	q.Sources = []netip.Addr{netip.IPv6Loopback()}
	if _, err := q.Put(make([]byte, 16)); err != ErrBadAddress {
		t.Errorf("query IPv6 source: %v", err)
	}
	q.Sources = make([]netip.Addr, 0x10000)
	if _, err := q.Put(nil); err != ErrTooManySources {
		t.Errorf("query 65536 sources: %v", err)
	}
	r := IGMPv3ReportFields{Records: []IGMPv3GroupRecordFields{{Type: IGMPv3ModeIsInclude, Group: grp, AuxData: []byte{1}}}}
	if r.Len() != 20 {
		t.Errorf("report Len %d, want 20 (aux data padded)", r.Len())
	}
	if _, err := r.Put(make([]byte, 19)); err != ErrBufferTooSmall {
		t.Errorf("report short: %v", err)
	}
	b := make([]byte, 20)
	if n, err := r.Put(b); err != nil || n != 20 {
		t.Fatalf("report Put: %d %v", n, err)
	}
	var back IGMPv3ReportFields
	if err := back.Parse(b); err != nil || len(back.Records) != 1 || !bytes.Equal(back.Records[0].AuxData, []byte{1, 0, 0, 0}) {
		t.Fatalf("report with aux data: %+v %v", back, err)
	}
	r.Records[0].AuxData = make([]byte, 1021)
	if _, err := r.Put(make([]byte, 2048)); err != ErrTooManySources {
		t.Errorf("aux data over 255 words: %v", err)
	}
	r.Records[0] = IGMPv3GroupRecordFields{Type: IGMPv3ModeIsInclude}
	if _, err := r.Put(make([]byte, 16)); err != ErrBadAddress {
		t.Errorf("record without group: %v", err)
	}
}

// TestIGMPNoAllocs: parsing into reused fields structs allocates nothing
// once their slices have grown.
func TestIGMPNoAllocs(t *testing.T) {
	frames := igmpFrames(t)
	_, q := parseIPv4Frame(t, frames["igmpv3-query-group-source"])
	_, r := parseIPv4Frame(t, frames["igmpv3-report-block"])
	var qf IGMPv3QueryFields
	var rf IGMPv3ReportFields
	allocs := testing.AllocsPerRun(100, func() {
		m, _ := ParseIGMP(r.Payload())
		it := m.Records()
		for g, ok := it.Next(); ok; g, ok = it.Next() {
			_ = g.Source4(0)
		}
		if qf.Parse(q.Payload()) != nil || rf.Parse(r.Payload()) != nil {
			panic("parse")
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per parse", allocs)
	}
}

func FuzzIGMP(f *testing.F) {
	for _, b := range igmpFrames(f) {
		f.Add(b[14+24:])
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseIGMP(b)
		if err != nil {
			return
		}
		_, _, _, _, _ = m.Type(), m.Code(), m.Group(), m.MaxRespTime(), m.QueryInterval()
		_, _ = m.SuppressRouterProcessing(), m.QRV()
		for i := -1; i <= m.NumSources(); i++ {
			m.Source4(i)
		}
		it := m.Records()
		for g, ok := it.Next(); ok; g, ok = it.Next() {
			for i := -1; i <= g.NumSources(); i++ {
				g.Source4(i)
			}
			_, _, _ = g.Type(), g.Group(), g.AuxData()
		}
		switch {
		case m.QueryVersion() == 3:
			var fl, back IGMPv3QueryFields
			if err := fl.Parse(b); err != nil {
				t.Fatal(err)
			}
			out := make([]byte, fl.Len())
			if _, err := fl.Put(out); err != nil {
				t.Fatal(err)
			}
			if err := back.Parse(out); err != nil || !slices.Equal(back.Sources, fl.Sources) || back.Group != fl.Group ||
				back.MaxRespCode != fl.MaxRespCode || back.QRV != fl.QRV || back.QQIC != fl.QQIC ||
				back.SuppressRouterProcessing != fl.SuppressRouterProcessing {
				t.Fatalf("round trip %+v %v, want %+v", back, err, fl)
			}
		case m.Type() == IGMPv3MembershipReport:
			var fl, back IGMPv3ReportFields
			if err := fl.Parse(b); err != nil {
				t.Fatal(err)
			}
			out := make([]byte, fl.Len())
			if _, err := fl.Put(out); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(out[8:], b[8:len(out)]) {
				t.Fatalf("records %x, parsed from %x", out[8:], b[8:len(out)])
			}
			if err := back.Parse(out); err != nil || len(back.Records) != len(fl.Records) {
				t.Fatalf("reparse: %v", err)
			}
		default:
			var fl, back IGMPFields
			if err := fl.Parse(b); err != nil {
				t.Fatal(err)
			}
			out := make([]byte, 8)
			if _, err := fl.Put(out); err != nil {
				t.Fatal(err)
			}
			fl.Checksum = IGMP(out).Checksum()
			if err := back.Parse(out); err != nil || back != fl {
				t.Fatalf("round trip %+v %v, want %+v", back, err, fl)
			}
		}
	})
}
