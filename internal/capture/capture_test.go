package capture

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket/pcapgo"

	"github.com/xdpengine/engine/stack/datapath"
)

// frame builds an Ethernet + IPv4 + UDP/TCP frame (or ARP: proto 0).
func frame(src, dst [4]byte, proto uint8, sport, dport uint16, fragOff uint16) []byte {
	f := make([]byte, 14+20+20)
	copy(f[0:6], []byte{2, 0, 0, 0, 0, 1})
	copy(f[6:12], []byte{2, 0, 0, 0, 0, 2})
	if proto == 0 {
		binary.BigEndian.PutUint16(f[12:], 0x0806)
		a := f[14:]
		binary.BigEndian.PutUint16(a[0:], 1)
		binary.BigEndian.PutUint16(a[2:], 0x0800)
		a[4], a[5] = 6, 4
		binary.BigEndian.PutUint16(a[6:], 1)
		copy(a[14:18], src[:])
		copy(a[24:28], dst[:])
		return f[:14+28]
	}
	binary.BigEndian.PutUint16(f[12:], 0x0800)
	ip := f[14:]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], 40)
	binary.BigEndian.PutUint16(ip[6:], fragOff)
	ip[8], ip[9] = 64, proto
	copy(ip[12:16], src[:])
	copy(ip[16:20], dst[:])
	binary.BigEndian.PutUint16(ip[20:], sport)
	binary.BigEndian.PutUint16(ip[22:], dport)
	return f
}

var (
	a1 = [4]byte{198, 18, 0, 1}
	a2 = [4]byte{198, 18, 0, 2}
	b1 = [4]byte{198, 19, 5, 1}
)

var testFrames = map[string][]byte{
	"udp 1->2 5000>7":         frame(a1, a2, 17, 5000, 7, 0),
	"udp 2->1 7>5000":         frame(a2, a1, 17, 7, 5000, 0),
	"tcp 1->b 80>9999":        frame(a1, b1, 6, 80, 9999, 0),
	"tcp b->2 40000>443 frag": frame(b1, a2, 6, 40000, 443, 0x0010),
	"icmp 2->b":               frame(a2, b1, 1, 0, 0, 0),
	"arp 1->2":                frame(a1, a2, 0, 0, 0, 0),
}

var filterCases = []struct {
	expr string
	want []string
}{
	{"", nil},
	{"udp", []string{"udp 1->2 5000>7", "udp 2->1 7>5000"}},
	{"port 7", []string{"udp 1->2 5000>7", "udp 2->1 7>5000"}},
	{"udp dst port 7", []string{"udp 1->2 5000>7"}},
	{"tcp port 443", nil}, // a non-first fragment has no ports
	{"host 198.18.0.1", []string{"udp 1->2 5000>7", "udp 2->1 7>5000", "tcp 1->b 80>9999", "arp 1->2"}},
	{"src host 198.18.0.2 and not arp", []string{"udp 2->1 7>5000", "icmp 2->b"}},
	{"net 198.19.0.0/16 and (tcp or icmp)", []string{"tcp 1->b 80>9999", "tcp b->2 40000>443 frag", "icmp 2->b"}},
	{"dst net 198.19.0.0/16", []string{"tcp 1->b 80>9999", "icmp 2->b"}},
	{"arp", []string{"arp 1->2"}},
	{"ip proto 1 || portrange 70-90", []string{"tcp 1->b 80>9999", "icmp 2->b"}},
	{"!ip", []string{"arp 1->2"}},
	{"tcp src portrange 1-100", []string{"tcp 1->b 80>9999"}},
	{"ether proto 0x0806", []string{"arp 1->2"}},
}

func matches(f Filter) map[string]bool {
	got := map[string]bool{}
	for name, fr := range testFrames {
		if f == nil || f.Match(fr) {
			got[name] = true
		}
	}
	return got
}

func check(t *testing.T, what string, got map[string]bool, want []string) {
	t.Helper()
	if want == nil && len(got) == len(testFrames) {
		return
	}
	w := map[string]bool{}
	for _, n := range want {
		w[n] = true
	}
	for n := range testFrames {
		if got[n] != w[n] {
			t.Errorf("%s: frame %q: got match %v, want %v", what, n, got[n], w[n])
		}
	}
}

func TestParseFilter(t *testing.T) {
	for _, c := range filterCases {
		f, err := ParseFilter(c.expr)
		if err != nil {
			t.Fatalf("%q: %v", c.expr, err)
		}
		want := c.want
		if want == nil && c.expr != "" {
			want = []string{}
		}
		check(t, c.expr, matches(f), want)
	}
}

func TestParseFilterErrors(t *testing.T) {
	for _, expr := range []string{"host", "host example.com", "port 99999", "(udp", "udp)", "src udp",
		"vlan", "portrange 9-1", "udp and", "ether host 02:00:00:00:00:01", "proto nope"} {
		if _, err := ParseFilter(expr); !errors.Is(err, ErrFilter) {
			t.Errorf("%q: got %v, want ErrFilter", expr, err)
		}
	}
}

// TestBPFAgreesWithTcpdump compiles every expression with tcpdump -ddd and
// checks that the BPF filter and the expression filter select the same
// frames.
func TestBPFAgreesWithTcpdump(t *testing.T) {
	if _, err := exec.LookPath("tcpdump"); err != nil {
		t.Skip("tcpdump is not installed (scripts/deps.sh installs it)")
	}
	for _, c := range filterCases {
		if c.expr == "" {
			continue
		}
		out, err := exec.Command("tcpdump", "-ddd", "-y", "EN10MB", "-i", "lo", c.expr).Output()
		if err != nil {
			t.Skipf("tcpdump -ddd: %v", err)
		}
		prog, err := ParseBPF(string(out))
		if err != nil {
			t.Fatalf("%q: %v\n%s", c.expr, err, out)
		}
		f, _ := newBPFFilter(prog)
		ef, _ := ParseFilter(c.expr)
		check(t, "bpf "+c.expr, matches(f), keys(matches(ef)))
	}
}

func keys(m map[string]bool) []string {
	out := []string{}
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestParseBPF(t *testing.T) {
	// tcpdump -ddd 'udp' on Ethernet, in its one-line form.
	const udp = "6,40 0 0 12,21 0 3 2048,48 0 0 23,21 0 1 17,6 0 0 262144,6 0 0 0"
	prog, err := ParseBPF(udp)
	if err != nil {
		t.Fatal(err)
	}
	f, _ := newBPFFilter(prog)
	check(t, "udp bpf", matches(f), []string{"udp 1->2 5000>7", "udp 2->1 7>5000"})
	for _, bad := range []string{"", "2\n6 0 0 0", "1\n6 0 0", "1\n21 5 5 0", "1\nx 0 0 0", "99999\n6 0 0 0"} {
		if _, err := ParseBPF(bad); !errors.Is(err, ErrFilter) {
			t.Errorf("%q: got %v, want ErrFilter", bad, err)
		}
	}
}

// TestWriter writes frames of two queues and reads them back.
func TestWriter(t *testing.T) {
	var buf bytes.Buffer
	w, err := NewWriter(&buf, "veth0", 2, 64, "udp")
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Unix(1700000000, 123456789)
	f := testFrames["udp 1->2 5000>7"]
	if err := w.WriteFrame(t0, 1, datapath.DirTx, len(f), f); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteFrame(t0, 0, datapath.DirRx, 100, f[:20]); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteFrame(t0, 2, datapath.DirRx, 100, f); err == nil {
		t.Error("queue 2 of 2 accepted")
	}
	if err := w.WriteStats(t0, t0.Add(time.Second), []datapath.TapStats{{Captured: 2, Overruns: 3}}); err != nil {
		t.Fatal(err)
	}
	w.Flush()
	raw := append([]byte(nil), buf.Bytes()...)
	r, err := pcapgo.NewNgReader(&buf, pcapgo.DefaultNgReaderOptions)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for {
		data, ci, err := r.ReadPacketData()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		intf, _ := r.Interface(ci.InterfaceIndex)
		got = append(got, intf.Name)
		if !ci.Timestamp.Equal(t0) {
			t.Errorf("timestamp %v, want %v", ci.Timestamp, t0)
		}
		if intf.Name == "q0-rx" && (len(data) != 20 || ci.Length != 100) {
			t.Errorf("q0-rx: %d of %d bytes, want 20 of 100", len(data), ci.Length)
		}
	}
	if strings.Join(got, ",") != "q1-tx,q0-rx" {
		t.Errorf("interfaces %v, want q1-tx,q0-rx", got)
	}
	if _, err := exec.LookPath("tcpdump"); err == nil {
		cmd := exec.Command("tcpdump", "-n", "-r", "-")
		cmd.Stdin = bytes.NewReader(raw)
		out, err := cmd.Output()
		if err != nil || strings.Count(string(out), "\n") != 2 {
			t.Errorf("tcpdump -r -: %v\n%s", err, out)
		}
	}
}

func TestStreamRoundTrip(t *testing.T) {
	var wire bytes.Buffer
	fw := framer{&wire}
	fw.Write([]byte("hello "))
	fw.Write(bytes.Repeat([]byte("x"), maxRec+5))
	writeEnd(&wire, Summary{Frames: 7, Overruns: 2})
	var out bytes.Buffer
	sum, err := Receive(bytes.NewReader(wire.Bytes()), &out)
	if err != nil || sum.Frames != 7 || sum.Overruns != 2 || out.Len() != 6+maxRec+5 {
		t.Fatalf("got %+v, %d bytes, %v", sum, out.Len(), err)
	}
	if _, err := Receive(bytes.NewReader(wire.Bytes()[:20]), io.Discard); !errors.Is(err, ErrTruncated) {
		t.Errorf("truncated stream: got %v", err)
	}
}

func BenchmarkFilter(b *testing.B) {
	f, _ := ParseFilter("udp dst port 7 and host 198.18.0.1")
	fr := testFrames["udp 1->2 5000>7"]
	b.ReportAllocs()
	for b.Loop() {
		f.Match(fr)
	}
}
