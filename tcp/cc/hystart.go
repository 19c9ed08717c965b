package cc

import "math"

// HyStart++ constants (RFC 9406 4.3), with times in nanoseconds.
const (
	hyMinRTTThresh  = 4_000_000  // MIN_RTT_THRESH, 4 ms
	hyMaxRTTThresh  = 16_000_000 // MAX_RTT_THRESH, 16 ms
	hyMinRTTDivisor = 8          // MIN_RTT_DIVISOR
	hyNRTTSample    = 8          // N_RTT_SAMPLE
	hyCSSGrowthDiv  = 4          // CSS_GROWTH_DIVISOR
	hyCSSRounds     = 5          // CSS_ROUNDS
	hyNoRTT         = math.MaxInt64
)

// hystart is HyStart++ (RFC 9406): it watches the minimum RTT of each round
// of slow start and, when it rises by more than a threshold, moves to
// Conservative Slow Start (CSS: growth divided by 4); after CSS_ROUNDS
// rounds of CSS slow start ends at the current window. A fall of the RTT
// below the baseline during CSS was a false alarm: slow start resumes.
//
// Rounds are counted in bytes, since the algorithm does not see sequence
// numbers: a round ends when the bytes in flight at its start (the
// Inflight of the ACK that started it, less what that ACK acknowledged)
// have been acknowledged, which is when RFC 9406's windowEnd (SND.NXT at
// the round's start) is acknowledged for a sender without reordering.
//
// It runs only in the initial slow start (RFC 9406 4.4: after a congestion
// event ssthresh already estimates the path).
type hystart struct {
	delivered    int64 // bytes acknowledged since Init
	roundEnd     int64 // delivered value that ends the current round
	lastRoundMin int64 // lastRoundMinRTT
	curRoundMin  int64 // currentRoundMinRTT
	samples      int   // rttSampleCount
	css          bool  // in Conservative Slow Start
	cssBaseline  int64 // cssBaselineMinRtt
	cssRounds    int   // rounds completed in CSS
}

func (h *hystart) reset() {
	*h = hystart{lastRoundMin: hyNoRTT, curRoundMin: hyNoRTT, cssBaseline: hyNoRTT}
}

// onAck takes one slow-start ACK: the bytes it acknowledged, the bytes in
// flight before it, its RTT sample (0 for none) and the increment plain
// slow start would apply. It returns the increment to apply and whether
// slow start ends now (after the CSS rounds).
func (h *hystart) onAck(acked, inflight int, rtt int64, inc float64) (float64, bool) {
	h.delivered += int64(acked)
	if h.delivered >= h.roundEnd {
		h.lastRoundMin, h.curRoundMin, h.samples = h.curRoundMin, hyNoRTT, 0
		h.roundEnd = h.delivered + int64(max(inflight-acked, 0))
		if h.css {
			h.cssRounds++
			if h.cssRounds >= hyCSSRounds {
				return inc / hyCSSGrowthDiv, true
			}
		}
	}
	if rtt > 0 {
		h.curRoundMin = min(h.curRoundMin, rtt)
		h.samples++
	}
	if h.samples >= hyNRTTSample && h.curRoundMin != hyNoRTT && h.lastRoundMin != hyNoRTT {
		if !h.css {
			thresh := min(max(h.lastRoundMin/hyMinRTTDivisor, hyMinRTTThresh), hyMaxRTTThresh)
			if h.curRoundMin >= h.lastRoundMin+thresh {
				h.css, h.cssBaseline, h.cssRounds = true, h.curRoundMin, 0
			}
		} else if h.curRoundMin < h.cssBaseline {
			h.css, h.cssBaseline = false, hyNoRTT
		}
	}
	if h.css {
		return inc / hyCSSGrowthDiv, false
	}
	return inc, false
}
