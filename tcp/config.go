package tcp

import (
	"errors"
	"fmt"

	"github.com/xdpengine/engine/tcp/cc"
)

// Errors. Connection failures are reported as errnos (Endpoint.Err):
// syscall.ECONNREFUSED, ECONNRESET, ETIMEDOUT, or an ICMP error's errno
// (EHOSTUNREACH, ENETUNREACH, ...), as Linux reports them.
var (
	// ErrConfig is wrapped by every configuration error.
	ErrConfig = errors.New("tcp: invalid configuration")
	// ErrState is returned by calls that the connection's state forbids.
	ErrState = errors.New("tcp: operation not allowed in this state")
	// ErrSYNQueueFull is returned by Listener.OnSYN when the SYN queue is
	// full: the engine should answer with a SYN cookie or drop.
	ErrSYNQueueFull = errors.New("tcp: SYN queue full")
	// ErrAcceptQueueFull is returned when the accept queue is full: the
	// SYN is dropped (Linux's ListenOverflows).
	ErrAcceptQueueFull = errors.New("tcp: accept queue full")
	// ErrNotSYN is returned by Listener.OnSYN for a segment that is not a
	// plain SYN (the engine answers RST to an ACK and ignores the rest).
	ErrNotSYN = errors.New("tcp: listener got a segment that is not a SYN")
)

// Defaults, following Linux's sysctls.
const (
	DefaultMSS           = 1460                    // our MSS for a 1500-byte MTU
	DefaultPeerMSS       = 536                     // RFC 9293 3.7.1 when the peer sends none
	DefaultSendBuf       = 256 << 10               // send ring
	DefaultRecvBufMin    = 64 << 10                // auto-tuning floor (tcp_rmem[1]-like initial)
	DefaultRecvBufMax    = 4 << 20                 // receive ring; auto-tuning ceiling
	DefaultRTOMin        = 200_000_000             // TCP_RTO_MIN
	DefaultRTOMax        = 120_000_000_000         // TCP_RTO_MAX
	DefaultRTOInitial    = 1_000_000_000           // RFC 6298 TCP_TIMEOUT_INIT
	DefaultDelAck        = 40_000_000              // TCP_ATO_MIN
	DefaultTimeWait      = 60_000_000_000          // TCP_TIMEWAIT_LEN
	DefaultFinTimeout    = 60_000_000_000          // tcp_fin_timeout (FIN-WAIT-2 of a closed socket)
	DefaultKeepIdle      = 7200_000_000_000        // tcp_keepalive_time
	DefaultKeepIntvl     = 75_000_000_000          // tcp_keepalive_intvl
	DefaultKeepCnt       = 9                       // tcp_keepalive_probes
	DefaultRetries2      = 15                      // tcp_retries2
	DefaultSynRetries    = 6                       // tcp_syn_retries
	DefaultSynAckRetries = 5                       // tcp_synack_retries
	DefaultMaxOOORanges  = 32                      // out-of-order ranges kept
	DefaultBaseMSS       = 1024                    // tcp_base_mss: MTU probing's first search low
	DefaultMTUProbeFloor = 48                      // tcp_mtu_probe_floor: black holes lower the MSS to no less
	DefaultProbeInterval = 600_000_000_000         // tcp_probe_interval: MTU probing searches again after it
	DefaultProbeThresh   = 8                       // tcp_probe_threshold: search range (bytes) that ends a search
	MinPathMTU           = 552                     // net.ipv4.route.min_pmtu: lower ICMP values are raised to it
	minSndMSS            = 48                      // tcp_min_snd_mss: the smallest segment (payload and options)
	retries1             = 3                       // tcp_retries1: unanswered RTOs before black-hole detection
	maxWScale            = 14                      // RFC 7323
	tsHz                 = 1000                    // timestamp clock: 1 ms ticks, as Linux
	nsPerTS              = 1_000_000_000 / tsHz    // ns per timestamp tick
	pawsIdle             = 24 * 86400 * 1000000000 // RFC 7323 5.5: ts_recent expires after 24 days
	dupThresh            = 3
)

// Config describes one connection. Zero fields take the defaults noted.
type Config struct {
	// LocalPort and RemotePort are copied into every emitted header.
	LocalPort, RemotePort uint16
	// MSS is the largest segment payload we accept and send: the link's
	// MTU - 40. It clamps the peer's MSS, and our SYN advertises it (or
	// PathMTU - 40 when that is less). Default 1460.
	MSS int
	// PathMTU is the path MTU (IP packet size) toward the peer when the
	// connection opens: the engine's cached value for the destination.
	// Zero means the link's (MSS + 40); other values are clamped to
	// [MinPathMTU, MSS + 40]. ICMP fragmentation needed lowers it later
	// (Endpoint.ICMPFragNeeded); segments never exceed it.
	PathMTU int
	// MTUProbing is packetization-layer path MTU discovery (RFC 4821), as
	// Linux's net.ipv4.tcp_mtu_probing: off (default), on once an ICMP
	// black hole is detected, or always. BaseMSS, MTUProbeFloor,
	// ProbeInterval (ns) and ProbeThreshold are tcp_base_mss (1024),
	// tcp_mtu_probe_floor (48), tcp_probe_interval (600 s) and
	// tcp_probe_threshold (8). See pmtu.go.
	MTUProbing                             MTUProbing
	BaseMSS, MTUProbeFloor, ProbeThreshold int
	ProbeInterval                          int64
	// ISS is our initial sequence number (from the engine's ISN
	// generator, RFC 6528).
	ISS Seq
	// TSOffset is added to our timestamp clock (random per connection,
	// like Linux's tsoffset).
	TSOffset uint32
	// NewCC returns the congestion control for this connection (required).
	NewCC func() cc.Algorithm
	// SendBuf is the send ring capacity (power of two). Default 256 KiB.
	SendBuf int
	// RecvBufMax is the receive ring capacity (power of two) and the
	// auto-tuning ceiling; the window scale is chosen from it. Default
	// 4 MiB. RecvBufMin is the initial window limit (default 64 KiB,
	// clamped to RecvBufMax); auto-tuning grows it up to RecvBufMax
	// unless NoAutoTune.
	RecvBufMin, RecvBufMax int
	NoAutoTune             bool
	// Buffers supplies the memory of both rings (nil: each ring is a
	// fresh allocation). See BufferPool and Endpoint.ReleaseBuffers.
	Buffers BufferPool
	// Endpoints recycles endpoints (nil: each is a fresh allocation): a
	// new endpoint is taken from it when it has one, and Endpoint.Recycle
	// gives one back. See EndpointPool.
	Endpoints EndpointPool
	// OOOLimit bounds the out-of-order bytes held (default RecvBufMax/2);
	// segments beyond it are dropped and counted.
	OOOLimit int
	// DisableSACK, DisableTimestamps, DisableWScale turn the options off
	// (all on by default, as in Linux).
	DisableSACK, DisableTimestamps, DisableWScale bool
	// NoDelay disables Nagle's algorithm (TCP_NODELAY).
	NoDelay bool
	// KeepAlive turns keepalive on (SO_KEEPALIVE); KeepIdle, KeepIntvl
	// (ns) and KeepCnt as TCP_KEEPIDLE/INTVL/CNT.
	KeepAlive           bool
	KeepIdle, KeepIntvl int64
	KeepCnt             int
	// RTOMin, RTOMax, RTOInitial in ns (200 ms, 120 s, 1 s).
	RTOMin, RTOMax, RTOInitial int64
	// DelAck is the delayed-ACK timeout (40 ms).
	DelAck int64
	// TimeWait is the TIME-WAIT length (60 s); FinTimeout the FIN-WAIT-2
	// limit after Close (60 s).
	TimeWait, FinTimeout int64
	// Retries2, SynRetries and SynAckRetries are the retransmission
	// limits (15, 6, 5) after which the connection fails with ETIMEDOUT
	// (or the soft error an ICMP message left, see Endpoint.ICMPError).
	Retries2, SynRetries, SynAckRetries int
	// Challenge rate-limits challenge ACKs (RFC 5961); it may be shared
	// by many endpoints. Nil: a private limiter at the default rate.
	Challenge *ChallengeLimiter
}

func isPow2(n int) bool { return n > 0 && n&(n-1) == 0 }

// withDefaults returns c with defaults filled in, or an error wrapping
// ErrConfig.
func (c Config) withDefaults() (Config, error) {
	if c.NewCC == nil {
		return c, fmt.Errorf("tcp: Config.NewCC is nil (give it a congestion control constructor): %w", ErrConfig)
	}
	def := func(p *int64, v int64) {
		if *p <= 0 {
			*p = v
		}
	}
	defi := func(p *int, v int) {
		if *p <= 0 {
			*p = v
		}
	}
	defi(&c.MSS, DefaultMSS)
	if c.MSS < 64 || c.MSS > 65495 {
		return c, fmt.Errorf("tcp: MSS %d out of range [64, 65495]: %w", c.MSS, ErrConfig)
	}
	if c.PathMTU <= 0 {
		c.PathMTU = c.MSS + 40
	}
	c.PathMTU = min(max(c.PathMTU, MinPathMTU), c.MSS+40)
	if c.MTUProbing > MTUProbingAlways {
		return c, fmt.Errorf("tcp: MTUProbing %d: want 0, 1 or 2: %w", c.MTUProbing, ErrConfig)
	}
	defi(&c.BaseMSS, DefaultBaseMSS)
	defi(&c.MTUProbeFloor, DefaultMTUProbeFloor)
	defi(&c.ProbeThreshold, DefaultProbeThresh)
	def(&c.ProbeInterval, DefaultProbeInterval)
	defi(&c.SendBuf, DefaultSendBuf)
	defi(&c.RecvBufMax, DefaultRecvBufMax)
	defi(&c.RecvBufMin, DefaultRecvBufMin)
	for _, n := range []int{c.SendBuf, c.RecvBufMax} {
		if !isPow2(n) || n < MinRing || n > MaxRing {
			return c, fmt.Errorf("tcp: buffer size %d is not a power of two in [%d, %d]: %w", n, MinRing, MaxRing, ErrConfig)
		}
	}
	c.RecvBufMin = min(c.RecvBufMin, c.RecvBufMax)
	defi(&c.OOOLimit, c.RecvBufMax/2)
	def(&c.KeepIdle, DefaultKeepIdle)
	def(&c.KeepIntvl, DefaultKeepIntvl)
	defi(&c.KeepCnt, DefaultKeepCnt)
	def(&c.RTOMin, DefaultRTOMin)
	def(&c.RTOMax, DefaultRTOMax)
	def(&c.RTOInitial, DefaultRTOInitial)
	def(&c.DelAck, DefaultDelAck)
	def(&c.TimeWait, DefaultTimeWait)
	def(&c.FinTimeout, DefaultFinTimeout)
	defi(&c.Retries2, DefaultRetries2)
	defi(&c.SynRetries, DefaultSynRetries)
	defi(&c.SynAckRetries, DefaultSynAckRetries)
	if c.RTOMin > c.RTOMax {
		return c, fmt.Errorf("tcp: RTOMin %d above RTOMax %d: %w", c.RTOMin, c.RTOMax, ErrConfig)
	}
	if c.Challenge == nil {
		c.Challenge = NewChallengeLimiter(DefaultChallengeLimit)
	}
	return c, nil
}

// wscaleFor returns the window scale that lets a buffer of n bytes be
// advertised in 16 bits (at most 14).
func wscaleFor(n int) uint8 {
	s := 0
	for n>>s > 0xffff && s < maxWScale {
		s++
	}
	return uint8(s)
}

// BufferPool lends ring memory to endpoints: Get(size) returns a slice of
// exactly size bytes (a power of two in [MinRing, MaxRing]) that no one
// else uses, and Put takes back one that Get returned, once its endpoint
// called ReleaseBuffers. Both are called from the goroutines that create
// and release endpoints (workers and applications), so an implementation
// must be safe for concurrent use.
//
// The memory need not be zeroed: a ring never hands out a byte it has not
// written first (see ByteRing), so what a previous connection left in it
// cannot be read through the new one.
type BufferPool interface {
	Get(size int) []byte
	Put(b []byte)
}

// EndpointPool keeps endpoints that ended for connections that start:
// a server of short connections then allocates no control block per
// connection. Get returns nil when it has none; Put receives an endpoint
// once its owners called Recycle (the same contract as ReleaseBuffers:
// nobody touches it any more). Both are called from the goroutines that
// create and recycle endpoints, so an implementation shared between
// workers must be safe for concurrent use (a sync.Pool is).
type EndpointPool interface {
	Get() *Endpoint
	Put(e *Endpoint)
}
