// Package cputime reads the CPU time a measurement spends: this process's
// and the whole machine's. Take two readings and subtract them.
//
// The machine's busy time is the wall time less each CPU's idle time,
// exact where the cpuidle driver reports its idle residencies
// (/sys/devices/system/cpu/cpuN/cpuidle/state*/time), else from
// /proc/stat's idle and iowait ticks; time the hypervisor took (steal) is
// not busy. /proc/stat's busy ticks are not used: with tickless idle they
// miss the short bursts of work between idle periods (a kernel's softirq
// work, a worker that naps), so they undercount the burstier side of a
// comparison.
package cputime

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Process is this process's CPU time, user and system, since it started.
func Process() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// epoch is the origin of Machine's readings.
var epoch = time.Now()

// Machine is the busy time of every CPU together since an arbitrary
// origin (it may be negative: only differences mean anything; 0 if
// /proc/stat cannot be read).
func Machine() time.Duration {
	at := time.Now()
	idle, n, ok := idleTime()
	if !ok {
		return 0
	}
	return time.Duration(int64(at.Sub(epoch))*int64(n)) - idle
}

// idleTime is the idle time of every CPU together since boot, and the
// number of CPUs.
func idleTime() (time.Duration, int, bool) {
	stat, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, false
	}
	var total time.Duration
	n := 0
	for _, line := range strings.Split(string(stat), "\n") {
		f := strings.Fields(line) // cpuN user nice system idle iowait irq softirq steal ...
		if len(f) < 9 || !strings.HasPrefix(f[0], "cpu") || f[0] == "cpu" {
			continue
		}
		cpu, err := strconv.Atoi(f[0][3:])
		if err != nil {
			continue
		}
		tick := func(i int) time.Duration {
			v, _ := strconv.ParseInt(f[i], 10, 64)
			return time.Duration(v) * 10 * time.Millisecond // USER_HZ = 100
		}
		idle, ok := residency(cpu)
		if !ok {
			idle = tick(4) + tick(5)
		}
		total += idle + tick(8)
		n++
	}
	return total, n, n > 0
}

// residency is the time CPU n spent in its cpuidle states.
func residency(n int) (time.Duration, bool) {
	states, _ := filepath.Glob(fmt.Sprintf("/sys/devices/system/cpu/cpu%d/cpuidle/state*/time", n))
	if len(states) == 0 {
		return 0, false
	}
	var sum time.Duration
	for _, st := range states {
		b, err := os.ReadFile(st)
		if err != nil {
			return 0, false
		}
		us, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		if err != nil {
			return 0, false
		}
		sum += time.Duration(us) * time.Microsecond
	}
	return sum, true
}
