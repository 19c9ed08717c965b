package icmp

import "github.com/xdpengine/engine/header"

// Counters holds the ICMP counters of /proc/net/snmp's "Icmp:" line, with
// Linux's names (OutRateLimitGlobal and OutRateLimitHost are on that line
// since Linux 6.0). Not safe for concurrent writes: one Counters per
// worker.
type Counters struct {
	InMsgs, InErrors, InCsumErrors                                  uint64
	InDestUnreachs, InTimeExcds, InParmProbs, InSrcQuenchs          uint64
	InRedirects, InEchos, InEchoReps, InTimestamps, InTimestampReps uint64
	OutMsgs, OutErrors                                              uint64
	OutDestUnreachs, OutTimeExcds, OutParmProbs, OutEchoReps        uint64
	OutRateLimitGlobal, OutRateLimitHost                            uint64
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
