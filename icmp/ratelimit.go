package icmp

import "github.com/xdpengine/engine/header"

// Linux's defaults (net.ipv4.icmp_*).
const (
	DefaultRateMask    = 0x1818             // icmp_ratemask 6168: dest unreachable, source quench, time exceeded, parameter problem
	DefaultRatelimitNs = 1000 * 1000 * 1000 // icmp_ratelimit, 1000 ms
	DefaultMsgsPerSec  = 1000               // icmp_msgs_per_sec
	DefaultMsgsBurst   = 50                 // icmp_msgs_burst
	// BurstFactor is how many per-destination intervals of credit may
	// accumulate (Linux's XRLIM_BURST_FACTOR).
	BurstFactor = 6
	// LimiterSlots is the size of the per-destination table.
	LimiterSlots = 1024
)

// LimiterConfig holds the rate limiter's settings; zero fields take
// Linux's defaults. A negative RatelimitNs or MsgsPerSec turns that limit
// off.
type LimiterConfig struct {
	RateMask    uint32 // bit t set: type t is rate limited per destination
	RatelimitNs int64  // per destination: one message per interval
	MsgsPerSec  int64  // global refill rate
	MsgsBurst   int64  // global bucket size
}

type peerSlot struct {
	addr   [4]byte
	used   bool
	tokens int64 // ns of credit, at most BurstFactor*RatelimitNs
	last   int64
}

// Limiter decides whether an ICMP message may be sent, like Linux's
// icmpv4_xrlim_allow and icmp_global_allow. Not safe for concurrent use:
// one per worker (Linux's global limit is per host; with N workers the
// host-wide rate is up to N times the setting, so divide it).
type Limiter struct {
	cfg         LimiterConfig
	globalMilli int64 // global credit in thousandths of a message
	globalLast  int64
	started     bool
	slots       [LimiterSlots]peerSlot
}

// NewLimiter returns a Limiter with cfg (zero fields: Linux's defaults).
func NewLimiter(cfg LimiterConfig) *Limiter {
	if cfg.RateMask == 0 {
		cfg.RateMask = DefaultRateMask
	}
	if cfg.RatelimitNs == 0 {
		cfg.RatelimitNs = DefaultRatelimitNs
	}
	if cfg.MsgsPerSec == 0 {
		cfg.MsgsPerSec = DefaultMsgsPerSec
	}
	if cfg.MsgsBurst == 0 {
		cfg.MsgsBurst = DefaultMsgsBurst
	}
	return &Limiter{cfg: cfg}
}

// limited reports whether type/code is subject to rate limiting: a type in
// the mask, except fragmentation needed (Linux exempts it for PMTU).
func (l *Limiter) limited(typ, code uint8) bool {
	if typ > 31 || l.cfg.RateMask&(1<<typ) == 0 {
		return false
	}
	return !(typ == header.ICMPv4DstUnreachable && code == header.ICMPv4FragmentationNeeded)
}

// Allow reports whether a message of type typ and code to dst may be sent
// at now (monotonic ns), taking a token when it may. Refusals are counted
// in c (OutRateLimitGlobal, OutRateLimitHost) when c is not nil.
func (l *Limiter) Allow(now int64, dst [4]byte, typ, code uint8, c *Counters) bool {
	if !l.limited(typ, code) {
		return true
	}
	if !l.globalAllow(now) {
		if c != nil {
			c.OutRateLimitGlobal++
		}
		return false
	}
	if !l.peerAllow(now, dst) {
		if c != nil {
			c.OutRateLimitHost++
		}
		return false
	}
	return true
}

func (l *Limiter) globalAllow(now int64) bool {
	if l.cfg.MsgsPerSec < 0 {
		return true
	}
	max := l.cfg.MsgsBurst * 1000
	if !l.started {
		l.started, l.globalLast, l.globalMilli = true, now, max
	}
	if d := now - l.globalLast; d > 0 {
		// credit in 1/1000 message: d ns * perSec / 1e9 * 1000
		add := d / 1000 * l.cfg.MsgsPerSec / 1000
		if add > 0 {
			l.globalMilli = min(max, l.globalMilli+add)
			l.globalLast = now
		}
	}
	if l.globalMilli < 1000 {
		return false
	}
	l.globalMilli -= 1000
	return true
}

func slotOf(a [4]byte) int {
	h := (uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])) * 0x9e3779b1
	return int(h >> (32 - 10)) // LimiterSlots = 1<<10
}

func (l *Limiter) peerAllow(now int64, dst [4]byte) bool {
	if l.cfg.RatelimitNs < 0 {
		return true
	}
	s := &l.slots[slotOf(dst)]
	if !s.used || s.addr != dst {
		// New destination (or it displaced another): full credit, as
		// Linux starts a new inet_peer.
		*s = peerSlot{addr: dst, used: true, tokens: BurstFactor * l.cfg.RatelimitNs, last: now}
	}
	tok := s.tokens + (now - s.last)
	tok = min(tok, BurstFactor*l.cfg.RatelimitNs)
	s.last = now
	if tok >= l.cfg.RatelimitNs {
		s.tokens = tok - l.cfg.RatelimitNs
		return true
	}
	s.tokens = tok
	return false
}
