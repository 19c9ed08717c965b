package igmp

import (
	"encoding/binary"
	"errors"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xdpengine/engine/header"
	"github.com/xdpengine/engine/internal/testbed"
	"golang.org/x/sys/unix"
)

// These tests compare the package with the Linux kernel as a host: the
// same socket calls are made on kernel sockets in a bed's peer namespace
// and on a Host, and what each sends (or returns) is compared field by
// field: errnos, record types, groups and sources, not timing.

// kernelSock is a UDP socket of the peer kernel.
type kernelSock struct {
	fd      int
	ifindex int
	ifaddr  [4]byte
}

func newKernelSocks(t *testing.T, bed *testbed.Bed, n int) []*kernelSock {
	t.Helper()
	var out []*kernelSock
	for range n {
		k := &kernelSock{ifindex: bed.PeerIndex, ifaddr: bed.PeerAddr.As4()}
		err := bed.Do(func() (err error) {
			k.fd, err = unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { unix.Close(k.fd) })
		out = append(out, k)
	}
	return out
}

// do makes c's setsockopt call.
func (k *kernelSock) do(c call) error {
	g := netip.MustParseAddr(c.group).As4()
	ipOpt := func(opt int, b []byte) error { return unix.SetsockoptString(k.fd, unix.IPPROTO_IP, opt, string(b)) }
	switch c.op {
	case "join", "leave":
		opt := unix.IP_ADD_MEMBERSHIP
		if c.op == "leave" {
			opt = unix.IP_DROP_MEMBERSHIP
		}
		return unix.SetsockoptIPMreqn(k.fd, unix.IPPROTO_IP, opt, &unix.IPMreqn{Multiaddr: g, Ifindex: int32(k.ifindex)})
	case "sjoin", "sleave", "block", "unblock":
		opt := map[string]int{"sjoin": unix.IP_ADD_SOURCE_MEMBERSHIP, "sleave": unix.IP_DROP_SOURCE_MEMBERSHIP,
			"block": unix.IP_BLOCK_SOURCE, "unblock": unix.IP_UNBLOCK_SOURCE}[c.op]
		s := netip.MustParseAddr(c.src).As4()
		return ipOpt(opt, slices.Concat(g[:], k.ifaddr[:], s[:])) // struct ip_mreq_source
	case "filter-in", "filter-ex":
		b := make([]byte, 16, 16+4*len(c.srcs)) // struct ip_msfilter
		copy(b, g[:])
		copy(b[4:], k.ifaddr[:])
		if c.op == "filter-in" {
			binary.NativeEndian.PutUint32(b[8:], 1) // MCAST_INCLUDE
		}
		binary.NativeEndian.PutUint32(b[12:], uint32(len(c.srcs)))
		for _, a := range c.srcs {
			s := netip.MustParseAddr(a).As4()
			b = append(b, s[:]...)
		}
		return ipOpt(unix.IP_MSFILTER, b)
	}
	panic(c.op)
}

func errnoOf(err error) syscall.Errno {
	var e syscall.Errno
	if errors.As(err, &e) {
		return e
	}
	return 0
}

// TestKernelErrnos makes socketCalls on a kernel socket and checks each
// returns the errno the Host's call returns.
func TestKernelErrnos(t *testing.T) {
	bed := testbed.New(t, testbed.Config{})
	k := newKernelSocks(t, bed, 1)[0]
	h := newBed(t, Config{})
	s := h.h.NewSocket()
	for i, c := range socketCalls {
		kerr, err := errnoOf(k.do(c)), errnoOf(c.do(h.h, h.now, s))
		if kerr != err {
			t.Errorf("call %d %+v: kernel %v, engine %v", i, c, kerr, err)
		}
		if c.skipOnLinux { // the states differ now; bring the kernel's in line
			k.do(call{op: "leave", group: c.group})
			k.do(call{op: "join", group: c.group})
		}
	}
	// The limits: 20 memberships, 10 sources per filter.
	k = newKernelSocks(t, bed, 1)[0]
	s = h.h.NewSocket()
	for i := range 22 {
		c := call{op: "join", group: netip.AddrFrom4([4]byte{239, 9, 0, byte(i)}).String()}
		if kerr, err := errnoOf(k.do(c)), errnoOf(c.do(h.h, h.now, s)); kerr != err || i >= 20 && err != syscall.ENOBUFS {
			t.Errorf("join %d: kernel %v, engine %v", i, kerr, err)
		}
	}
	var srcs []string
	for i := range 12 {
		a := netip.AddrFrom4([4]byte{10, 9, 0, byte(i)}).String()
		srcs = append(srcs, a)
		c := call{op: "block", group: "239.9.0.0", src: a}
		if kerr, err := errnoOf(k.do(c)), errnoOf(c.do(h.h, h.now, s)); kerr != err || i >= 10 && err != syscall.ENOBUFS {
			t.Errorf("block %d: kernel %v, engine %v", i, kerr, err)
		}
	}
	c := call{op: "filter-in", group: "239.9.0.1", srcs: srcs[:11]}
	if kerr, err := errnoOf(k.do(c)), errnoOf(c.do(h.h, h.now, s)); kerr != err || err != syscall.ENOBUFS {
		t.Errorf("11-source filter: kernel %v, engine %v", kerr, err)
	}
}

// The peer kernel's timing (Linux defaults, which the Host's defaults
// match): it repeats a state-change report at random delays up to the
// unsolicited report interval, and answers the tests' queries within their
// maximum response time, 1 s too.
const (
	kernelInterval = time.Second
	// quiet is how long the link must stay silent, after the expected
	// messages came, before a test takes it that the kernel has nothing
	// more to send: longer than kernelInterval, so that a repetition or an
	// answer the engine did not send is seen.
	quiet = kernelInterval + 500*time.Millisecond
	// patience bounds each wait: the kernel's timers and the capture run
	// late on a loaded machine, but not by this much.
	patience = 20 * time.Second
)

// capture reads the IGMP messages the peer kernel sends, as the engine
// side of the link receives them. The test's goroutine reads it; frames
// wait in the socket's buffer in between.
type capture struct {
	t   *testing.T
	pc  *testbed.PacketConn
	buf []byte
}

func startCapture(t *testing.T, bed *testbed.Bed) *capture {
	t.Helper()
	pc, err := testbed.ListenPacket(bed.HostIf)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	return &capture{t: t, pc: pc, buf: make([]byte, 2048)}
}

// next returns the records of the next IGMP message the kernel sent, or
// false if none came by deadline.
func (c *capture) next(deadline time.Time) ([]rec, bool) {
	c.t.Helper()
	for {
		wait := time.Until(deadline)
		if wait <= 0 {
			return nil, false
		}
		// At least 1 ms: a zero SO_RCVTIMEO would wait for ever.
		n, out, err := c.pc.Recv(c.buf, max(wait, time.Millisecond))
		switch {
		case errors.Is(err, unix.EAGAIN):
			continue // the timeout: the loop checks the deadline
		case errors.Is(err, unix.EINTR):
			// A signal (the Go runtime preempting a goroutine, a child
			// exiting) ended the wait: receive calls with a timeout are
			// not restarted (signal(7)).
			continue
		case err != nil:
			c.t.Fatal(err)
		}
		e, err := header.ParseEthernet(c.buf[:n])
		if out || err != nil || e.Type() != header.EtherTypeIPv4 {
			continue
		}
		ip, err := header.ParseIPv4(e.Payload())
		if err != nil || ip.Protocol() != header.ProtocolIGMP {
			continue
		}
		return parseMsg(c.t, ip.Payload()), true
	}
}

// collect reads the kernel's messages until enough(what came) holds and
// then nothing more has come for quiet, or until patience runs out; ok says
// which. Waiting on what is expected, not for a fixed time, keeps a late
// kernel timer or a starved test from splitting one exchange over two
// comparisons; the quiet time catches a message the engine did not send.
// The caller compares what came: a kernel that sends less or more than the
// engine fails the comparison, not the wait.
func (c *capture) collect(enough func([][]rec) bool) (msgs [][]rec, ok bool) {
	c.t.Helper()
	deadline := time.Now().Add(patience)
	for {
		wait := deadline
		done := enough(msgs)
		if q := time.Now().Add(quiet); done && q.Before(deadline) {
			wait = q
		}
		m, got := c.next(wait)
		if !got {
			return msgs, done && time.Now().Before(deadline)
		}
		msgs = append(msgs, m)
	}
}

// flat lists the records of msgs in the order they were sent.
func flat(msgs [][]rec) []rec {
	var out []rec
	for _, m := range msgs {
		out = append(out, m...)
	}
	return out
}

func engineRecs(msgs []msg) [][]rec {
	var out [][]rec
	for _, m := range msgs {
		out = append(out, m.recs)
	}
	return out
}

// byGroup lists each group's records in the order they were sent.
func byGroup(recs []rec) map[string][]string {
	out := map[string][]string{}
	for _, r := range recs {
		out[r.group] = append(out[r.group], r.String())
	}
	return out
}

// covers says whether got has at least as many records as want for each of
// want's groups.
func covers(got, want map[string][]string) bool {
	for g, w := range want {
		if len(got[g]) < len(w) {
			return false
		}
	}
	return true
}

// TestKernelStateChanges makes the same socket calls on kernel sockets and
// on the Host, in phases, and compares each phase's records group by
// group. A phase starts when the kernel's reports of the one before are
// done: its repetitions came and the link has been quiet for longer than
// the interval between them. Which groups share a message depends on the
// kernel's timers, and so does the order of the groups; a group's own
// records do not, as each phase changes a group once.
func TestKernelStateChanges(t *testing.T) {
	type op struct {
		sock int
		c    call
	}
	j := func(s int, op_, g string, src ...string) op {
		c := call{op: op_, group: g}
		if len(src) == 1 && (op_ != "filter-in" && op_ != "filter-ex") {
			c.src = src[0]
		} else {
			c.srcs = src
		}
		return op{s, c}
	}
	const (
		G1, G2, G3, G4, G5 = "239.1.1.1", "232.2.2.2", "239.3.3.3", "239.4.4.4", "239.5.5.5"
		S1, S2, S3         = "10.0.0.1", "10.0.0.2", "10.0.0.3"
	)
	phases := [][]op{
		{j(0, "join", G1), j(1, "sjoin", G2, S1), j(2, "join", G3), j(3, "join", G4), j(5, "sjoin", G5, S1)},
		{j(0, "block", G1, S1), j(1, "sjoin", G2, S2), j(4, "join", G3), j(3, "filter-in", G4, S1, S2), j(6, "join", G5)},
		{j(0, "unblock", G1, S1), j(1, "sleave", G2, S2), j(2, "block", G3, S1), j(3, "filter-ex", G4, S3), j(6, "block", G5, S1)},
		{j(0, "leave", G1), j(1, "sleave", G2, S1), j(4, "block", G3, S1), j(3, "leave", G4), j(6, "block", G5, S2)},
		{j(2, "leave", G3), j(6, "leave", G5)},
		{j(4, "leave", G3), j(5, "sleave", G5, S1)},
	}
	bed := testbed.New(t, testbed.Config{})
	ks := newKernelSocks(t, bed, 7)
	cap := startCapture(t, bed)
	b := newBed(t, Config{})
	var socks []*Socket
	for range ks {
		socks = append(socks, b.h.NewSocket())
	}
	kernGroups, engGroups := map[string]bool{}, map[string]bool{}
	var nk, ne int
	for i, ph := range phases {
		for _, o := range ph {
			if err := ks[o.sock].do(o.c); err != nil {
				t.Fatalf("phase %d: kernel %+v: %v", i, o.c, err)
			}
			if err := o.c.do(b.h, b.now, socks[o.sock]); err != nil {
				t.Fatalf("phase %d: engine %+v: %v", i, o.c, err)
			}
		}
		b.run(b.now + 2*sec) // the engine's repetitions, 1 s apart at most
		eng := engineRecs(b.take())
		eg := byGroup(flat(eng))
		kern, ok := cap.collect(func(k [][]rec) bool { return covers(byGroup(flat(k)), eg) })
		kg := byGroup(flat(kern))
		if !ok {
			t.Errorf("phase %d: waited %v for the kernel's reports to end", i, patience)
		}
		for g := range eg {
			engGroups[g] = true
		}
		for _, g := range slices.Sorted(maps.Keys(kg)) {
			kernGroups[g] = true
			if _, ok := eg[g]; !ok {
				t.Errorf("phase %d: group %s: kernel %v, engine nothing", i, g, kg[g])
			}
		}
		for _, g := range slices.Sorted(maps.Keys(eg)) {
			if !slices.Equal(kg[g], eg[g]) {
				t.Errorf("phase %d: group %s:\nkernel %v\nengine %v", i, g, kg[g], eg[g])
			}
		}
		if t.Failed() {
			t.FailNow() // the next phases start from this one's state
		}
		nk, ne = nk+len(kern), ne+len(eng)
	}
	if len(kernGroups) != 5 || len(engGroups) != 5 {
		t.Errorf("groups reported: kernel %v, engine %v", kernGroups, engGroups)
	}
	t.Logf("compared %d kernel and %d engine reports", nk, ne)
}

// TestKernelQueryAnswers sends the same queries to the peer kernel and to
// the Host, both members of the same groups, and compares the answers:
// IGMPv3 general, group-specific and group-and-source-specific queries,
// then an IGMPv2 query (v2 reports) and a leave in v2 mode.
func TestKernelQueryAnswers(t *testing.T) {
	const (
		G1, G2, LL = "239.1.1.1", "232.2.2.2", "224.0.0.251"
		S1, S2, S3 = "10.0.0.1", "10.0.0.2", "10.0.0.3"
	)
	setup := []struct {
		sock int
		c    call
	}{
		{0, call{op: "join", group: G1}}, {0, call{op: "block", group: G1, src: S3}},
		{1, call{op: "sjoin", group: G2, src: S1}}, {1, call{op: "sjoin", group: G2, src: S2}},
		{2, call{op: "join", group: LL}},
	}
	bed := testbed.New(t, testbed.Config{})
	ks := newKernelSocks(t, bed, 3)
	cap := startCapture(t, bed)
	b := newBed(t, Config{})
	socks := []*Socket{b.h.NewSocket(), b.h.NewSocket(), b.h.NewSocket()}
	for _, o := range setup {
		if err := ks[o.sock].do(o.c); err != nil {
			t.Fatal(err)
		}
		b.must(o.c.do(b.h, b.now, socks[o.sock]))
	}
	b.run(b.now + 3*sec)
	b.take()
	// The kernel's state-change reports must be over before the queries,
	// or their repetitions would mix with the answers. Each group is in
	// at least Robustness (2) of them, however the kernel's timer split
	// the setup; the quiet time covers a repetition still to come.
	_, ok := cap.collect(func(k [][]rec) bool {
		n := byGroup(flat(k))
		return len(n[G1]) >= 2 && len(n[G2]) >= 2 && len(n[LL]) >= 2
	})
	if !ok {
		t.Fatalf("the kernel's state-change reports did not end in %v", patience)
	}
	inject, err := testbed.ListenPacket(bed.HostIf)
	if err != nil {
		t.Fatal(err)
	}
	defer inject.Close()
	querier := bed.Prefix.Addr().As4()
	querier[3] = 3

	// Each query's answers are awaited before the next query: an answer
	// still pending when a query comes changes the kernel's answer to it
	// (RFC 3376 5.2), and the engine's clock has moved on.
	for _, q := range []struct {
		name, dst string
		igmp      []byte
	}{
		{"general", "224.0.0.1", v3Query(t, "", 10, 2)},
		{"group", G1, v3Query(t, G1, 10, 2)},
		{"group and source, include mode", G2, v3Query(t, G2, 10, 2, S1, "10.0.0.9")},
		{"group and source, nothing to say", G2, v3Query(t, G2, 10, 2, "10.0.0.9")},
		{"group and source, all excluded", G1, v3Query(t, G1, 10, 2, S3)},
		{"another group", "239.9.9.9", v3Query(t, "239.9.9.9", 10, 2)},
		{"IGMPv2 general", "224.0.0.1", oldMsg(t, header.IGMPMembershipQuery, 10, "")},
	} {
		frame := queryFrame(t, netip.AddrFrom4(querier), netip.MustParseAddr(q.dst), q.igmp)
		if err := inject.Send(frame); err != nil {
			t.Fatal(err)
		}
		b.must(b.input(netip.AddrFrom4(querier).String(), q.dst, q.igmp))
		b.run(b.now + 2*sec)
		compareAnswers(t, q.name, cap, engineRecs(b.take()))
	}
	// A leave in IGMPv2 mode, after the v2 reports made us the reporter.
	c := call{op: "leave", group: G1}
	if err := ks[0].do(c); err != nil {
		t.Fatal(err)
	}
	b.must(c.do(b.h, b.now, socks[0]))
	b.run(b.now + sec)
	compareAnswers(t, "leave in v2 mode", cap, engineRecs(b.take()))
}

// compareAnswers waits for the kernel's answers (as many records as the
// engine's, then quiet) and compares them with the engine's, in any order.
func compareAnswers(t *testing.T, name string, cap *capture, eng [][]rec) {
	t.Helper()
	want := len(flat(eng))
	kern, ok := cap.collect(func(k [][]rec) bool { return len(flat(k)) >= want })
	if !ok {
		t.Errorf("%s: waited %v for the kernel's answers to end", name, patience)
	}
	var k, e []string
	for _, r := range flat(kern) {
		k = append(k, r.String())
	}
	for _, r := range flat(eng) {
		e = append(e, r.String())
	}
	slices.Sort(k)
	slices.Sort(e)
	if !slices.Equal(k, e) {
		t.Errorf("%s:\nkernel %s\nengine %s", name, strings.Join(k, " "), strings.Join(e, " "))
	} else {
		t.Logf("%s: %s", name, strings.Join(k, " "))
	}
}

// queryFrame builds an Ethernet frame carrying an IGMP message.
func queryFrame(t *testing.T, src, dst netip.Addr, igmp []byte) []byte {
	b := make([]byte, 14+24+len(igmp))
	eth := header.EthernetFields{Dst: header.MulticastMAC(dst.As4()), Src: header.MAC{2, 0, 0, 0, 0, 3}, Type: header.EtherTypeIPv4}
	eth.Put(b)
	ip := header.IPv4Fields{TOS: 0xc0, TotalLength: uint16(24 + len(igmp)), Flags: header.IPv4FlagDontFragment, TTL: 1,
		Protocol: header.ProtocolIGMP, Src: src, Dst: dst, Options: header.IPv4OptionRouterAlert[:]}
	if _, err := ip.Put(b[14:]); err != nil {
		t.Fatal(err)
	}
	copy(b[38:], igmp)
	return b
}
