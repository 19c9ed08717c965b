package stats

// Faults count what a test's fault injector did (datapath.Injector); zero
// in production, where there is none.
type Faults struct {
	RxDropped    uint64 `json:"rx_dropped"`
	RxDuplicated uint64 `json:"rx_duplicated"`
	RxReordered  uint64 `json:"rx_reordered"`
	TxDropped    uint64 `json:"tx_dropped"`
	TxDuplicated uint64 `json:"tx_duplicated"`
	TxReordered  uint64 `json:"tx_reordered"`
}

// Add adds w's counters to t.
func (t *Faults) Add(w *Faults) {
	t.RxDropped += w.RxDropped
	t.RxDuplicated += w.RxDuplicated
	t.RxReordered += w.RxReordered
	t.TxDropped += w.TxDropped
	t.TxDuplicated += w.TxDuplicated
	t.TxReordered += w.TxReordered
}

// PathMTU are the path MTU counters of a worker's TCP connections
// (tcp.Stats' fields of the same names), summed like RetransSegs: freed
// connections folded in, live ones added at publication.
type PathMTU struct {
	OutOfWindowIcmps uint64 `json:"out_of_window_icmps"` // ICMP errors quoting a sequence outside the window, ignored (RFC 5927)
	PMTUDecreases    uint64 `json:"pmtu_decreases"`      // fragmentation needed that lowered a connection's path MTU
	TCPMTUPSuccess   uint64 `json:"tcp_mtup_success"`    // MTU probes acknowledged (RFC 4821)
	TCPMTUPFail      uint64 `json:"tcp_mtup_fail"`       // MTU probes lost
	MTUProbes        uint64 `json:"mtu_probes"`          // MTU probes sent
	MTUBlackHoles    uint64 `json:"mtu_black_holes"`     // ICMP black holes detected (repeated timeouts lowered the MSS)
	RTOReverts       uint64 `json:"rto_reverts"`         // retransmission backoffs undone by an ICMP unreachable (RFC 6069)
}

// Add adds w's counters to t.
func (t *PathMTU) Add(w *PathMTU) {
	t.OutOfWindowIcmps += w.OutOfWindowIcmps
	t.PMTUDecreases += w.PMTUDecreases
	t.TCPMTUPSuccess += w.TCPMTUPSuccess
	t.TCPMTUPFail += w.TCPMTUPFail
	t.MTUProbes += w.MTUProbes
	t.MTUBlackHoles += w.MTUBlackHoles
	t.RTOReverts += w.RTOReverts
}

// Decap are the tunnel decapsulation counters (inet4.Decap: the engine as
// the far end of a load balancer's dsr-ipip and dsr-gue). Every tunnel
// packet to the engine is counted once: unwrapped (IPIP, GUE), or in one
// of the drops below (a GUE datagram with a bad UDP checksum in
// Worker.DropChecksum instead); a drop counted here is in none of
// Worker's Drop* counters. An unwrapped packet goes on as any packet, and
// its later fate (no socket, a bad transport checksum) is counted there.
type Decap struct {
	IPIP uint64 `json:"ipip"` // IPv4-in-IPv4 packets unwrapped
	GUE  uint64 `json:"gue"`  // GUE packets unwrapped

	DropMalformed   uint64 `json:"drop_malformed"`   // the inner packet is not a valid IPv4 packet (header.ParseIPv4)
	DropUnsupported uint64 `json:"drop_unsupported"` // a GUE payload that is not variant 1 IPv4 (a GUE header, or IPv6)
	DropNested      uint64 `json:"drop_nested"`      // the inner packet is itself a tunnel packet
	DropNotLocal    uint64 `json:"drop_not_local"`   // the inner packet is not to the engine (nor to a transparent address)
}

// Add adds w's counters to t.
func (t *Decap) Add(w *Decap) {
	t.IPIP += w.IPIP
	t.GUE += w.GUE
	t.DropMalformed += w.DropMalformed
	t.DropUnsupported += w.DropUnsupported
	t.DropNested += w.DropNested
	t.DropNotLocal += w.DropNotLocal
}
