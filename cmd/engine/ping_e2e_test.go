package main

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"regexp"
	"strings"
	"testing"

	"github.com/xdpengine/engine/internal/ctl"
	"github.com/xdpengine/engine/internal/testbed"
)

// TestPingCLI: `engine ping` through a running `engine serve` pings the
// peer kernel over IPv4 and IPv6 and prints ping(8)'s lines and summary;
// --json has the same figures; an address nobody holds is reported lost,
// exit status 1; `engine stats` then shows the IPv6 section.
func TestPingCLI(t *testing.T) {
	bed := testbed.New(t, testbed.Config{IPv6: true})
	sock := ctl.SocketPath(bed.HostIf)
	srv := startServe(t, sock, "-i", bed.HostIf, "--addr", netip.PrefixFrom(bed.EngineAddr, 24).String(),
		"--addr", netip.PrefixFrom(bed.EngineAddr6, 64).String(), "--nodad", "--queues", "1")
	srv.waitControl(t, sock)

	reply := regexp.MustCompile(`(?m)^64 bytes from (\S+): icmp_seq=(\d) ttl=64 time=\d+\.\d{3} ms$`)
	for _, dst := range []netip.Addr{bed.PeerAddr, bed.PeerAddr6} {
		var out, errb bytes.Buffer
		if code := run([]string{"ping", "--ctl", sock, "-c", "3", "--interval", "50ms", dst.String()}, &out, &errb); code != 0 {
			t.Fatalf("engine ping %v: exit %d: %s%s", dst, code, out.String(), errb.String())
		}
		got := out.String()
		t.Logf("engine ping -c 3 %v:\n%s", dst, got)
		if m := reply.FindAllStringSubmatch(got, -1); len(m) != 3 || m[0][1] != dst.String() || m[2][2] != "3" {
			t.Errorf("engine ping %v: replies %q in\n%s", dst, m, got)
		}
		for _, want := range []string{"PING " + dst.String() + " ", "--- " + dst.String() + " ping statistics ---",
			"3 packets transmitted, 3 received, 0% packet loss", "rtt min/avg/max/mdev = "} {
			if !strings.Contains(got, want) {
				t.Errorf("engine ping %v: no %q in\n%s", dst, want, got)
			}
		}
	}

	var out, errb bytes.Buffer
	if code := run([]string{"ping", "--ctl", sock, "-c", "2", "--interval", "50ms", "--json", bed.PeerAddr6.String()}, &out, &errb); code != 0 {
		t.Fatalf("engine ping --json: exit %d: %s", code, errb.String())
	}
	var s struct {
		Transmitted, Received int
		LossPercent           float64 `json:"loss_percent"`
		RTTMin                int64   `json:"rtt_min_ns"`
		Replies               []struct {
			Seq   int
			Bytes int
		}
	}
	if err := json.Unmarshal(out.Bytes(), &s); err != nil || s.Transmitted != 2 || s.Received != 2 || s.LossPercent != 0 ||
		s.RTTMin <= 0 || len(s.Replies) != 2 || s.Replies[1].Seq != 2 || s.Replies[0].Bytes != 64 {
		t.Errorf("engine ping --json: %v: %+v from\n%s", err, s, out.String())
	}

	// Nobody: lost, exit 1, a clear message.
	out.Reset()
	errb.Reset()
	nobody := bed.PeerAddr.Next().Next().Next()
	if code := run([]string{"ping", "--ctl", sock, "-c", "2", "-W", "200ms", "--interval", "50ms", nobody.String()}, &out, &errb); code != 1 {
		t.Errorf("engine ping %v (nobody): exit %d, want 1", nobody, code)
	}
	if got := out.String() + errb.String(); !strings.Contains(got, "no reply for icmp_seq=2") ||
		!strings.Contains(got, "2 packets transmitted, 0 received, 100% packet loss") || !strings.Contains(got, "no echo reply") {
		t.Errorf("engine ping %v (nobody):\n%s", nobody, got)
	}
	// Refused by the engine: no route off the link.
	errb.Reset()
	if code := run([]string{"ping", "--ctl", sock, "-c", "1", "203.0.113.1"}, &out, &errb); code != 1 || !strings.Contains(errb.String(), "no route to host") {
		t.Errorf("engine ping 203.0.113.1: exit %d: %s", code, errb.String())
	}
	if code := run([]string{"ping", "--ctl", sock, "nowhere"}, &out, &errb); code != 2 {
		t.Errorf("engine ping nowhere: exit %d, want 2", code)
	}

	// The IPv6 counters in engine stats.
	out.Reset()
	if code := run([]string{"stats", "--ctl", sock}, &out, &errb); code != 0 {
		t.Fatalf("engine stats: exit %d: %s", code, errb.String())
	}
	for _, want := range []string{"\nipv6\n", "\nicmpv6\n", "in echo_reply", "\nndp\n"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("engine stats: no %q in\n%s", want, out.String())
		}
	}
}
