// Package hist is a fixed-bucket log2 histogram of plain counters, for the
// distributions a worker measures on its packet path (round time, burst
// size, TCP round-trip time).
//
// A Log2 is written by one goroutine only (the worker that owns it) with
// plain additions: no atomic operation, no allocation, a handful of
// instructions per Add. Others read a copy that the owner publishes with
// its other counters (stack/stats). Bucket i counts the values v with
// 2^(i-1) < v <= 2^i (bucket 0: v <= 1); the last bucket also counts
// everything above, so the buckets are the cumulative "le" buckets of a
// Prometheus histogram once summed from the bottom (Cumulative). The unit
// of the values is the histogram user's (nanoseconds, frames,
// microseconds).
package hist
