package engine

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/xdpengine/engine/lb"

	"github.com/xdpengine/engine/stack/datapath"

	"github.com/xdpengine/engine/afxdp"
	"github.com/xdpengine/engine/portalloc"
	"github.com/xdpengine/engine/tcp"
	"github.com/xdpengine/engine/tcp/cc"
)

// PollMode is how a worker waits for packets (datapath.PollMode).
type PollMode = datapath.PollMode

// The poll modes.
const (
	PollAdaptive  = datapath.PollAdaptive
	PollBusy      = datapath.PollBusy
	PollInterrupt = datapath.PollInterrupt
)

// NapLength measures how long a nap of d (Config.Nap) lasts on this
// machine, the median of n: timers that fire late make it far longer than
// asked, and then spinning costs less latency for the same CPU.
func NapLength(d time.Duration, n int) time.Duration { return datapath.NapLength(d, n) }

// ParsePollMode parses "adaptive", "busy" or "interrupt".
func ParsePollMode(s string) (PollMode, error) {
	for _, m := range []PollMode{PollAdaptive, PollBusy, PollInterrupt} {
		if m.String() == s {
			return m, nil
		}
	}
	return 0, fmt.Errorf("engine: unknown poll mode %q (want adaptive, busy or interrupt): %w", s, ErrConfig)
}

// DecapConfig says which tunnels the engine terminates (Config.Decap).
// Only packets to the engine's own addresses (Config.Addrs) are unwrapped;
// the inner packet must be to the engine too (an address of Addrs, or one
// a transparent socket is bound to), must be a valid IPv4 packet, and
// must not itself be a tunnel packet. Anything else is dropped and counted
// (DecapStats).
type DecapConfig struct {
	// IPIP unwraps IPv4-in-IPv4 (IP protocol 4, RFC 2003).
	IPIP bool
	// GUE unwraps GUE variant 1 (draft-ietf-intarea-gue, Katran's
	// format): UDP to GUEPort, from any source port, whose payload is
	// directly the inner IPv4 packet. The outer UDP checksum may be zero
	// (what balancers send); a non-zero one is checked under RxChecksum's
	// policy, as any UDP datagram's.
	GUE bool
	// GUEPort is GUE's UDP destination port (default 6080, Katran's and
	// package lb's). On the engine's addresses the port belongs to
	// decapsulation, as it would to a kernel's fou socket: a UDP socket
	// bound to it there, or to the wildcard, receives nothing from those
	// addresses. It must be outside the ephemeral range (Ports) unless
	// reserved (ReservedPorts), so that no automatic choice takes it.
	GUEPort uint16
}

// DefaultGUEPort is DecapConfig.GUEPort's default (Katran's).
const DefaultGUEPort = 6080

// Neighbor is a static ARP entry: Addr is at MAC.
type Neighbor struct {
	Addr netip.Addr
	MAC  net.HardwareAddr
}

// maxNeighbors is the ARP table's size (arp.Config.MaxEntries' default).
const maxNeighbors = 1024

// ErrConfig is wrapped by every configuration error.
var ErrConfig = errors.New("invalid engine configuration")

// Config configures an Engine. Zero fields take the defaults documented on
// each field.
type Config struct {
	// Interface is the link the engine serves (required).
	Interface string
	// Addrs are the addresses the engine owns, with their prefixes, IPv4
	// or IPv6 (at least one). Traffic to them is taken from the kernel by
	// the XDP program; everything else still reaches the host. The UDP
	// and TCP sockets, the load balancer and the tunnels use the IPv4
	// ones; the IPv6 ones have the IPv6 network layer (stack/inet6:
	// Neighbor Discovery, echo, ICMPv6 errors, fragments), and are used
	// only once Duplicate Address Detection found them unique (see
	// IPv6NoDAD).
	Addrs []netip.Prefix
	// Gateway is the IPv4 next hop for destinations outside every IPv4
	// prefix of Addrs (zero: such destinations are unreachable,
	// ENETUNREACH).
	Gateway netip.Addr
	// Gateway6 is the IPv6 next hop for destinations outside every IPv6
	// prefix of Addrs: inside one of those prefixes, or link-local (a
	// router's fe80:: address, as `ip -6 route add default via fe80::1
	// dev IFACE`). Zero: the default router learned from Router
	// Advertisements (read from an AF_PACKET tap: the host kernel handles
	// them too), and until one is learned such destinations are
	// unreachable.
	Gateway6 netip.Addr
	// IPv6NoDAD assigns the IPv6 addresses at once, without Duplicate
	// Address Detection (`ip addr add ... nodad`). By default Start sends
	// one probe per address (DupAddrDetectTransmits 1, RetransTimer 1 s,
	// without the initial random delay) and returns once detection ended,
	// about a second later; an address another node answers for is
	// logged as an error, counted (WorkerStats.IPv6.NDP.DADDuplicate),
	// given back to the host and never used.
	IPv6NoDAD bool
	// IPv6RouterSolicitation sets the Router Solicitations sent when
	// Gateway6 is not set, until a Router Advertisement is heard (zero
	// fields: Linux's 3, 4 s apart, the first after up to 1 s; Count < 0:
	// none).
	IPv6RouterSolicitation RouterSolicitation
	// Neighbors are static ARP entries (Linux's `ip neigh replace ADDR
	// lladdr MAC nud permanent`): next hops the engine never resolves,
	// ages or probes, and that ARP does not change. Each must be on the
	// link (inside a prefix of Addrs). At most 1024.
	Neighbors []Neighbor
	// MTU of the link (zero: the interface's MTU).
	MTU int
	// Queues is how many queues, and so workers, to use, from queue 0
	// (zero: all of the interface's queues).
	Queues int
	// Mode is the AF_XDP bind mode: auto (zero-copy, else copy), zerocopy
	// (fail where the driver cannot), copy.
	Mode afxdp.Mode
	// XDPMode is how the steering program attaches: auto (native, else
	// generic), native, generic.
	XDPMode afxdp.XDPMode
	// FrameSize is the UMEM frame size, 2048 or 4096 (default 4096).
	FrameSize int
	// RingSize is the size of each AF_XDP ring (default 2048).
	RingSize int
	// Poll is how workers wait (default adaptive).
	Poll PollMode
	// SpinTime is how long an adaptive worker polls an empty ring before
	// it sleeps (default 200µs).
	SpinTime time.Duration
	// Nap (adaptive polling; default 0, off) turns the spin into timed
	// sleeps of this length: a worker that finds nothing to do sleeps Nap
	// on a timer, woken sooner by nothing but a signal, and handles what
	// arrived meanwhile in its next rounds (bursts of 64 frames, one
	// transmit call each), until SpinTime after its last work (then it
	// sleeps until woken, as without Nap). It trades up to a nap of
	// latency per wait for the CPU the spin burned and for larger
	// batches: worth it when many requests are in flight (a load
	// generator with tens of connections per worker, a busy server), a
	// loss when few are (one request at a time waits up to a nap at each
	// step). An unpinned worker holds its P during a nap, so with
	// GOMAXPROCS=1 the program's other goroutines can wait a nap longer.
	// What arrives during a nap waits in the rings: keep Nap × the
	// queue's packet rate well under RingSize. Less than SpinTime, at
	// most MaxNap. A nap lasts at least what the machine's timers allow:
	// on the 2-vCPU test VM 10µs takes ~31µs (datapath.NapLength).
	// `engine bench tcp` chooses one for its load (tcpload.Config.WorkerNap).
	Nap time.Duration
	// CPUs pins worker i to CPUs[i] when set (len must be the queue count).
	// A pinned worker keeps an OS thread of its own. An unpinned one (the
	// default) runs the application goroutines it wakes on its own thread
	// until they block (run to completion: fastest when handlers do a
	// little work per wakeup, as network code does); pin the workers when
	// handlers compute for long between I/O calls.
	CPUs []int
	// RxChecksum is the receive checksum policy (default auto: partial
	// checksums are trusted on virtual links such as veth, where a Linux
	// peer with its default offloads sends them, and refused elsewhere).
	RxChecksum RxChecksum
	// TxChecksum is the transmit checksum policy (default auto: UDP and
	// TCP checksums are left to the kernel or the NIC where they can
	// compute them).
	TxChecksum TxChecksum
	// BusyPoll turns on the kernel's busy polling for the sockets
	// (SO_PREFER_BUSY_POLL, SO_BUSY_POLL), with this timeout.
	BusyPoll time.Duration

	// Limits.
	// FragMemory is the reassembly memory per worker (default 4 MiB, like
	// net.ipv4.ipfrag_high_thresh).
	FragMemory int
	// Ports is the ephemeral range (zero: 32768-60999).
	Ports portalloc.Range
	// ReservedPorts are skipped by automatic choice.
	ReservedPorts []portalloc.Range
	// RecvBuffer is a socket's default receive buffer in bytes, like
	// net.core.rmem_default (default 212992). Datagrams that do not fit are
	// dropped and counted, as the kernel does.
	RecvBuffer int
	// TxQueue bounds the datagrams waiting for a worker to send them, per
	// worker (default 4096). A write that finds the queue full waits for
	// room, within its write deadline, as a blocking send on a full socket
	// buffer does.
	TxQueue int

	// TCPSendBuffer and TCPRecvBuffer size each TCP connection's buffers,
	// powers of two: the send buffer's default (like tcp_wmem[1]: the most
	// the first write takes, less for a short write, default 256 KiB,
	// tcp.DefaultSendBuf) and the receive buffer's largest (like
	// tcp_rmem[2]: the auto-tuning ceiling, default 4 MiB,
	// tcp.DefaultRecvBufMax). A connection holds no buffer memory until
	// data moves, its buffers grow as data needs them, and it gives them
	// back after TCPBufferIdle without data (see TCPMem).
	TCPSendBuffer, TCPRecvBuffer int
	// TCPSendBufferMax is the send-buffer auto-tuning ceiling, like
	// tcp_wmem[2] (default 4 MiB; a power of two, at least TCPSendBuffer;
	// equal to it: no auto-tuning). A connection whose application fills
	// the send ring gets a larger one, toward two congestion windows
	// (Linux's tcp_sndbuf_expand), or toward its SetWriteBuffer size.
	TCPSendBufferMax int
	// TCPMaxTimeWait bounds the connections in TIME-WAIT, all workers
	// together, like net.ipv4.tcp_max_tw_buckets (default 262144, or
	// TCPMaxConnections when that is smaller: 65536 by default). A
	// connection that would exceed it closes at once (counted as
	// TimeWaitOverflow), as Linux does. A connection in TIME-WAIT is a
	// record of about 200 bytes, as Linux's timewait sock, in a table of
	// its own per worker (allocated at New, like TCPMaxConnections').
	TCPMaxTimeWait int
	// TCPMaxConnections bounds the TCP connections in any state but
	// TIME-WAIT (TCPMaxTimeWait bounds those), all workers together
	// (default 65536): each worker's connection table (a flowtable.Index
	// of about 74 bytes per slot, its share plus an eighth rounded up to a
	// power of two, allocated at New: about 10 MB in all by default) holds
	// its share. Past it a SYN is dropped and a Dial fails with ENOBUFS,
	// counted as TableFull. An idle established connection costs about
	// 2.9 KB of Go heap besides its slot (the kernel's costs about 3.8 KB
	// of slab).
	TCPMaxConnections int
	// TCPMem bounds the memory of the TCP connections' buffers, like
	// net.ipv4.tcp_mem (low, pressure, high), in bytes of ring memory
	// attached to connections (Linux counts pages). The rings hold no
	// memory while idle and grow with use (tcp's ringmem.go). Past
	// Pressure the engine is under pressure until the memory falls below
	// Low: receive windows open no further than the memory a connection
	// holds (at least TCPBufferMin), auto-tuning and send buffers do not
	// grow, new buffers take TCPBufferMin, and idle connections are
	// trimmed at once. Above High new connections are refused (SYNs
	// dropped, dials fail with ENOBUFS; counted as MemRefused) and a close
	// that would leave an orphan resets the connection (AbortOnMemory).
	// Data inside a window already advertised is always taken, so the
	// memory may pass High by what was promised before pressure. Zero
	// fields take Linux's defaults for this machine's memory: Pressure a
	// sixteenth of it, Low three quarters of Pressure, High twice Low
	// (about 1.1, 1.5 and 2.2 GiB on 24 GiB); then 0 < Low <= Pressure <=
	// High must hold. Figures: TCPStats.MemBytes and the Mem* counters.
	TCPMem TCPMemLimits
	// TCPMaxOrphans bounds the connections the application closed that
	// are still delivering their FIN (not yet CLOSED nor in TIME-WAIT),
	// all workers together, like net.ipv4.tcp_max_orphans (default half
	// of TCPMaxConnections, as Linux's is half its connection hash): a
	// close beyond it resets the connection (counted as AbortOnMemory). An
	// orphan whose peer keeps its window closed is reset after 8 probes
	// (tcp_orphan_retries).
	TCPMaxOrphans int
	// TCPBufferMin is the smallest buffer a connection gets and what it
	// may still use under pressure, like tcp_rmem[0] and tcp_wmem[0]
	// (default 4096; a power of two, at most TCPSendBuffer and
	// TCPRecvBuffer).
	TCPBufferMin int
	// TCPBufferIdle: a connection through which no data moved for this
	// long gives its empty buffers back (default 1 s); they come back as
	// data does.
	TCPBufferIdle time.Duration
	// TCPPoolMax bounds the buffer memory kept for reuse by later
	// connections (default 32 MiB; control blocks: 4096 at most). What
	// nobody took for a second decays by half every second, and the
	// engine has the Go runtime return what the pools let go of to the
	// operating system (TCPStats.PoolBytes, PoolReleased).
	TCPPoolMax int64
	// TCPSomaxconn caps every TCP listener's backlog (TCPListenConfig.Backlog,
	// the accept queue of each worker), like net.core.somaxconn (default
	// 4096, Linux's since 5.4; at most MaxTCPSomaxconn): a larger backlog
	// is cut to it, and a listener that asks for none (0 or negative, as
	// listen(fd, -1) on Linux) gets it. The accept queue is a ring of
	// pointers allocated at Listen, the backlog rounded up to a power of
	// two, 8 bytes a slot per worker. A handshake that completes on a full
	// queue is dropped and counted (ListenOverflows); the peer retries.
	TCPSomaxconn int
	// TCPMTUProbing is packetization-layer path MTU discovery (RFC 4821),
	// as net.ipv4.tcp_mtu_probing: off (the default, as Linux), on after
	// an ICMP black hole is detected, or always.
	TCPMTUProbing tcp.MTUProbing
	// TCPCongestion is the congestion control ("cubic", the default, or
	// "reno"), as net.ipv4.tcp_congestion_control.
	TCPCongestion string

	// BindService allows binding ports below 1024, like
	// CAP_NET_BIND_SERVICE.
	BindService bool
	// NonlocalBind allows binding addresses the engine does not own
	// (net.ipv4.ip_nonlocal_bind).
	NonlocalBind bool
	// DenyWildcard makes binds to 0.0.0.0 fail instead of logging a warning.
	DenyWildcard bool

	// RSS, if set, is the NIC's RSS Toeplitz key and indirection table
	// (`ethtool -x`) for steering, instead of what the driver reports
	// (ETHTOOL_GRSSH). Without either, connects steer their replies with
	// a software hash (go-metro) and the receiving worker hands replies to
	// the owner. Every indirection entry must be below Queues.
	RSS *afxdp.RSSConfig

	// Hook, if set, sees every IPv4 packet to the engine once, parsed,
	// before transport dispatch: the extension point of the load balancer
	// and the traffic harness (inet4.Hook).
	Hook Hook
	// HookFragments shows the Hook each IPv4 fragment as it arrives, for
	// a forwarder that passes fragments on; by default it sees a
	// fragmented datagram once, reassembled.
	HookFragments bool
	// Decap makes the engine the far end of a load balancer's tunnels
	// (direct server return in dsr-ipip or dsr-gue, Katran's formats, as
	// package lb sends them): a packet to one of Addrs that carries a
	// client's IPv4 packet is unwrapped, and the inner packet, to a VIP an
	// application bound with SocketOptions.Transparent, is received as if
	// it had come alone; the engine's replies go from the VIP straight to
	// the client, unencapsulated. Off by default (stack/inet4's decap.go
	// has the details; counters in WorkerStats.Decap).
	Decap DecapConfig
	// LoadBalancer, if set, makes the engine an L4 load balancer with
	// these VIPs (package lb): their traffic is forwarded to backends by
	// Maglev with connection tracking, in NAT or DSR mode; Engine.Balancer
	// changes them while the engine runs. NAT flows leave from the
	// engine's first address of their family (IPv6 VIPs need an IPv6
	// address; the balancer needs an IPv4 address all the same).
	LoadBalancer *lb.Config
	// Logger receives the engine's logs (nil: slog.Default()).
	Logger *slog.Logger

	// faults, if set, makes each worker's injector, which drops,
	// duplicates and reorders frames on its receive and transmit paths:
	// tests only (export_test.go's WithFaults; internal/faultinject makes
	// one), so it is not part of the API.
	faults datapath.NewInjector
}

// Defaults.
const (
	DefaultFrameSize  = 4096
	DefaultRingSize   = 2048
	DefaultSpinTime   = 200 * time.Microsecond
	DefaultRecvBuffer = 212992
	DefaultTxQueue    = 4096
	DefaultFragMemory = 4 << 20
	// DefaultTCPSendBufferMax is Config.TCPSendBufferMax's default.
	DefaultTCPSendBufferMax = 4 << 20
	DefaultMaxTimeWait      = 262144
	// DefaultTCPSomaxconn is Config.TCPSomaxconn's default, Linux's
	// net.core.somaxconn since 5.4; MaxTCPSomaxconn is its largest value.
	DefaultTCPSomaxconn = 4096
	MaxTCPSomaxconn     = 1 << 20
	// DefaultTCPMaxConnections is Config.TCPMaxConnections's default.
	DefaultTCPMaxConnections = 65536
	// MaxNap is Config.Nap's largest value.
	MaxNap = 100 * time.Microsecond
)

// ownThread reports whether workers keep an OS thread of their own: when
// pinned (CPUs) or busy-polling, as a DPDK core is dedicated. Otherwise a
// worker is an ordinary goroutine that runs the application goroutines it
// wakes on its thread (see datapath.Waker).
func (c *Config) ownThread() bool { return c.CPUs != nil || c.Poll == PollBusy }

func (c *Config) setDefaults() {
	if c.FrameSize == 0 {
		c.FrameSize = DefaultFrameSize
	}
	if c.RingSize == 0 {
		c.RingSize = DefaultRingSize
	}
	if c.SpinTime == 0 {
		c.SpinTime = DefaultSpinTime
	}
	if c.RecvBuffer == 0 {
		c.RecvBuffer = DefaultRecvBuffer
	}
	if c.TxQueue == 0 {
		c.TxQueue = DefaultTxQueue
	}
	if c.FragMemory == 0 {
		c.FragMemory = DefaultFragMemory
	}
	if c.TCPMaxConnections == 0 {
		c.TCPMaxConnections = DefaultTCPMaxConnections
	}
	if c.TCPMaxTimeWait == 0 {
		c.TCPMaxTimeWait = min(DefaultMaxTimeWait, c.TCPMaxConnections)
	}
	if c.TCPSendBuffer == 0 {
		c.TCPSendBuffer = tcp.DefaultSendBuf
	}
	if c.TCPSendBufferMax == 0 {
		c.TCPSendBufferMax = max(DefaultTCPSendBufferMax, c.TCPSendBuffer)
	}
	if c.TCPRecvBuffer == 0 {
		c.TCPRecvBuffer = tcp.DefaultRecvBufMax
	}
	c.setTCPMemDefaults()
	if c.TCPSomaxconn == 0 {
		c.TCPSomaxconn = DefaultTCPSomaxconn
	}
	if c.Decap.GUE && c.Decap.GUEPort == 0 {
		c.Decap.GUEPort = DefaultGUEPort
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

func (c *Config) validate() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("engine: "+format+": %w", append(a, ErrConfig)...)
	}
	if c.Interface == "" {
		return bad("no interface (set Config.Interface, or -i IFACE)")
	}
	if len(c.Addrs) == 0 {
		return bad("no address to own (set Config.Addrs, or --addr CIDR)")
	}
	if err := c.validateAddrs(); err != nil {
		return bad("%v", err)
	}
	if err := c.validateNeighbors(); err != nil {
		return bad("%v", err)
	}
	if c.MTU != 0 && (c.MTU < 576 || c.MTU > c.FrameSize-14) {
		return bad("MTU %d: want 576..%d (frame size %d minus the Ethernet header)", c.MTU, c.FrameSize-14, c.FrameSize)
	}
	if c.TCPMTUProbing > tcp.MTUProbingAlways {
		return bad("TCP MTU probing %d: want 0 (off), 1 (after a black hole) or 2 (always)", c.TCPMTUProbing)
	}
	if c.RxChecksum < RxChecksumAuto || c.RxChecksum > RxChecksumTrustVirtual {
		return bad("rx checksum policy %d: want RxChecksumAuto, RxChecksumVerify or RxChecksumTrustVirtual", int(c.RxChecksum))
	}
	if c.TxChecksum < TxChecksumAuto || c.TxChecksum > TxChecksumSoftware {
		return bad("tx checksum policy %d: want TxChecksumAuto or TxChecksumSoftware", int(c.TxChecksum))
	}
	if c.FrameSize != 2048 && c.FrameSize != 4096 {
		return bad("frame size %d: want 2048 or 4096", c.FrameSize)
	}
	if c.RingSize&(c.RingSize-1) != 0 || c.RingSize < 64 {
		return bad("ring size %d: want a power of two of at least 64", c.RingSize)
	}
	if c.Nap < 0 || c.Nap > MaxNap {
		return bad("nap %v: want 0 (off) to %v", c.Nap, MaxNap)
	}
	if c.Nap > 0 && c.Poll != PollAdaptive {
		return bad("nap %v: naps replace an adaptive worker's spin; with %v polling leave Nap at 0", c.Nap, c.Poll)
	}
	if c.Nap > 0 && c.Nap >= c.SpinTime {
		return bad("nap %v: a nap must be shorter than the spin it replaces (SpinTime %v)", c.Nap, c.SpinTime)
	}
	if c.Queues < 0 {
		return bad("queues %d", c.Queues)
	}
	if c.CPUs != nil && c.Queues != 0 && len(c.CPUs) != c.Queues {
		return bad("%d CPUs for %d queues: give one CPU per queue", len(c.CPUs), c.Queues)
	}
	if c.TCPMaxConnections < 0 || c.TCPMaxConnections > 1<<28 {
		return bad("TCP connections %d: want 1..%d", c.TCPMaxConnections, 1<<28)
	}
	if c.RecvBuffer < 2048 || c.TxQueue < 1 || c.FragMemory < 65536 || c.TCPMaxTimeWait < 0 {
		return bad("limits too small (receive buffer %d, tx queue %d, fragment memory %d, TIME-WAIT %d)",
			c.RecvBuffer, c.TxQueue, c.FragMemory, c.TCPMaxTimeWait)
	}
	if c.TCPSendBufferMax < c.TCPSendBuffer {
		return bad("TCP send buffer ceiling %d is below the initial send buffer %d", c.TCPSendBufferMax, c.TCPSendBuffer)
	}
	for _, n := range []int{c.TCPSendBuffer, c.TCPRecvBuffer, c.TCPSendBufferMax, c.TCPBufferMin} {
		if n < tcp.MinRing || n > tcp.MaxRing || n&(n-1) != 0 {
			return bad("TCP buffer %d: want a power of two in [%d, %d]", n, tcp.MinRing, tcp.MaxRing)
		}
	}
	if err := c.validateTCPMem(); err != nil {
		return bad("%v", err)
	}
	if c.TCPSomaxconn < 1 || c.TCPSomaxconn > MaxTCPSomaxconn {
		return bad("TCP somaxconn %d: want 1-%d", c.TCPSomaxconn, MaxTCPSomaxconn)
	}
	if _, err := cc.New(c.TCPCongestion); err != nil {
		return bad("%v", err)
	}
	if err := c.validateDecap(); err != nil {
		return bad("%v", err)
	}
	return nil
}

// validateDecap checks the tunnel settings: a GUE port without GUE is a
// mistake, and a GUE port that automatic choice could give a socket would
// take that socket's traffic.
func (c *Config) validateDecap() error {
	d := &c.Decap
	if !d.GUE {
		if d.GUEPort != 0 {
			return fmt.Errorf("GUE port %d set with GUE off (set Decap.GUE)", d.GUEPort)
		}
		return nil
	}
	eph := c.Ports
	if eph == (portalloc.Range{}) {
		eph = portalloc.DefaultRange
	}
	if d.GUEPort < eph.First || d.GUEPort > eph.Last {
		return nil
	}
	for _, r := range c.ReservedPorts {
		if r.First <= d.GUEPort && d.GUEPort <= r.Last {
			return nil
		}
	}
	return fmt.Errorf("GUE port %d is inside the ephemeral range %d-%d: choose another, or reserve it (ReservedPorts)",
		d.GUEPort, eph.First, eph.Last)
}

// validateNeighbors checks the static ARP entries.
func (c *Config) validateNeighbors() error {
	if len(c.Neighbors) > maxNeighbors {
		return fmt.Errorf("%d static neighbors: at most %d", len(c.Neighbors), maxNeighbors)
	}
	seen := make(map[netip.Addr]bool, len(c.Neighbors))
	for _, n := range c.Neighbors {
		if !n.Addr.IsValid() || n.Addr.Is4In6() || n.Addr.IsMulticast() || n.Addr.Zone() != "" {
			return fmt.Errorf("static neighbor %v: want a unicast IPv4 or IPv6 address", n.Addr)
		}
		if len(n.MAC) != 6 || n.MAC[0]&1 != 0 || bytes.Equal(n.MAC, make([]byte, 6)) {
			return fmt.Errorf("static neighbor %v at %q: want a unicast Ethernet address, e.g. 02:00:00:00:00:01", n.Addr, n.MAC)
		}
		if seen[n.Addr] {
			return fmt.Errorf("static neighbor %v given twice", n.Addr)
		}
		seen[n.Addr] = true
		_, v6 := splitAddrs(c.Addrs)
		onLink := n.Addr.Is6() && n.Addr.IsLinkLocalUnicast() && len(v6) > 0 // link-local: on the link of an IPv6 engine
		for _, p := range c.Addrs {
			if p.Addr() == n.Addr {
				return fmt.Errorf("static neighbor %v is the engine's own address", n.Addr)
			}
			onLink = onLink || p.Masked().Contains(n.Addr)
		}
		if !onLink {
			return fmt.Errorf("static neighbor %v is not on the link: it must be inside a prefix of the engine's addresses %v", n.Addr, c.Addrs)
		}
	}
	return nil
}

// TCPMemLimits returns the TCP memory limits the engine runs with
// (Config.TCPMem, its zero fields replaced by their defaults).
func (e *Engine) TCPMemLimits() TCPMemLimits { return e.cfg.TCPMem }

// TCPSomaxconn returns the listener backlog cap the engine runs with
// (Config.TCPSomaxconn, or its default).
func (e *Engine) TCPSomaxconn() int { return e.cfg.TCPSomaxconn }
