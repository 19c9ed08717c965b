package engine_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/xdpengine/engine/engine"
	"github.com/xdpengine/engine/internal/enginetest"
	"github.com/xdpengine/engine/internal/testbed"
)

// debianPython is the interpreter scripts/deps.sh installs python3-scapy
// for. A python3 found first on PATH (pyenv, a virtual environment) may
// not see Debian's packages, so the scapy tests name this one.
const debianPython = "/usr/bin/python3"

// needScapy fails tb, as enginetest.NeedTool does, unless debianPython
// imports scapy: scripts/deps.sh test installs python3-scapy, so its
// absence is a broken machine, not a reason to skip.
func needScapy(tb testing.TB) {
	tb.Helper()
	enginetest.NeedTool(tb, debianPython)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, debianPython, "-c", "import scapy.all").CombinedOutput(); err != nil {
		tb.Fatalf("%s cannot import scapy (scripts/deps.sh test installs python3-scapy): %v\n%s", debianPython, err, out)
	}
}

// frag6Case is one fragment sequence of TestFrag6ScapyKernelVsEngine,
// crafted by testdata/frag6_scapy.py under the same name.
type frag6Case struct {
	name string
	// linux is what the kernel does, as its source says (net/ipv6/
	// reassembly.c, net/ipv4/inet_fragment.c): "delivered" or "dropped",
	// with the ICMPv6 error it sends, if any. A kernel that does otherwise
	// fails the test: the table would no longer say what Linux does.
	linux string
	// differs, if set, documents why the engine intentionally does
	// something else; the engine must then do exactly engine.
	differs, engine string
}

var frag6Cases = []frag6Case{
	{name: "in-order", linux: "delivered"},
	{name: "reversed", linux: "delivered"},
	{name: "shuffled", linux: "delivered"},
	{name: "duplicate", linux: "delivered"},
	// RFC 5722: an overlap discards the whole datagram.
	{name: "overlap", linux: "dropped"},
	{name: "overlap-same-bytes", linux: "dropped"},
	// Linux keeps the first copy of bytes received twice, whatever the
	// second holds, when the second lies inside one run of fragments,
	// and a run grows only by fragments that arrive in order at its end.
	{name: "inside-other-bytes", linux: "delivered",
		differs: "a fragment inside data received but with other bytes is an overlap for the engine " +
			"(RFC 5722: only exact duplicates are dropped alone); Linux drops it alone as a " +
			"duplicate and delivers the first copy", engine: "dropped"},
	{name: "spanning-dup-in-order", linux: "delivered"},
	{name: "spanning-dup-reordered", linux: "dropped",
		differs: "a fragment with the very bytes received, across two fragments that arrived out of " +
			"order, is a duplicate for the engine, which merges every run; Linux merges runs only " +
			"in order and takes it for an overlap", engine: "delivered"},
	{name: "atomic", linux: "delivered"},
	{name: "atomic-while-pending", linux: "delivered 2"},
	{name: "incomplete-chain", linux: "dropped, param problem code 3 ptr 0"},
	{name: "incomplete-tcp-header", linux: "dropped, param problem code 3 ptr 0"},
	{name: "chain-ends-at-ext-boundary", linux: "delivered",
		differs: "RFC 7112: a first fragment that ends where its second extension header starts " +
			"lacks the header chain; Linux's check (ipv6frag_thdr_truncated) gives up on a header " +
			"it cannot read and lets it through", engine: "dropped, param problem code 3 ptr 0"},
	{name: "destopt-chain-complete", linux: "delivered"},
	{name: "bad-length", linux: "delivered, param problem code 0 ptr 4"},
	{name: "tiny", linux: "delivered"},
	{name: "gap-1s", linux: "delivered"},
	{name: "next-header-differs", linux: "delivered"},
	{name: "next-header-differs-first-last", linux: "delivered"},
	{name: "last-conflict", linux: "dropped"},
	{name: "resend-after-overlap", linux: "delivered",
		differs: "RFC 5722: the engine remembers a datagram discarded for an overlap until its timeout " +
			"and drops its later fragments; Linux forgets it, so a complete resend with the same " +
			"identification reassembles", engine: "dropped"},
}

// TestFrag6ScapyKernelVsEngine sends the same crafted IPv6 fragment
// sequences of UDP datagrams (scapy, from the peer namespace, frames on
// the peer's link) to a UDP socket of the engine (::1) and to a kernel UDP
// socket on the host side of the bed (::3, Bed.AddHostAddr6: the XDP
// program passes it to the kernel), and compares, case by case, whether
// the datagram arrived and with which bytes, and which ICMPv6 errors came
// back to the peer. After its fragments every case sends an unfragmented
// "fence" datagram from the same port: each stack handles a link's frames
// in order, so what the socket got before the fence is all it will get,
// with no waiting. The kernel also answers for Linux: each case names what
// Linux does.
//
// The kernel reassembles in the caller's namespace: with IPv6 connection
// tracking there (nf_defrag_ipv6), netfilter's reassembly would answer
// instead of the IPv6 layer's.
func TestFrag6ScapyKernelVsEngine(t *testing.T) {
	needScapy(t)
	if _, err := os.Stat("/sys/module/nf_defrag_ipv6"); err == nil {
		t.Log("nf_defrag_ipv6 is loaded: if IPv6 connection tracking is on in this namespace, " +
			"netfilter reassembles for the kernel column, not the IPv6 layer")
	}
	bed := testbed.New(t, testbed.Config{IPv6: true})
	host6, err := bed.AddHostAddr6()
	if err != nil {
		t.Fatal(err)
	}
	eng := start6(t, bed, true)
	const port = 7200
	srv, err := eng.ListenUDP("udp6", fmt.Sprintf(":%d", port), engine.SocketOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	ker, err := net.ListenUDP("udp6", net.UDPAddrFromAddrPort(netip.AddrPortFrom(host6, port)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ker.Close() })
	targets := []struct {
		name string
		addr netip.Addr
		rx   <-chan datagram6
	}{
		{"kernel", host6, receive6(ker)},
		{"engine", bed.EngineAddr6, receive6(srv)},
	}
	sc := startScapy(t, bed)

	// Both stacks learn the peer's MAC before the cases, so that no ICMPv6
	// error waits on neighbor discovery.
	for _, tg := range targets {
		sc.icmpFence(t, tg.addr, 40999)
	}
	base := rand.Uint32N(1 << 30)
	type outcome struct {
		got  [][]byte
		want [][]byte
		icmp []string
	}
	res := make([]map[string]*outcome, len(targets))
	for ti, tg := range targets {
		res[ti] = map[string]*outcome{}
		for ci, c := range frag6Cases {
			sport := uint16(41000 + ci)
			var ans struct {
				Want  []string `json:"want"`
				Frags int      `json:"frags"`
			}
			sc.call(t, map[string]any{"op": "case", "case": c.name, "dst": tg.addr.String(),
				"id": base + uint32(2*ci+ti), "sport": sport, "dport": port}, &ans)
			o := &outcome{got: untilFence(t, tg.rx, sport, tg.name+" "+c.name)}
			for _, w := range ans.Want {
				b, _ := hex.DecodeString(w)
				o.want = append(o.want, b)
			}
			res[ti][c.name] = o
		}
	}
	// ICMPv6 errors: a datagram to a closed port, after the cases, is
	// answered after every error the cases caused.
	for _, tg := range targets {
		sc.icmpFence(t, tg.addr, 40998)
	}
	for _, e := range sc.icmp(t) {
		for ti, tg := range targets {
			if e.From != tg.addr.String() || e.ID < 0 {
				continue
			}
			n := int(uint32(e.ID) - base)
			if n < 0 || n >= 2*len(frag6Cases) || n%2 != ti {
				continue
			}
			o := res[ti][frag6Cases[n/2].name]
			o.icmp = append(o.icmp, e.String())
		}
	}

	var table strings.Builder
	fmt.Fprintf(&table, "%-32s %-40s %-40s\n", "case", "kernel", "engine")
	for _, c := range frag6Cases {
		k, e := res[0][c.name], res[1][c.name]
		ks, es := describe6(k.got, k.icmp), describe6(e.got, e.icmp)
		note := ""
		if c.differs != "" {
			note = "(intentional)"
		}
		fmt.Fprintf(&table, "%-32s %-40s %-40s %s\n", c.name, ks, es, note)
		if ks != c.linux {
			t.Errorf("%s: the kernel: %s, want %s (what Linux does)", c.name, ks, c.linux)
		}
		for i, o := range []*outcome{k, e} {
			if len(o.got) > 0 && !slices.EqualFunc(o.got, o.want, bytes.Equal) {
				t.Errorf("%s: the %s delivered other bytes than sent (first difference at %d)", c.name,
					targets[i].name, enginetest.FirstDiff(slices.Concat(o.got...), slices.Concat(o.want...)))
			}
		}
		switch {
		case c.differs != "":
			if es != c.engine {
				t.Errorf("%s: the engine: %s, want %s (%s)", c.name, es, c.engine, c.differs)
			}
		case es != ks:
			t.Errorf("%s: the engine: %s, the kernel: %s", c.name, es, ks)
		case !slices.EqualFunc(e.got, k.got, bytes.Equal):
			t.Errorf("%s: the engine delivered other bytes than the kernel", c.name)
		}
	}
	t.Logf("IPv6 fragments, kernel (%v) vs engine (%v):\n%s", host6, bed.EngineAddr6, table.String())
	for _, c := range frag6Cases {
		if c.differs != "" {
			t.Logf("intentional difference, %s: %s", c.name, c.differs)
		}
	}
	r := eng.Stats().Total.IPv6.Reasm
	t.Logf("engine reassembly: %+v", r)
}

// describe6 sums up what one stack did with a case.
func describe6(got [][]byte, icmp []string) string {
	s := "dropped"
	switch len(got) {
	case 0:
	case 1:
		s = "delivered"
	default:
		s = fmt.Sprintf("delivered %d", len(got))
	}
	slices.Sort(icmp)
	for _, e := range icmp {
		s += ", " + e
	}
	return s
}

// datagram6 is a datagram a receiver got.
type datagram6 struct {
	from netip.AddrPort
	data []byte
}

// receive6 reads c until it is closed, handing every datagram over.
func receive6(c interface {
	ReadFromUDPAddrPort(p []byte) (int, netip.AddrPort, error)
}) <-chan datagram6 {
	ch := make(chan datagram6, 256)
	go func() {
		defer close(ch)
		buf := make([]byte, 65536)
		for {
			n, from, err := c.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			ch <- datagram6{from, bytes.Clone(buf[:n])}
		}
	}()
	return ch
}

// untilFence returns the datagrams from sport that arrived before the
// fence from sport, waiting up to 20 s for it.
func untilFence(tb testing.TB, rx <-chan datagram6, sport uint16, what string) [][]byte {
	tb.Helper()
	var got [][]byte
	deadline := time.After(20 * time.Second)
	for {
		select {
		case d, ok := <-rx:
			if !ok {
				tb.Fatalf("%s: receiver closed", what)
			}
			if d.from.Port() != sport {
				tb.Logf("%s: a datagram from %v, another case's (%d bytes)", what, d.from, len(d.data))
				continue
			}
			if string(d.data) == "fence" {
				return got
			}
			got = append(got, d.data)
		case <-deadline:
			tb.Fatalf("%s: no fence datagram within 20 s", what)
		}
	}
}

// scapy6 drives testdata/frag6_scapy.py in the peer namespace.
type scapy6 struct {
	in     io.Writer
	out    chan string
	stderr *bytes.Buffer
}

func startScapy(tb testing.TB, bed *testbed.Bed) *scapy6 {
	tb.Helper()
	script, err := filepath.Abs("testdata/frag6_scapy.py")
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := bed.Command(ctx, debianPython, "-u", script, bed.PeerIf, bed.PeerMAC.String(),
		bed.HostMAC.String(), bed.PeerAddr6.String())
	s := &scapy6{out: make(chan string, 4), stderr: &bytes.Buffer{}}
	cmd.Stderr = s.stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		in.Close()
		cancel()
		cmd.Wait()
	})
	s.in = in
	go func() {
		defer close(s.out)
		sc := bufio.NewScanner(out)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			s.out <- sc.Text()
		}
	}()
	return s
}

// call sends one command and decodes its answer into ans.
func (s *scapy6) call(tb testing.TB, cmd map[string]any, ans any) {
	tb.Helper()
	b, _ := json.Marshal(cmd)
	if _, err := s.in.Write(append(b, '\n')); err != nil {
		tb.Fatalf("scapy: %v\n%s", err, s.stderr)
	}
	select {
	case line, ok := <-s.out:
		if !ok {
			tb.Fatalf("scapy exited on %s\n%s", b, s.stderr)
		}
		if err := json.Unmarshal([]byte(line), ans); err != nil {
			tb.Fatalf("scapy answered %q to %s: %v", line, b, err)
		}
	case <-time.After(60 * time.Second):
		tb.Fatalf("scapy: no answer to %s in 60 s\n%s", b, s.stderr)
	}
}

// icmp6Error is an ICMPv6 error the peer received.
type icmp6Error struct {
	From    string `json:"from"`
	Type    int    `json:"type"`
	Code    int    `json:"code"`
	Pointer uint32 `json:"pointer"`
	ID      int64  `json:"id"`    // of the quoted fragment header, -1 if none
	SPort   int    `json:"sport"` // of the quoted UDP header, -1 if none
	DPort   int    `json:"dport"`
}

func (e icmp6Error) String() string {
	switch e.Type {
	case 1:
		return fmt.Sprintf("unreachable code %d", e.Code)
	case 3:
		return fmt.Sprintf("time exceeded code %d", e.Code)
	case 4:
		return fmt.Sprintf("param problem code %d ptr %d", e.Code, e.Pointer)
	}
	return fmt.Sprintf("type %d code %d", e.Type, e.Code)
}

func (s *scapy6) icmp(tb testing.TB) []icmp6Error {
	tb.Helper()
	var ans struct {
		ICMP []icmp6Error `json:"icmp"`
	}
	s.call(tb, map[string]any{"op": "icmp"}, &ans)
	return ans.ICMP
}

// icmpFence sends a datagram from sport to a closed port of dst until dst
// answers with a port unreachable: every ICMPv6 error dst sent before has
// then been received. Retried each second (neighbor discovery, rate
// limits), for up to 20 s.
func (s *scapy6) icmpFence(tb testing.TB, dst netip.Addr, sport uint16) {
	tb.Helper()
	for range 20 {
		s.call(tb, map[string]any{"op": "unreach", "dst": dst.String(), "sport": sport}, &struct{}{})
		for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			for _, e := range s.icmp(tb) {
				if e.From == dst.String() && e.Type == 1 && e.Code == 4 && e.DPort == 9 && e.SPort == int(sport) {
					return
				}
			}
		}
	}
	tb.Fatalf("no port unreachable from %v in 20 s", dst)
}
