package icmp

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/xdpengine/engine/header"
)

// golden reads a frame captured from Linux 6.18 (../header/testdata).
func golden(t testing.TB, name string) []byte {
	t.Helper()
	f, err := os.Open("../header/testdata/linux-frames.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<16)
	for sc.Scan() {
		if n, h, ok := strings.Cut(sc.Text(), " "); ok && n == name {
			b, err := hex.DecodeString(h)
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
	}
	t.Fatalf("no frame %s", name)
	return nil
}

func ipOf(t testing.TB, frame []byte) header.IPv4 {
	t.Helper()
	ip, err := header.ParseIPv4(frame[14:])
	if err != nil {
		t.Fatal(err)
	}
	return ip
}

var (
	ipA = [4]byte{198, 19, 250, 1}
	ipB = [4]byte{198, 19, 250, 2}
)

// TestEchoReplyMatchesLinux turns Linux's echo request into a reply and
// compares it with the reply Linux sent, byte for byte, after giving it
// Linux's IP identification.
func TestEchoReplyMatchesLinux(t *testing.T) {
	req := golden(t, "icmp-echo-request")
	want := golden(t, "icmp-echo-reply")
	n, err := EchoReplyFrame(req)
	if err != nil {
		t.Fatal(err)
	}
	got := req[:n]
	ip := header.IPv4(got[14:])
	ip.SetID(header.IPv4(want[14:]).ID())
	ip.UpdateChecksum()
	if !bytes.Equal(got, want) {
		t.Fatalf("reply\n got %x\nwant %x", got, want)
	}
	if _, err := EchoReplyFrame(want); err != ErrNotEchoRequest {
		t.Fatalf("reply to a reply: %v", err)
	}
}

func TestEchoReplyDropsOptions(t *testing.T) {
	req := golden(t, "icmp-echo-request")
	ip := ipOf(t, req)
	// Insert 4 bytes of options (NOP NOP NOP EOL) into the request.
	b := append(append(append([]byte(nil), ip[:20]...), 1, 1, 1, 0), ip[20:]...)
	b[0] = 0x46
	h := header.IPv4(b)
	h.SetTotalLength(uint16(len(b)))
	h.UpdateChecksum()
	n, err := EchoReply(h)
	if err != nil {
		t.Fatal(err)
	}
	r, err := header.ParseIPv4(b[:n])
	if err != nil || r.HeaderLen() != 20 || n != len(ip) {
		t.Fatalf("reply %v hl %d n %d", err, r.HeaderLen(), n)
	}
	if _, err := header.ParseICMPv4(r.Payload()); err != nil {
		t.Fatal(err)
	}
}

func TestBuildErrorPortUnreachable(t *testing.T) {
	orig := ipOf(t, golden(t, "udp-dns-5-bytes"))
	buf := make([]byte, 128)
	n, err := BuildError(buf, ipB, 7, orig, false, netip.Addr{}, header.ICMPv4DstUnreachable, header.ICMPv4PortUnreachable, 0)
	if err != nil {
		t.Fatal(err)
	}
	if n != ErrorLen(orig) || n != 20+8+20+13 {
		t.Fatalf("length %d", n)
	}
	ip, err := header.ParseIPv4(buf[:n])
	if err != nil {
		t.Fatal(err)
	}
	if ip.Src4() != ipB || ip.Dst4() != ipA || ip.TOS() != 0xc0 || ip.Protocol() != header.ProtocolICMP {
		t.Fatalf("ip %v > %v tos %#x", ip.Src(), ip.Dst(), ip.TOS())
	}
	m, err := header.ParseICMPv4(ip.Payload())
	if err != nil {
		t.Fatal(err)
	}
	// Linux's own port unreachable for the same datagram is the same ICMP
	// message, checksum included (both quote all 13 UDP bytes).
	lin := ipOf(t, golden(t, "icmp-port-unreachable")).Payload()
	if !bytes.Equal(m, lin) {
		t.Fatalf("message\n got %x\nlinux %x", []byte(m), lin)
	}
	var e ReceivedError
	if err := ParseError(m, &e); err != nil {
		t.Fatal(err)
	}
	if e.Errno != syscall.ECONNREFUSED || e.LocalPort != 4000 || e.RemotePort != 53 || e.Local != ipA || e.Remote != ipB {
		t.Fatalf("%+v", e)
	}
	if _, err := BuildError(buf[:n-1], ipB, 7, orig, false, netip.Addr{}, 3, 3, 0); err != ErrBufferTooSmall {
		t.Fatalf("short buffer: %v", err)
	}
}

func TestParseLinuxPortUnreachable(t *testing.T) {
	m, err := header.ParseICMPv4(ipOf(t, golden(t, "icmp-port-unreachable")).Payload())
	if err != nil {
		t.Fatal(err)
	}
	var e ReceivedError
	if err := ParseError(m, &e); err != nil {
		t.Fatal(err)
	}
	want := ReceivedError{Type: 3, Code: 3, Proto: header.ProtocolUDP, Local: ipA, Remote: ipB,
		LocalPort: 4000, RemotePort: 53, Errno: syscall.ECONNREFUSED, Fatal: true}
	if e != want {
		t.Fatalf("got %+v\nwant %+v", e, want)
	}
}

func TestParseErrorTable(t *testing.T) {
	orig := ipOf(t, golden(t, "tcp-syn"))
	for _, tc := range []struct {
		typ, code uint8
		rest      uint32
		errno     syscall.Errno
		fatal     bool
		mtu       uint16
		err       error
	}{
		{3, 0, 0, syscall.ENETUNREACH, false, 0, nil},
		{3, 1, 0, syscall.EHOSTUNREACH, false, 0, nil},
		{3, 2, 0, syscall.ENOPROTOOPT, true, 0, nil},
		{3, 3, 0, syscall.ECONNREFUSED, true, 0, nil},
		{3, 4, 1400, syscall.EMSGSIZE, false, 1400, nil},
		{3, 13, 0, syscall.EHOSTUNREACH, true, 0, nil},
		{3, 16, 0, 0, false, 0, ErrNotError},
		{11, 0, 0, syscall.EHOSTUNREACH, false, 0, nil},
		{11, 1, 0, syscall.EHOSTUNREACH, false, 0, nil},
		{12, 0, 0, syscall.EPROTO, true, 0, nil},
		{4, 0, 0, 0, false, 0, ErrNotError},
		{5, 0, 0, 0, false, 0, ErrNotError},
	} {
		buf := make([]byte, 128)
		n, err := BuildError(buf, ipB, 1, orig, false, netip.Addr{}, tc.typ, tc.code, tc.rest)
		if err != nil {
			t.Fatal(err)
		}
		m, _ := header.ParseICMPv4(header.IPv4(buf[:n]).Payload())
		var e ReceivedError
		err = ParseError(m, &e)
		if err != tc.err {
			t.Errorf("%d/%d: %v, want %v", tc.typ, tc.code, err, tc.err)
			continue
		}
		if err != nil {
			continue
		}
		if e.Errno != tc.errno || e.Fatal != tc.fatal || e.MTU != tc.mtu || e.Proto != header.ProtocolTCP ||
			e.LocalPort != 4001 || e.RemotePort != 5001 || e.QuotedSeq != header.TCP(orig.Payload()).Seq() {
			t.Errorf("%d/%d: %+v", tc.typ, tc.code, e)
		}
	}
	// A quote cut inside the transport header.
	m := make([]byte, 8+20+4)
	m[0] = 3
	copy(m[8:], orig[:24])
	header.ICMPv4(m).UpdateChecksum()
	var e ReceivedError
	if err := ParseError(header.ICMPv4(m), &e); err != ErrShortQuote {
		t.Fatalf("short quote: %v", err)
	}
}

func TestCheck(t *testing.T) {
	mk := func(name string, f func(ip header.IPv4)) header.IPv4 {
		ip := append(header.IPv4(nil), ipOf(t, golden(t, name))...)
		f(ip)
		return ip
	}
	none := func(header.IPv4) {}
	bc := netip.MustParseAddr("198.19.250.255")
	for _, tc := range []struct {
		name      string
		ip        header.IPv4
		linkBcast bool
		want      error
	}{
		{"udp", mk("udp-dns-5-bytes", none), false, nil},
		{"echo request", mk("icmp-echo-request", none), false, nil},
		{"icmp error", mk("icmp-port-unreachable", none), false, ErrAboutError},
		{"first fragment", mk("ipv4-fragment-first", none), false, nil},
		{"later fragment", mk("ipv4-fragment-last", none), false, ErrFragment},
		{"link broadcast", mk("udp-dns-5-bytes", none), true, ErrBroadcast},
		{"limited broadcast", mk("udp-dns-5-bytes", func(ip header.IPv4) { ip.SetDst4([4]byte{255, 255, 255, 255}) }), false, ErrBroadcast},
		{"directed broadcast", mk("udp-dns-5-bytes", func(ip header.IPv4) { ip.SetDst4(bc.As4()) }), false, ErrBroadcast},
		{"multicast", mk("udp-dns-5-bytes", func(ip header.IPv4) { ip.SetDst4([4]byte{224, 0, 0, 1}) }), false, ErrBroadcast},
		{"source 0.0.0.0", mk("udp-dns-5-bytes", func(ip header.IPv4) { ip.SetSrc4([4]byte{}) }), false, ErrBadSource},
		{"source loopback", mk("udp-dns-5-bytes", func(ip header.IPv4) { ip.SetSrc4([4]byte{127, 0, 0, 1}) }), false, ErrBadSource},
	} {
		if err := Check(tc.ip, tc.linkBcast, bc); err != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
}

func TestLimiter(t *testing.T) {
	const ms = int64(1e6)
	var c Counters
	l := NewLimiter(LimiterConfig{})
	dst := [4]byte{198, 18, 0, 9}
	now := int64(1e12)
	// A new destination has BurstFactor messages of credit, then one per
	// second.
	for i := 0; i < BurstFactor; i++ {
		if !l.Allow(now, dst, 3, 3, &c) {
			t.Fatalf("burst message %d refused", i)
		}
	}
	if l.Allow(now, dst, 3, 3, &c) || c.OutRateLimitHost != 1 {
		t.Fatalf("message beyond the burst allowed (host drops %d)", c.OutRateLimitHost)
	}
	if l.Allow(now+999*ms, dst, 3, 3, &c) {
		t.Fatal("allowed before 1000 ms")
	}
	if !l.Allow(now+1000*ms, dst, 3, 3, &c) {
		t.Fatal("refused after 1000 ms")
	}
	// Not rate limited: echo replies (not in the mask), frag needed.
	for i := 0; i < 100; i++ {
		if !l.Allow(now+1000*ms, dst, 0, 0, &c) || !l.Allow(now+1000*ms, dst, 3, 4, &c) {
			t.Fatal("echo reply or fragmentation needed was limited")
		}
	}
	// Another destination is independent.
	if !l.Allow(now+1000*ms, [4]byte{198, 18, 0, 10}, 11, 0, &c) {
		t.Fatal("second destination refused")
	}
	// Global: burst 50 then 1 per ms.
	g := NewLimiter(LimiterConfig{RatelimitNs: -1})
	var gc Counters
	allowed := 0
	for i := 0; i < 100; i++ {
		if g.Allow(now, [4]byte{198, 18, 1, byte(i)}, 3, 1, &gc) {
			allowed++
		}
	}
	if allowed != DefaultMsgsBurst || gc.OutRateLimitGlobal != 100-DefaultMsgsBurst {
		t.Fatalf("global burst allowed %d, drops %d", allowed, gc.OutRateLimitGlobal)
	}
	allowed = 0
	for i := 1; i <= 100; i++ {
		if g.Allow(now+int64(i)*ms/2, dst, 3, 1, &gc) {
			allowed++
		}
	}
	if allowed != 50 {
		t.Fatalf("over 50 ms at 1000/s: %d allowed, want 50", allowed)
	}
}

func TestCounters(t *testing.T) {
	var c, sum Counters
	c.CountIn(header.ICMPv4Echo)
	c.CountIn(header.ICMPv4DstUnreachable)
	c.CountInError(header.ErrBadChecksum)
	c.CountOut(header.ICMPv4EchoReply)
	c.CountOut(header.ICMPv4TimeExceeded)
	sum.Add(&c)
	sum.Add(&c)
	if sum.InMsgs != 6 || sum.InEchos != 2 || sum.InDestUnreachs != 2 || sum.InErrors != 2 || sum.InCsumErrors != 2 ||
		sum.OutMsgs != 4 || sum.OutEchoReps != 2 || sum.OutTimeExcds != 2 {
		t.Fatalf("%+v", sum)
	}
}

func FuzzParseError(f *testing.F) {
	f.Add(ipOfF(f, "icmp-port-unreachable"))
	f.Add(ipOfF(f, "udp-dns-5-bytes"))
	f.Fuzz(func(t *testing.T, b []byte) {
		// As an ICMP message (checksum made valid so the fuzzer reaches
		// the quote parser).
		if len(b) >= 8 {
			m := header.ICMPv4(append([]byte(nil), b...))
			m.UpdateChecksum()
			if _, err := header.ParseICMPv4(m); err != nil {
				t.Fatal(err)
			}
			var e ReceivedError
			_ = ParseError(m, &e)
		}
		// As an offending packet: an error built about it parses back.
		ip, err := header.ParseIPv4Quoted(b)
		if err != nil {
			return
		}
		buf := make([]byte, ErrorLen(ip))
		n, err := BuildError(buf, ipB, 1, ip, false, netip.Addr{}, 3, 3, 0)
		if err != nil {
			return
		}
		out, err := header.ParseIPv4(buf[:n])
		if err != nil {
			t.Fatalf("built error does not parse: %v", err)
		}
		m, err := header.ParseICMPv4(out.Payload())
		if err != nil {
			t.Fatalf("built ICMP does not verify: %v", err)
		}
		var e ReceivedError
		if err := ParseError(m, &e); err != nil && err != ErrShortQuote {
			t.Fatalf("own error does not parse: %v", err)
		}
		if e.Local != ip.Src4() || e.Remote != ip.Dst4() {
			t.Fatalf("addresses %v %v", e.Local, e.Remote)
		}
	})
}

func ipOfF(f *testing.F, name string) []byte { return ipOf(f, golden(f, name)).Payload() }

// TestBuildErrorQuoteBound: a large offending packet is quoted up to 576
// bytes in all, as Linux's icmp_send does.
func TestBuildErrorQuoteBound(t *testing.T) {
	orig := make([]byte, 1500)
	f := header.IPv4Fields{TotalLength: 1500, TTL: 64, Protocol: header.ProtocolUDP,
		Src: netip.AddrFrom4(ipA), Dst: netip.AddrFrom4(ipB)}
	if _, err := f.Put(orig); err != nil {
		t.Fatal(err)
	}
	ip := header.IPv4(orig)
	buf := make([]byte, 1500)
	n, err := BuildError(buf, ipB, 1, ip, false, netip.Addr{}, header.ICMPv4DstUnreachable, header.ICMPv4PortUnreachable, 0)
	if err != nil || n != MaxErrorLen || ErrorLen(ip) != MaxErrorLen {
		t.Fatalf("error about 1500 bytes: %d, %v; want %d", n, err, MaxErrorLen)
	}
}
