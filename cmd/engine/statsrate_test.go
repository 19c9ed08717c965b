package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/xdpengine/engine/engine"
)

// fakeStats answers "stats" with the next snapshot.
type fakeStats struct{ snaps []engine.Stats }

func (f *fakeStats) Call(cmd string, _, reply any) error {
	*reply.(*engine.Stats) = f.snaps[0]
	if len(f.snaps) > 1 {
		f.snaps = f.snaps[1:]
	}
	return nil
}

func snap(rx, rxBytes, drop uint64) engine.Stats {
	w := engine.WorkerStats{RxPackets: rx, RxBytes: rxBytes, DropChecksum: drop}
	return engine.Stats{Workers: []engine.WorkerStats{w}, Total: w}
}

func TestRates(t *testing.T) {
	prev, cur := snap(100, 10000, 1), snap(300, 30000, 5)
	r := ratesOf(&prev, &cur, 2, time.Unix(0, 0))
	for k, want := range map[string]float64{"packets_rx": 100, "bytes_rx": 10000, "drops_checksum": 2, "packets_tx": 0} {
		if got, ok := r.Total[k]; !ok || got != want {
			t.Errorf("rate %s = %v (%v), want %v", k, got, ok, want)
		}
		if got := r.Queues[0][k]; got != want {
			t.Errorf("queue 0 rate %s = %v, want %v", k, got, want)
		}
	}
	if _, ok := r.Total["xsk_frames_free"]; ok {
		t.Errorf("a level (xsk_frames) has a rate: %v", r.Total)
	}
	// A counter that went down (a restart) counts from zero.
	if got := rate(500, 100, 1); got != 100 {
		t.Errorf("rate after a restart = %v, want 100", got)
	}
	var b bytes.Buffer
	if err := writeRateTable(&b, &prev, &cur, 2, false); err != nil {
		t.Fatal(err)
	}
	if v := row(t, b.String(), "rx packets"); len(v) != 1 || v[0] != 100 {
		t.Errorf("rx packets row %v, want 100:\n%s", v, b.String())
	}
	if strings.Contains(b.String(), "frames free") {
		t.Errorf("the rate table shows a level:\n%s", b.String())
	}
}

func TestWatchStats(t *testing.T) {
	f := &fakeStats{snaps: []engine.Stats{snap(0, 0, 0), snap(10, 1000, 0), snap(20, 2000, 0), snap(30, 3000, 0)}}
	var b bytes.Buffer
	if err := watchStats(f, &b, 10*time.Millisecond, 3, true, false, nil); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("stats -w -c 3 --json: %d lines, want 3:\n%s", len(lines), b.String())
	}
	for _, l := range lines {
		var r statsRates
		if err := json.Unmarshal([]byte(l), &r); err != nil || r.Total["packets_rx"] <= 0 || r.Interval <= 0 {
			t.Errorf("line %s: %+v, %v", l, r, err)
		}
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"stats", "-c", "3"}, "-c needs -w INTERVAL"},
		{[]string{"stats", "-w", "1ms"}, "want an interval of 10ms or more"},
		{[]string{"stats", "-w", "soon"}, "invalid argument"},
		{[]string{"status", "-w", "-1s"}, "want 0 (no rates) or more"},
	} {
		var out, errb bytes.Buffer
		if code := run(tc.args, &out, &errb); code != 2 || !strings.Contains(errb.String(), tc.want) {
			t.Errorf("engine %s: exit %d, stderr %q, want 2 and %q", strings.Join(tc.args, " "), code, errb.String(), tc.want)
		}
	}
}

func TestWriteStatus(t *testing.T) {
	st := engineStatus{Interface: "eth1", Driver: "veth", Pid: 7, Version: "v1", Running: true, UptimeSeconds: 61,
		Queues: 2, MTU: 1500, Services: []string{"udp:7"}, Rates: &statusRates{Interval: 1, RxPPS: 1000, RxBPS: 12e6},
		TCP: statusTCP{Established: 3, Listeners: 1}, UDPSockets: 1, Drops: 4}
	var b bytes.Buffer
	if err := writeStatus(&b, &st); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"engine v1 on eth1 (veth), pid 7, up 1m1s", "1000 pps, 12.00 Mbit/s", "3 established", "1 listening", "1 socket\n", "drops     4"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("status lacks %q:\n%s", want, b.String())
		}
	}
}
