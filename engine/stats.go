package engine

import (
	"github.com/xdpengine/engine/stack/stats"
	"github.com/xdpengine/engine/tcp"
)

// The engine's counters (package stats defines them).
type (
	// Stats are the engine's counters: one entry per worker, and their sum.
	Stats = stats.Engine
	// WorkerStats are one worker's counters.
	WorkerStats = stats.Worker
	// TCPStats are the TCP counters, named as Linux's.
	TCPStats = stats.TCP
	// ARPStats are the neighbour table's and the responder's counters.
	ARPStats = stats.ARP
	// TCPPathMTUStats are the TCP path MTU counters.
	TCPPathMTUStats = stats.PathMTU
	// FaultStats count what a test's fault injector did.
	FaultStats = stats.Faults
)

// addEndpointPMTU adds an endpoint's path MTU counters to t.
func addEndpointPMTU(t *stats.PathMTU, s tcp.Stats) {
	t.OutOfWindowIcmps += s.OutOfWindowIcmps
	t.PMTUDecreases += s.PMTUDecreases
	t.TCPMTUPSuccess += s.TCPMTUPSuccess
	t.TCPMTUPFail += s.TCPMTUPFail
	t.MTUProbes += s.MTUProbes
	t.MTUBlackHoles += s.MTUBlackHoles
	t.RTOReverts += s.RTOReverts
}
