package engine

import (
	"github.com/xdpengine/engine/stack/stats"
)

// The engine's counters (package stats defines them).
type (
	// Stats are the engine's counters: one entry per worker, and their sum.
	Stats = stats.Engine
	// WorkerStats are one worker's counters.
	WorkerStats = stats.Worker
	// TCPStats are the TCP counters, named as Linux's.
	TCPStats = stats.TCP
	// ARPStats are the neighbor table's and the responder's counters.
	ARPStats = stats.ARP
	// TCPPathMTUStats are the TCP path MTU counters.
	TCPPathMTUStats = stats.PathMTU
	// FaultStats count what a test's fault injector did.
	FaultStats = stats.Faults
	// DecapStats count the tunnel packets unwrapped and dropped
	// (Config.Decap).
	DecapStats = stats.Decap
)
