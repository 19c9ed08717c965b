package icmp

import "github.com/xdpengine/engine/header"

// Counters holds the ICMP counters of /proc/net/snmp's "Icmp:" line, with
// Linux's names (OutRateLimitGlobal and OutRateLimitHost are on that line
// since Linux 6.0). Not safe for concurrent writes: one Counters per
// worker.
type Counters struct {
	InMsgs             uint64 `json:"in_msgs"`
	InErrors           uint64 `json:"in_errors"`
	InCsumErrors       uint64 `json:"in_csum_errors"`
	InDestUnreachs     uint64 `json:"in_dest_unreachs"`
	InTimeExcds        uint64 `json:"in_time_excds"`
	InParmProbs        uint64 `json:"in_parm_probs"`
	InSrcQuenchs       uint64 `json:"in_src_quenchs"`
	InRedirects        uint64 `json:"in_redirects"`
	InEchos            uint64 `json:"in_echos"`
	InEchoReps         uint64 `json:"in_echo_reps"`
	InTimestamps       uint64 `json:"in_timestamps"`
	InTimestampReps    uint64 `json:"in_timestamp_reps"`
	OutMsgs            uint64 `json:"out_msgs"`
	OutErrors          uint64 `json:"out_errors"`
	OutDestUnreachs    uint64 `json:"out_dest_unreachs"`
	OutTimeExcds       uint64 `json:"out_time_excds"`
	OutParmProbs       uint64 `json:"out_parm_probs"`
	OutEchoReps        uint64 `json:"out_echo_reps"`
	OutRateLimitGlobal uint64 `json:"out_rate_limit_global"`
	OutRateLimitHost   uint64 `json:"out_rate_limit_host"`
}

// CountIn counts a received message of type t. A message that failed to
// parse is counted with CountInError instead.
func (c *Counters) CountIn(t uint8) {
	c.InMsgs++
	switch t {
	case header.ICMPv4DstUnreachable:
		c.InDestUnreachs++
	case header.ICMPv4TimeExceeded:
		c.InTimeExcds++
	case header.ICMPv4ParamProblem:
		c.InParmProbs++
	case header.ICMPv4SourceQuench:
		c.InSrcQuenchs++
	case header.ICMPv4Redirect:
		c.InRedirects++
	case header.ICMPv4Echo:
		c.InEchos++
	case header.ICMPv4EchoReply:
		c.InEchoReps++
	case header.ICMPv4Timestamp:
		c.InTimestamps++
	case header.ICMPv4TimestampReply:
		c.InTimestampReps++
	}
}

// CountInError counts a received message that was dropped: InMsgs and
// InErrors, and InCsumErrors when err is header.ErrBadChecksum (as Linux
// counts csum errors).
func (c *Counters) CountInError(err error) {
	c.InMsgs++
	c.InErrors++
	if err == header.ErrBadChecksum {
		c.InCsumErrors++
	}
}

// CountOut counts a sent message of type t.
func (c *Counters) CountOut(t uint8) {
	c.OutMsgs++
	switch t {
	case header.ICMPv4DstUnreachable:
		c.OutDestUnreachs++
	case header.ICMPv4TimeExceeded:
		c.OutTimeExcds++
	case header.ICMPv4ParamProblem:
		c.OutParmProbs++
	case header.ICMPv4EchoReply:
		c.OutEchoReps++
	}
}

// Add adds o's counts to c (to sum per-worker counters).
func (c *Counters) Add(o *Counters) {
	c.InMsgs += o.InMsgs
	c.InErrors += o.InErrors
	c.InCsumErrors += o.InCsumErrors
	c.InDestUnreachs += o.InDestUnreachs
	c.InTimeExcds += o.InTimeExcds
	c.InParmProbs += o.InParmProbs
	c.InSrcQuenchs += o.InSrcQuenchs
	c.InRedirects += o.InRedirects
	c.InEchos += o.InEchos
	c.InEchoReps += o.InEchoReps
	c.InTimestamps += o.InTimestamps
	c.InTimestampReps += o.InTimestampReps
	c.OutMsgs += o.OutMsgs
	c.OutErrors += o.OutErrors
	c.OutDestUnreachs += o.OutDestUnreachs
	c.OutTimeExcds += o.OutTimeExcds
	c.OutParmProbs += o.OutParmProbs
	c.OutEchoReps += o.OutEchoReps
	c.OutRateLimitGlobal += o.OutRateLimitGlobal
	c.OutRateLimitHost += o.OutRateLimitHost
}
