package stats

import (
	"github.com/xdpengine/engine/afxdp"
	"github.com/xdpengine/engine/arp"
	"github.com/xdpengine/engine/icmp"
	"github.com/xdpengine/engine/ipv4"
)

// Worker holds one worker's counters. A worker keeps them in plain
// fields that only it writes, and publishes a copy at every tick (about ten
// times a second), when asked by Engine.Stats, and when it stops: the packet
// path pays no atomic operation for them.
type Worker struct {
	Queue int `json:"queue"`

	RxPackets uint64 `json:"rx_packets"`
	RxBytes   uint64 `json:"rx_bytes"`
	TxPackets uint64 `json:"tx_packets"`
	TxBytes   uint64 `json:"tx_bytes"`
	// Steered counts packets handed to the worker that owns their flow;
	// SteeredIn counts packets received that way.
	Steered   uint64 `json:"steered"`
	SteeredIn uint64 `json:"steered_in"`
	// RxCsumPartial counts UDP and TCP packets accepted with a partial
	// checksum (the pseudo-header sum only, from a Linux sender on a
	// virtual link; Config.RxChecksum).
	RxCsumPartial uint64 `json:"rx_csum_partial"`
	// TxCsumOffload counts UDP and TCP packets sent with their checksum
	// left to the transmit offload (Config.TxChecksum).
	TxCsumOffload uint64 `json:"tx_csum_offload"`
	// Naps counts an adaptive worker's timed sleeps between empty polls
	// (Config.Nap); Sleeps its sleeps until woken (by a frame, an
	// application or a timer).
	Naps   uint64 `json:"naps"`
	Sleeps uint64 `json:"sleeps"`

	// Drops by reason.
	DropMalformed   uint64 `json:"drop_malformed"`   // failed to parse (Ethernet, ARP, IPv4, ICMP, UDP, TCP)
	DropChecksum    uint64 `json:"drop_checksum"`    // bad UDP or TCP checksum
	DropNotLocal    uint64 `json:"drop_not_local"`   // IPv4 to an address the engine does not own
	DropProto       uint64 `json:"drop_proto"`       // EtherType, VLAN tag or IP protocol the engine does not serve
	DropNoSocket    uint64 `json:"drop_no_socket"`   // UDP to a port nobody listens on (ICMP sent, rate permitting)
	DropRecvBuffer  uint64 `json:"drop_recv_buffer"` // a UDP socket's receive buffer was full
	DropHook        uint64 `json:"drop_hook"`        // the Hook said drop
	DropForward     uint64 `json:"drop_forward"`     // the Forwarder (load balancer) dropped it
	DropTxRing      uint64 `json:"drop_tx_ring"`     // the tx ring or the frame pool was full
	DropNoRoute     uint64 `json:"drop_no_route"`    // no route to the destination (UDP, TCP, ICMP)
	DropNeighbor    uint64 `json:"drop_neighbor"`    // ARP did not resolve, or its queue was full
	DropSteerRing   uint64 `json:"drop_steer_ring"`  // the ring to the owning worker was full
	DropFragmenting uint64 `json:"drop_fragmenting"` // a datagram could not be fragmented

	Decap Decap         `json:"decap"`
	TCP   TCP           `json:"tcp"`
	ARP   ARP           `json:"arp"`
	ICMP  icmp.Counters `json:"icmp"`
	Reasm ipv4.Stats    `json:"reasm"`
	Frag  ipv4.Stats    `json:"frag"`
	XSK   afxdp.Stats   `json:"xsk"`
	// IPv6 are the IPv6 layer's counters (stack/inet6); zero without
	// IPv6 addresses.
	IPv6 IPv6 `json:"ipv6"`

	// Faults counts what the fault injector did (a test's injector, testing
	// only); zero without one.
	Faults Faults `json:"faults"`

	// Hist are the worker's distributions: round time, receive burst
	// size, TCP round-trip time.
	Hist Histograms `json:"hist"`
}

// TCP are the TCP counters, named as Linux's /proc/net/snmp Tcp:
// line and /proc/net/netstat TcpExt: where one exists.
type TCP struct {
	ActiveOpens  uint64 `json:"active_opens"`   // connections opened by Dial (SYN-SENT)
	PassiveOpens uint64 `json:"passive_opens"`  // connections opened by a listener (SYN-RECEIVED or a cookie)
	AttemptFails uint64 `json:"attempt_fails"`  // SYN-SENT or SYN-RECEIVED went to CLOSED
	EstabResets  uint64 `json:"estab_resets"`   // ESTABLISHED or CLOSE-WAIT went straight to CLOSED (reset)
	CurrEstab    uint64 `json:"curr_estab"`     // connections now in ESTABLISHED or CLOSE-WAIT (a gauge)
	InSegs       uint64 `json:"in_segs"`        // segments received (checksum valid)
	OutSegs      uint64 `json:"out_segs"`       // segments sent
	RetransSegs  uint64 `json:"retrans_segs"`   // segments retransmitted
	InErrs       uint64 `json:"in_errs"`        // segments dropped as bad (checksum, truncated)
	OutRsts      uint64 `json:"out_rsts"`       // RSTs sent
	InCsumErrors uint64 `json:"in_csum_errors"` // bad checksums

	SynCookiesSent   uint64 `json:"syn_cookies_sent"`   // SYN-ACKs carrying a cookie (SYN queue full)
	SynCookiesRecv   uint64 `json:"syn_cookies_recv"`   // connections made from a valid cookie
	SynCookiesFailed uint64 `json:"syn_cookies_failed"` // ACKs to a listener with an invalid cookie
	ListenOverflows  uint64 `json:"listen_overflows"`   // handshakes refused because an accept queue was full
	ListenDrops      uint64 `json:"listen_drops"`       // SYNs and cookie ACKs dropped by a listener
	AcceptPortFails  uint64 `json:"accept_port_fails"`  // accepted connections the socket table refused to register (their 5-tuple still taken)

	TableFull        uint64 `json:"table_full"`         // connections refused: the worker's connection table was full (Config.TCPMaxConnections)
	CurrTimeWait     uint64 `json:"curr_time_wait"`     // connections now in TIME-WAIT (a gauge)
	TimeWaitOverflow uint64 `json:"time_wait_overflow"` // connections closed without TIME-WAIT: Config.TCPMaxTimeWait reached
	SendBufGrowths   uint64 `json:"send_buf_growths"`   // send rings grown by auto-tuning or SetWriteBuffer

	PathMTU // path MTU discovery

	// Memory of the connections' buffers (tcp.Memory, tcp.RingPool).
	// Engine-wide figures: queue 0's worker reports them, the others
	// report 0, so that Total holds them once.
	MemBytes     uint64 `json:"mem_bytes"`      // ring memory attached to connections now (what Config.TCPMem limits; a gauge)
	MemPeakBytes uint64 `json:"mem_peak_bytes"` // the most MemBytes was
	MemPressure  uint64 `json:"mem_pressure"`   // 1 while the memory is under pressure (a gauge)
	MemPressures uint64 `json:"mem_pressures"`  // times pressure was entered (Linux's TCPMemoryPressures)
	MemGrows     uint64 `json:"mem_grows"`      // ring memory attached or grown
	MemTrims     uint64 `json:"mem_trims"`      // rings given back or shrunk while their connection lived (idle, pressure)
	MemDenied    uint64 `json:"mem_denied"`     // growths held back by pressure or the high threshold (windows, rings)
	MemDrops     uint64 `json:"mem_drops"`      // segments dropped: their receive ring could not grow past the minimum above the high threshold (TCPRcvQDrop)
	PoolBytes    uint64 `json:"pool_bytes"`     // ring memory and control blocks kept for reuse (a gauge; bounded by Config.TCPPoolMax and 4096 control blocks)
	PoolReleased uint64 `json:"pool_released"`  // bytes the pools let go of (their bounds and their decay), for the Go runtime to return to the OS
	// Per worker.
	MemRefused    uint64 `json:"mem_refused"`     // connections refused (SYNs dropped, dials failed) while the memory was above its high threshold
	CurrOrphans   uint64 `json:"curr_orphans"`    // connections the application closed that are not yet closed nor in TIME-WAIT (a gauge)
	AbortOnMemory uint64 `json:"abort_on_memory"` // closes answered by a RST instead of a FIN: too many orphans or memory above high (TCPAbortOnMemory)
}

// Add adds w's counters to t.
func (t *TCP) Add(w *TCP) {
	t.ActiveOpens += w.ActiveOpens
	t.PassiveOpens += w.PassiveOpens
	t.AttemptFails += w.AttemptFails
	t.EstabResets += w.EstabResets
	t.CurrEstab += w.CurrEstab
	t.InSegs += w.InSegs
	t.OutSegs += w.OutSegs
	t.RetransSegs += w.RetransSegs
	t.InErrs += w.InErrs
	t.OutRsts += w.OutRsts
	t.InCsumErrors += w.InCsumErrors
	t.SynCookiesSent += w.SynCookiesSent
	t.SynCookiesRecv += w.SynCookiesRecv
	t.SynCookiesFailed += w.SynCookiesFailed
	t.ListenOverflows += w.ListenOverflows
	t.ListenDrops += w.ListenDrops
	t.AcceptPortFails += w.AcceptPortFails
	t.TableFull += w.TableFull
	t.CurrTimeWait += w.CurrTimeWait
	t.TimeWaitOverflow += w.TimeWaitOverflow
	t.SendBufGrowths += w.SendBufGrowths
	t.PathMTU.Add(&w.PathMTU)
	t.MemBytes += w.MemBytes
	t.MemPeakBytes += w.MemPeakBytes
	t.MemPressure += w.MemPressure
	t.MemPressures += w.MemPressures
	t.MemGrows += w.MemGrows
	t.MemTrims += w.MemTrims
	t.MemDenied += w.MemDenied
	t.MemDrops += w.MemDrops
	t.PoolBytes += w.PoolBytes
	t.PoolReleased += w.PoolReleased
	t.MemRefused += w.MemRefused
	t.CurrOrphans += w.CurrOrphans
	t.AbortOnMemory += w.AbortOnMemory
}

// ARP are the neighbor table's and the responder's counters.
type ARP struct {
	arp.Stats
	InRequests  uint64 `json:"in_requests"`
	InReplies   uint64 `json:"in_replies"`
	OutReplies  uint64 `json:"out_replies"`
	OutRequests uint64 `json:"out_requests"`
	InErrors    uint64 `json:"in_errors"`
	Entries     int    `json:"entries"`
}

// Engine holds the engine's counters: one entry per worker, and their sum.
type Engine struct {
	Workers []Worker `json:"workers"`
	Total   Worker   `json:"total"`
}

// Add adds w's counters to t.
func (t *Worker) Add(w *Worker) {
	t.RxPackets += w.RxPackets
	t.RxBytes += w.RxBytes
	t.TxPackets += w.TxPackets
	t.TxBytes += w.TxBytes
	t.Steered += w.Steered
	t.SteeredIn += w.SteeredIn
	t.RxCsumPartial += w.RxCsumPartial
	t.TxCsumOffload += w.TxCsumOffload
	t.Naps += w.Naps
	t.Sleeps += w.Sleeps
	t.DropMalformed += w.DropMalformed
	t.DropChecksum += w.DropChecksum
	t.DropNotLocal += w.DropNotLocal
	t.DropProto += w.DropProto
	t.DropNoSocket += w.DropNoSocket
	t.DropRecvBuffer += w.DropRecvBuffer
	t.DropHook += w.DropHook
	t.DropForward += w.DropForward
	t.DropTxRing += w.DropTxRing
	t.DropNoRoute += w.DropNoRoute
	t.DropNeighbor += w.DropNeighbor
	t.DropSteerRing += w.DropSteerRing
	t.DropFragmenting += w.DropFragmenting
	t.ARP.InRequests += w.ARP.InRequests
	t.ARP.InReplies += w.ARP.InReplies
	t.ARP.OutReplies += w.ARP.OutReplies
	t.ARP.OutRequests += w.ARP.OutRequests
	t.ARP.InErrors += w.ARP.InErrors
	t.ARP.Entries += w.ARP.Entries
	t.ARP.Requests += w.ARP.Requests
	t.ARP.QueueDrops += w.ARP.QueueDrops
	t.ARP.Failed += w.ARP.Failed
	t.ARP.Evictions += w.ARP.Evictions
	t.ARP.TableFull += w.ARP.TableFull
	t.TCP.Add(&w.TCP)
	t.Faults.Add(&w.Faults)
	t.Hist.Add(&w.Hist)
	t.Decap.Add(&w.Decap)
	t.ICMP.Add(&w.ICMP)
	t.IPv6.Add(&w.IPv6)
	addFields(&t.Reasm, &w.Reasm)
	addFields(&t.Frag, &w.Frag)
	t.XSK.RxDropped += w.XSK.RxDropped
	t.XSK.RxInvalidDescs += w.XSK.RxInvalidDescs
	t.XSK.TxInvalidDescs += w.XSK.TxInvalidDescs
	t.XSK.RxRingFull += w.XSK.RxRingFull
	t.XSK.RxFillRingEmptyDescs += w.XSK.RxFillRingEmptyDescs
	t.XSK.TxRingEmptyDescs += w.XSK.TxRingEmptyDescs
	t.XSK.RxWakeups += w.XSK.RxWakeups
	t.XSK.TxWakeups += w.XSK.TxWakeups
	t.XSK.TxWakeupErrors += w.XSK.TxWakeupErrors
	t.XSK.Frames.Free += w.XSK.Frames.Free
	t.XSK.Frames.App += w.XSK.Frames.App
	t.XSK.Frames.Fill += w.XSK.Frames.Fill
	t.XSK.Frames.Tx += w.XSK.Frames.Tx
	t.XSK.Frames.Refused += w.XSK.Frames.Refused
}

func addFields(t, w *ipv4.Stats) {
	t.ReasmReqds += w.ReasmReqds
	t.ReasmOKs += w.ReasmOKs
	t.ReasmFails += w.ReasmFails
	t.ReasmTimeout += w.ReasmTimeout
	t.ReasmOverlaps += w.ReasmOverlaps
	t.ReasmDuplicates += w.ReasmDuplicates
	t.ReasmBadFragments += w.ReasmBadFragments
	t.ReasmEvictions += w.ReasmEvictions
	t.ReasmMemDrops += w.ReasmMemDrops
	t.ReasmTimeExceeded += w.ReasmTimeExceeded
	t.FragOKs += w.FragOKs
	t.FragCreates += w.FragCreates
	t.FragFails += w.FragFails
	t.MemInUse += w.MemInUse
	t.Queues += w.Queues
}
