// Command scaling runs the engine's side-by-side benchmarks (package
// bench) once per queue count and writes the scaling report: a table on
// standard output, the rows as JSON and a plot (see package scaling).
// `make bench-scaling` runs it:
//
//	go test -c -o bin/bench.test ./bench
//	scaling -test bin/bench.test -dir bench -queues 1,2 -json bin/scaling.json -plot bin/scaling.svg
//
// Every figure comes from the metrics the benchmarks report; -input reads
// saved `go test -bench` output instead of running anything.
//
// The benchmarks (-bench, a comma-separated list, "all" for every one):
//
//	udpecho   BenchmarkUDPEcho, adaptive polling, 64-byte datagrams
//	tcpshort  BenchmarkTCPShortConn, 16 and 64 clients
//	tcpdial   BenchmarkTCPDial, 16 and 64 clients
//	tcpbulk   BenchmarkTCPBulk, one stream per queue, each direction
//	lb        BenchmarkLBForward, NAT and the kernel's DNAT, 64-byte frames
//	          (about two minutes per queue count; not in the default list)
//
// Each has a short default -benchtime (a second or so per stack and
// queue count on 2 cores), enough for a report on a quiet machine;
// -benchtime overrides them all and -count repeats each run (the report
// takes medians; `make bench-scaling` runs 3).
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"github.com/xdpengine/engine/bench/scaling"
)

// A suite entry: the benchmarks' -test.bench pattern and default benchtime.
type entry struct {
	name, pattern, benchtime string
}

var suite = []entry{
	{"udpecho", "^BenchmarkUDPEcho$/^queues=/^adaptive$/^64B$", "100000x"},
	{"tcpshort", "^BenchmarkTCPShortConn$/^queues=/^clients=(16|64)$", "10000x"},
	{"tcpdial", "^BenchmarkTCPDial$/^queues=/^clients=(16|64)$", "5000x"},
	{"tcpbulk", "^BenchmarkTCPBulk$/^queues=", "300x"},
	{"lb", "^BenchmarkLBForward$/^queues=/^(nat|kernel-dnat)$/^64B$", "1x"},
}

const defaultBench = "udpecho,tcpshort,tcpdial,tcpbulk"

func main() {
	var (
		testBin   = flag.String("test", "", "the bench package's test binary (go test -c ./bench)")
		dir       = flag.String("dir", "", "the directory to run it in (the bench package's, as go test would)")
		queues    = flag.String("queues", "1,2", "comma-separated queue counts")
		benches   = flag.String("bench", defaultBench, "comma-separated benchmarks to run, or all: "+names())
		benchtime = flag.String("benchtime", "", "override every benchmark's -test.benchtime")
		count     = flag.Int("count", 1, "runs of each benchmark (-test.count)")
		extra     = flag.String("args", "", "more flags for the test binary, space-separated (-poll=busy -rss=false -pin)")
		jsonPath  = flag.String("json", "", "write the rows as JSON to this file")
		plotPath  = flag.String("plot", "", "draw the plot to this file (.svg or .png)")
		logPath   = flag.String("log", "", "copy the benchmarks' output to this file")
		input     = flag.String("input", "", "read saved benchmark output from this file instead of running")
	)
	flag.Parse()
	out, runErr := gather(*input, *testBin, *dir, *queues, *benches, *benchtime, *count, *extra, *logPath)
	results, err := scaling.Parse(bytes.NewReader(out))
	if err != nil {
		fatal(err)
	}
	rows := scaling.Collect(results)
	fmt.Println()
	if err := scaling.WriteTable(os.Stdout, rows); err != nil {
		fatal(err)
	}
	if *jsonPath != "" {
		var b bytes.Buffer
		if err := scaling.WriteJSON(&b, rows); err != nil {
			fatal(err)
		}
		if err := os.WriteFile(*jsonPath, b.Bytes(), 0o644); err != nil {
			fatal(err)
		}
		fmt.Println("wrote", *jsonPath)
	}
	if *plotPath != "" && len(rows) > 0 {
		if err := scaling.WritePlot(*plotPath, rows); err != nil {
			fatal(err)
		}
		fmt.Println("wrote", *plotPath)
	}
	if runErr != nil {
		fatal(runErr)
	}
	if len(rows) == 0 {
		fatal(errors.New("no benchmark results to report"))
	}
}

// gather returns the benchmark output: input's, or that of running each
// chosen benchmark with the test binary, echoed to standard error and
// copied to logPath. A failing run is reported after the others ran.
func gather(input, testBin, dir, queues, benches, benchtime string, count int, extra, logPath string) ([]byte, error) {
	if input != "" {
		return os.ReadFile(input)
	}
	if testBin == "" {
		return nil, errors.New("-test (the bench test binary) or -input is required")
	}
	chosen, err := choose(benches)
	if err != nil {
		fatal(err)
	}
	if testBin, err = filepath.Abs(testBin); err != nil { // a relative path would be taken from dir
		fatal(err)
	}
	var all bytes.Buffer
	sinks := []io.Writer{os.Stderr, &all}
	if logPath != "" {
		f, err := os.Create(logPath)
		if err != nil {
			fatal(err)
		}
		defer f.Close()
		sinks = append(sinks, f)
	}
	w := io.MultiWriter(sinks...)
	var errs []error
	for _, e := range chosen {
		bt := e.benchtime
		if benchtime != "" {
			bt = benchtime
		}
		args := []string{"-test.run", "^$", "-test.bench", e.pattern, "-test.benchtime", bt,
			"-test.count", fmt.Sprint(count), "-queues", queues}
		args = append(args, strings.Fields(extra)...)
		fmt.Fprintf(w, "# %s %s\n", testBin, strings.Join(args, " "))
		cmd := exec.Command(testBin, args...)
		cmd.Dir = dir
		cmd.Stdout, cmd.Stderr = w, w
		if err := cmd.Run(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", e.name, err))
		}
	}
	// A benchmark that fails in a repeated run (-count) prints --- FAIL and
	// the binary may still say PASS and exit 0.
	if n := bytes.Count(all.Bytes(), []byte("--- FAIL:")); n > 0 {
		errs = append(errs, fmt.Errorf("%d benchmark failures in the output (see the --- FAIL lines)", n))
	}
	return all.Bytes(), errors.Join(errs...)
}

func choose(list string) ([]entry, error) {
	if list == "all" {
		return suite, nil
	}
	var out []entry
	for name := range strings.SplitSeq(list, ",") {
		i := slices.IndexFunc(suite, func(e entry) bool { return e.name == strings.TrimSpace(name) })
		if i < 0 {
			return nil, fmt.Errorf("-bench: no benchmark %q (have %s)", name, names())
		}
		out = append(out, suite[i])
	}
	return out, nil
}

func names() string {
	var n []string
	for _, e := range suite {
		n = append(n, e.name)
	}
	return strings.Join(n, ", ")
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "scaling:", err)
	os.Exit(1)
}
