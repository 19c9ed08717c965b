// Package scaling turns the side-by-side benchmarks' output (package
// bench, run with -queues=1,2,4,...) into a scaling report: for each
// benchmark and queue count, the engine's rate, the kernel's rate on the
// same bed, their ratio and each queue's share of the packets the engine
// received. `make bench-scaling` runs it (cmd/scaling) and writes
// bin/scaling.json and bin/scaling.svg.
//
// # Model
//
// Parse reads `go test -bench` output and keeps the result lines (name,
// iterations, metrics by unit); everything else (logs, PASS) is skipped.
// Collect groups the results by benchmark, the name without "Benchmark",
// its "queues=N" element and the GOMAXPROCS suffix, and by N, and makes
// one Row per group from the metrics the benchmarks report themselves with
// b.ReportMetric, never from a figure of its own:
//
//   - a result with an "engine-X/s" and a "kernel-X/s" metric (UDP echo,
//     short connections, dials) gives the two rates, and its
//     "engine/kernel" metric the ratio;
//   - TCP bulk (.../kernel-to-engine, .../engine-to-kernel) takes
//     "MB/s-delivered" for the engine and the kernel-to-kernel result of
//     the same queue count for the kernel;
//   - the load balancer (.../nat/64B, .../dsr-l2/64B) takes "Mpps" for the
//     engine and the kernel-dnat result of the same size and queue count
//     for the kernel;
//   - "q0-share", "q1-share", ... are the shares.
//
// With several runs of a benchmark (-count) a Row holds the medians of the
// rates and of the ratios, and the mean of each share. Rows come in the
// order their benchmarks first appeared, queue counts ascending.
//
// WriteTable prints them with the speedup over the smallest queue count
// and the largest deviation of a share from an even split; WriteJSON
// writes the list of rows; WritePlot draws the ratio and the speedup
// against the queue count (SVG or PNG, by the file's extension).
package scaling
