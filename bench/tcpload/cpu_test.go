package tcpload

import (
	"testing"
	"time"
)

// TestCPUReadings: both clocks read and move forward, and per request is
// the total over the requests.
func TestCPUReadings(t *testing.T) {
	a := readCPU()
	for start := time.Now(); time.Since(start) < 30*time.Millisecond; {
	}
	b := readCPU()
	if a.process <= 0 || b.process <= a.process || b.machine < a.machine { // the machine's origin is arbitrary
		t.Fatalf("readings %+v then %+v", a, b)
	}
	c := cpuOf(cpuReading{}, cpuReading{process: 2 * time.Second, machine: 3 * time.Second}, 1000)
	if c.ProcessSeconds != 2 || c.MachineSeconds != 3 || c.ProcessUsPerRequest != 2000 || c.MachineUsPerRequest != 3000 {
		t.Errorf("cpuOf: %+v", c)
	}
	if c := cpuOf(cpuReading{}, cpuReading{process: time.Second}, 0); c.ProcessUsPerRequest != 0 {
		t.Errorf("no requests: %+v", c)
	}
}
