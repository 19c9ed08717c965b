package scaling

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// Output of the bench package, as `go test -bench` prints it (shortened).
const benchOutput = `goos: linux
BenchmarkUDPEcho/queues=1/adaptive/64B-2         	   40000	         0 %lost	    211367 engine-echo/s	         1.127 engine/kernel	    187626 kernel-echo/s	         1.000 q0-share	         0 steered/pkt	       3 B/op	       0 allocs/op
--- BENCH: BenchmarkUDPEcho/queues=1/adaptive/64B-2
    udpecho_bench_test.go:104: queues=1: not split
BenchmarkUDPEcho/queues=2/adaptive/64B-2         	   40000	         0 %lost	    249132 engine-echo/s	         1.220 engine/kernel	    204126 kernel-echo/s	         0.5000 q0-share	         0.5000 q1-share	         0 steered/pkt	       4 B/op	       0 allocs/op
BenchmarkUDPEcho/queues=2/adaptive/64B-2         	   40000	         0 %lost	    196733 engine-echo/s	         1.232 engine/kernel	    159634 kernel-echo/s	         0.4000 q0-share	         0.6000 q1-share	         0 steered/pkt	       4 B/op	       0 allocs/op
BenchmarkUDPEcho/queues=2/adaptive/64B-2         	   40000	         0 %lost	    220245 engine-echo/s	         1.131 engine/kernel	    194773 kernel-echo/s	         0.6000 q0-share	         0.4000 q1-share	         0 steered/pkt	       4 B/op	       0 allocs/op
BenchmarkTCPShortConn/queues=2/clients=16-2         	    4000	    254900 ns/op	     18372 engine-conn/s	       110.0 engine-cpu-µs/conn	         1.013 engine/kernel	     18134 kernel-conn/s	       277.5 kernel-cpu-µs/conn	         0.4993 q0-share	         0.5007 q1-share	         0 steered/pkt	    3091 B/op	      15 allocs/op
BenchmarkTCPBulk/queues=2/kernel-to-engine-2         	    1000	  10693110 ns/op	 196.12 MB/s	       195.9 MB/s-delivered	         0.5000 q0-share	         0.5000 q1-share	         0 steered/pkt	   15987 B/op	       0 allocs/op
BenchmarkTCPBulk/queues=2/engine-to-kernel-2         	    1000	   8184029 ns/op	 256.25 MB/s	       255.4 MB/s-delivered	         0.4951 q0-share	         0.5049 q1-share	         0 steered/pkt	    7314 B/op	       0 allocs/op
BenchmarkTCPBulk/queues=2/kernel-to-kernel-2         	    1000	   5934953 ns/op	 353.36 MB/s	       353.2 MB/s-delivered	    2266 B/op	       0 allocs/op
BenchmarkLBForward/queues=1/nat/64B-2 	1	1 Mpps	0 %loss	0.5 x-kernel-Mpps	1.000 q0-share
BenchmarkLBForward/queues=1/kernel-dnat/64B-2 	1	2 Mpps	0 %loss
BenchmarkLBForward/queues=2/nat/64B-2 	1	3 Mpps	0 %loss	0.5 q0-share	0.5 q1-share
BenchmarkLBForward/queues=2/kernel-dnat/64B-2 	1	2 Mpps	0 %loss	1 gen-capped
BenchmarkIdleCPU/adaptive-2 	100	1.1 %cpu
PASS
`

func TestParseAndCollect(t *testing.T) {
	results, err := Parse(strings.NewReader(benchOutput))
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != 13 {
		t.Fatalf("%d results, want 13", len(results))
	}
	if r := results[0]; r.N != 40000 || r.Metrics["engine-echo/s"] != 211367 || r.Metrics["q0-share"] != 1 {
		t.Errorf("first result %+v", r)
	}
	rows := Collect(results)
	want := []Row{
		{Benchmark: "UDPEcho/adaptive/64B", Queues: 1, Engine: 211367, Kernel: 187626, Ratio: 1.127, Shares: []float64{1}, Unit: "echo/s", Runs: 1},
		{Benchmark: "UDPEcho/adaptive/64B", Queues: 2, Engine: 220245, Kernel: 194773, Ratio: 1.220, Shares: []float64{0.5, 0.5}, Unit: "echo/s", Runs: 3},
		{Benchmark: "TCPShortConn/clients=16", Queues: 2, Engine: 18372, Kernel: 18134, Ratio: 1.013, Shares: []float64{0.4993, 0.5007}, Unit: "conn/s", Runs: 1},
		{Benchmark: "TCPBulk/kernel-to-engine", Queues: 2, Engine: 195.9, Kernel: 353.2, Ratio: 195.9 / 353.2, Shares: []float64{0.5, 0.5}, Unit: "MB/s", Runs: 1},
		{Benchmark: "TCPBulk/engine-to-kernel", Queues: 2, Engine: 255.4, Kernel: 353.2, Ratio: 255.4 / 353.2, Shares: []float64{0.4951, 0.5049}, Unit: "MB/s", Runs: 1},
		{Benchmark: "LBForward/nat/64B", Queues: 1, Engine: 1, Kernel: 2, Ratio: 0.5, Shares: []float64{1}, Unit: "Mpps", Runs: 1},
		{Benchmark: "LBForward/nat/64B", Queues: 2, Engine: 3, Kernel: 2, Ratio: 0, Shares: []float64{0.5, 0.5}, Unit: "Mpps", Runs: 1},
	}
	if len(rows) != len(want) {
		t.Fatalf("%d rows, want %d: %+v", len(rows), len(want), rows)
	}
	for i := range want {
		g, w := rows[i], want[i]
		if g.Benchmark != w.Benchmark || g.Queues != w.Queues || g.Engine != w.Engine || g.Kernel != w.Kernel ||
			math.Abs(g.Ratio-w.Ratio) > 1e-9 || g.Unit != w.Unit || g.Runs != w.Runs || !near(g.Shares, w.Shares) {
			t.Errorf("row %d:\n got %+v\nwant %+v", i, g, w)
		}
	}
	if s := Speedup(rows, rows[1]); math.Abs(s-220245.0/211367) > 1e-9 {
		t.Errorf("speedup %v", s)
	}
	if d := Imbalance([]float64{0.4, 0.6}); math.Abs(d-0.2) > 1e-9 {
		t.Errorf("imbalance of 0.4/0.6 = %v, want 0.2", d)
	}
}

func near(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Abs(a[i]-b[i]) > 1e-9 {
			return false
		}
	}
	return true
}

func TestSplit(t *testing.T) {
	for _, c := range []struct {
		in    string
		bench string
		q     int
	}{
		{"BenchmarkUDPEcho/queues=4/busy/1400B-16", "UDPEcho/busy/1400B", 4},
		{"BenchmarkTCPDial/queues=8/clients=64", "TCPDial/clients=64", 8},
		{"BenchmarkX/queues=2-2", "X", 2},
		{"BenchmarkRingSame/spsc/8-2", "RingSame/spsc/8", 1},
	} {
		if b, q := split(c.in); b != c.bench || q != c.q {
			t.Errorf("split(%q) = %q, %d; want %q, %d", c.in, b, q, c.bench, c.q)
		}
	}
}

func TestOutputs(t *testing.T) {
	results, _ := Parse(strings.NewReader(benchOutput))
	rows := Collect(results)
	var table bytes.Buffer
	if err := WriteTable(&table, rows); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"engine/kernel", "UDPEcho/adaptive/64B", "0.50 0.50", "TCPBulk/engine-to-kernel"} {
		if !strings.Contains(table.String(), s) {
			t.Errorf("table lacks %q:\n%s", s, table.String())
		}
	}
	var js bytes.Buffer
	if err := WriteJSON(&js, rows); err != nil {
		t.Fatal(err)
	}
	var objs []map[string]any
	if err := json.Unmarshal(js.Bytes(), &objs); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for k := range objs[1] {
		keys = append(keys, k)
	}
	for _, k := range []string{"benchmark", "queues", "engine", "kernel", "ratio", "shares"} {
		if _, ok := objs[1][k]; !ok {
			t.Errorf("JSON object lacks %q: %v", k, keys)
		}
	}
	if !reflect.DeepEqual(objs[1]["shares"], []any{0.5, 0.5}) {
		t.Errorf("shares %v", objs[1]["shares"])
	}
	dir := t.TempDir()
	for _, name := range []string{"scaling.svg", "scaling.png"} {
		p := filepath.Join(dir, name)
		if err := WritePlot(p, rows); err != nil {
			t.Fatal(err)
		}
		if fi, err := os.Stat(p); err != nil || fi.Size() < 1000 {
			t.Errorf("%s: %v, %v", name, fi, err)
		}
	}
	if err := WritePlot(filepath.Join(dir, "x.pdf"), rows); err == nil {
		t.Error("a .pdf plot was accepted")
	}
	if err := WritePlot(filepath.Join(dir, "y.svg"), nil); err != ErrNoData {
		t.Errorf("no rows: %v, want ErrNoData", err)
	}
}
