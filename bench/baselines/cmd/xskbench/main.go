// Command xskbench compares AF_XDP implementations on a veth test bed, side
// by side in one run: the engine's afxdp package, github.com/asavie/xdp
// v0.3.3 (the baseline) and the kernel's own path, each in three cases:
//
//	rxdrop      receive the peer's 64-byte UDP frames and drop them; when
//	            the ring is empty, block in poll(2)
//	rxdrop-nap  the same, but sleep 100µs when the ring is empty instead of
//	            blocking in poll(2), so one wakeup serves many packets
//	txonly      transmit 64-byte UDP frames to the peer
//	l2fwd       receive, swap the MAC addresses, send back to the peer
//
// The peer namespace's generator is an AF_PACKET sendmmsg loop
// (internal/pktgen). afxdp and asavie use the same XDP program, the same
// ring sizes and the same UMEM geometry. The worker (receiver, sender or
// forwarder) runs on its own locked OS thread; its CPU time comes from
// getrusage(RUSAGE_THREAD). On veth the XDP program and the copy into the
// UMEM run in the sender's softirq, so they are charged to the generator,
// not to the worker: the worker's CPU is the userspace ring processing plus
// its own syscalls.
//
// Run as root: make xskbench, or from bench/baselines:
// go run ./cmd/xskbench [-duration 2s] [-json FILE]
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/xdpengine/engine/internal/testbed"
)

type options struct {
	duration  time.Duration
	ring      int
	frames    int
	frameSize int
	batch     int
	cases     []string
	impls     []string
	count     int
	genCPU    int
	workCPU   int
}

// Result is one measured case.
type Result struct {
	Impl         string  `json:"impl"`
	Case         string  `json:"case"`
	Seconds      float64 `json:"seconds"`
	Offered      uint64  `json:"offered"`         // frames the generator sent (rxdrop, l2fwd)
	Processed    uint64  `json:"processed"`       // received (rxdrop), completed (txonly), forwarded (l2fwd)
	PeerRx       uint64  `json:"peer_rx"`         // frames the peer's interface received (txonly, l2fwd)
	PPS          float64 `json:"pps"`             // received per second: by the worker (rxdrop) or by the peer
	Loss         float64 `json:"loss"`            // fraction lost between sender and receiver
	CPUNsPerPkt  float64 `json:"cpu_ns_per_pkt"`  // worker thread user+system CPU per packet
	UserNsPerPkt float64 `json:"user_ns_per_pkt"` // of which in user mode (sampled at ticks: coarse)
	// RingNsPerPkt is the wall time spent processing non-empty receive
	// batches (ring reads, frame bookkeeping, refill), per packet; rxdrop
	// cases of the AF_XDP implementations only.
	RingNsPerPkt float64 `json:"ring_ns_per_pkt"`
	CPUUtil      float64 `json:"cpu_util"` // worker thread CPU time / wall time
	AllocsPkt    float64 `json:"allocs_per_pkt"`
	VethDrops    uint64  `json:"veth_drops"`               // frames the veth refused (receive side backlog full)
	XSKDrops     *uint64 `json:"xsk_drops,omitempty"`      // AF_XDP rx_dropped + rx_ring_full
	XSKFillEmpty *uint64 `json:"xsk_fill_empty,omitempty"` // AF_XDP rx_fill_ring_empty_descs
	Mode         string  `json:"mode,omitempty"`
	Err          string  `json:"error,omitempty"`
}

func main() {
	var o options
	var cases, impls, jsonFile string
	flag.DurationVar(&o.duration, "duration", 2*time.Second, "measured time per case")
	flag.IntVar(&o.ring, "ring", 2048, "size of each ring (fill, completion, rx, tx), same for afxdp and asavie")
	flag.IntVar(&o.frames, "frames", 4096, "UMEM frames")
	flag.IntVar(&o.frameSize, "frame-size", 2048, "UMEM frame size (2048 or 4096)")
	flag.IntVar(&o.batch, "batch", 64, "burst size of workers and generator")
	flag.StringVar(&cases, "cases", "rxdrop,rxdrop-nap,txonly,l2fwd", "cases to run")
	flag.StringVar(&impls, "impls", "afxdp,asavie,kernel", "implementations to run")
	flag.IntVar(&o.genCPU, "gen-cpu", 0, "CPU for the generator thread (-1: not pinned)")
	flag.IntVar(&o.workCPU, "worker-cpu", 1, "CPU for the worker thread (-1: not pinned)")
	flag.StringVar(&jsonFile, "json", "", "write the results as JSON to this file")
	flag.IntVar(&o.count, "count", 3, "runs of every case (the table shows medians; implementations alternate within each round)")
	flag.Parse()
	o.cases, o.impls = strings.Split(cases, ","), strings.Split(impls, ",")
	if runtime.NumCPU() < 2 {
		o.genCPU, o.workCPU = -1, -1
	}
	if o.duration <= 0 || o.duration > 5*time.Minute || o.count < 1 || o.count > 50 {
		fmt.Fprintln(os.Stderr, "xskbench: -duration must be in (0, 5m] and -count in [1, 50]")
		os.Exit(2)
	}

	var runs []Result
	for round := range o.count {
		for _, c := range o.cases {
			for i := range o.impls {
				// Rotate the order each round so no implementation always
				// runs first.
				impl := o.impls[(i+round)%len(o.impls)]
				r, err := runOnFreshBed(&o, impl, c)
				if err != nil {
					fmt.Fprintln(os.Stderr, "xskbench:", err)
					os.Exit(1)
				}
				runs = append(runs, r)
				fmt.Fprintf(os.Stderr, "run %d: %-10s %-7s %s\n", round+1, c, impl, brief(r))
			}
		}
	}
	results := medians(runs, o.cases, o.impls)
	printTable(results)
	printRatios(results)
	if jsonFile != "" {
		b, _ := json.MarshalIndent(map[string]any{
			"duration_s": o.duration.Seconds(), "ring": o.ring, "frames": o.frames,
			"frame_size": o.frameSize, "batch": o.batch, "frame_len": frameLen + 4,
			"count": o.count, "medians": results, "runs": runs,
		}, "", "  ")
		if err := os.WriteFile(jsonFile, append(b, '\n'), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "xskbench:", err)
			os.Exit(1)
		}
	}
}

// runOnFreshBed runs one case on a bed of its own: asavie/xdp's Close
// leaves its rings mapped, so its socket (and its queue binding) outlives
// Close; a fresh veth per case keeps the cases independent.
func runOnFreshBed(o *options, impl, c string) (Result, error) {
	bed, err := testbed.Create(testbed.Config{HostKernelAddr: true})
	if err != nil {
		return Result{}, err
	}
	defer bed.Close()
	if err := bed.SetPeerNeighbor(bed.EngineAddr, bed.HostMAC); err != nil {
		return Result{}, err
	}
	return runCase(bed, o, impl, c), nil
}

func brief(r Result) string {
	if r.Err != "" {
		return "error: " + r.Err
	}
	return fmt.Sprintf("%.3f Mpps, loss %.1f%%, %.0f ns CPU/pkt", r.PPS/1e6, r.Loss*100, r.CPUNsPerPkt)
}

func printTable(rs []Result) {
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "case\timpl\tMpps\tloss %\tCPU ns/pkt\tuser ns/pkt\tring ns/pkt\tworker CPU %\tallocs/pkt\toffered\tprocessed\tpeer rx\tveth drops\txsk drops\tfill empty\tmode\t")
	for _, r := range rs {
		if r.Err != "" {
			fmt.Fprintf(w, "%s\t%s\terror: %s\t\n", r.Case, r.Impl, r.Err)
			continue
		}
		xd, fe := "-", "-"
		if r.XSKDrops != nil {
			xd, fe = fmt.Sprint(*r.XSKDrops), fmt.Sprint(*r.XSKFillEmpty)
		}
		fmt.Fprintf(w, "%s\t%s\t%.3f\t%.1f\t%.0f\t%.0f\t%.1f\t%.0f\t%.4f\t%d\t%d\t%d\t%d\t%s\t%s\t%s\t\n", r.Case, r.Impl, r.PPS/1e6,
			r.Loss*100, r.CPUNsPerPkt, r.UserNsPerPkt, r.RingNsPerPkt, r.CPUUtil*100, r.AllocsPkt, r.Offered, r.Processed, r.PeerRx,
			r.VethDrops, xd, fe, r.Mode)
	}
	w.Flush()
}

func printRatios(rs []Result) {
	get := func(impl, c string) *Result {
		for i := range rs {
			if rs[i].Impl == impl && rs[i].Case == c && rs[i].Err == "" {
				return &rs[i]
			}
		}
		return nil
	}
	fmt.Println()
	for _, c := range []string{"rxdrop", "rxdrop-nap", "txonly", "l2fwd"} {
		a, b := get("afxdp", c), get("asavie", c)
		if a == nil || b == nil || b.PPS == 0 || b.CPUNsPerPkt == 0 {
			continue
		}
		u := "n/a"
		if b.UserNsPerPkt > 0 {
			u = fmt.Sprintf("×%.2f", a.UserNsPerPkt/b.UserNsPerPkt)
		}
		ring := ""
		if b.RingNsPerPkt > 0 {
			ring = fmt.Sprintf(", ring time per packet ×%.2f", a.RingNsPerPkt/b.RingNsPerPkt)
		}
		fmt.Printf("%-10s afxdp/asavie (medians): pps ×%.2f, CPU per packet ×%.2f, user CPU per packet %s%s\n",
			c, a.PPS/b.PPS, a.CPUNsPerPkt/b.CPUNsPerPkt, u, ring)
	}
}

// medians reduces the runs of each (case, implementation) to one Result
// whose every figure is the median of that figure over the runs (so the
// fields of one row may come from different runs). A case with a failed
// run reports the error.
func medians(runs []Result, cases, impls []string) []Result {
	var out []Result
	for _, c := range cases {
		for _, impl := range impls {
			var rs []Result
			var failed *Result
			for i := range runs {
				if runs[i].Case == c && runs[i].Impl == impl {
					if runs[i].Err != "" {
						failed = &runs[i]
					}
					rs = append(rs, runs[i])
				}
			}
			if failed != nil || len(rs) == 0 {
				if failed != nil {
					out = append(out, *failed)
				}
				continue
			}
			m := rs[0]
			f := func(get func(*Result) float64) float64 {
				v := make([]float64, len(rs))
				for i := range rs {
					v[i] = get(&rs[i])
				}
				slices.Sort(v)
				return v[len(v)/2]
			}
			u := func(get func(*Result) uint64) uint64 {
				return uint64(f(func(r *Result) float64 { return float64(get(r)) }))
			}
			m.PPS = f(func(r *Result) float64 { return r.PPS })
			m.Loss = f(func(r *Result) float64 { return r.Loss })
			m.CPUNsPerPkt = f(func(r *Result) float64 { return r.CPUNsPerPkt })
			m.UserNsPerPkt = f(func(r *Result) float64 { return r.UserNsPerPkt })
			m.RingNsPerPkt = f(func(r *Result) float64 { return r.RingNsPerPkt })
			m.CPUUtil = f(func(r *Result) float64 { return r.CPUUtil })
			m.AllocsPkt = f(func(r *Result) float64 { return r.AllocsPkt })
			m.Offered = u(func(r *Result) uint64 { return r.Offered })
			m.Processed = u(func(r *Result) uint64 { return r.Processed })
			m.PeerRx = u(func(r *Result) uint64 { return r.PeerRx })
			m.VethDrops = u(func(r *Result) uint64 { return r.VethDrops })
			if m.XSKDrops != nil {
				d := u(func(r *Result) uint64 { return *r.XSKDrops })
				fe := u(func(r *Result) uint64 { return *r.XSKFillEmpty })
				m.XSKDrops, m.XSKFillEmpty = &d, &fe
			}
			out = append(out, m)
		}
	}
	return out
}
