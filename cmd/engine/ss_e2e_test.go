package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/xdpengine/engine/engine"
	"github.com/xdpengine/engine/internal/ctl"
	"github.com/xdpengine/engine/internal/enginetest"
	"github.com/xdpengine/engine/internal/testbed"
	"github.com/xdpengine/engine/stack/socktab"
)

// TestSSStream: engine ss lists thousands of connections through the
// "ss.stream" command, which the engine writes batch by batch (never more
// than ssBatch entries gathered at once), in the same format as one
// socktab.WriteSS of the whole listing; -H and --json likewise.
func TestSSStream(t *testing.T) {
	const n, batch = 3000, 128
	bed := testbed.New(t, testbed.Config{})
	eng := enginetest.Start(t, bed, engine.Config{})
	ln, err := eng.Listen("tcp4", ":7020")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
		}
	}()
	var peers []net.Conn
	t.Cleanup(func() {
		for _, c := range peers {
			c.Close()
		}
	})
	if err := bed.Do(func() error {
		for range n {
			c, err := net.Dial("tcp4", enginetest.EngineAddr(bed, 7020).String())
			if err != nil {
				return err
			}
			peers = append(peers, c)
		}
		return nil
	}); err != nil {
		t.Fatalf("after %d connections: %v", len(peers), err)
	}
	enginetest.WaitFor(t, "every connection established", func() bool { return eng.Stats().Total.TCP.CurrEstab == n })

	// The engine hands out batches no larger than asked.
	total, largest := 0, 0
	if err := eng.EachSocket(socktab.TCP, batch, true, func(es []socktab.Entry) error {
		total += len(es)
		largest = max(largest, len(es))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if total != n+1 || largest > batch {
		t.Errorf("EachSocket: %d entries in batches of up to %d, want %d in batches of at most %d", total, largest, n+1, batch)
	}

	path := filepath.Join(t.TempDir(), "engine.sock")
	srv, err := ctl.Listen(path, enginetest.DiscardLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	handleSS(srv, eng)
	srv.Handle("stats", func(json.RawMessage) (any, error) { return eng.Stats(), nil }) // ss -s's orphans
	defer func(b int) { ssBatch = b }(ssBatch)
	ssBatch = batch

	ss := func(args ...string) string {
		t.Helper()
		var out, errb bytes.Buffer
		if code := run(append([]string{"ss", "--ctl", path}, args...), &out, &errb); code != 0 {
			t.Fatalf("engine ss %s: exit %d: %s", strings.Join(args, " "), code, errb.String())
		}
		return out.String()
	}
	got := ss("-t")
	// The same text as one WriteSS of the whole listing, but for the order.
	var whole []socktab.Entry
	for _, e := range eng.Sockets(socktab.TCP) {
		if e.State != socktab.StateListen {
			e.TCP = nil
			whole = append(whole, e)
		}
	}
	var want bytes.Buffer
	socktab.WriteSS(&want, whole)
	if g, w := sortedLines(got), sortedLines(want.String()); !slices.Equal(g, w) {
		t.Errorf("engine ss -t: %d lines, want %d; first lines:\n%s\nwant:\n%s", len(g), len(w), head(got), head(want.String()))
	}
	if c := strings.Count(got, "ESTAB"); c != n {
		t.Errorf("engine ss -t: %d ESTAB rows, want %d", c, n)
	}
	if h := ss("-tH"); h != got[strings.IndexByte(got, '\n')+1:] {
		t.Errorf("engine ss -tH is not engine ss -t without its header:\n%s", head(h))
	}
	if l := ss("-tl"); strings.Count(l, "\n") != 2 || !strings.Contains(l, "LISTEN") {
		t.Errorf("engine ss -tl:\n%s", l)
	}
	var es []ssEntryJSON
	if err := json.Unmarshal([]byte(ss("-ta", "--json")), &es); err != nil || len(es) != n+1 {
		t.Errorf("engine ss -ta --json: %d entries, %v; want %d", len(es), err, n+1)
	}
	// -m: each connection's memory, queued bytes and rings (none held by an
	// idle connection); --info not asked, no tcp_info.
	es = nil
	if err := json.Unmarshal([]byte(ss("-tme", "--json", "state", "established")), &es); err != nil || len(es) != n {
		t.Errorf("engine ss -tme --json: %d entries, %v; want %d", len(es), err, n)
	} else if m := es[0].Memory; m == nil || es[0].Netid != "tcp" || es[0].State != "ESTAB" || es[0].TCPInfo != nil {
		t.Errorf("engine ss -tme --json: first entry %+v, memory %+v", es[0], m)
	}
	if m := ss("-tmH", "state", "established"); strings.Count(m, "skmem:(r") != n {
		t.Errorf("engine ss -tm: want one skmem line per connection:\n%s", head(m))
	}
	// -s: the summary, text and JSON.
	var sum ssSummary
	if err := json.Unmarshal([]byte(ss("-s", "--json")), &sum); err != nil || sum.TCP.States["ESTAB"] != n || sum.TCP.States["LISTEN"] != 1 || sum.TCP.IPv4 != n+1 {
		t.Errorf("engine ss -s --json: %+v, %v; want %d established, 1 listener", sum, err, n)
	}
	if s := ss("-s"); !strings.Contains(s, fmt.Sprintf("estab %d", n)) || !strings.Contains(s, "Transport Total") {
		t.Errorf("engine ss -s:\n%s", s)
	}
	// Filters, applied by the engine.
	one := peers[n/2].LocalAddr().(*net.TCPAddr).Port
	for _, tc := range []struct {
		args []string
		rows int
	}{
		{[]string{"-tH", "state", "established", "dport", "=", fmt.Sprintf(":%d", one)}, 1},
		{[]string{"-tH", fmt.Sprintf("( dport = :%d )", one)}, 1},
		{[]string{"-tH", "sport", "eq", ":7020"}, n},
		{[]string{"-tH", "sport", "!=", ":7020"}, 0},
		{[]string{"-tH", "state", "listening"}, 1},
		{[]string{"-tH", "state", "all", "dport", ">", fmt.Sprintf(":%d", one)}, -1},
	} {
		got := strings.Count(ss(tc.args...), "\n")
		if tc.rows >= 0 && got != tc.rows || tc.rows < 0 && (got == 0 || got >= n) {
			t.Errorf("engine ss %s: %d rows, want %d", strings.Join(tc.args, " "), got, tc.rows)
		}
	}
	if info := ss("-t", "--info"); strings.Count(info, "cwnd:") != n {
		t.Errorf("engine ss -t --info: %d detail lines, want %d", strings.Count(info, "cwnd:"), n)
	}
}

func sortedLines(s string) []string {
	l := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	slices.Sort(l)
	return l
}

func head(s string) string {
	l := strings.SplitN(s, "\n", 4)
	return strings.Join(l[:min(3, len(l))], "\n")
}

func TestParseSSFilter(t *testing.T) {
	f, err := parseSSFilter([]string{"state", "established", "state", "time-wait", "( dport = :443 and sport ge :1024 )"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(f.States, []string{"ESTAB", "TIME-WAIT"}) ||
		!slices.Equal(f.Ports, []portCond{{Dst: true, Op: "==", Port: 443}, {Op: ">=", Port: 1024}}) {
		t.Errorf("filter: %+v", f)
	}
	e := socktab.Entry{Proto: socktab.TCP, State: socktab.StateEstablished,
		Local: netip.MustParseAddrPort("198.18.0.1:40000"), Peer: netip.MustParseAddrPort("198.18.0.2:443")}
	a := ssArgs{Filter: f}
	if !a.wants(&e) {
		t.Errorf("%+v does not pass %+v", e, f)
	}
	e.Peer = netip.MustParseAddrPort("198.18.0.2:80")
	if a.wants(&e) {
		t.Errorf("%+v passes %+v", e, f)
	}
	if f, err := parseSSFilter(nil); f != nil || err != nil {
		t.Errorf("no filter: %v, %v", f, err)
	}
	for _, bad := range [][]string{
		{"state", "sleeping"}, {"sport", "=", ":x"}, {"sport", ":80"}, {"dport", "~", ":80"},
		{"sport = :80 or dport = :80"}, {"src", "198.18.0.1"}, {"exclude", "listening"}, {"state"},
	} {
		if _, err := parseSSFilter(bad); err == nil || !errors.Is(err, errUsage) {
			t.Errorf("filter %q: %v, want a usage error", bad, err)
		}
	}
}
