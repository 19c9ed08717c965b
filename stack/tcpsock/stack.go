package tcpsock

import (
	"crypto/rand"
	"fmt"
	"math"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/xdpengine/engine/flowtable"
	"github.com/xdpengine/engine/header"
	"github.com/xdpengine/engine/stack/datapath"
	"github.com/xdpengine/engine/stack/inet4"
	"github.com/xdpengine/engine/stack/inet6"
	"github.com/xdpengine/engine/stack/sock"
	"github.com/xdpengine/engine/stack/socktab"
	"github.com/xdpengine/engine/tcp"
	"github.com/xdpengine/engine/tcp/cc"
	"github.com/xdpengine/engine/tcp/syncookie"
)

// Config configures the TCP layer of an engine.
type Config struct {
	Host *inet4.Host
	// Host6 is the IPv6 layer (nil: IPv4 only). Its workers' layers
	// must be made before AddWorker adds TCP to them.
	Host6 *inet6.Host
	Table *socktab.Table
	State *sock.State

	// SendBuffer and RecvBuffer are each connection's send ring (its
	// initial size) and receive ring (the auto-tuning ceiling) in bytes;
	// SendBufferMax is the send-buffer auto-tuning ceiling (engine.Config
	// documents them).
	SendBuffer, RecvBuffer, SendBufferMax int
	MaxTimeWait                           int // TIME-WAIT connections, all workers together
	MaxConnections                        int // connections in any state, all workers together
	Memory                                MemoryConfig
	Somaxconn                             int // the largest listener backlog per worker (0: 4096), net.core.somaxconn
	MTUProbing                            tcp.MTUProbing
	Congestion                            string // "cubic" or "reno"
	Queues                                int
}

// Stack is the engine's TCP: its listeners and connections, the SYN
// cookie jar, the pools of ring memory and control blocks, and one worker
// part per queue (the inet4.Transport of protocol 6 and a datapath.Layer).
type Stack struct {
	cfg       Config
	host      *inet4.Host
	host6     *inet6.Host // nil without IPv6
	tab       *socktab.Table
	jar       *syncookie.Jar        // SYN cookies, ISNs, timestamp offsets
	challenge *tcp.ChallengeLimiter // RFC 5961 challenge ACKs, shared by every connection
	rings     tcp.RingPool          // ring memory, reused across connections
	mem       tcp.Memory            // ring memory attached to connections, against Config.Memory's limits
	endpoints tcp.EndpointFreeList  // control blocks, reused likewise
	osFree    osRelease             // returning what the pool let go of to the OS (memory.go)
	newCC     func() cc.Algorithm   // Config.Congestion's constructor
	workers   []*worker

	mu        sync.Mutex // guards appConns and listeners
	appConns  *Conn      // the connections the application holds: a list through Conn.appNext
	listeners map[*Listener]struct{}
	// acceptPortFails counts, by owner queue, accepted connections the
	// socket table refused (holdPort): TCPStats.AcceptPortFails.
	acceptPortFails []atomic.Uint64
}

// New makes the TCP layer; AddWorker gives it the workers.
func New(cfg Config) (*Stack, error) {
	jar, err := syncookie.New(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("tcpsock: %w", err)
	}
	s := &Stack{cfg: cfg, host: cfg.Host, host6: cfg.Host6, tab: cfg.Table, jar: jar,
		challenge:       tcp.NewChallengeLimiter(tcp.DefaultChallengeLimit),
		listeners:       map[*Listener]struct{}{},
		acceptPortFails: make([]atomic.Uint64, cfg.Queues),
	}
	s.newCC = func() cc.Algorithm {
		a, err := cc.New(cfg.Congestion)
		if err != nil {
			a = cc.NewCubic() // validated by the engine
		}
		return a
	}
	m := &cfg.Memory
	s.mem.SetLimits(m.Low, m.Pressure, m.High)
	s.rings.Max = m.PoolMax
	return s, nil
}

// tableCapacity is a worker's connection table size: its share of
// MaxConnections with room for an uneven hash.
func (s *Stack) tableCapacity() int {
	share := s.cfg.MaxConnections / max(1, s.cfg.Queues)
	return share + share/8 + 1024
}

// AddWorker adds TCP to a worker (in queue order): it registers as the
// transport of protocol 6 on l, and of next header 6 on the worker's IPv6
// layer when there is one (Config.Host6), and as a layer of l's datapath.
func (s *Stack) AddWorker(l *inet4.Layer) error {
	q, err := sock.NewQueue[command](commandRing)
	if err != nil {
		return err
	}
	conns, err := flowtable.NewIndex[Conn](flowtable.Config{Capacity: s.tableCapacity()}, nil)
	if err != nil {
		return fmt.Errorf("tcpsock: connection table: %w", err)
	}
	twShare := max(1, s.cfg.MaxTimeWait/max(1, s.cfg.Queues))
	tw, err := flowtable.NewIndex[timeWait](flowtable.Config{Capacity: twShare + twShare/8 + 1024}, nil)
	if err != nil {
		conns.Close()
		return fmt.Errorf("tcpsock: TIME-WAIT table: %w", err)
	}
	dp := l.Worker()
	w := &worker{s: s, l: l, dp: dp, st: l.Stats(), wk: dp.Waker(), queue: l.Queue(),
		cmdq: q, conns: conns, tw: tw, synq: map[*Listener]int{},
		maxTimeWait: max(1, s.cfg.MaxTimeWait/max(1, s.cfg.Queues)),
		maxConns:    max(1, s.cfg.MaxConnections/max(1, s.cfg.Queues)),
		maxOrphans:  math.MaxInt}
	if n := s.cfg.Memory.MaxOrphans; n > 0 {
		w.maxOrphans = max(1, n/max(1, s.cfg.Queues))
	}
	w.sink.w = w
	l.Register(header.ProtocolTCP, w)
	if h6 := s.host6; h6 != nil {
		if l.Queue() >= len(h6.Layers()) {
			conns.Close()
			tw.Close()
			return fmt.Errorf("tcpsock: worker %d has no IPv6 layer", l.Queue())
		}
		w.l6 = h6.Layers()[l.Queue()]
		w.l6.Register(header.ProtocolTCP, (*worker6)(w))
	}
	dp.AddLayer(w)
	s.workers = append(s.workers, w)
	return nil
}

// dps returns the workers' datapaths.
func (s *Stack) dps() []*datapath.Worker {
	out := make([]*datapath.Worker, len(s.workers))
	for i, w := range s.workers {
		out[i] = w.dp
	}
	return out
}

// CloseAll closes every listener and connection (the engine closes).
func (s *Stack) CloseAll() {
	s.mu.Lock()
	var all []interface{ Close() error }
	for ln := range s.listeners {
		all = append(all, ln)
	}
	for c := s.appConns; c != nil; c = c.appNext {
		all = append(all, c)
	}
	s.mu.Unlock()
	for _, c := range all {
		c.Close()
	}
}

// CloseTables unmaps the workers' connection tables; after the workers
// stopped.
func (s *Stack) CloseTables() {
	for _, w := range s.workers {
		w.conns.Close()
		w.tw.Close()
	}
}

// AcceptPortFails returns the accepted connections of worker q the socket
// table refused to register.
func (s *Stack) AcceptPortFails(q int) uint64 { return s.acceptPortFails[q].Load() }

// PoolStats are the ring-memory and control-block pools' counters, and
// the memory account's figures.
type PoolStats struct {
	RingsLent, RingGets, RingReused, RingPuts int64
	RingPoolBytes, RingPoolReleased           int64
	EndpointGets, EndpointReused              int64
	Memory                                    tcp.MemoryStats
}

// Pools returns the pools' counters.
func (s *Stack) Pools() PoolStats {
	r := s.rings.Stats()
	eg, er := s.endpoints.Stats()
	return PoolStats{RingsLent: r.Lent, RingGets: r.Gets, RingReused: r.Reused, RingPuts: r.Puts,
		RingPoolBytes: r.Bytes, RingPoolReleased: r.Released,
		EndpointGets: eg, EndpointReused: er, Memory: s.mem.Stats()}
}

// tcpConfig is the endpoint configuration for a connection of this engine
// that worker w owns. remote is the peer's address (as on the wire: an
// IPv4 peer unmapped): the connection starts with the path MTU learned
// toward it (ICMP fragmentation needed, ICMPv6 Packet Too Big, any
// socket's), and its MSS is the link MTU less 40 bytes of headers, 60
// over IPv6.
func (w *worker) tcpConfig(remote netip.Addr, lport, rport uint16, iss tcp.Seq, tsOff uint32) tcp.Config {
	s := w.s
	mtu, pmtu, v6 := s.host.MTU(), 0, remote.Is6()
	if v6 && s.host6 != nil {
		mtu, pmtu = s.host6.MTU(), s.host6.PathMTU(remote)
	} else if !v6 {
		pmtu = s.host.PathMTU(remote)
	}
	return tcp.Config{
		LocalPort: lport, RemotePort: rport,
		MSS:        mtu - headerLen(v6),
		PathMTU:    pmtu,
		IPv6:       v6,
		MTUProbing: s.cfg.MTUProbing,
		ISS:        iss,
		TSOffset:   tsOff,
		NewCC:      s.newCC,
		SendBuf:    s.cfg.SendBuffer,
		RecvBufMax: s.cfg.RecvBuffer,
		BufMin:     s.cfg.Memory.BufMin,
		BufIdle:    int64(s.cfg.Memory.BufIdle),
		Memory:     &s.mem,
		Totals:     &w.totals,
		Challenge:  s.challenge,
		Buffers:    &s.rings,
		Endpoints:  &s.endpoints,
	}
}

// headerLen is the IP and TCP headers' size without options: 40 bytes,
// 60 over IPv6.
func headerLen(v6 bool) int {
	if v6 {
		return header.IPv6HeaderLen + 20
	}
	return 40
}

// linkMSS is the MSS of the link's MTU: MTU - 40, or MTU - 60 over IPv6.
func (s *Stack) linkMSS(v6 bool) int {
	if v6 && s.host6 != nil {
		return s.host6.MTU() - headerLen(true)
	}
	return s.host.MTU() - headerLen(false)
}

// owner returns the worker that owns the connection of key (arrival
// order): the one the steering function gives for it, IPv4 or IPv6.
func (s *Stack) owner(key flowtable.Key) *worker {
	if len(s.workers) == 1 {
		return s.workers[0]
	}
	return s.workers[s.host.Owner(key).Queue()]
}

// tsOffset is a connection's timestamp offset: a keyed hash of its tuple
// (Linux's secure_tcp_ts_off), so that a SYN-cookie connection finds the
// clock its SYN-ACK used.
func (s *Stack) tsOffset(t syncookie.Tuple) uint32 {
	t.SrcPort, t.DstPort = t.DstPort^0x5a5a, t.SrcPort^0xa5a5
	return s.jar.ISN(t, 0)
}

// wScale is the window scale our endpoints advertise (tcp's rule for the
// receive ring size), repeated in cookie SYN-ACKs.
func (s *Stack) wScale() uint8 {
	n := s.cfg.RecvBuffer
	if n == 0 {
		n = tcp.DefaultRecvBufMax
	}
	sc := uint8(0)
	for n>>sc > 0xffff && sc < 14 {
		sc++
	}
	return sc
}
