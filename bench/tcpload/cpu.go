package tcpload

import (
	"time"

	"github.com/xdpengine/engine/bench/cputime"
)

// CPU is the CPU time a run took from the start of its clock (the
// long-lived connections open) to its end (the last connection done):
// this process's, user and system (the engine's workers and its TCP when
// the stack under test runs in the process; the system calls of kernel
// sockets, and the kernel's TCP work done in them), and the whole
// machine's busy time (every CPU, softirq included, a server on the same
// machine too; package cputime), each also per answered request.
type CPU struct {
	ProcessSeconds float64 `json:"process_s"`
	MachineSeconds float64 `json:"machine_s"`
	// Per request (Connect mode: per connection); 0 without requests.
	ProcessUsPerRequest float64 `json:"process_us_per_request"`
	MachineUsPerRequest float64 `json:"machine_us_per_request"`
}

// cpuReading is a point on both clocks.
type cpuReading struct{ process, machine time.Duration }

func readCPU() cpuReading { return cpuReading{process: cputime.Process(), machine: cputime.Machine()} }

// cpuOf is the CPU between two readings, over requests.
func cpuOf(from, to cpuReading, requests uint64) CPU {
	c := CPU{ProcessSeconds: (to.process - from.process).Seconds(), MachineSeconds: (to.machine - from.machine).Seconds()}
	if requests > 0 {
		c.ProcessUsPerRequest = c.ProcessSeconds * 1e6 / float64(requests)
		c.MachineUsPerRequest = c.MachineSeconds * 1e6 / float64(requests)
	}
	return c
}
