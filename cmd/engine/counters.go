package main

import (
	"slices"
	"strings"

	"github.com/xdpengine/engine/engine"
)

// counter describes one of engine.WorkerStats's counters once, for both
// renderings: a row of `engine stats` and a Prometheus sample. Rows of the
// same family differ only by their extra label (a drop's reason, an ICMP
// message type).
type counter struct {
	section string // table section
	row     string // table row name
	always  bool   // shown in the table even when zero in every column

	family string  // metric family, without the engine_ prefix
	labels []label // extra labels besides queue, the same names in every row of a family
	help   string  // family help; the first row of a family sets it
	gauge  bool    // a level, not a monotonic count
	// global: an engine-wide figure that one worker (queue 0) reports and
	// the others report as 0. The table shows it once (the total column),
	// the metrics as one sample without a queue label: never summed nor
	// split over queues.
	global bool

	get func(*engine.WorkerStats) uint64
}

// label is one name="value" pair of a metric.
type label struct{ name, value string }

// dir is the label of a direction: rx or tx for frames, in or out for
// messages and segments.
func direction(d string) []label { return []label{{"direction", d}} }

func drop(row, reason, help string, get func(*engine.WorkerStats) uint64) counter {
	return counter{section: "drops", row: row, always: true, family: "drops_total",
		labels: []label{{"reason", reason}}, help: help, get: get}
}

// decap is a tunnel kind's unwrapped packets (engine serve --decap-*).
func decap(row, kind, _ string, get func(*engine.WorkerStats) uint64) counter {
	return counter{section: "tunnel decapsulation", row: row, family: "decap_packets_total",
		labels: []label{{"encap", kind}},
		help:   "Tunnel packets to the engine unwrapped (dsr-ipip, dsr-gue backends), by encapsulation.", get: get}
}

// decapDrop is a tunnel packet dropped before its inner packet went on.
func decapDrop(row, reason string, get func(*engine.WorkerStats) uint64) counter {
	return counter{section: "tunnel decapsulation", row: "dropped: " + row, family: "decap_drops_total",
		labels: []label{{"reason", reason}},
		help:   "Tunnel packets to the engine dropped before their inner packet went on, by reason.", get: get}
}

func icmpMsg(dir, typ string, get func(*engine.WorkerStats) uint64) counter {
	return counter{section: "icmp", row: dir + " " + typ, always: dir == "out" && typ == "dest_unreach",
		family: "icmp_messages_total", labels: []label{{"direction", dir}, {"type", typ}},
		help: "ICMP messages received (direction in) and sent (out), by type (the Icmp: line of /proc/net/snmp).",
		get:  get}
}

func reasm(row, family, help string, always bool, get func(*engine.WorkerStats) uint64) counter {
	return counter{section: "ipv4 reassembly / fragmentation", row: row, always: always,
		family: family, help: help, get: get}
}

func level(c counter) counter { c.gauge = true; return c }

// tcpMem is a figure of the TCP memory limits (Config.TCPMem,
// TCPMaxOrphans, TCPPoolMax; issue #19), engine-wide when global.
func tcpMem(row, family, help string, always, global bool, get func(*engine.WorkerStats) uint64) counter {
	return counter{section: "tcp memory", row: row, always: always, family: family, help: help,
		gauge: !strings.HasSuffix(family, "_total"), global: global, get: get}
}

// value is c's figure for the whole engine: the sum over queues, or for a
// global figure the one queue that reports it.
func (c *counter) value(ws []engine.WorkerStats) uint64 {
	var v uint64
	for i := range ws {
		if c.global {
			v = max(v, c.get(&ws[i]))
		} else {
			v += c.get(&ws[i])
		}
	}
	return v
}

// counters lists every counter in table order: the link's, IPv4's and the
// transports', then IPv6's (counters6.go). The rows of a family need not
// be contiguous; the first one sets its help.
var counters = slices.Concat(counters4, counters6)

// counters4 are the counters of the link, IPv4, ICMP, ARP and the
// transports (both families).
var counters4 = []counter{
	{section: "packets", row: "rx packets", always: true, family: "packets_total", labels: direction("rx"),
		help: "Frames received from the AF_XDP rx ring (direction rx) and handed to the tx ring (tx).", get: func(w *engine.WorkerStats) uint64 { return w.RxPackets }},
	{section: "packets", row: "rx bytes", always: true, family: "bytes_total", labels: direction("rx"),
		help: "Bytes of the frames received (direction rx) and sent (tx).", get: func(w *engine.WorkerStats) uint64 { return w.RxBytes }},
	{section: "packets", row: "tx packets", always: true, family: "packets_total", labels: direction("tx"), get: func(w *engine.WorkerStats) uint64 { return w.TxPackets }},
	{section: "packets", row: "tx bytes", always: true, family: "bytes_total", labels: direction("tx"), get: func(w *engine.WorkerStats) uint64 { return w.TxBytes }},
	{section: "packets", row: "steered out", family: "steered_packets_total", labels: direction("out"),
		help: "Packets handed to the worker that owns their flow (direction out), and received from another worker that steered them here (in).", get: func(w *engine.WorkerStats) uint64 { return w.Steered }},
	{section: "packets", row: "steered in", family: "steered_packets_total", labels: direction("in"), get: func(w *engine.WorkerStats) uint64 { return w.SteeredIn }},
	{section: "packets", row: "rx partial checksum", always: true, family: "rx_partial_checksum_total",
		help: "UDP and TCP packets accepted with a partial checksum (pseudo-header sum only, from a virtual link; --rx-checksum).",
		get:  func(w *engine.WorkerStats) uint64 { return w.RxCsumPartial }},
	{section: "packets", row: "tx checksum offload", always: true, family: "tx_checksum_offload_total",
		help: "UDP and TCP packets sent with their checksum left to the transmit offload (--tx-checksum).",
		get:  func(w *engine.WorkerStats) uint64 { return w.TxCsumOffload }},

	drop("malformed", "malformed", "Packets dropped, by reason.", func(w *engine.WorkerStats) uint64 { return w.DropMalformed }),
	drop("bad checksum", "checksum", "", func(w *engine.WorkerStats) uint64 { return w.DropChecksum }),
	drop("not local", "not_local", "", func(w *engine.WorkerStats) uint64 { return w.DropNotLocal }),
	drop("protocol", "protocol", "", func(w *engine.WorkerStats) uint64 { return w.DropProto }),
	drop("no socket", "no_socket", "", func(w *engine.WorkerStats) uint64 { return w.DropNoSocket }),
	drop("receive buffer", "recv_buffer", "", func(w *engine.WorkerStats) uint64 { return w.DropRecvBuffer }),
	drop("hook", "hook", "", func(w *engine.WorkerStats) uint64 { return w.DropHook }),
	drop("tx ring full", "tx_ring", "", func(w *engine.WorkerStats) uint64 { return w.DropTxRing }),
	drop("no route", "no_route", "", func(w *engine.WorkerStats) uint64 { return w.DropNoRoute }),
	drop("neighbor", "neighbor", "", func(w *engine.WorkerStats) uint64 { return w.DropNeighbor }),
	drop("steer ring full", "steer_ring", "", func(w *engine.WorkerStats) uint64 { return w.DropSteerRing }),
	drop("fragmenting", "fragmenting", "", func(w *engine.WorkerStats) uint64 { return w.DropFragmenting }),
	decap("ipip unwrapped", "ipip", "", func(w *engine.WorkerStats) uint64 { return w.Decap.IPIP }),
	decap("gue unwrapped", "gue", "", func(w *engine.WorkerStats) uint64 { return w.Decap.GUE }),
	decapDrop("malformed inner", "malformed", func(w *engine.WorkerStats) uint64 { return w.Decap.DropMalformed }),
	decapDrop("unsupported", "unsupported", func(w *engine.WorkerStats) uint64 { return w.Decap.DropUnsupported }),
	decapDrop("nested tunnel", "nested", func(w *engine.WorkerStats) uint64 { return w.Decap.DropNested }),
	decapDrop("inner not local", "not_local", func(w *engine.WorkerStats) uint64 { return w.Decap.DropNotLocal }),

	{section: "worker", row: "sleeps", family: "worker_sleeps_total",
		help: "Times a worker slept until woken (by a frame, an application's work or a timer).", get: func(w *engine.WorkerStats) uint64 { return w.Sleeps }},
	{section: "worker", row: "naps", family: "worker_naps_total",
		help: "Timed sleeps an adaptive worker took between empty polls instead of spinning (serve --nap).", get: func(w *engine.WorkerStats) uint64 { return w.Naps }},

	{section: "af_xdp", row: "fill ring empty", always: true, family: "xsk_fill_ring_empty_total",
		help: "Times the kernel found the fill ring empty when it needed a frame.", get: func(w *engine.WorkerStats) uint64 { return w.XSK.RxFillRingEmptyDescs }},
	{section: "af_xdp", row: "rx dropped", always: true, family: "xsk_rx_dropped_total",
		help: "Frames the kernel dropped for reasons other than invalid descriptors.", get: func(w *engine.WorkerStats) uint64 { return w.XSK.RxDropped }},
	{section: "af_xdp", row: "rx ring full", always: true, family: "xsk_rx_ring_full_total",
		help: "Frames the kernel dropped because the rx ring was full.", get: func(w *engine.WorkerStats) uint64 { return w.XSK.RxRingFull }},
	{section: "af_xdp", row: "rx invalid descs", family: "xsk_invalid_descs_total", labels: []label{{"ring", "rx"}},
		help: "Invalid descriptors the kernel found, by ring.", get: func(w *engine.WorkerStats) uint64 { return w.XSK.RxInvalidDescs }},
	{section: "af_xdp", row: "tx invalid descs", family: "xsk_invalid_descs_total", labels: []label{{"ring", "tx"}},
		get: func(w *engine.WorkerStats) uint64 { return w.XSK.TxInvalidDescs }},
	{section: "af_xdp", row: "tx ring empty", family: "xsk_tx_ring_empty_total",
		help: "Times the kernel found the tx ring empty.", get: func(w *engine.WorkerStats) uint64 { return w.XSK.TxRingEmptyDescs }},
	{section: "af_xdp", row: "rx wakeups", family: "xsk_wakeups_total", labels: []label{{"direction", "rx"}},
		help: "Wakeup syscalls made (recvfrom for rx, sendto for tx).", get: func(w *engine.WorkerStats) uint64 { return w.XSK.RxWakeups }},
	{section: "af_xdp", row: "tx wakeups", family: "xsk_wakeups_total", labels: []label{{"direction", "tx"}},
		get: func(w *engine.WorkerStats) uint64 { return w.XSK.TxWakeups }},
	{section: "af_xdp", row: "tx wakeup errors", family: "xsk_tx_wakeup_errors_total",
		help: "sendto failures other than ENOBUFS, EAGAIN, EBUSY and ENETDOWN.", get: func(w *engine.WorkerStats) uint64 { return w.XSK.TxWakeupErrors }},
	{section: "af_xdp", row: "frames free", family: "xsk_frames", labels: []label{{"stage", "free"}}, gauge: true,
		help: "UMEM frames by stage.", get: func(w *engine.WorkerStats) uint64 { return uint64(w.XSK.Frames.Free) }},
	{section: "af_xdp", row: "frames in fill ring", family: "xsk_frames", labels: []label{{"stage", "fill"}}, gauge: true,
		get: func(w *engine.WorkerStats) uint64 { return uint64(w.XSK.Frames.Fill) }},
	{section: "af_xdp", row: "frames in app", family: "xsk_frames", labels: []label{{"stage", "app"}}, gauge: true,
		get: func(w *engine.WorkerStats) uint64 { return uint64(w.XSK.Frames.App) }},
	{section: "af_xdp", row: "frames in tx", family: "xsk_frames", labels: []label{{"stage", "tx"}}, gauge: true,
		get: func(w *engine.WorkerStats) uint64 { return uint64(w.XSK.Frames.Tx) }},
	{section: "af_xdp", row: "frame returns refused", family: "xsk_frame_returns_refused_total",
		help: "Frame returns refused because the frame was not in the expected stage.", get: func(w *engine.WorkerStats) uint64 { return w.XSK.Frames.Refused }},

	reasm("fragments received", "ipv4_reasm_fragments_total", "Fragments received that needed reassembly (ReasmReqds).", true,
		func(w *engine.WorkerStats) uint64 { return w.Reasm.ReasmReqds }),
	reasm("datagrams reassembled", "ipv4_reasm_ok_total", "Datagrams reassembled (ReasmOKs).", true,
		func(w *engine.WorkerStats) uint64 { return w.Reasm.ReasmOKs }),
	reasm("reassembly failures", "ipv4_reasm_fails_total", "Reassembly failures, as Linux counts them (ReasmFails).", true,
		func(w *engine.WorkerStats) uint64 { return w.Reasm.ReasmFails }),
	reasm("  timeouts", "ipv4_reasm_timeouts_total", "Incomplete datagrams discarded after the reassembly timeout.", false,
		func(w *engine.WorkerStats) uint64 { return w.Reasm.ReasmTimeout }),
	reasm("  overlaps", "ipv4_reasm_overlaps_total", "Datagrams discarded for overlapping fragments.", false,
		func(w *engine.WorkerStats) uint64 { return w.Reasm.ReasmOverlaps }),
	reasm("  evictions", "ipv4_reasm_evictions_total", "Incomplete datagrams evicted to make room.", false,
		func(w *engine.WorkerStats) uint64 { return w.Reasm.ReasmEvictions }),
	reasm("  memory drops", "ipv4_reasm_memory_drops_total", "Fragments dropped at the memory threshold.", false,
		func(w *engine.WorkerStats) uint64 { return w.Reasm.ReasmMemDrops }),
	reasm("duplicate fragments", "ipv4_reasm_duplicates_total", "Exact duplicate fragments dropped.", false,
		func(w *engine.WorkerStats) uint64 { return w.Reasm.ReasmDuplicates }),
	reasm("bad fragments", "ipv4_reasm_bad_fragments_total", "Malformed fragments dropped.", false,
		func(w *engine.WorkerStats) uint64 { return w.Reasm.ReasmBadFragments }),
	reasm("time exceeded sent", "ipv4_reasm_time_exceeded_total", "ICMP time exceeded (reassembly) reports.", false,
		func(w *engine.WorkerStats) uint64 { return w.Reasm.ReasmTimeExceeded }),
	level(reasm("memory in use (bytes)", "ipv4_reasm_memory_bytes", "Memory held by incomplete datagrams.", false,
		func(w *engine.WorkerStats) uint64 { return uint64(max(w.Reasm.MemInUse, 0)) })),
	level(reasm("incomplete datagrams", "ipv4_reasm_queues", "Incomplete datagrams held.", false,
		func(w *engine.WorkerStats) uint64 { return uint64(max(w.Reasm.Queues, 0)) })),
	reasm("datagrams fragmented", "ipv4_frag_ok_total", "Datagrams fragmented for sending (FragOKs).", true,
		func(w *engine.WorkerStats) uint64 { return w.Frag.FragOKs }),
	reasm("fragments created", "ipv4_frag_creates_total", "Fragments created (FragCreates).", true,
		func(w *engine.WorkerStats) uint64 { return w.Frag.FragCreates }),
	reasm("fragmentation failures", "ipv4_frag_fails_total", "Datagrams that needed fragmenting and could not be (FragFails).", false,
		func(w *engine.WorkerStats) uint64 { return w.Frag.FragFails }),

	{section: "icmp", row: "in messages", family: "icmp_total", labels: direction("in"), help: "ICMP messages of every type received (direction in: InMsgs) and sent (out: OutMsgs).",
		get: func(w *engine.WorkerStats) uint64 { return w.ICMP.InMsgs }},
	{section: "icmp", row: "in errors", family: "icmp_errors_total", labels: direction("in"),
		help: "ICMP messages received and dropped (direction in: InErrors), and that could not be sent (out: OutErrors).",
		get:  func(w *engine.WorkerStats) uint64 { return w.ICMP.InErrors }},
	{section: "icmp", row: "in checksum errors", family: "icmp_in_csum_errors_total", help: "ICMP messages with a bad checksum.",
		get: func(w *engine.WorkerStats) uint64 { return w.ICMP.InCsumErrors }},
	icmpMsg("in", "echo", func(w *engine.WorkerStats) uint64 { return w.ICMP.InEchos }),
	icmpMsg("in", "echo_reply", func(w *engine.WorkerStats) uint64 { return w.ICMP.InEchoReps }),
	icmpMsg("in", "dest_unreach", func(w *engine.WorkerStats) uint64 { return w.ICMP.InDestUnreachs }),
	icmpMsg("in", "time_exceeded", func(w *engine.WorkerStats) uint64 { return w.ICMP.InTimeExcds }),
	icmpMsg("in", "param_problem", func(w *engine.WorkerStats) uint64 { return w.ICMP.InParmProbs }),
	icmpMsg("in", "source_quench", func(w *engine.WorkerStats) uint64 { return w.ICMP.InSrcQuenchs }),
	icmpMsg("in", "redirect", func(w *engine.WorkerStats) uint64 { return w.ICMP.InRedirects }),
	icmpMsg("in", "timestamp", func(w *engine.WorkerStats) uint64 { return w.ICMP.InTimestamps }),
	icmpMsg("in", "timestamp_reply", func(w *engine.WorkerStats) uint64 { return w.ICMP.InTimestampReps }),
	{section: "icmp", row: "out messages", always: true, family: "icmp_total", labels: direction("out"),
		get: func(w *engine.WorkerStats) uint64 { return w.ICMP.OutMsgs }},
	{section: "icmp", row: "out errors", family: "icmp_errors_total", labels: direction("out"),
		get: func(w *engine.WorkerStats) uint64 { return w.ICMP.OutErrors }},
	icmpMsg("out", "echo_reply", func(w *engine.WorkerStats) uint64 { return w.ICMP.OutEchoReps }),
	icmpMsg("out", "dest_unreach", func(w *engine.WorkerStats) uint64 { return w.ICMP.OutDestUnreachs }),
	icmpMsg("out", "time_exceeded", func(w *engine.WorkerStats) uint64 { return w.ICMP.OutTimeExcds }),
	icmpMsg("out", "param_problem", func(w *engine.WorkerStats) uint64 { return w.ICMP.OutParmProbs }),
	{section: "icmp", row: "out rate limited (global)", family: "icmp_out_rate_limited_total", labels: []label{{"scope", "global"}},
		help: "ICMP errors not sent because of a rate limit, by scope.", get: func(w *engine.WorkerStats) uint64 { return w.ICMP.OutRateLimitGlobal }},
	{section: "icmp", row: "out rate limited (host)", family: "icmp_out_rate_limited_total", labels: []label{{"scope", "host"}},
		get: func(w *engine.WorkerStats) uint64 { return w.ICMP.OutRateLimitHost }},

	{section: "arp", row: "in requests", always: true, family: "arp_in_requests_total", help: "ARP requests received.",
		get: func(w *engine.WorkerStats) uint64 { return w.ARP.InRequests }},
	{section: "arp", row: "out replies", always: true, family: "arp_out_replies_total", help: "ARP replies sent.",
		get: func(w *engine.WorkerStats) uint64 { return w.ARP.OutReplies }},
	{section: "arp", row: "out requests", always: true, family: "arp_out_requests_total", help: "ARP requests sent.",
		get: func(w *engine.WorkerStats) uint64 { return w.ARP.OutRequests }},
	{section: "arp", row: "in replies", always: true, family: "arp_in_replies_total", help: "ARP replies received.",
		get: func(w *engine.WorkerStats) uint64 { return w.ARP.InReplies }},
	{section: "arp", row: "in errors", family: "arp_in_errors_total", help: "ARP packets dropped as invalid.",
		get: func(w *engine.WorkerStats) uint64 { return w.ARP.InErrors }},
	{section: "arp", row: "neighbor entries", always: true, family: "arp_entries", gauge: true, help: "Entries in the neighbor table.",
		get: func(w *engine.WorkerStats) uint64 { return uint64(max(w.ARP.Entries, 0)) }},
	{section: "arp", row: "resolutions asked", family: "arp_resolutions_total", help: "Address resolutions asked for.",
		get: func(w *engine.WorkerStats) uint64 { return w.ARP.Requests }},
	{section: "arp", row: "resolutions failed", family: "arp_failed_total", help: "Neighbor entries that went FAILED.",
		get: func(w *engine.WorkerStats) uint64 { return w.ARP.Failed }},
	{section: "arp", row: "pending queue drops", family: "arp_queue_drops_total", help: "Packets refused by a full queue waiting for resolution.",
		get: func(w *engine.WorkerStats) uint64 { return w.ARP.QueueDrops }},
	{section: "arp", row: "evictions", family: "arp_evictions_total", help: "Neighbor entries evicted to make room.",
		get: func(w *engine.WorkerStats) uint64 { return w.ARP.Evictions }},
	{section: "arp", row: "table full", family: "arp_table_full_total", help: "New neighbors refused because the table was full.",
		get: func(w *engine.WorkerStats) uint64 { return w.ARP.TableFull }},

	{section: "tcp", row: "active opens", always: true, family: "tcp_active_opens_total", help: "Connections opened by Dial (ActiveOpens).",
		get: func(w *engine.WorkerStats) uint64 { return w.TCP.ActiveOpens }},
	{section: "tcp", row: "passive opens", always: true, family: "tcp_passive_opens_total", help: "Connections opened by a listener (PassiveOpens).",
		get: func(w *engine.WorkerStats) uint64 { return w.TCP.PassiveOpens }},
	{section: "tcp", row: "attempt fails", family: "tcp_attempt_fails_total", help: "Handshakes that failed (AttemptFails).",
		get: func(w *engine.WorkerStats) uint64 { return w.TCP.AttemptFails }},
	{section: "tcp", row: "established resets", family: "tcp_estab_resets_total", help: "Established connections reset (EstabResets).",
		get: func(w *engine.WorkerStats) uint64 { return w.TCP.EstabResets }},
	level(counter{section: "tcp", row: "established now", always: true, family: "tcp_connections", labels: []label{{"state", "established"}},
		help: "TCP connections by state: established (ESTABLISHED or CLOSE-WAIT, CurrEstab), time_wait (TIME-WAIT).",
		get:  func(w *engine.WorkerStats) uint64 { return w.TCP.CurrEstab }}),
	level(counter{section: "tcp", row: "time-wait now", always: true, family: "tcp_connections", labels: []label{{"state", "time_wait"}},
		get: func(w *engine.WorkerStats) uint64 { return w.TCP.CurrTimeWait }}),
	{section: "tcp", row: "time-wait overflows", family: "tcp_time_wait_overflow_total", help: "Connections closed without TIME-WAIT because the TIME-WAIT limit was reached (TCPTimeWaitOverflow).",
		get: func(w *engine.WorkerStats) uint64 { return w.TCP.TimeWaitOverflow }},
	{section: "tcp", row: "connection table full", family: "tcp_table_full_total", help: "Connections refused because the worker's connection table was full (Config.TCPMaxConnections).",
		get: func(w *engine.WorkerStats) uint64 { return w.TCP.TableFull }},
	{section: "tcp", row: "accepted, port not held", family: "tcp_accept_port_fails_total", help: "Accepted connections the socket table refused to register (their 5-tuple still taken).",
		get: func(w *engine.WorkerStats) uint64 { return w.TCP.AcceptPortFails }},
	{section: "tcp", row: "send buffer growths", family: "tcp_send_buffer_growths_total", help: "Send rings grown by send-buffer auto-tuning or SetWriteBuffer.",
		get: func(w *engine.WorkerStats) uint64 { return w.TCP.SendBufGrowths }},
	{section: "tcp", row: "in segments", always: true, family: "tcp_segments_total", labels: direction("in"), help: "Segments received (direction in: InSegs) and sent (out: OutSegs).",
		get: func(w *engine.WorkerStats) uint64 { return w.TCP.InSegs }},
	{section: "tcp", row: "out segments", always: true, family: "tcp_segments_total", labels: direction("out"),
		get: func(w *engine.WorkerStats) uint64 { return w.TCP.OutSegs }},
	{section: "tcp", row: "retransmitted segments", always: true, family: "tcp_retrans_segments_total", help: "Segments retransmitted (RetransSegs).",
		get: func(w *engine.WorkerStats) uint64 { return w.TCP.RetransSegs }},
	{section: "tcp", row: "in errors", family: "tcp_in_errors_total", help: "Segments dropped as bad (InErrs).",
		get: func(w *engine.WorkerStats) uint64 { return w.TCP.InErrs }},
	{section: "tcp", row: "in checksum errors", family: "tcp_in_csum_errors_total", help: "Segments with a bad checksum (InCsumErrors).",
		get: func(w *engine.WorkerStats) uint64 { return w.TCP.InCsumErrors }},
	{section: "tcp", row: "out resets", always: true, family: "tcp_out_resets_total", help: "RSTs sent (OutRsts).",
		get: func(w *engine.WorkerStats) uint64 { return w.TCP.OutRsts }},
	{section: "tcp", row: "syn cookies sent", family: "tcp_syncookies_sent_total", help: "SYN-ACKs carrying a SYN cookie (SyncookiesSent).",
		get: func(w *engine.WorkerStats) uint64 { return w.TCP.SynCookiesSent }},
	{section: "tcp", row: "syn cookies received", family: "tcp_syncookies_recv_total", help: "Connections made from a valid SYN cookie (SyncookiesRecv).",
		get: func(w *engine.WorkerStats) uint64 { return w.TCP.SynCookiesRecv }},
	{section: "tcp", row: "syn cookies failed", family: "tcp_syncookies_failed_total", help: "ACKs with an invalid SYN cookie (SyncookiesFailed).",
		get: func(w *engine.WorkerStats) uint64 { return w.TCP.SynCookiesFailed }},
	{section: "tcp", row: "listen overflows", always: true, family: "tcp_listen_overflows_total", help: "Handshakes refused because an accept queue was full (ListenOverflows).",
		get: func(w *engine.WorkerStats) uint64 { return w.TCP.ListenOverflows }},
	{section: "tcp", row: "listen drops", family: "tcp_listen_drops_total", help: "SYNs and cookie ACKs a listener dropped (ListenDrops).",
		get: func(w *engine.WorkerStats) uint64 { return w.TCP.ListenDrops }},
	{section: "tcp", row: "path mtu decreases", family: "tcp_pmtu_decreases_total", help: "ICMP fragmentation needed that lowered a connection's path MTU.",
		get: func(w *engine.WorkerStats) uint64 { return w.TCP.PMTUDecreases }},
	{section: "tcp", row: "out of window icmps", family: "tcp_out_of_window_icmps_total", help: "ICMP errors quoting a sequence number outside the window, ignored (OutOfWindowIcmps, RFC 5927).",
		get: func(w *engine.WorkerStats) uint64 { return w.TCP.OutOfWindowIcmps }},
	{section: "tcp", row: "mtu probes", family: "tcp_mtu_probes_total", help: "Path MTU probes sent (RFC 4821).",
		get: func(w *engine.WorkerStats) uint64 { return w.TCP.MTUProbes }},
	{section: "tcp", row: "mtu probe successes", family: "tcp_mtup_success_total", help: "Path MTU probes acknowledged (TCPMTUPSuccess).",
		get: func(w *engine.WorkerStats) uint64 { return w.TCP.TCPMTUPSuccess }},
	{section: "tcp", row: "mtu probe failures", family: "tcp_mtup_fail_total", help: "Path MTU probes lost (TCPMTUPFail).",
		get: func(w *engine.WorkerStats) uint64 { return w.TCP.TCPMTUPFail }},
	{section: "tcp", row: "icmp black holes", family: "tcp_mtu_black_holes_total", help: "ICMP black holes detected (repeated timeouts lowered the MSS; --tcp-mtu-probing).",
		get: func(w *engine.WorkerStats) uint64 { return w.TCP.MTUBlackHoles }},
	{section: "tcp", row: "rto reverts", family: "tcp_rto_reverts_total", help: "Retransmission backoffs undone by an ICMP unreachable (RFC 6069).",
		get: func(w *engine.WorkerStats) uint64 { return w.TCP.RTOReverts }},

	tcpMem("memory (bytes)", "tcp_memory_bytes", "Buffer memory attached to TCP connections now, what --tcp-mem limits (engine-wide).", true, true,
		func(w *engine.WorkerStats) uint64 { return w.TCP.MemBytes }),
	tcpMem("memory peak (bytes)", "tcp_memory_peak_bytes", "The most buffer memory TCP connections held at once (engine-wide).", true, true,
		func(w *engine.WorkerStats) uint64 { return w.TCP.MemPeakBytes }),
	tcpMem("under pressure", "tcp_memory_pressure", "1 while the TCP memory is under pressure: above the --tcp-mem pressure threshold, until below low (engine-wide).", true, true,
		func(w *engine.WorkerStats) uint64 { return w.TCP.MemPressure }),
	tcpMem("pool (bytes)", "tcp_pool_bytes", "Buffer memory and control blocks kept for reuse by later connections, bounded by --tcp-pool-max (engine-wide).", true, true,
		func(w *engine.WorkerStats) uint64 { return w.TCP.PoolBytes }),
	tcpMem("orphans now", "tcp_orphans", "Connections the application closed that are still delivering their FIN, bounded by --tcp-max-orphans.", true, false,
		func(w *engine.WorkerStats) uint64 { return w.TCP.CurrOrphans }),
	tcpMem("pressure entered", "tcp_memory_pressures_total", "Times the TCP memory entered pressure (TCPMemoryPressures; engine-wide).", false, true,
		func(w *engine.WorkerStats) uint64 { return w.TCP.MemPressures }),
	tcpMem("buffer grows", "tcp_buffer_grows_total", "TCP buffer memory attached or grown (engine-wide).", false, true,
		func(w *engine.WorkerStats) uint64 { return w.TCP.MemGrows }),
	tcpMem("buffer trims", "tcp_buffer_trims_total", "TCP buffers given back or shrunk while their connection lived: idle, or under pressure (engine-wide).", false, true,
		func(w *engine.WorkerStats) uint64 { return w.TCP.MemTrims }),
	tcpMem("buffer growths denied", "tcp_buffer_growths_denied_total", "TCP buffer or window growths held back by memory pressure or the high threshold (engine-wide).", false, true,
		func(w *engine.WorkerStats) uint64 { return w.TCP.MemDenied }),
	tcpMem("memory drops", "tcp_memory_drops_total", "Segments dropped because their receive buffer could not grow above the high threshold (TCPRcvQDrop; engine-wide).", false, true,
		func(w *engine.WorkerStats) uint64 { return w.TCP.MemDrops }),
	tcpMem("pool released (bytes)", "tcp_pool_released_bytes_total", "Bytes the TCP buffer pools let go of (their bound and decay), returned to the OS (engine-wide).", false, true,
		func(w *engine.WorkerStats) uint64 { return w.TCP.PoolReleased }),
	tcpMem("refused (memory high)", "tcp_memory_refused_total", "Connections refused (SYNs dropped, dials failed) while the TCP memory was above its high threshold.", false, false,
		func(w *engine.WorkerStats) uint64 { return w.TCP.MemRefused }),
	tcpMem("aborts on memory", "tcp_abort_on_memory_total", "Closes answered by a RST instead of a FIN: too many orphans or memory above high (TCPAbortOnMemory).", false, false,
		func(w *engine.WorkerStats) uint64 { return w.TCP.AbortOnMemory }),
}
