package engine

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/xdpengine/engine/lb"

	"github.com/xdpengine/engine/afxdp"
	"github.com/xdpengine/engine/header"
	"github.com/xdpengine/engine/portalloc"
	"github.com/xdpengine/engine/stack/datapath"
	"github.com/xdpengine/engine/stack/inet4"
	"github.com/xdpengine/engine/stack/inet6"
	"github.com/xdpengine/engine/stack/sock"
	"github.com/xdpengine/engine/stack/socktab"
	"github.com/xdpengine/engine/stack/tcpsock"
	"github.com/xdpengine/engine/stack/udp"
)

// Errors of the engine's lifecycle.
var (
	ErrStarted    = errors.New("engine: already started")
	ErrNotStarted = errors.New("engine: not started")
)

// Engine is a userspace IPv4 stack (UDP and TCP sockets) on AF_XDP
// sockets. Create it with New, run it with Start or Run, learn that a
// worker failed from Done and Err, stop it with Close. Its methods are
// safe for concurrent use.
type Engine struct {
	// The engine wires layers it does not implement: one datapath.Worker
	// per queue runs the loop, inet4 is the network layer, udp and
	// tcpsock the socket layers, socktab applies Linux's bind rules
	// (ARCHITECTURE.md).

	cfg     Config
	log     *slog.Logger
	nloops  atomic.Int32 // the goroutines that run the workers (Loops), set by Start
	ifindex int
	mac     header.MAC

	portsMu  sync.Mutex        // serialises SetReservedPorts (ports.go)
	reserved []portalloc.Range // the reserved ports, as last set

	driver       string // the interface's kernel driver (ethtool -i)
	trustPartial bool   // accept partial UDP/TCP checksums (Config.RxChecksum)

	steer     portalloc.Steering // reply 5-tuple → worker (steering.go)
	steerName string

	state   sock.State
	bufs    *datapath.Bufs
	tab     *socktab.Table
	host    *inet4.Host
	host6   *inet6.Host // nil without IPv6 addresses
	udp     *udp.Stack
	tcp     *tcpsock.Stack
	lb      *lb.Balancer // nil without Config.LoadBalancer
	workers []*datapath.Worker
	pings   pings // outstanding echo requests (Ping)

	prog *afxdp.Program
	mu   sync.Mutex // guards lifecycle transitions
	life lifecycle  // Done and Err (run.go)
	// closed is closed when the first Close has finished (made by it,
	// under mu): a later or concurrent Close (Run's, after Done) returns
	// only then, with everything detached and the counters final.
	closed    chan struct{}
	wg        sync.WaitGroup
	startTime time.Time
	epoch     time.Time // origin of the workers' clock
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
	e := &Engine{cfg: cfg, log: cfg.Logger, ifindex: ifi.Index, epoch: time.Now()}
	copy(e.mac[:], ifi.HardwareAddr)
	e.checksumPolicy()
	if e.steer, e.steerName, err = steering(&cfg, randUint64(), e.log.Warn); err != nil {
		return nil, err
	}
	e.reserved = slices.Clone(cfg.ReservedPorts)
	e.tab, err = socktab.New(socktab.Config{
		Addrs:        cfg.Addrs, // both families: IPv6 sockets bind IPv6 addresses
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
		ReuseportSeed: randUint64(),
	})
	if err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	e.bufs = datapath.NewBufs(cfg.Queues * (cfg.TxQueue + 1024))
	if err := e.build(); err != nil {
		for _, w := range e.workers {
			w.Close()
		}
		if e.tcp != nil {
			e.tcp.CloseTables()
		}
		return nil, err
	}
	return e, nil
}

// build makes the layers and the workers and plugs them together.
func (e *Engine) build() error {
	cfg := &e.cfg
	var statics []inet4.StaticNeighbor
	var statics6 []inet6.StaticNeighbor
	for _, n := range cfg.Neighbors {
		if n.Addr.Is4() {
			statics = append(statics, inet4.StaticNeighbor{Addr: n.Addr, MAC: header.MAC(n.MAC)})
		} else {
			statics6 = append(statics6, inet6.StaticNeighbor{Addr: n.Addr, MAC: header.MAC(n.MAC)})
		}
	}
	addrs4, addrs6 := splitAddrs(cfg.Addrs)
	var err error
	e.host, err = inet4.NewHost(inet4.Config{
		Interface: cfg.Interface, Ifindex: e.ifindex, MAC: e.mac, MTU: cfg.MTU,
		Addrs: addrs4, Gateway: cfg.Gateway, Neighbors: statics,
		TrustPartial: e.trustPartial, Hook: cfg.Hook, HookFragments: cfg.HookFragments,
		FragMemory: cfg.FragMemory, TxQueue: cfg.TxQueue, Steering: e.steer,
		Bufs: e.bufs, State: &e.state, Epoch: e.epoch, Logger: e.log,
		Decap:     inet4.Decap{IPIP: cfg.Decap.IPIP, GUEPort: cfg.Decap.GUEPort},
		EchoReply: e.pings.reply,
	})
	if err != nil {
		return fmt.Errorf("engine: %w", err)
	}
	if len(addrs6) > 0 {
		e.host6, err = inet6.NewHost(inet6.Config{
			Interface: cfg.Interface, Ifindex: e.ifindex, MAC: e.mac, MTU: cfg.MTU,
			Addrs: addrs6, Gateway: cfg.Gateway6, Neighbors: statics6, NoDAD: cfg.IPv6NoDAD,
			RouterSolicitation: cfg.IPv6RouterSolicitation,
			TrustPartial:       e.trustPartial, FragMemory: cfg.FragMemory, TxQueue: cfg.TxQueue,
			Bufs: e.bufs, Epoch: e.epoch, Logger: e.log, EchoReply: e.pings.reply,
		})
		if err != nil {
			return fmt.Errorf("engine: %w", err)
		}
	}
	e.udp = udp.New(udp.Config{Host: e.host, Host6: e.host6, Table: e.tab, Bufs: e.bufs, State: &e.state, RecvBuffer: cfg.RecvBuffer})
	e.tcp, err = tcpsock.New(tcpsock.Config{
		Host: e.host, Host6: e.host6, Table: e.tab, State: &e.state,
		SendBuffer: cfg.TCPSendBuffer, RecvBuffer: cfg.TCPRecvBuffer, SendBufferMax: cfg.TCPSendBufferMax,
		MaxTimeWait: cfg.TCPMaxTimeWait, MaxConnections: cfg.TCPMaxConnections, Memory: cfg.tcpMemory(),
		MTUProbing: cfg.TCPMTUProbing, Congestion: cfg.TCPCongestion, Queues: cfg.Queues, Somaxconn: cfg.TCPSomaxconn,
	})
	if err != nil {
		return fmt.Errorf("engine: %w", err)
	}
	if c := cfg.LoadBalancer; c != nil {
		p := lb.Params{Host: e.host, Host6: e.host6,
			TCPPorts: e.tab.Allocator(socktab.TCP), UDPPorts: e.tab.Allocator(socktab.UDP),
			Dial: e.healthDial, Logger: e.log}
		if len(addrs4) > 0 {
			p.SNAT = addrs4[0].Addr()
		}
		if len(addrs6) > 0 {
			p.SNAT6 = addrs6[0].Addr()
		}
		e.lb = lb.New(p)
	}
	for q := range cfg.Queues {
		cpu := -1
		if cfg.CPUs != nil {
			cpu = cfg.CPUs[q]
		}
		dp, err := datapath.New(datapath.Config{
			Queue: q, Poll: cfg.Poll, SpinTime: cfg.SpinTime, Nap: cfg.Nap,
			CPU: cpu, OwnThread: cfg.ownThread(), Epoch: e.epoch,
			Bufs: e.bufs, Logger: e.log, Injector: cfg.faults,
			TxChecksumOffload: cfg.txMetadata(),
		})
		if err != nil {
			return fmt.Errorf("engine: %w", err)
		}
		e.workers = append(e.workers, dp)
		l, err := e.host.NewLayer(dp, randUint64())
		if err != nil {
			return fmt.Errorf("engine: %w", err)
		}
		var l6 *inet6.Layer
		if e.host6 != nil {
			if l6, err = e.host6.NewLayer(dp, randUint64()); err != nil {
				return fmt.Errorf("engine: %w", err)
			}
			l.SetIPv6(l6)
		}
		e.udp.AddWorker(l)
		if l6 != nil {
			e.udp.AddWorker6(l6)
		}
		if err := e.tcp.AddWorker(l); err != nil {
			return fmt.Errorf("engine: %w", err)
		}
		if e.lb != nil {
			mf := cfg.LoadBalancer.MaxFlows
			if mf <= 0 {
				mf = lb.DefaultMaxFlows
			}
			share := max(1, mf/cfg.Queues)
			if err := e.lb.AddWorker(l, share, cfg.LoadBalancer.Timeouts); err != nil {
				return fmt.Errorf("engine: %w", err)
			}
			if l6 != nil {
				if err := e.lb.AddWorker6(l6); err != nil {
					return fmt.Errorf("engine: %w", err)
				}
			}
		}
	}
	if e.lb != nil {
		if err := e.lb.SetConfig(*cfg.LoadBalancer); err != nil {
			return fmt.Errorf("engine: %w", err)
		}
	}
	for _, w := range e.workers {
		if err := w.Connect(e.workers); err != nil {
			return fmt.Errorf("engine: %w", err)
		}
	}
	return nil
}

// Start attaches the steering program, opens one AF_XDP socket per queue and
// starts the workers. On error nothing is left attached or open, and the
// engine is closed (the sockets opened before Start return net.ErrClosed,
// Start again ErrClosed): a new Engine is how to try again.
func (e *Engine) Start() (err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.state.Closed() {
		return ErrClosed
	}
	if !e.state.IsNew() {
		return ErrStarted
	}
	defer func() {
		if err != nil {
			// The workers' descriptors are closed with the rest: the
			// failure is final.
			e.teardown()
			e.state.Close()
			e.life.end(ErrClosed)
			e.udp.CloseAll()
			e.tcp.CloseAll()
			e.freeTables() // no Close will: the engine is closed
		}
	}()
	addrs := make([]netip.Addr, 0, len(e.cfg.Addrs))
	for _, p := range e.cfg.Addrs {
		addrs = append(addrs, p.Addr())
	}
	pcfg := afxdp.ProgramConfig{Mode: e.cfg.XDPMode, Addrs: addrs, Broadcasts: e.host.Broadcasts()}
	if c := e.cfg.LoadBalancer; c != nil {
		// The fast path, for the VIPs that use it (lb.VIP.FastPath): as
		// many keys as the workers' connection tables hold, allocated as
		// they come.
		mf := c.MaxFlows
		if mf <= 0 {
			mf = lb.DefaultMaxFlows
		}
		share := max(1, mf/e.cfg.Queues)
		pcfg.FastPath = 2*share + share/4
	}
	e.prog, err = afxdp.AttachProgram(e.cfg.Interface, pcfg)
	if err != nil {
		return fmt.Errorf("engine: %w", err)
	}
	if pcfg.FastPath > 0 {
		if err := e.lb.SetFastPath(e.prog.FastTable, afxdp.MonotonicOffset(e.workers[0].Nanotime)); err != nil {
			return fmt.Errorf("engine: %w", err)
		}
		if e.driver == "veth" && e.prog.Mode() == afxdp.XDPNative {
			e.log.Info("load balancer fast path on veth in native XDP mode: the peer receives its XDP_TX frames only with NAPI (GRO on, or an XDP program); otherwise use --xdp-mode generic",
				"interface", e.cfg.Interface)
		}
	}
	for _, st := range e.prog.Replaced() {
		e.log.Warn("replaced an XDP program left by an earlier run", "interface", e.cfg.Interface, "program", st)
	}
	frames := 3*e.cfg.RingSize + e.cfg.RingSize/2
	for _, w := range e.workers {
		s, err := afxdp.Open(e.cfg.Interface, afxdp.Config{
			Queue:  w.Queue(),
			Mode:   e.cfg.Mode,
			RxSize: e.cfg.RingSize, TxSize: e.cfg.RingSize,
			FillSize: 2 * e.cfg.RingSize, CompSize: e.cfg.RingSize,
			UMEMConfig: afxdp.UMEMConfig{FrameSize: e.cfg.FrameSize, Frames: frames, TxMetadata: e.cfg.txMetadata()},
			BusyPoll:   afxdp.BusyPoll{Timeout: e.cfg.BusyPoll},
		})
		if err != nil {
			return fmt.Errorf("engine: queue %d: %w", w.Queue(), err)
		}
		w.Attach(s)
		// Give the kernel frames before the socket can receive: a socket
		// registered with an empty fill ring under load is where the
		// kernel's copy path starts dropping (see ARCHITECTURE.md).
		s.Fill()
		if err := e.prog.Register(s); err != nil {
			return fmt.Errorf("engine: queue %d: %w", w.Queue(), err)
		}
	}
	if err := e.host.Attach(e.prog); err != nil {
		return fmt.Errorf("engine: %w", err)
	}
	if e.host6 != nil {
		if err := e.host6.Attach(e.prog); err != nil {
			return fmt.Errorf("engine: %w", err)
		}
	}
	e.startTime = time.Now()
	e.state.Start()
	for _, w := range e.workers {
		w.StartWaker()
	}
	loops := e.loops()
	e.nloops.Store(int32(len(loops)))
	for _, ws := range loops {
		e.wg.Add(1)
		go e.runLoop(ws)
	}
	e.log.Info("engine started", "interface", e.cfg.Interface, "queues", len(e.workers), "loops", len(loops),
		"xdp", e.prog.Mode().String(), "bind", e.workers[0].Socket().BindMode(),
		"poll", e.cfg.Poll.String(), "mtu", e.cfg.MTU, "addrs", e.cfg.Addrs,
		"driver", e.driver, "steering", e.steerName, "rx_checksum", e.cfg.RxChecksum.String(),
		"trust_partial_checksums", e.trustPartial, "tx_checksum_offload", e.TxChecksumOffload(),
		"decap_ipip", e.cfg.Decap.IPIP, "decap_gue_port", e.cfg.Decap.GUEPort)
	e.waitDAD()
	return nil
}

// dadWait bounds Start's wait for Duplicate Address Detection: one probe
// and one RetransTimer (1 s), with room for a slow machine.
const dadWait = 3 * time.Second

// waitDAD waits for the IPv6 addresses' Duplicate Address Detection to
// end (about a second; nothing without IPv6 addresses or with IPv6NoDAD).
// Duplicates were logged by the IPv6 layer and are not used.
func (e *Engine) waitDAD() {
	if e.host6 == nil {
		return
	}
	if _, ok := e.host6.WaitDAD(dadWait); !ok {
		e.log.Warn("IPv6 duplicate address detection has not finished; the addresses still tentative are not used yet",
			"interface", e.cfg.Interface)
	}
}

// Close closes every socket (their calls return net.ErrClosed), stops the
// workers after they publish their last counters, closes the AF_XDP sockets
// and detaches the XDP program. It is safe to call more than once, and from
// several goroutines: every call returns once the first one has finished
// (the later ones return nil). It waits for the workers: not from a Hook.
func (e *Engine) Close() error {
	e.mu.Lock()
	if !e.state.Close() {
		closed := e.closed
		e.mu.Unlock()
		if closed != nil {
			<-closed
		}
		return nil
	}
	closed := make(chan struct{})
	e.closed = closed
	e.mu.Unlock()
	defer close(closed)
	e.life.end(ErrClosed)
	if e.lb != nil {
		e.lb.StopHealth() // before the sockets they use close
	}
	e.udp.CloseAll()
	e.tcp.CloseAll()
	for _, w := range e.workers {
		w.Stop()
	}
	e.wg.Wait()
	e.mu.Lock()
	defer e.mu.Unlock()
	err := e.teardown()
	e.freeTables()
	return err
}

// freeTables frees what New allocated for the whole engine's life: the
// TCP connection tables and the balancer's (whose health checks stop);
// e.mu is held, the workers are gone.
func (e *Engine) freeTables() {
	e.tcp.CloseTables()
	if e.lb != nil {
		e.lb.Close()
	}
}

// teardown closes sockets and the program; e.mu is held.
func (e *Engine) teardown() error {
	var errs []error
	for _, w := range e.workers {
		errs = append(errs, w.Close())
	}
	e.host.Detach()
	if e.host6 != nil {
		e.host6.Detach()
	}
	if e.prog != nil {
		errs = append(errs, e.prog.Close())
		e.prog = nil
	}
	return errors.Join(errs...)
}

// Balancer returns the load balancer (nil without Config.LoadBalancer).
func (e *Engine) Balancer() *lb.Balancer { return e.lb }

// Interface returns the interface the engine serves.
func (e *Engine) Interface() string { return e.cfg.Interface }

// Driver returns the kernel driver of the engine's interface ("veth",
// "ixgbe", ...; empty if it could not be read).
func (e *Engine) Driver() string { return e.driver }

// MTU returns the link MTU the engine uses.
func (e *Engine) MTU() int { return e.cfg.MTU }

// Addrs returns the addresses the engine owns.
func (e *Engine) Addrs() []netip.Prefix { return append([]netip.Prefix(nil), e.cfg.Addrs...) }

// publishWait bounds how long Stats, Sockets and Neighbors wait for each
// worker (a worker answers within one round, microseconds, unless the
// machine is starved; past this, Stats returns the worker's last published
// counters and the listings leave its part out).
const publishWait = time.Second

// Stats returns the workers' counters, fresh to within a few milliseconds
// while the engine runs, and final after Close.
func (e *Engine) Stats() Stats {
	if e.state.Running() {
		datapath.Publish(e.workers, publishWait)
	}
	var s Stats
	for _, w := range e.workers {
		ws := w.Published()
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
	return append(out, e.tcp.Connections(publishWait)...)
}

// WriteSS writes the socket listing in ss(8)'s format.
func (e *Engine) WriteSS(w io.Writer, proto socktab.Proto) error {
	return socktab.WriteSS(w, e.Sockets(proto))
}

// Neighbors lists the workers' ARP tables and IPv6 neighbor caches (with
// their NUD states), sorted by address then queue; nothing while the
// engine does not run.
func (e *Engine) Neighbors() []NeighborEntry {
	if !e.state.Running() {
		return nil
	}
	out := e.host.Neighbors(publishWait)
	if e.host6 != nil {
		for _, n := range e.host6.Neighbors(publishWait) {
			out = append(out, NeighborEntry{Queue: n.Queue, Addr: n.Addr, MAC: n.MAC, State: n.State,
				Queued: n.Queued, Confirmed: n.Confirmed})
		}
	}
	return out
}

// IPv6Addrs returns the IPv6 addresses the engine uses: those of Addrs
// that passed Duplicate Address Detection (all of them with IPv6NoDAD).
func (e *Engine) IPv6Addrs() []netip.Prefix {
	if e.host6 == nil {
		return nil
	}
	return e.host6.UsableAddrs()
}

func randUint64() uint64 {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand never fails on Linux
	}
	return binary.LittleEndian.Uint64(b[:])
}

// queueReporter fills Recv-Q and Send-Q of listings from the sockets'
// queues: every endpoint of the socket table reports its own.
type queueReporter struct{}

func (queueReporter) Queues(s *socktab.Socket) (uint64, uint64) {
	if q, ok := s.Endpoint().(interface{ Queues() (uint64, uint64) }); ok {
		return q.Queues()
	}
	return 0, 0
}
