package inet4

import (
	"net/netip"

	"github.com/xdpengine/engine/header"
)

// Verdict is what a Hook decides for a packet.
type Verdict int

const (
	// Pass lets the packet continue to the engine's own stack.
	Pass Verdict = iota
	// Drop discards the packet (counted as DropHook).
	Drop
	// Transmit sends the packet back out (rewritten in place, e.g. a load
	// balancer's NAT): a frame from its own UMEM frame, without a copy; a
	// reassembled datagram through the send path (ARP toward IP's
	// destination, fragmented at the path MTU).
	Transmit
	// Route sends the rewritten IPv4 packet (Packet.IP) toward its
	// destination through the send path: next hop, ARP resolution (the
	// packet waits for it), fragmentation at the path MTU. For a
	// Forwarder that does not know the next hop's MAC address yet.
	Route
)

// Packet is what a Hook sees: a received IPv4 packet to the engine,
// parsed and validated (Ethernet and IPv4 headers, IPv4 checksum), not yet
// given to its transport. Frame, Eth and IP alias the packet's memory and
// are valid only during the call; a hook may rewrite them in place and,
// for Transmit, shorten Frame. A fragmented datagram is seen once, whole,
// after reassembly: Frame and Eth are nil and IP is the datagram (with
// Config.HookFragments, each fragment is seen as it arrives instead, and
// the reassembled datagram is not).
type Packet struct {
	Frame []byte
	Eth   header.Ethernet
	IP    header.IPv4
	Queue int   // the worker's queue
	Now   int64 // monotonic nanoseconds of the burst
	// Consumed is set by a Forwarder that handed the frame to another
	// worker: a Drop verdict is then not counted.
	Consumed bool
	// Via, set by a Forwarder with Route, is the next hop when it is not
	// the route's toward IP's destination (direct server return).
	Via netip.Addr
}

// Hook is the extension point between parsing and transport dispatch: a
// load balancer forwards packets without terminating them (lookup in a
// flow table, rewrite with the header package's incremental checksum
// helpers, Transmit), and a traffic harness counts or answers what it
// generated. It runs on the worker goroutine that received the packet,
// once per packet (a packet handed to the worker that owns its flow is not
// hooked again there), so it must not block or allocate.
type Hook interface {
	Packet(p *Packet) Verdict
}
