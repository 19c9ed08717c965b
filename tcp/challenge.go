package tcp

import "sync/atomic"

// DefaultChallengeLimit is the default number of challenge ACKs per second
// (Linux's tcp_challenge_ack_limit before it moved to per-socket limits).
const DefaultChallengeLimit = 1000

// ChallengeLimiter bounds the challenge ACKs (RFC 5961 section 7) sent per
// second by every endpoint that shares it, so that a blind attacker cannot
// turn them into an amplifier. It is safe for concurrent use by several
// workers. Time is the caller's monotonic now.
type ChallengeLimiter struct {
	limit int64
	// window holds the second (now / 1e9) the count belongs to; count the
	// number granted in it. A worker that sees a newer second CASes the
	// window forward and resets count; the pair is best-effort under a
	// race at the second boundary (a few extra ACKs at most), as Linux's.
	window atomic.Int64 // CAS pairs with other workers' CAS and loads
	count  atomic.Int64 // Add pairs with the reset Store after the window CAS
}

// NewChallengeLimiter returns a limiter that grants perSecond challenge
// ACKs per second (at least 1).
func NewChallengeLimiter(perSecond int) *ChallengeLimiter {
	return &ChallengeLimiter{limit: int64(max(perSecond, 1))}
}

// Allow reports whether one more challenge ACK may be sent at now.
func (l *ChallengeLimiter) Allow(now int64) bool {
	sec := now / 1_000_000_000
	w := l.window.Load()
	if sec != w && l.window.CompareAndSwap(w, sec) {
		l.count.Store(0)
	}
	return l.count.Add(1) <= l.limit
}
