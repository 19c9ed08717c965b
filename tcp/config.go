package tcp

import (
	"errors"
	"fmt"

	"github.com/xdpengine/engine/hist"
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
	// ErrMemoryPressure is wrapped when a ring does not grow because the
	// memory (Config.Memory) is under pressure.
	ErrMemoryPressure = errors.New("tcp: memory under pressure")
)

// Defaults, following Linux's sysctls.
const (
	DefaultMSS           = 1460                    // our MSS for a 1500-byte MTU
	DefaultPeerMSS       = 536                     // RFC 9293 3.7.1 when the peer sends none
	DefaultSendBuf       = 256 << 10               // send ring's default size
	DefaultRecvBufMin    = 64 << 10                // initial receive window limit (tcp_rmem[1]-like)
	DefaultRecvBufMax    = 4 << 20                 // receive ring's largest size; auto-tuning ceiling
	DefaultBufMin        = 4 << 10                 // tcp_rmem[0], tcp_wmem[0]: the floor under memory pressure
	DefaultBufIdle       = 1_000_000_000           // ring memory of a connection idle this long is given back
	DefaultOrphanRetries = 8                       // tcp_orphan_retries (0 means 8 in Linux)
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
	MinPathMTU6          = 1280                    // IPv6's minimum link MTU (RFC 8200 5): Packet Too Big never lowers below it
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
	// MTU - 40 (MTU - 60 over IPv6). It clamps the peer's MSS, and our SYN
	// advertises it (or PathMTU - 40, - 60, when that is less). Default
	// 1460.
	MSS int
	// PathMTU is the path MTU (IP packet size) toward the peer when the
	// connection opens: the engine's cached value for the destination.
	// Zero means the link's (MSS + 40, or + 60); other values are clamped
	// to [MinPathMTU, MSS + 40] ([MinPathMTU6, MSS + 60] over IPv6). ICMP
	// fragmentation needed (ICMPv6 Packet Too Big) lowers it later
	// (Endpoint.ICMPFragNeeded); segments never exceed it.
	PathMTU int
	// IPv6 says that the connection runs over IPv6: every size above
	// counts 60 bytes of IP and TCP headers instead of 40, and the path
	// MTU never falls below MinPathMTU6 (1280) instead of MinPathMTU.
	IPv6 bool
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
	// Ring memory grows with use, as Linux's socket buffers do
	// (tcp_rmem, tcp_wmem: min, default, max); ringmem.go has the rules.
	// The rings start without memory. The send ring gets it at the
	// application's first Write: SendBuf bytes (power of two; default
	// 256 KiB, tcp_wmem[1]), or less for a short write (the next power of
	// two, at least BufMin), and the engine grows it when the application
	// fills it (Endpoint.GrowSendRing, SendBufWant). The receive ring grows
	// to hold the data that arrives, up to RecvBufMax (power of two,
	// default 4 MiB, tcp_rmem[2]; the window scale is chosen from it).
	// RecvBufMin is the initial receive window limit (default 64 KiB,
	// clamped to RecvBufMax); auto-tuning grows it up to RecvBufMax unless
	// NoAutoTune.
	SendBuf                int
	RecvBufMin, RecvBufMax int
	NoAutoTune             bool
	// BufMin is the smallest ring memory (power of two, default 4 KiB,
	// tcp_rmem[0] and tcp_wmem[0], clamped to SendBuf and RecvBufMax) and
	// what a connection may still use under memory pressure: its receive
	// window then opens no further than the memory it holds, or BufMin.
	BufMin int
	// BufIdle: the ring memory (and the loss-recovery records) of a
	// connection through which no data moved for this long is given back
	// when its rings are empty (Endpoint.TrimBuffers; default 1 s); it
	// comes back as data does. The engine trims at once under pressure.
	BufIdle int64
	// Memory, if set, accounts the ring memory of every endpoint that
	// shares it and applies its pressure rules (Memory).
	Memory *Memory
	// Totals, if set, adds up some of the endpoints' counters as they
	// count (Totals); the endpoints that share it belong to one worker.
	Totals *Totals
	// Buffers supplies the rings' memory (nil: fresh allocations). See
	// BufferPool and Endpoint.ReleaseBuffers.
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
	// OrphanRetries (default 8, tcp_orphan_retries) replaces Retries2,
	// for retransmissions and zero-window probes alike, once the
	// application closed the connection: an orphan whose peer stopped
	// answering, or keeps its window closed, is reset.
	Retries2, SynRetries, SynAckRetries, OrphanRetries int
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
		c.PathMTU = c.MSS + c.headers()
	}
	c.PathMTU = min(max(c.PathMTU, c.minPathMTU()), c.MSS+c.headers())
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
	defi(&c.BufMin, DefaultBufMin)
	def(&c.BufIdle, DefaultBufIdle)
	for _, n := range []int{c.SendBuf, c.RecvBufMax, c.BufMin} {
		if !isPow2(n) || n < MinRing || n > MaxRing {
			return c, fmt.Errorf("tcp: buffer size %d is not a power of two in [%d, %d]: %w", n, MinRing, MaxRing, ErrConfig)
		}
	}
	c.BufMin = min(c.BufMin, c.SendBuf, c.RecvBufMax)
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
	defi(&c.OrphanRetries, DefaultOrphanRetries)
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
// else uses, and Put takes back one that Get returned, once no endpoint
// can touch it (a ring gave it up: ReleaseBuffers, TrimBuffers, a
// growth). Both are called from the workers and the application
// goroutines (an application's Write gives its send ring its first
// memory), so an implementation must be safe for concurrent use. A slice
// of another length from Get is not used: the endpoint allocates one of
// the right size, which Put receives later like the others.
//
// The memory need not be zeroed: a ring never hands out a byte it has not
// written first (see ByteRing), so what a previous connection left in it
// cannot be read through the new one.
//
// Abandon is told of a buffer Get returned that a ring gave up while a
// reader may still be copying from it (ring.go's read-copy-update): the
// pool must not lend it again; the garbage collector frees it. It counts
// as taken back.
type BufferPool interface {
	Get(size int) []byte
	Put(b []byte)
	Abandon(b []byte)
}

// EndpointPool keeps endpoints that ended for connections that start:
// a server of short connections then allocates no control block per
// connection. Get returns nil when it has none; Put receives an endpoint
// once its owners called Recycle (the same contract as ReleaseBuffers:
// nobody touches it any more). Both are called from the goroutines that
// create and recycle endpoints, so an implementation shared between
// workers must be safe for concurrent use (a sync.Pool is). A recycled
// endpoint keeps its congestion control when that is a cc.Resetter, so
// the endpoints of one pool must come from Configs with the same NewCC.
type EndpointPool interface {
	Get() *Endpoint
	Put(e *Endpoint)
}

// Totals are counters of Stats summed over the endpoints that share them
// (Config.Totals) as they count, so that a worker that publishes the sum
// need not walk its connections: the retransmissions and the path MTU
// counters (pmtu.go). Plain fields: the endpoints sharing one are run by
// one goroutine.
type Totals struct {
	Retrans                                uint64
	OutOfWindowIcmps, PMTUDecreases        uint64
	TCPMTUPSuccess, TCPMTUPFail, MTUProbes uint64
	MTUBlackHoles, RTOReverts              uint64
	// SRTT is the smoothed round-trip time in microseconds, counted at
	// every RTT sample an endpoint takes (updateRTT).
	SRTT hist.Log2
}

// headers is the size of the IP and TCP headers without options: 40
// bytes over IPv4, 60 over IPv6.
func (c *Config) headers() int {
	if c.IPv6 {
		return 60
	}
	return 40
}

// minPathMTU is the smallest path MTU: MinPathMTU (IPv4's min_pmtu) or
// MinPathMTU6.
func (c *Config) minPathMTU() int {
	if c.IPv6 {
		return MinPathMTU6
	}
	return MinPathMTU
}
