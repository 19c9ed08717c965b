package ipv6

// Stats are the counters of one Reassembler or Fragmenter, named after the
// Ip6 lines of Linux's /proc/net/snmp6 (RFC 4293 ipSystemStats) plus drops
// by reason that Linux keeps elsewhere or not at all.
//
// They are plain integers written by the owning worker only: read them
// with Stats from that worker (or after it stopped) and sum the workers'
// snapshots for a host-wide view.
type Stats struct {
	// ReasmReqds counts packets with a fragment header given to Add
	// (atomic fragments included, as Linux counts them).
	ReasmReqds uint64 `json:"reasm_reqds"`
	// ReasmOKs counts packets delivered: reassembled datagrams and atomic
	// fragments (as Linux).
	ReasmOKs uint64 `json:"reasm_oks"`
	// ReasmFails counts datagrams discarded (timeout, overlap, conflict,
	// too big at completion, too many fragments, eviction) and fragments
	// dropped for lack of memory.
	ReasmFails uint64 `json:"reasm_fails"`
	// ReasmTimeout counts datagrams discarded after Config.Timeout.
	ReasmTimeout uint64 `json:"reasm_timeout"`

	// ReasmOverlaps counts datagrams discarded for overlapping fragments
	// (RFC 5722; Linux's Ip6ReasmOverlaps).
	ReasmOverlaps uint64 `json:"reasm_overlaps"`
	// ReasmDiscarded counts fragments dropped because their datagram was
	// discarded after an overlap and is remembered until its timeout.
	ReasmDiscarded uint64 `json:"reasm_discarded"`
	// ReasmDuplicates counts exact duplicate fragments dropped alone.
	ReasmDuplicates uint64 `json:"reasm_duplicates"`
	// ReasmAtomic counts atomic fragments (RFC 6946), also in ReasmOKs.
	ReasmAtomic uint64 `json:"reasm_atomic"`
	// ReasmBadFragments counts fragments dropped alone as malformed
	// (ErrBadFragment, ErrBadLength, ErrTooBig on arrival).
	ReasmBadFragments uint64 `json:"reasm_bad_fragments"`
	// ReasmParamProblems counts ICMPv6 parameter problem reports handed
	// to Config.OnParamProblem (Linux counts these in Ip6InHdrErrors).
	ReasmParamProblems uint64 `json:"reasm_param_problems"`
	// ReasmEvictions counts datagrams evicted to make room (memory or
	// queue cap); each is also in ReasmFails.
	ReasmEvictions uint64 `json:"reasm_evictions"`
	// ReasmMemDrops counts fragments dropped at the memory threshold
	// (each also in ReasmFails).
	ReasmMemDrops uint64 `json:"reasm_mem_drops"`
	// ReasmTimeExceeded counts time exceeded reports handed to
	// Config.OnTimeExceeded.
	ReasmTimeExceeded uint64 `json:"reasm_time_exceeded"`

	// FragOKs counts packets fragmented.
	FragOKs uint64 `json:"frag_oks"`
	// FragCreates counts fragments created.
	FragCreates uint64 `json:"frag_creates"`
	// FragFails counts packets that needed fragmenting and could not be
	// (bad packet, MTU below 1280, short buffers).
	FragFails uint64 `json:"frag_fails"`

	// MemInUse is the memory accounted to incomplete datagrams, in bytes.
	MemInUse int64 `json:"mem_in_use"`
	// Queues is the number of datagrams held (discarded ones remembered
	// until their timeout included).
	Queues int `json:"queues"`
}
