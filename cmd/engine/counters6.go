package main

import "github.com/xdpengine/engine/engine"

// IPv6's counters (engine.WorkerStats.IPv6; stack/stats/ipv6.go), named as
// Linux's /proc/net/snmp6 where one exists. They are zero, and hidden from
// the table, on an engine without IPv6 addresses.

// ip6Drop is an IPv6 packet dropped in (the Ip6In*Errors of snmp6) or out.
func ip6Drop(dir, reason string, get func(*engine.WorkerStats) uint64) counter {
	return counter{section: "ipv6", row: dir + " " + reason, family: "ipv6_drops_total",
		labels: []label{{"direction", dir}, {"reason", reason}},
		help:   "IPv6 packets dropped on the way in (direction in: Ip6InHdrErrors, InAddrErrors, InUnknownProtos, InTruncatedPkts, InDiscards, InNoPorts) and out (OutNoRoutes, OutDiscards), by reason.",
		get:    get}
}

// ip6Frag is an IPv6 reassembly or fragmentation figure.
func ip6Frag(row, family, help string, always bool, get func(*engine.WorkerStats) uint64) counter {
	return counter{section: "ipv6 reassembly / fragmentation", row: row, always: always,
		family: family, help: help, get: get}
}

// icmp6Msg is an ICMPv6 message type received or sent; the same labels
// as icmpMsg's.
func icmp6Msg(dir, typ string, get func(*engine.WorkerStats) uint64) counter {
	return counter{section: "icmpv6", row: dir + " " + typ,
		family: "icmpv6_messages_total", labels: []label{{"direction", dir}, {"type", typ}},
		help: "ICMPv6 messages received (direction in) and sent (out), by type (the Icmp6In*/Icmp6Out* lines of /proc/net/snmp6).",
		get:  get}
}

// ndpCounter is a figure of the neighbor cache, the responder or DAD.
func ndpCounter(row, family, help string, get func(*engine.WorkerStats) uint64) counter {
	return counter{section: "ndp", row: row, family: family, help: help, get: get}
}

var counters6 = []counter{
	{section: "ipv6", row: "in receives", family: "ipv6_packets_total", labels: direction("in"),
		help: "IPv6 packets received from the link (direction in: Ip6InReceives) and sent by the engine (out: Ip6OutRequests, not counting NDP and MLD).",
		get:  func(w *engine.WorkerStats) uint64 { return w.IPv6.InReceives }},
	{section: "ipv6", row: "in delivers", family: "ipv6_in_delivers_total", help: "IPv6 packets handed to ICMPv6 or a transport (Ip6InDelivers).",
		get: func(w *engine.WorkerStats) uint64 { return w.IPv6.InDelivers }},
	{section: "ipv6", row: "out requests", family: "ipv6_packets_total", labels: direction("out"),
		get: func(w *engine.WorkerStats) uint64 { return w.IPv6.OutRequests }},
	ip6Drop("in", "hdr_errors", func(w *engine.WorkerStats) uint64 { return w.IPv6.InHdrErrors }),
	ip6Drop("in", "addr_errors", func(w *engine.WorkerStats) uint64 { return w.IPv6.InAddrErrors }),
	ip6Drop("in", "unknown_protos", func(w *engine.WorkerStats) uint64 { return w.IPv6.InUnknownProtos }),
	ip6Drop("in", "truncated", func(w *engine.WorkerStats) uint64 { return w.IPv6.InTruncatedPkts }),
	ip6Drop("in", "discards", func(w *engine.WorkerStats) uint64 { return w.IPv6.InDiscards }),
	ip6Drop("in", "no_ports", func(w *engine.WorkerStats) uint64 { return w.IPv6.InNoPorts }),
	ip6Drop("out", "no_routes", func(w *engine.WorkerStats) uint64 { return w.IPv6.OutNoRoutes }),
	ip6Drop("out", "discards", func(w *engine.WorkerStats) uint64 { return w.IPv6.OutDiscards }),

	ip6Frag("fragments received", "ipv6_reasm_fragments_total", "IPv6 fragments received that needed reassembly, atomic ones included (Ip6ReasmReqds).", false,
		func(w *engine.WorkerStats) uint64 { return w.IPv6.Reasm.ReasmReqds }),
	ip6Frag("datagrams reassembled", "ipv6_reasm_ok_total", "IPv6 datagrams reassembled (Ip6ReasmOKs).", false,
		func(w *engine.WorkerStats) uint64 { return w.IPv6.Reasm.ReasmOKs }),
	ip6Frag("reassembly failures", "ipv6_reasm_fails_total", "IPv6 reassembly failures (Ip6ReasmFails).", false,
		func(w *engine.WorkerStats) uint64 { return w.IPv6.Reasm.ReasmFails }),
	ip6Frag("  timeouts", "ipv6_reasm_timeouts_total", "Incomplete IPv6 datagrams discarded after the reassembly timeout.", false,
		func(w *engine.WorkerStats) uint64 { return w.IPv6.Reasm.ReasmTimeout }),
	ip6Frag("  overlaps", "ipv6_reasm_overlaps_total", "IPv6 datagrams discarded for overlapping fragments (RFC 5722).", false,
		func(w *engine.WorkerStats) uint64 { return w.IPv6.Reasm.ReasmOverlaps }),
	level(ip6Frag("memory in use (bytes)", "ipv6_reasm_memory_bytes", "Memory held by incomplete IPv6 datagrams.", false,
		func(w *engine.WorkerStats) uint64 { return uint64(max(w.IPv6.Reasm.MemInUse, 0)) })),
	ip6Frag("datagrams fragmented", "ipv6_frag_ok_total", "IPv6 datagrams fragmented for sending (Ip6FragOKs).", false,
		func(w *engine.WorkerStats) uint64 { return w.IPv6.Frag.FragOKs }),
	ip6Frag("fragments created", "ipv6_frag_creates_total", "IPv6 fragments created (Ip6FragCreates).", false,
		func(w *engine.WorkerStats) uint64 { return w.IPv6.Frag.FragCreates }),
	ip6Frag("fragmentation failures", "ipv6_frag_fails_total", "IPv6 datagrams that needed fragmenting and could not be (Ip6FragFails).", false,
		func(w *engine.WorkerStats) uint64 { return w.IPv6.Frag.FragFails }),

	{section: "icmpv6", row: "in messages", family: "icmpv6_total", labels: direction("in"),
		help: "ICMPv6 messages of every type received (direction in: Icmp6InMsgs) and sent (out: Icmp6OutMsgs).",
		get:  func(w *engine.WorkerStats) uint64 { return w.IPv6.ICMP.InMsgs }},
	{section: "icmpv6", row: "in errors", family: "icmpv6_errors_total", labels: direction("in"),
		help: "ICMPv6 messages received and dropped (direction in: Icmp6InErrors), and that could not be sent (out: Icmp6OutErrors).",
		get:  func(w *engine.WorkerStats) uint64 { return w.IPv6.ICMP.InErrors }},
	{section: "icmpv6", row: "in checksum errors", family: "icmpv6_in_csum_errors_total", help: "ICMPv6 messages with a bad checksum (Icmp6InCsumErrors).",
		get: func(w *engine.WorkerStats) uint64 { return w.IPv6.ICMP.InCsumErrors }},
	icmp6Msg("in", "echo", func(w *engine.WorkerStats) uint64 { return w.IPv6.ICMP.InEchos }),
	icmp6Msg("in", "echo_reply", func(w *engine.WorkerStats) uint64 { return w.IPv6.ICMP.InEchoReplies }),
	icmp6Msg("in", "dest_unreach", func(w *engine.WorkerStats) uint64 { return w.IPv6.ICMP.InDestUnreachs }),
	icmp6Msg("in", "packet_too_big", func(w *engine.WorkerStats) uint64 { return w.IPv6.ICMP.InPktTooBigs }),
	icmp6Msg("in", "time_exceeded", func(w *engine.WorkerStats) uint64 { return w.IPv6.ICMP.InTimeExcds }),
	icmp6Msg("in", "param_problem", func(w *engine.WorkerStats) uint64 { return w.IPv6.ICMP.InParmProblems }),
	icmp6Msg("in", "router_solicit", func(w *engine.WorkerStats) uint64 { return w.IPv6.ICMP.InRouterSolicits }),
	icmp6Msg("in", "router_advert", func(w *engine.WorkerStats) uint64 { return w.IPv6.ICMP.InRouterAdvertisements }),
	icmp6Msg("in", "neighbor_solicit", func(w *engine.WorkerStats) uint64 { return w.IPv6.ICMP.InNeighborSolicits }),
	icmp6Msg("in", "neighbor_advert", func(w *engine.WorkerStats) uint64 { return w.IPv6.ICMP.InNeighborAdvertisements }),
	icmp6Msg("in", "redirect", func(w *engine.WorkerStats) uint64 { return w.IPv6.ICMP.InRedirects }),
	icmp6Msg("in", "mld_query", func(w *engine.WorkerStats) uint64 { return w.IPv6.ICMP.InMLDQueries }),
	icmp6Msg("in", "mld_report", func(w *engine.WorkerStats) uint64 { return w.IPv6.ICMP.InMLDReports }),
	{section: "icmpv6", row: "out messages", family: "icmpv6_total", labels: direction("out"),
		get: func(w *engine.WorkerStats) uint64 { return w.IPv6.ICMP.OutMsgs }},
	{section: "icmpv6", row: "out errors", family: "icmpv6_errors_total", labels: direction("out"),
		get: func(w *engine.WorkerStats) uint64 { return w.IPv6.ICMP.OutErrors }},
	icmp6Msg("out", "echo_reply", func(w *engine.WorkerStats) uint64 { return w.IPv6.ICMP.OutEchoReplies }),
	icmp6Msg("out", "dest_unreach", func(w *engine.WorkerStats) uint64 { return w.IPv6.ICMP.OutDestUnreachs }),
	icmp6Msg("out", "packet_too_big", func(w *engine.WorkerStats) uint64 { return w.IPv6.ICMP.OutPktTooBigs }),
	icmp6Msg("out", "time_exceeded", func(w *engine.WorkerStats) uint64 { return w.IPv6.ICMP.OutTimeExcds }),
	icmp6Msg("out", "param_problem", func(w *engine.WorkerStats) uint64 { return w.IPv6.ICMP.OutParmProblems }),
	icmp6Msg("out", "router_solicit", func(w *engine.WorkerStats) uint64 { return w.IPv6.ICMP.OutRouterSolicits }),
	icmp6Msg("out", "neighbor_solicit", func(w *engine.WorkerStats) uint64 { return w.IPv6.ICMP.OutNeighborSolicits }),
	icmp6Msg("out", "neighbor_advert", func(w *engine.WorkerStats) uint64 { return w.IPv6.ICMP.OutNeighborAdvertisements }),
	icmp6Msg("out", "mld_report", func(w *engine.WorkerStats) uint64 { return w.IPv6.ICMP.OutMLDReports }),
	{section: "icmpv6", row: "out rate limited", family: "icmpv6_out_rate_limited_total", help: "ICMPv6 errors not sent because of the rate limit (Icmp6OutRateLimit).",
		get: func(w *engine.WorkerStats) uint64 { return w.IPv6.ICMP.OutRateLimit }},

	level(ndpCounter("neighbor entries", "ndp_entries", "Entries in the IPv6 neighbor cache.",
		func(w *engine.WorkerStats) uint64 { return uint64(max(w.IPv6.NDP.Entries, 0)) })),
	ndpCounter("resolutions asked", "ndp_solicits_total", "Neighbor resolutions and probes the cache asked for.",
		func(w *engine.WorkerStats) uint64 { return w.IPv6.NDP.Solicits }),
	ndpCounter("resolutions failed", "ndp_failed_total", "Neighbor resolutions that failed.",
		func(w *engine.WorkerStats) uint64 { return w.IPv6.NDP.Failed }),
	ndpCounter("pending queue drops", "ndp_queue_drops_total", "Packets refused by a full queue waiting for neighbor resolution.",
		func(w *engine.WorkerStats) uint64 { return w.IPv6.NDP.QueueDrops }),
	ndpCounter("evictions", "ndp_evictions_total", "Neighbor cache entries evicted to make room.",
		func(w *engine.WorkerStats) uint64 { return w.IPv6.NDP.Evictions }),
	ndpCounter("table full", "ndp_table_full_total", "New neighbors refused because the cache was full.",
		func(w *engine.WorkerStats) uint64 { return w.IPv6.NDP.TableFull }),
	ndpCounter("learning refused", "ndp_learn_refused_total", "Entries a received message would have created, refused (a flood of sources).",
		func(w *engine.WorkerStats) uint64 { return w.IPv6.NDP.LearnRefused }),
	ndpCounter("in errors", "ndp_in_errors_total", "NDP messages that failed validation (RFC 4861: hop limit 255, code 0, options).",
		func(w *engine.WorkerStats) uint64 { return w.IPv6.NDP.InErrors }),
	ndpCounter("address conflicts", "ndp_conflicts_total", "Advertisements from another node for one of the engine's addresses.",
		func(w *engine.WorkerStats) uint64 { return w.IPv6.NDP.Conflicts }),
	ndpCounter("dad probes", "ndp_dad_probes_total", "Duplicate address detection probes sent.",
		func(w *engine.WorkerStats) uint64 { return w.IPv6.NDP.DADProbes }),
	{section: "ndp", row: "dad unique", family: "ndp_dad_results_total", labels: []label{{"result", "unique"}},
		help: "Addresses duplicate address detection found unique, or duplicate (not used), by result.",
		get:  func(w *engine.WorkerStats) uint64 { return w.IPv6.NDP.DADUnique }},
	{section: "ndp", row: "dad duplicate", family: "ndp_dad_results_total", labels: []label{{"result", "duplicate"}},
		get: func(w *engine.WorkerStats) uint64 { return w.IPv6.NDP.DADDuplicate }},
	ndpCounter("router adverts", "ndp_router_adverts_total", "Router Advertisements read from the link (the ICMPv6 tap).",
		func(w *engine.WorkerStats) uint64 { return w.IPv6.NDP.RouterAdverts }),
	ndpCounter("router adverts used", "ndp_router_adverts_used_total", "Router Advertisements found valid and learned from (default routers, prefixes, MTU).",
		func(w *engine.WorkerStats) uint64 { return w.IPv6.NDP.RouterAdvertsUsed }),
}
