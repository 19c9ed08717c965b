package ipv4

// Stats are the counters of one Reassembler or Fragmenter, named after the
// Ip: line of Linux's /proc/net/snmp (RFC 2011 ipReasm*/ipFrag*) with the
// extra counters Linux keeps elsewhere or not at all.
//
// Counters are plain integers written only by the owning worker: read them
// with the Stats method from that worker (or after it stopped) and sum the
// snapshots of all workers for a host-wide view.
type Stats struct {
	// ReasmReqds counts fragments received that needed reassembly.
	ReasmReqds uint64 `json:"reasm_reqds"`
	// ReasmOKs counts datagrams successfully reassembled.
	ReasmOKs uint64 `json:"reasm_oks"`
	// ReasmFails counts failures detected by the reassembly algorithm, as
	// Linux does: datagrams discarded (timeout, overlap, conflict, too
	// big, too many fragments, evicted) and fragments dropped for lack of
	// memory.
	ReasmFails uint64 `json:"reasm_fails"`
	// ReasmTimeout counts datagrams discarded after Config.Timeout.
	ReasmTimeout uint64 `json:"reasm_timeout"`
	// ReasmOverlaps counts datagrams discarded because of overlapping
	// fragments (Linux's ReasmOverlaps in /proc/net/netstat IpExt).
	ReasmOverlaps uint64 `json:"reasm_overlaps"`
	// ReasmDuplicates counts exact duplicate fragments dropped alone.
	ReasmDuplicates uint64 `json:"reasm_duplicates"`
	// ReasmBadFragments counts fragments dropped alone because they were
	// malformed or tiny TCP fragments.
	ReasmBadFragments uint64 `json:"reasm_bad_fragments"`
	// ReasmEvictions counts incomplete datagrams evicted to make room
	// (memory threshold or queue cap); each is also in ReasmFails.
	ReasmEvictions uint64 `json:"reasm_evictions"`
	// ReasmMemDrops counts fragments dropped because the memory threshold
	// was reached (each is also in ReasmFails).
	ReasmMemDrops uint64 `json:"reasm_mem_drops"`
	// ReasmTimeExceeded counts ICMP time exceeded reports handed to
	// Config.OnTimeExceeded.
	ReasmTimeExceeded uint64 `json:"reasm_time_exceeded"`

	// FragOKs counts datagrams successfully fragmented.
	FragOKs uint64 `json:"frag_oks"`
	// FragCreates counts fragments created.
	FragCreates uint64 `json:"frag_creates"`
	// FragFails counts datagrams that needed fragmentation but could not
	// be fragmented (DF set, bad MTU, short buffers, invalid datagram).
	FragFails uint64 `json:"frag_fails"`

	// MemInUse is the memory held by incomplete datagrams, in bytes, as
	// accounted against Config.HighThresh (buffers plus per-datagram
	// bookkeeping).
	MemInUse int64 `json:"mem_in_use"`
	// Queues is the number of incomplete datagrams held.
	Queues int `json:"queues"`
}
