package pacer

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"time"
)

// ErrRate reports a rate or burst the pacer cannot use.
var ErrRate = errors.New("pacer: bad rate")

const nano = 1_000_000_000 // the level counts 1e-9 tokens

// Unit is what a rate counts.
type Unit uint8

const (
	// PacketsPerSecond counts frames.
	PacketsPerSecond Unit = iota
	// BitsL1 counts bits on the wire: the frame with its FCS plus 20
	// bytes of preamble, start delimiter and inter-frame gap (a 10 Gb/s
	// link carries 14.88 Mpps of 64-byte frames at 10e9 BitsL1).
	BitsL1
	// BitsL2 counts the bits of the frames, FCS included.
	BitsL2
)

// WireOverhead is what BitsL1 adds to each frame, in bytes.
const WireOverhead = 20

// String returns "pps", "bps-l1" or "bps-l2".
func (u Unit) String() string {
	switch u {
	case PacketsPerSecond:
		return "pps"
	case BitsL1:
		return "bps-l1"
	case BitsL2:
		return "bps-l2"
	}
	return fmt.Sprintf("unit(%d)", uint8(u))
}

// Cost returns what a frame of size bytes (FCS included) costs in u.
func (u Unit) Cost(size int) uint64 {
	switch u {
	case BitsL1:
		return uint64(size+WireOverhead) * 8
	case BitsL2:
		return uint64(size) * 8
	}
	return 1
}

// Bucket is a token bucket driven by the caller's clock. See the package
// documentation.
type Bucket struct {
	rate  uint64 // tokens per second, which is 1e-9 tokens per ns
	cap   uint64 // the burst, in 1e-9 tokens
	level uint64 // in 1e-9 tokens
	last  int64  // when the level was last brought up to date
}

// NewBucket returns an empty bucket filling at rate tokens per second (at
// least 1) up to burst tokens (at least 1), starting at now.
func NewBucket(rate, burst uint64, now int64) (*Bucket, error) {
	b := &Bucket{last: now}
	if err := b.SetRate(rate, burst, now); err != nil {
		return nil, err
	}
	return b, nil
}

// SetRate changes the rate and burst from now on, keeping the tokens the
// bucket has (up to the new burst).
func (b *Bucket) SetRate(rate, burst uint64, now int64) error {
	if rate == 0 || burst == 0 || burst > math.MaxUint64/nano {
		return fmt.Errorf("%w: %d tokens/s, burst %d", ErrRate, rate, burst)
	}
	b.refill(now)
	b.rate, b.cap = rate, burst*nano
	b.level = min(b.level, b.cap)
	return nil
}

// Rate returns the rate in tokens per second.
func (b *Bucket) Rate() uint64 { return b.rate }

// Burst returns the burst in tokens.
func (b *Bucket) Burst() uint64 { return b.cap / nano }

// refill brings the level up to now. A clock that went backwards adds
// nothing.
func (b *Bucket) refill(now int64) {
	if now <= b.last {
		return
	}
	dt := uint64(now - b.last)
	b.last = now
	hi, add := bits.Mul64(dt, b.rate)
	if hi != 0 || add >= b.cap-b.level {
		b.level = b.cap
		return
	}
	b.level += add
}

// Take takes cost tokens and reports true when the bucket has them at now;
// otherwise it takes nothing. A cost above the burst never passes.
func (b *Bucket) Take(now int64, cost uint64) bool {
	b.refill(now)
	c := cost * nano
	if cost > math.MaxUint64/nano || c > b.level {
		return false
	}
	b.level -= c
	return true
}

// TakeN takes the tokens of as many packets of cost tokens each as the
// bucket has at now, at most n, and returns how many.
func (b *Bucket) TakeN(now int64, cost uint64, n int) int {
	b.refill(now)
	if cost == 0 || cost > math.MaxUint64/nano {
		return 0
	}
	c := cost * nano
	k := min(uint64(n), b.level/c)
	b.level -= k * c
	return int(k)
}

// Wait returns how long from now until cost tokens are there: 0 when they
// are, and math.MaxInt64 when they never will be (cost above the burst).
func (b *Bucket) Wait(now int64, cost uint64) time.Duration {
	b.refill(now)
	c := cost * nano
	if cost > math.MaxUint64/nano || c > b.cap {
		return math.MaxInt64
	}
	if c <= b.level {
		return 0
	}
	return time.Duration((c - b.level + b.rate - 1) / b.rate)
}

// DefaultBurst returns the burst a Rate of zero Burst gets: 50 µs worth of
// rate tokens plus the cost of one frame of maxCost tokens, so that a
// sender polling at least every 50 µs loses no tokens to the cap and gets
// the rate exactly.
func DefaultBurst(rate, maxCost uint64) uint64 {
	return (rate+19999)/20000 + max(maxCost, 1)
}
