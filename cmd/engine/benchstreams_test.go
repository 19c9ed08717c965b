package main

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xdpengine/engine/bench/pacer"
	"github.com/xdpengine/engine/bench/stream"
)

// TestReadBenchStreams checks the --streams file: ranges, modes, rates in
// bits per second, defaults from the command line, a replay from a
// capture, and the errors a user gets for a wrong file.
func TestReadBenchStreams(t *testing.T) {
	dir := t.TempDir()
	frame := make([]byte, 60)
	pcap, err := os.Create(filepath.Join(dir, "one.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.WritePcap(pcap, time.Unix(0, 0), []stream.Frame{{Data: frame}}); err != nil {
		t.Fatal(err)
	}
	pcap.Close()
	d := benchStreamsDefaults{src: netip.MustParseAddr("198.18.0.1"), dst: netip.MustParseAddr("198.18.0.2"), dstPort: 7, catchUp: 0.02}
	write := func(body string) string {
		p := filepath.Join(dir, "s.yaml")
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	ss, err := readBenchStreams(write(`streams:
  - src: 198.18.0.10-198.18.0.20:random
    src_port: 1000-1999
    rate_bps: 1e9
    vlan: 5
  - template: replay
    pcap: `+filepath.Join(dir, "one.pcap")+`
    pcap_speed: 2
    loop: true
`), d)
	if err != nil {
		t.Fatal(err)
	}
	u, r := ss[0], ss[1]
	if u.Spec.Kind != stream.UDP || u.Spec.Src.First != netip.MustParseAddr("198.18.0.10") || u.Spec.Src.Mode != stream.Random ||
		u.Spec.SrcPort.First != 1000 || u.Spec.SrcPort.Last != 1999 || u.Spec.SrcPort.Mode != stream.Inc ||
		u.Spec.Dst.First != d.dst || u.Spec.DstPort.First != 7 || u.Spec.VLAN.First != 5 ||
		u.Rate.Value != 1e9 || u.Rate.Unit != pacer.BitsL1 || u.Rate.Burst != 2e7+1 {
		t.Errorf("udp stream: %+v, rate %+v", u.Spec, u.Rate)
	}
	if r.Spec.Kind != stream.Replay || len(r.Spec.Frames) != 1 || r.CaptureTiming != 2 || !r.Loop || r.Spec.Sign != stream.SignOff {
		t.Errorf("replay stream: %+v", r)
	}
	for _, tc := range []struct{ body, want string }{
		{"streams: []", "no streams"},
		{"streams:\n  - template: http", `template "http": want udp, tcp-syn`},
		{"streams:\n  - rate: 5\n    rate_bps: 6", "give one of rate"},
		{"streams:\n  - colour: red", "unknown field"},
		{"streams:\n  - template: replay", "a replay needs pcap"},
		{"streams:\n  - pcap: x.pcap", "are for template: replay"},
		{"streams:\n  - src: 2001:2::1", "want an IPv4 address"},
		{"streams:\n  - src_port: 9-8", "LAST not below FIRST"},
		{"streams:\n  - dst_port: 7:sometimes", "inc or random"},
		{"streams:\n  - vlan: 5000", "1 to 4094"},
		{"streams:\n  - size: 20", "size"},
		{"streams:\n  - template: tcp-syn\n    size: 9000", "UMEM"},
	} {
		_, err := readBenchStreams(write(tc.body), d)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want an error with %q", tc.body, err, tc.want)
		}
	}
}
