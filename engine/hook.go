package engine

import "github.com/xdpengine/engine/header"

// Verdict is what a Hook decides for a packet.
type Verdict int

const (
	// Pass lets the packet continue to the engine's own stack.
	Pass Verdict = iota
	// Drop discards the packet (counted as DropHook).
	Drop
	// Transmit sends Packet.Frame (rewritten in place, e.g. a load
	// balancer's NAT) back out of the worker's queue, without a copy.
	Transmit
)

// Packet is what a Hook sees: a received IPv4 packet, parsed and validated
// (Ethernet and IPv4 headers, IPv4 checksum), not yet delivered. Frame, Eth
// and IP alias the packet's frame in the UMEM and are valid only during the
// call; a hook may rewrite them in place and, for Transmit, shorten Frame.
type Packet struct {
	Frame []byte
	Eth   header.Ethernet
	IP    header.IPv4
	Queue int   // the worker's queue
	Now   int64 // monotonic nanoseconds of the burst
}

// Hook is the extension point between parsing and delivery: a load balancer
// forwards packets without terminating them (lookup in a flow table, rewrite
// with the header package's incremental checksum helpers, Transmit), and a
// traffic harness counts or answers what it generated. It runs on the worker
// goroutine for every packet, so it must not block or allocate.
type Hook interface {
	Packet(p *Packet) Verdict
}
