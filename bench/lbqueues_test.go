package bench

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/xdpengine/engine/internal/testbed"
)

// lbCPUs splits the CPUs for BenchmarkLBForward with queues workers: the
// generator on the first CPU this process may run on, the forwarding on
// the next queues CPUs (the engine's workers pinned one each, the kernel
// balancer's receive spread over them by RPS). With fewer CPUs the
// forwarding gets every CPU but the generator's and the workers are not
// pinned (two queues on this 2-core machine: the generator on CPU 0, the
// workers wherever the scheduler puts them, the kernel balancer on CPU 1).
// On a single CPU nothing is pinned (-1, nil).
func lbCPUs(queues int) (gen int, fwd []int) {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil || set.Count() < 2 {
		return -1, nil
	}
	var cpus []int
	for i := 0; len(cpus) < set.Count(); i++ {
		if set.IsSet(i) {
			cpus = append(cpus, i)
		}
	}
	return cpus[0], cpus[1:min(len(cpus), 1+queues)]
}

// lbWorkerCPUs is engine.Config.CPUs for the forwarding CPUs: one each, or
// none when there are fewer than the workers.
func lbWorkerCPUs(fwd []int, queues int) []int {
	if len(fwd) < queues {
		return nil
	}
	return fwd
}

// cpuMask is cpus as a sysfs CPU mask (rps_cpus, xps_cpus): hexadecimal,
// 32-bit groups separated by commas, the highest first.
func cpuMask(cpus []int) string {
	var words []uint32
	for _, c := range cpus {
		for len(words) <= c/32 {
			words = append(words, 0)
		}
		words[c/32] |= 1 << (c % 32)
	}
	var b strings.Builder
	for i := len(words) - 1; i >= 0; i-- {
		if i < len(words)-1 {
			fmt.Fprintf(&b, ",%08x", words[i])
		} else {
			fmt.Fprintf(&b, "%x", words[i])
		}
	}
	return b.String()
}

// spreadLBGenerator makes the generator's frames spread over the bed's
// queues by flow. The generator sends with PACKET_QDISC_BYPASS from one
// pinned thread, and the kernel then picks the transmit queue from the
// sending CPU (packet_pick_tx_queue records cpu % queues as the rx queue,
// which skb_tx_hash follows): every frame on one queue. With every CPU in
// every transmit queue's XPS map, the pick goes through XPS instead, which
// chooses among a CPU's queues by the packet's flow hash (the 4-tuple), so
// the 10,000 flows spread evenly. The bypass also skips the egress
// classifier of testbed.Bed.EmulateRSS, so the engine steers the
// balancer's flows in software (a new flow's first packet goes to its
// owner, the rest are translated where they land).
func spreadLBGenerator(tb testing.TB, bed *testbed.Bed) {
	tb.Helper()
	if bed.Queues < 2 {
		return
	}
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		tb.Fatal(err)
	}
	var all []int
	for i := 0; len(all) < set.Count(); i++ {
		if set.IsSet(i) {
			all = append(all, i)
		}
	}
	var script strings.Builder
	for q := range bed.Queues {
		fmt.Fprintf(&script, "echo %s > /sys/class/net/%s/queues/tx-%d/xps_cpus\n", cpuMask(all), bed.PeerIf, q)
	}
	// `ip netns exec` mounts the namespace's own sysfs.
	out, err := exec.CommandContext(context.Background(), "ip", "netns", "exec", bed.NetnsName, "sh", "-ec", script.String()).CombinedOutput()
	if err != nil {
		tb.Fatalf("XPS on %s: %v: %s", bed.PeerIf, err, out)
	}
}

// reportLBShares reports each queue's share of the frames the engine
// received in trials.
func reportLBShares(b *testing.B, trials []*lbTrial) {
	var rx []uint64
	var total uint64
	for _, t := range trials {
		for i, n := range t.rxq {
			for len(rx) <= i {
				rx = append(rx, 0)
			}
			rx[i] += n
			total += n
		}
	}
	for i, n := range rx {
		if total > 0 {
			b.ReportMetric(float64(n)/float64(total), fmt.Sprintf("q%d-share", i))
		}
	}
}
