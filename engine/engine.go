package engine

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"github.com/xdpengine/engine/stack/datapath"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/xdpengine/engine/afxdp"
	"github.com/xdpengine/engine/header"
	"github.com/xdpengine/engine/ipv4"
	"github.com/xdpengine/engine/portalloc"
	"github.com/xdpengine/engine/stack/socktab"
	"github.com/xdpengine/engine/tcp"
	"github.com/xdpengine/engine/tcp/syncookie"
)

// Errors of the engine's lifecycle.
var (
	ErrStarted    = errors.New("engine: already started")
	ErrNotStarted = errors.New("engine: not started")
)

const (
	stateNew int32 = iota
	stateRunning
	stateClosed
)

// Engine is a userspace IPv4/UDP stack on AF_XDP sockets. Create it with New,
// run it with Start, stop it with Close. Its methods are safe for concurrent
// use.
type Engine struct {
	cfg     Config
	log     *slog.Logger
	ifindex int
	mac     header.MAC
	mtu     int
	owned   map[[4]byte]netip.Prefix // the engine's addresses; read-only after New
	bcast4  [][4]byte                // their subnets' directed broadcasts; read-only after New

	transparent atomic.Pointer[transparentSet] // addresses of IP_TRANSPARENT binds (sockopts.go)
	bcastPorts  map[uint16]int                 // UDP sockets able to receive broadcasts, by port (guarded by mu)

	portsMu  sync.Mutex        // serialises SetReservedPorts (ports.go)
	reserved []portalloc.Range // the reserved ports, as last set

	driver       string // the interface's kernel driver (ethtool -i)
	trustPartial bool   // accept partial UDP/TCP checksums (Config.RxChecksum)

	tab       *socktab.Table
	steer     portalloc.Steering // reply 5-tuple → worker (steering.go)
	steerName string
	ids       *ipv4.IDGenerator
	pmtu      pmtuCache
	mc        multicast // IGMP host, group map (multicast.go)
	bufs      *datapath.Bufs

	jar       *syncookie.Jar        // SYN cookies, ISNs, timestamp offsets
	challenge *tcp.ChallengeLimiter // RFC 5961 challenge ACKs, shared by every connection
	rings     ringPool              // TCP ring memory, reused across connections (ringpool.go)
	endpoints endpointPool          // TCP control blocks, reused likewise

	prog    *afxdp.Program
	workers []*worker

	state     atomic.Int32
	mu        sync.Mutex // guards conns and lifecycle transitions
	conns     map[*UDPConn]struct{}
	tcpConns  map[*TCPConn]struct{}
	listeners map[*TCPListener]struct{}
	wg        sync.WaitGroup

	acceptPortFails []atomic.Uint64 // by owner queue: TCPStats.AcceptPortFails (holdPort)
	startTime       time.Time
	epoch           time.Time // origin of nanotime
}

// New checks cfg and prepares an engine; nothing touches the interface
// until Start. Sockets may be opened between New and Start.
func New(cfg Config) (*Engine, error) {
	cfg.setDefaults()
	ifi, err := net.InterfaceByName(cfg.Interface)
	if err != nil {
		return nil, fmt.Errorf("engine: interface %q: %w (check the name with `ip link`): %w",
			cfg.Interface, afxdp.ErrNoInterface, syscall.ENODEV)
	}
	if cfg.MTU == 0 {
		cfg.MTU = min(ifi.MTU, cfg.FrameSize-14)
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	queues, err := afxdp.QueueCount(cfg.Interface)
	if err != nil {
		return nil, fmt.Errorf("engine: queues of %s: %w", cfg.Interface, err)
	}
	if cfg.Queues == 0 {
		cfg.Queues = queues
	}
	if cfg.Queues > queues {
		return nil, fmt.Errorf("engine: %d queues asked, %s has %d: %w", cfg.Queues, cfg.Interface, queues, ErrConfig)
	}
	if cfg.CPUs != nil && len(cfg.CPUs) != cfg.Queues {
		return nil, fmt.Errorf("engine: %d CPUs for %d queues: give one CPU per queue: %w", len(cfg.CPUs), cfg.Queues, ErrConfig)
	}
	var seeds [5]uint64
	for i := range seeds {
		seeds[i] = randUint64()
	}
	e := &Engine{
		cfg:     cfg,
		log:     cfg.Logger,
		ifindex: ifi.Index,
		mtu:     cfg.MTU,
		owned:   map[[4]byte]netip.Prefix{},
		ids:     ipv4.NewIDGenerator(2048, [2]uint64{seeds[1], seeds[2]}, nil),
		conns:   map[*UDPConn]struct{}{},

		bcastPorts: map[uint16]int{},

		tcpConns:  map[*TCPConn]struct{}{},
		listeners: map[*TCPListener]struct{}{},
		challenge: tcp.NewChallengeLimiter(tcp.DefaultChallengeLimit),
		epoch:     time.Now(),
	}
	copy(e.mac[:], ifi.HardwareAddr)
	if e.steer, e.steerName, err = steering(&cfg, seeds[0], e.log.Warn); err != nil {
		return nil, err
	}
	e.checksumPolicy()
	if err := e.initMulticast(); err != nil {
		return nil, err
	}
	if e.jar, err = syncookie.New(rand.Reader); err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	for _, p := range cfg.Addrs {
		e.owned[p.Addr().As4()] = p
		if b, ok := afxdp.DirectedBroadcast(p); ok && !slices.Contains(e.bcast4, b.As4()) {
			e.bcast4 = append(e.bcast4, b.As4())
		}
	}
	e.reserved = slices.Clone(cfg.ReservedPorts)
	e.tab, err = socktab.New(socktab.Config{
		Addrs:        cfg.Addrs,
		BindService:  cfg.BindService,
		NonlocalBind: cfg.NonlocalBind,
		DenyWildcard: cfg.DenyWildcard,
		Logger:       cfg.Logger,
		Ports: portalloc.Config{
			Range:    cfg.Ports,
			Reserved: cfg.ReservedPorts,
			Steering: e.steer,
		},
		Queues:        queueReporter{},
		ReuseportSeed: seeds[3],
	})
	if err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	e.acceptPortFails = make([]atomic.Uint64, cfg.Queues)
	e.bufs = datapath.NewBufs(cfg.Queues * (cfg.TxQueue + 1024))
	for q := range cfg.Queues {
		w, err := newWorker(e, q, seeds[4]+uint64(q))
		if err != nil {
			return nil, err
		}
		e.workers = append(e.workers, w)
	}
	for _, w := range e.workers {
		if err := w.dp.Connect(e.dps()); err != nil {
			return nil, fmt.Errorf("engine: %w", err)
		}
	}
	return e, nil
}

// Start attaches the steering program, opens one AF_XDP socket per queue and
// starts the workers. On error nothing is left attached or open.
func (e *Engine) Start() (err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.state.Load() != stateNew {
		return ErrStarted
	}
	defer func() {
		if err != nil {
			e.teardown()
		}
	}()
	addrs := make([]netip.Addr, 0, len(e.cfg.Addrs))
	for _, p := range e.cfg.Addrs {
		addrs = append(addrs, p.Addr())
	}
	var bcasts []netip.Addr
	for _, b := range e.bcast4 {
		bcasts = append(bcasts, netip.AddrFrom4(b))
	}
	e.prog, err = afxdp.AttachProgram(e.cfg.Interface, afxdp.ProgramConfig{Mode: e.cfg.XDPMode, Addrs: addrs, Broadcasts: bcasts})
	if err != nil {
		return fmt.Errorf("engine: %w", err)
	}
	if t := e.transparent.Load(); t != nil {
		for a := range *t {
			if err := e.prog.AddAddr(netip.AddrFrom4(a)); err != nil {
				return fmt.Errorf("engine: %w", err)
			}
		}
	}
	for port := range e.bcastPorts {
		if err := e.prog.AddBroadcastPort(port); err != nil {
			return fmt.Errorf("engine: %w", err)
		}
	}
	for _, st := range e.prog.Replaced() {
		e.log.Warn("replaced an XDP program left by an earlier run", "interface", e.cfg.Interface, "program", st)
	}
	frames := 3*e.cfg.RingSize + e.cfg.RingSize/2
	for _, w := range e.workers {
		sock, err := afxdp.Open(e.cfg.Interface, afxdp.Config{
			Queue:  w.queue,
			Mode:   e.cfg.Mode,
			RxSize: e.cfg.RingSize, TxSize: e.cfg.RingSize,
			FillSize: 2 * e.cfg.RingSize, CompSize: e.cfg.RingSize,
			UMEMConfig: afxdp.UMEMConfig{FrameSize: e.cfg.FrameSize, Frames: frames},
			BusyPoll:   afxdp.BusyPoll{Timeout: e.cfg.BusyPoll},
		})
		if err != nil {
			return fmt.Errorf("engine: queue %d: %w", w.queue, err)
		}
		w.dp.Attach(sock)
		// Give the kernel frames before the socket can receive: a socket
		// registered with an empty fill ring under load is where the
		// kernel's copy path starts dropping (see ARCHITECTURE.md).
		sock.Fill()
		if err := e.prog.Register(sock); err != nil {
			return fmt.Errorf("engine: queue %d: %w", w.queue, err)
		}
	}
	if err := e.startMulticast(); err != nil {
		// Reports still go out; only queries are not seen.
		e.log.Warn("IGMP queries will not be answered", "err", err)
	}
	e.startTime = time.Now()
	e.state.Store(stateRunning)
	for _, w := range e.workers {
		w.dp.StartWaker()
		e.wg.Add(1)
		go w.dp.Run(&e.wg)
	}
	e.log.Info("engine started", "interface", e.cfg.Interface, "queues", len(e.workers),
		"xdp", e.prog.Mode().String(), "bind", e.workers[0].dp.Socket().BindMode(),
		"poll", e.cfg.Poll.String(), "mtu", e.mtu, "addrs", e.cfg.Addrs,
		"driver", e.driver, "steering", e.steerName, "rx_checksum", e.cfg.RxChecksum.String(), "trust_partial_checksums", e.trustPartial)
	return nil
}

// Close closes every socket (their calls return net.ErrClosed), stops the
// workers after they publish their last counters, closes the AF_XDP sockets
// and detaches the XDP program. It is safe to call more than once.
func (e *Engine) Close() error {
	e.mu.Lock()
	if e.state.Swap(stateClosed) == stateClosed {
		e.mu.Unlock()
		return nil
	}
	conns := make([]*UDPConn, 0, len(e.conns))
	for c := range e.conns {
		conns = append(conns, c)
	}
	var closers []io.Closer
	for ln := range e.listeners {
		closers = append(closers, ln)
	}
	for c := range e.tcpConns {
		closers = append(closers, c)
	}
	e.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
	for _, c := range closers {
		c.Close()
	}
	for _, w := range e.workers {
		w.dp.Stop()
	}
	e.wg.Wait()
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.teardown()
}

// teardown closes sockets and the program; e.mu is held.
func (e *Engine) teardown() error {
	var errs []error
	for _, w := range e.workers {
		errs = append(errs, w.dp.Close())
	}
	e.stopMulticast()
	if e.prog != nil {
		errs = append(errs, e.prog.Close())
		e.prog = nil
	}
	return errors.Join(errs...)
}

// Interface returns the interface the engine serves.
func (e *Engine) Interface() string { return e.cfg.Interface }

// Driver returns the kernel driver of the engine's interface ("veth",
// "ixgbe", ...; empty if it could not be read).
func (e *Engine) Driver() string { return e.driver }

// TrustsPartialChecksums reports whether workers accept UDP and TCP packets
// whose checksum field holds only the pseudo-header sum (Config.RxChecksum
// applied to the interface's driver).
func (e *Engine) TrustsPartialChecksums() bool { return e.trustPartial }

// checksumPolicy applies Config.RxChecksum to the interface's driver.
func (e *Engine) checksumPolicy() {
	drv, err := afxdp.Driver(e.cfg.Interface)
	switch {
	case err == nil:
		e.driver = drv
	case e.cfg.RxChecksum == RxChecksumAuto:
		// Unknown driver: verify everything, the safe side.
		e.log.Warn("cannot read the interface's driver; verifying every checksum (set the rx checksum policy to override)",
			"interface", e.cfg.Interface, "err", err)
	}
	switch e.cfg.RxChecksum {
	case RxChecksumAuto:
		e.trustPartial = afxdp.VirtualDriver(e.driver)
	case RxChecksumTrustVirtual:
		e.trustPartial = true
	}
}

// MTU returns the link MTU the engine uses.
func (e *Engine) MTU() int { return e.mtu }

// Addrs returns the addresses the engine owns.
func (e *Engine) Addrs() []netip.Prefix { return append([]netip.Prefix(nil), e.cfg.Addrs...) }

// publishWait bounds how long Stats and Sockets wait for each worker to
// publish (a worker answers within one round, microseconds, unless the
// machine is starved; past this, Stats returns the worker's last published
// counters and Sockets leaves its connections out).
const publishWait = time.Second

// Stats returns the workers' counters, fresh to within a few milliseconds
// while the engine runs, and final after Close.
func (e *Engine) Stats() Stats {
	if e.state.Load() == stateRunning {
		datapath.Publish(e.dps(), publishWait)
	}
	var s Stats
	for _, w := range e.workers {
		ws := w.dp.Published()
		ws.TCP.AcceptPortFails += e.acceptPortFails[w.queue].Load()
		s.Workers = append(s.Workers, ws)
		s.Total.Add(&ws)
	}
	return s
}

// Sockets lists the engine's sockets the way `ss -uan` and `ss -tani` do:
// for TCP, the listeners of the socket table and every connection the
// workers hold (TIME-WAIT included), with their queues and tcp_info-like
// details.
func (e *Engine) Sockets(proto socktab.Proto) []socktab.Entry {
	if proto != socktab.TCP {
		return e.tab.Sockets(proto)
	}
	var out []socktab.Entry
	for _, s := range e.tab.Sockets(proto) {
		if !s.Peer.IsValid() { // connections come from the workers below
			out = append(out, s)
		}
	}
	return append(out, e.tcpConnections()...)
}

// WriteSS writes the socket listing in ss(8)'s format.
func (e *Engine) WriteSS(w io.Writer, proto socktab.Proto) error {
	return socktab.WriteSS(w, e.Sockets(proto))
}

// ownedAddr reports whether a is one of the engine's addresses.
func (e *Engine) ownedAddr(a [4]byte) bool {
	_, ok := e.owned[a]
	return ok
}

// route returns the next hop for dst, and the source address to use.
func (e *Engine) route(dst [4]byte) (nextHop, src [4]byte, ok bool) {
	d := netip.AddrFrom4(dst)
	for _, p := range e.cfg.Addrs {
		if p.Masked().Contains(d) {
			return dst, p.Addr().As4(), true
		}
	}
	if e.cfg.Gateway.IsValid() {
		gw := e.cfg.Gateway
		for _, p := range e.cfg.Addrs {
			if p.Masked().Contains(gw) {
				return gw.As4(), p.Addr().As4(), true
			}
		}
	}
	return nextHop, src, false
}

// broadcastOf returns the directed broadcast address of a's subnet.
func (e *Engine) broadcastOf(a [4]byte) netip.Addr {
	p, ok := e.owned[a]
	if !ok || p.Bits() >= 31 {
		return netip.Addr{}
	}
	b := p.Masked().Addr().As4()
	binary.BigEndian.PutUint32(b[:], binary.BigEndian.Uint32(b[:])|^(^uint32(0)<<(32-p.Bits())))
	return netip.AddrFrom4(b)
}

func randUint64() uint64 {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand never fails on Linux
	}
	return binary.LittleEndian.Uint64(b[:])
}

// queueReporter fills Recv-Q and Send-Q of listings from the sockets' queues.
type queueReporter struct{}

func (queueReporter) Queues(s *socktab.Socket) (uint64, uint64) {
	switch c := s.Endpoint().(type) {
	case *UDPConn:
		return uint64(c.rxBytes.Load()), 0
	case *TCPListener:
		// As ss: Recv-Q is the accept queue, Send-Q the backlog.
		return uint64(c.pending()), uint64(c.backlog)
	}
	return 0, 0
}
