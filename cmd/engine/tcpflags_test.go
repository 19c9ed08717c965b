package main

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/xdpengine/engine/engine"
)

func TestParseServeTCPMemory(t *testing.T) {
	o, err := parseServe([]string{"-i", "eth1", "--addr", "198.18.0.1/24", "--tcp-mem", "768M,1G,1536M",
		"--tcp-max-orphans", "1000", "--tcp-buffer-min", "8K", "--tcp-buffer-idle", "250ms", "--tcp-pool-max", "65536",
		"--somaxconn", "128"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := o.cfg
	want := engine.TCPMemLimits{Low: 768 << 20, Pressure: 1 << 30, High: 1536 << 20}
	if c.TCPMem != want || c.TCPMaxOrphans != 1000 || c.TCPBufferMin != 8192 || c.TCPBufferIdle != 250*time.Millisecond ||
		c.TCPPoolMax != 65536 || c.TCPSomaxconn != 128 {
		t.Errorf("got TCPMem %+v, orphans %d, buffer min %d, idle %v, pool %d, somaxconn %d",
			c.TCPMem, c.TCPMaxOrphans, c.TCPBufferMin, c.TCPBufferIdle, c.TCPPoolMax, c.TCPSomaxconn)
	}
	// Unset, they stay zero: engine.Config's defaults apply.
	o, err = parseServe([]string{"-i", "eth1", "--addr", "198.18.0.1/24"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c := o.cfg; c.TCPMem != (engine.TCPMemLimits{}) || c.TCPMaxOrphans != 0 || c.TCPBufferMin != 0 ||
		c.TCPBufferIdle != 0 || c.TCPPoolMax != 0 || c.TCPSomaxconn != 0 {
		t.Errorf("defaults: %+v", c)
	}
}

func TestParseBytes(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
	}{
		{"4096", 4096}, {"4K", 4096}, {"4KiB", 4096}, {"32M", 32 << 20}, {"2G", 2 << 30}, {"1GiB", 1 << 30},
	} {
		if got, err := parseBytes(tc.in); got != tc.want || err != nil {
			t.Errorf("parseBytes(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "0", "-1", "4k", "4KB", "1.5M", "M", "9999999999G"} {
		if _, err := parseBytes(bad); err == nil {
			t.Errorf("parseBytes(%q) accepted", bad)
		}
	}
}

// TestTCPMemoryFlagErrors: every bad value is a usage error that says what
// to write.
func TestTCPMemoryFlagErrors(t *testing.T) {
	base := []string{"serve", "-i", "xeb-nolink0", "--addr", "198.18.0.1/24"}
	for _, tc := range []struct {
		flag, value, inStderr string
	}{
		{"--tcp-mem", "1G,2G", "want LOW,PRESSURE,HIGH in bytes (K, M, G accepted), e.g. 768M,1G,1536M"},
		{"--tcp-mem", "1G,x,2G", `"x": want a positive number of bytes`},
		{"--tcp-mem", "2G,1G,3G", "want LOW <= PRESSURE <= HIGH"},
		{"--tcp-mem", "0,1G,2G", "want a positive number of bytes"},
		{"--tcp-max-orphans", "0", "want a number of connections, 1 or more"},
		{"--tcp-max-orphans", "many", "want a number of connections, 1 or more"},
		{"--tcp-buffer-min", "3000", "want a power of two of bytes, e.g. 4096 or 4K"},
		{"--tcp-buffer-idle", "5", "want a positive duration, e.g. 1s or 500ms"},
		{"--tcp-buffer-idle", "-1s", "want a positive duration"},
		{"--tcp-pool-max", "lots", "want a positive number of bytes, optionally with K, M or G"},
		{"--somaxconn", "0", "want a number of connections, 1-1048576"},
		{"--somaxconn", "2000000", "want a number of connections, 1-1048576"},
	} {
		var out, errb bytes.Buffer
		args := append(append([]string{}, base...), tc.flag, tc.value)
		code := run(args, &out, &errb)
		if code != 2 || !strings.Contains(errb.String(), tc.inStderr) || !strings.Contains(errb.String(), "Run 'engine serve -h'") {
			t.Errorf("engine serve %s %s: exit %d, stderr %q; want exit 2 and %q", tc.flag, tc.value, code, errb.String(), tc.inStderr)
		}
	}
	// What only engine.New can check is a usage error too.
	var out, errb bytes.Buffer
	code := run([]string{"serve", "-i", "lo", "--addr", "198.18.0.1/24", "--tcp-buffer-min", "8M"}, &out, &errb)
	if code != 2 || !strings.Contains(errb.String(), "TCP") {
		t.Errorf("--tcp-buffer-min 8M: exit %d, stderr %q; want a usage error", code, errb.String())
	}
}

// TestTCPMemoryFigures: the engine-wide memory figures (queue 0 reports
// them, the others 0) appear once, neither summed nor split over queues;
// the per-worker ones (orphans, refusals) per queue and summed.
func TestTCPMemoryFigures(t *testing.T) {
	var b bytes.Buffer
	if err := writeStatsTable(&b, sampleStats(), false); err != nil {
		t.Fatal(err)
	}
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`\n  memory \(bytes\) +- +- +1048576\n`),
		regexp.MustCompile(`\n  memory peak \(bytes\) +- +- +3145728\n`),
		regexp.MustCompile(`\n  pool \(bytes\) +- +- +65536\n`),
		regexp.MustCompile(`\n  orphans now +1 +2 +3\n`),
		regexp.MustCompile(`\n  refused \(memory high\) +0 +5 +5\n`),
		regexp.MustCompile(`\n  listen overflows +0 +0 +0\n`),
	} {
		if !want.MatchString(b.String()) {
			t.Errorf("engine stats lacks %v:\n%s", want, b.String())
		}
	}
	// One queue: the engine-wide figures in its column.
	st := sampleStats()
	st.Workers = st.Workers[:1]
	b.Reset()
	writeStatsTable(&b, st, false)
	if !regexp.MustCompile(`\n  memory \(bytes\) +1048576\n`).MatchString(b.String()) {
		t.Errorf("one queue:\n%s", b.String())
	}

	b.Reset()
	b.WriteString(exposition(t, func(ch chan<- prometheus.Metric) {
		collectStats(ch, sampleStats())
		collectTCPLimits(ch, engine.TCPMemLimits{Low: 3 << 20, Pressure: 4 << 20, High: 6 << 20}, 4096)
	}))
	for _, want := range []string{
		"# TYPE engine_tcp_memory_bytes gauge\nengine_tcp_memory_bytes 1.048576e+06\n",
		"engine_tcp_memory_peak_bytes 3.145728e+06\n",
		"engine_tcp_memory_pressure 0\n",
		"engine_tcp_pool_bytes 65536\n",
		"# TYPE engine_tcp_orphans gauge\nengine_tcp_orphans{queue=\"0\"} 1\nengine_tcp_orphans{queue=\"1\"} 2\n",
		"# TYPE engine_tcp_memory_pressures_total counter\nengine_tcp_memory_pressures_total 0\n",
		"engine_tcp_buffer_grows_total 300\n",
		"engine_tcp_buffer_trims_total 0\n",
		"engine_tcp_buffer_growths_denied_total 0\n",
		"engine_tcp_memory_drops_total 0\n",
		"engine_tcp_pool_released_bytes_total 0\n",
		"engine_tcp_memory_refused_total{queue=\"1\"} 5\n",
		"engine_tcp_abort_on_memory_total{queue=\"0\"} 0\n",
		"engine_tcp_listen_overflows_total{queue=\"0\"} 0\n",
		"# TYPE engine_tcp_memory_limit_bytes gauge\n" +
			"engine_tcp_memory_limit_bytes{threshold=\"high\"} 6.291456e+06\n" +
			"engine_tcp_memory_limit_bytes{threshold=\"low\"} 3.145728e+06\n" +
			"engine_tcp_memory_limit_bytes{threshold=\"pressure\"} 4.194304e+06\n",
		"engine_tcp_somaxconn 4096\n",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}
