// Package report writes a benchmark's figures as one self-contained HTML
// file: tables of key figures and plots, what a user pastes into a review.
//
// # Model
//
// A Report is a title and a list of sections, in the order they were
// added: Table (rows of name and value), TimeSeries (one or more series
// over the run's time: offered and received rates, latency percentiles per
// second), Latency (a latency distribution, drawn twice: a histogram over
// logarithmic bins and its cumulative distribution) and XY (any curve, as
// the RFC 2544 throughput and frame loss curves). WriteHTML renders them
// into one HTML page whose plots are inline SVG drawn with
// gonum.org/v1/plot: no script, no stylesheet or image outside the file,
// no network access to view it (fonts fall back to the browser's serif).
//
// The inputs are plain values (Series of Points, latency Buckets), so
// any benchmark can fill them: the packet generator (bench/xdpgen) and the
// connection benchmark alike. FromHDR turns an HDR histogram
// (github.com/HdrHistogram/hdrhistogram-go, in nanoseconds) into Buckets.
//
// Plots are drawn when WriteHTML runs; a section whose data cannot be
// plotted (no points, no samples) says so in the page instead of failing
// the report. Errors are those of the writer.
package report
