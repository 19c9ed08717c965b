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
	idle, err := IdleByCPU()
	if err != nil {
		return 0
	}
	var total time.Duration
	for _, d := range idle {
		total += d
	}
	return time.Duration(int64(at.Sub(epoch))*int64(len(idle))) - total
}

// IdleByCPU is each CPU's time not spent working since boot, by CPU
// number: its cpuidle residency (else /proc/stat's idle and iowait
// ticks) and the time the hypervisor took from it (steal).
func IdleByCPU() ([]time.Duration, error) {
	stat, err := os.ReadFile("/proc/stat")
	if err != nil {
		return nil, err
	}
	var idle []time.Duration
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
		d, ok := Residency(cpu)
		if !ok {
			d = tick(4) + tick(5)
		}
		for len(idle) <= cpu {
			idle = append(idle, 0)
		}
		idle[cpu] = d + tick(8)
	}
	if len(idle) == 0 {
		return nil, fmt.Errorf("cputime: no cpuN line in /proc/stat")
	}
	return idle, nil
}

// Residency is the time CPU n spent in its cpuidle states since boot;
// false where the cpuidle driver does not report them.
func Residency(n int) (time.Duration, bool) {
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
