package lb

import (
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/xdpengine/engine/header"
	"github.com/xdpengine/engine/lb/health"
	"github.com/xdpengine/engine/lb/maglev"
	"github.com/xdpengine/engine/portalloc"
	"github.com/xdpengine/engine/stack/inet4"
	"github.com/xdpengine/engine/stack/inet6"
)

// Mode is how a VIP forwards to its backends.
type Mode uint8

const (
	// NAT rewrites the destination to the backend and the source to the
	// engine's address and a port of the worker's shard, so the backend
	// answers the balancer, which translates the reply back.
	NAT Mode = iota
	// DSRL2 rewrites only the Ethernet destination: the backend, on the
	// same segment, owns the VIP (on a loopback) and answers the client
	// directly.
	DSRL2
	// DSRIPIP sends the client's packet unchanged inside an outer IPv4
	// header (IP-in-IP, RFC 2003) to the backend, which decapsulates it,
	// owns the VIP and answers the client directly (encap.go).
	DSRIPIP
	// DSRGUE sends it inside outer IPv4 and UDP to VIP.GUEPort (GUE
	// variant 1, Katran's format).
	DSRGUE
	// DSRVXLAN sends it inside outer IPv4, UDP to VIP.VXLANPort and a
	// VXLAN header (VIP.VNI), in an Ethernet frame to Backend.MAC.
	DSRVXLAN
)

func (m Mode) String() string {
	switch m {
	case NAT:
		return "nat"
	case DSRL2:
		return "dsr-l2"
	case DSRIPIP:
		return "dsr-ipip"
	case DSRGUE:
		return "dsr-gue"
	case DSRVXLAN:
		return "dsr-vxlan"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// Backend is a server behind a VIP.
type Backend struct {
	Addr   netip.Addr
	Port   uint16 // 0: the port the client sent to
	Weight uint32 // share of new flows; 0 takes none (drain)
	// MAC is the Ethernet address of the backend's VXLAN device, the
	// destination of the inner frame (dsr-vxlan only: a kernel drops a TCP
	// segment in a frame not addressed to it).
	MAC header.MAC
}

// VIP is a virtual service: traffic to Addr:Port (Port 0: every port) of
// protocol Proto is spread over Backends.
type VIP struct {
	Addr       netip.Addr
	Port       uint16
	Proto      uint8 // header.ProtocolTCP or header.ProtocolUDP
	Mode       Mode
	TableSize  uint32 // Maglev table size, a prime (0: 65537)
	SourceHash bool   // hash the client's address only (client affinity)
	// GUEPort is dsr-gue's UDP destination port (0: DefaultGUEPort);
	// VXLANPort (0: DefaultVXLANPort) and VNI are dsr-vxlan's.
	GUEPort   uint16
	VXLANPort uint16
	VNI       uint32
	// HashFragments (DSR modes) forwards the VIP's fragments as they
	// come, unreassembled, to the backend of a hash of what every fragment
	// carries (fragments.go); else they are reassembled first.
	HashFragments bool
	// FastPath hands the VIP's established flows to the XDP program's
	// fast path (fastpath.go).
	FastPath bool
	// Announce makes the engine answer ARP requests (IPv4) or Neighbor
	// Solicitations (IPv6) for the VIP with its own MAC address and
	// announce it (a gratuitous ARP, an unsolicited Neighbor
	// Advertisement), for a VIP on the engine's segment that clients reach
	// without a route to the engine (inet4.Host.Announce,
	// inet6.Host.Announce).
	Announce bool
	Backends []Backend
	// Health checks every backend (Kind zero or health.KindNone: none,
	// every backend is up); a backend that fails leaves the Maglev table
	// until it passes again. HealthPort is the port checked (0: the
	// VIP's port).
	Health     health.Spec
	HealthPort uint16
	// HealthAtVIP (dsr-l2) checks each backend at the VIP, which it owns,
	// with the check's packets sent to the backend as the VIP's are: what
	// the service answers on the VIP, not on the backend's own address.
	HealthAtVIP bool
}

// Key is the VIP as the CLI writes it, "198.18.0.100:80/tcp" or, for an
// IPv6 VIP, "[2001:db8::100]:80/tcp".
func (v *VIP) Key() string {
	p := "tcp"
	if v.Proto == header.ProtocolUDP {
		p = "udp"
	}
	return netip.AddrPortFrom(v.Addr, v.Port).String() + "/" + p
}

// Timeouts are the connection-tracking idle timeouts (a zero field: its
// DefaultTimeouts value). SetConfig changes them on the running tables:
// each worker applies them at its next tick, to the flows it tracks.
type Timeouts struct {
	TCPSyn, TCPEstablished, TCPClosing, UDP time.Duration
}

// withDefaults fills t's zero fields from DefaultTimeouts.
func (t Timeouts) withDefaults() Timeouts {
	pick := func(v, d time.Duration) time.Duration {
		if v <= 0 {
			return d
		}
		return v
	}
	d := DefaultTimeouts
	return Timeouts{pick(t.TCPSyn, d.TCPSyn), pick(t.TCPEstablished, d.TCPEstablished),
		pick(t.TCPClosing, d.TCPClosing), pick(t.UDP, d.UDP)}
}

// classes are t as the connection table's idle timeouts by class.
func (t Timeouts) classes() []int64 {
	return []int64{0, int64(t.TCPSyn), int64(t.TCPEstablished), int64(t.TCPClosing), int64(t.UDP), 0}
}

// Config is the balancer's configuration.
type Config struct {
	VIPs []VIP
	// MaxFlows bounds the tracked flows, all workers together (default
	// 65536; each worker's tables hold its share: one for IPv4 flows, one
	// for IPv6 flows and those of VIPs with the fast path, each bounded
	// alike); a full table forwards new DSR flows by Maglev alone and
	// refuses new NAT flows, counted.
	// The tables are sized when the workers start (AddWorker): a change
	// takes effect at the next start.
	MaxFlows int
	Timeouts Timeouts
}

// Defaults.
const (
	DefaultTableSize = 65537
	DefaultMaxFlows  = 65536
	DefaultGUEPort   = 6080 // Katran's
	DefaultVXLANPort = 4789 // IANA's
)

// DefaultTimeouts are IPVS-like: SYN 30 s, established 15 min, closing
// (FIN or RST seen) 30 s, UDP 60 s.
var DefaultTimeouts = Timeouts{TCPSyn: 30 * time.Second, TCPEstablished: 15 * time.Minute,
	TCPClosing: 30 * time.Second, UDP: 60 * time.Second}

// ErrConfig is wrapped by every configuration error.
var ErrConfig = errors.New("invalid load balancer configuration")

// Params are what the engine gives the balancer.
type Params struct {
	Host *inet4.Host
	// SNAT is the engine address NAT flows come from.
	SNAT netip.Addr
	// Host6 is the engine's IPv6 state (nil: an engine without IPv6
	// addresses, which refuses IPv6 VIPs); SNAT6 is the address IPv6 NAT
	// flows come from (the engine's first IPv6 address).
	Host6 *inet6.Host
	SNAT6 netip.Addr
	// Ports are the engine's port allocators by protocol (the socket
	// table's): NAT ports come from the owning worker's shard, so that
	// replies reach that worker, and never collide with the engine's own
	// connections.
	TCPPorts, UDPPorts *portalloc.Allocator
	Seed               uint64 // Maglev hash seed: equal on every instance that must agree
	// Dial runs the health checks (the engine's own TCP and UDP); nil:
	// no checks, every backend is up.
	Dial   health.DialFunc
	Logger *slog.Logger
}

// Balancer is the engine's L4 load balancer: its VIPs and their Maglev
// tables (an immutable snapshot, rebuilt off the hot path and swapped
// atomically) and one forwarder per worker, which owns that worker's
// connection tracking.
type Balancer struct {
	p    Params
	mu   sync.Mutex // serialises SetConfig and health changes
	cfg  Config     // as set; the running state has down backends at weight 0
	cur  atomic.Pointer[state]
	fwds []*forwarder
	// fastSet: SetFastPath gave every forwarder its fast path (the
	// forwarders' plain fast fields are read by FastPath, from any
	// goroutine, only once this is true).
	fastSet atomic.Bool
	// vipReg and beReg number the VIPs and backends for the IPv4
	// connection table (registry.go).
	vipReg *registry[vip]
	beReg  *registry[backend]
	// timeouts are the idle timeouts the workers apply at their next tick.
	timeouts atomic.Pointer[Timeouts]

	checker *health.Checker // nil without Params.Dial
	wasUp   map[string]bool // backends up at the last health change (healthLoop, under mu)
	changed chan struct{}   // a health transition happened (capacity 1)
	done    chan struct{}
	loop    sync.WaitGroup
	stop    sync.Once
}

// state is one configuration, built.
type state struct {
	vips map[vipKey]*vip
	// vips6 are the IPv6 VIPs (forward6.go).
	vips6 map[vipKey6]*vip
	// frags holds, by address and protocol (port 0), the VIP whose table
	// routes fragments that are not reassembled (fragments.go).
	frags map[vipKey]*vip
}

type vipKey struct {
	addr  [4]byte
	port  uint16
	proto uint8
}

// vip is a VIP with its Maglev table; backends are in the table's order.
type vip struct {
	cfg      VIP
	key      string
	table    *maglev.Table
	backends []*backend
	stats    counterSet
	tr       *tracked // its registry slot, shared with its other versions
}

type backend struct {
	addr   [4]byte  // an IPv4 backend's
	addr16 [16]byte // an IPv6 backend's
	ip     netip.Addr
	port   uint16
	mac    header.MAC // dsr-vxlan: the inner frame's destination
	stats  counterSet
	tr     *tracked // its registry slot, shared with its other versions
}

// counters are one worker's counts of a VIP's or a backend's traffic:
// written by that worker alone (atomics on a cache line of its own, so
// workers never share one), summed by Stats.
type counters struct {
	packets, bytes, newFlows atomic.Uint64
	drops                    [NumDropReasons]atomic.Uint64
	_                        [8]byte // 64 bytes: a cache line each
}

// add counts packets packets of bytes bytes (the owning worker's set).
func (c *counters) add(packets, bytes uint64) {
	c.packets.Add(packets)
	c.bytes.Add(bytes)
}

// DropReason says why the balancer dropped a packet to a VIP.
type DropReason uint8

const (
	// DropNoBackend: no backend takes new flows (all down or drained).
	DropNoBackend DropReason = iota
	// DropTableFull: a new NAT flow found the connection table full or
	// the worker's ports toward its backend used up.
	DropTableFull
	// DropTooBig: encapsulation would exceed the MTU and the client set
	// DF (it was sent ICMP "fragmentation needed").
	DropTooBig
	// DropOther: a reassembled datagram of a flow another worker owns,
	// a packet too large to encapsulate at all.
	DropOther
	// NumDropReasons is how many reasons there are.
	NumDropReasons
)

func (r DropReason) String() string {
	return [...]string{"no backend", "table full", "too big", "other"}[r]
}

// counterSet holds one counters per worker.
type counterSet []counters

func (c counterSet) sum() (packets, bytes, newFlows uint64, drops [NumDropReasons]uint64) {
	for i := range c {
		packets += c[i].packets.Load()
		bytes += c[i].bytes.Load()
		newFlows += c[i].newFlows.Load()
		for r := range drops {
			drops[r] += c[i].drops[r].Load()
		}
	}
	return
}

// New makes a balancer; AddWorker gives it the workers, SetConfig its VIPs.
func New(p Params) *Balancer {
	if p.Logger == nil {
		p.Logger = slog.Default()
	}
	b := &Balancer{p: p, changed: make(chan struct{}, 1), done: make(chan struct{}),
		vipReg: newRegistry[vip](), beReg: newRegistry[backend]()}
	if p.Dial != nil {
		b.checker = health.New(p.Dial, func(health.Event) {
			select { // never blocks a check: the loop reads the checker's state
			case b.changed <- struct{}{}:
			default:
			}
		}, p.Logger)
		b.loop.Add(1)
		go b.healthLoop()
	}
	return b
}

// SetConfig checks c, builds its Maglev tables and swaps it in; on error
// the running configuration stays. Tracked flows keep their backends.
// Backends with health checks take new flows once they pass.
func (b *Balancer) SetConfig(c Config) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	c = cloneConfig(c)
	st, err := b.build(b.effective(&c))
	if err != nil {
		return err
	}
	if err := b.assign(st); err != nil {
		return err
	}
	if b.checker != nil {
		if err := b.checker.Set(targets(&c)); err != nil {
			b.discard(st)
			return fmt.Errorf("lb: health checks: %w: %w", err, ErrConfig)
		}
	}
	for _, v := range c.VIPs {
		var err error
		if v.Addr.Is6() {
			err = b.p.Host6.AddTransparent(v.Addr) // build checked that there is one
		} else {
			err = b.p.Host.AddTransparent(v.Addr)
		}
		if err != nil {
			b.discard(st)
			return fmt.Errorf("lb: VIP %s: %w", v.Key(), err)
		}
	}
	b.announce(b.cfg.VIPs, c.VIPs)
	b.cfg = c
	b.publish(st)
	b.cur.Store(st)
	if t := c.Timeouts.withDefaults(); b.timeouts.Load() == nil || *b.timeouts.Load() != t {
		b.timeouts.Store(&t)
	}
	return nil
}

// Config returns the running configuration.
func (b *Balancer) Config() Config {
	b.mu.Lock()
	defer b.mu.Unlock()
	return cloneConfig(b.cfg)
}

// build makes the running state of c (its weights as they apply now).
func (b *Balancer) build(c *Config) (*state, error) {
	st := &state{vips: map[vipKey]*vip{}, vips6: map[vipKey6]*vip{}, frags: map[vipKey]*vip{}}
	for i := range c.VIPs {
		v := &c.VIPs[i]
		v.Addr = v.Addr.WithZone("")
		if err := b.checkFamily(v); err != nil {
			return nil, err
		}
		if err := b.checkAnnounce(v); err != nil {
			return nil, err
		}
		if v.Proto != header.ProtocolTCP && v.Proto != header.ProtocolUDP {
			return nil, fmt.Errorf("lb: VIP %s: protocol %d: want tcp or udp: %w", v.Key(), v.Proto, ErrConfig)
		}
		if v.Mode > DSRVXLAN {
			return nil, fmt.Errorf("lb: VIP %s: forwarding %v: want nat, dsr-l2, dsr-ipip, dsr-gue or dsr-vxlan: %w", v.Key(), v.Mode, ErrConfig)
		}
		if v.TableSize == 0 {
			v.TableSize = DefaultTableSize
		}
		if v.Mode == DSRGUE && v.GUEPort == 0 {
			v.GUEPort = DefaultGUEPort
		}
		if v.Mode == DSRVXLAN && v.VXLANPort == 0 {
			v.VXLANPort = DefaultVXLANPort
		}
		if v.HealthAtVIP && v.Mode != DSRL2 {
			return nil, fmt.Errorf("lb: VIP %s: health checks at the VIP need dsr-l2 (%v: not supported yet; check the backends' own addresses): %w", v.Key(), v.Mode, ErrConfig)
		}
		if v.VNI >= 1<<24 {
			return nil, fmt.Errorf("lb: VIP %s: VNI %d: want 0 to 16777215: %w", v.Key(), v.VNI, ErrConfig)
		}
		k, k6 := vipKey{port: v.Port, proto: v.Proto}, vipKey6{port: v.Port, proto: v.Proto}
		if v.Addr.Is6() {
			k6.addr = v.Addr.As16()
			if st.vips6[k6] != nil {
				return nil, fmt.Errorf("lb: VIP %s given twice: %w", v.Key(), ErrConfig)
			}
		} else {
			k.addr = v.Addr.As4()
			if st.vips[k] != nil {
				return nil, fmt.Errorf("lb: VIP %s given twice: %w", v.Key(), ErrConfig)
			}
		}
		mb := make([]maglev.Backend, 0, len(v.Backends))
		byKey := map[string]*backend{}
		for _, be := range v.Backends {
			key := be.Addr.String()
			if byKey[key] != nil {
				return nil, fmt.Errorf("lb: VIP %s: backend %v given twice: %w", v.Key(), be.Addr, ErrConfig)
			}
			if v.Mode == NAT && v.Port == 0 && be.Port != 0 && v.Addr.Is4() && !v.FastPath {
				// The reply key's entry names the client's address and
				// port and the VIP (conntrack4.go): the port the client
				// sent to is the VIP's, or the backend's.
				return nil, fmt.Errorf("lb: VIP %s: backend %v: a nat VIP of every port sends each flow to the port its client sent to (a backend port is not supported): %w", v.Key(), be.Addr, ErrConfig)
			}
			if v.Mode == DSRVXLAN && be.MAC == (header.MAC{}) {
				return nil, fmt.Errorf("lb: VIP %s: backend %v: dsr-vxlan needs the MAC of the backend's VXLAN device: %w", v.Key(), be.Addr, ErrConfig)
			}
			nb := &backend{ip: be.Addr, port: be.Port, mac: be.MAC, stats: make(counterSet, len(b.fwds))}
			if be.Addr.Is6() {
				nb.addr16 = be.Addr.As16()
			} else {
				nb.addr = be.Addr.As4()
			}
			byKey[key] = nb
			mb = append(mb, maglev.Backend{Key: key, Weight: be.Weight})
		}
		t, err := maglev.Build(mb, v.TableSize, b.p.Seed)
		if err != nil {
			return nil, fmt.Errorf("lb: VIP %s: %w: %w", v.Key(), err, ErrConfig)
		}
		nv := &vip{cfg: *v, key: v.Key(), table: t, stats: make(counterSet, len(b.fwds))}
		for _, m := range t.Backends() {
			nv.backends = append(nv.backends, byKey[m.Key])
		}
		old := b.cur.Load()
		if v.Addr.Is6() {
			if old != nil {
				nv.inherit(old.vips6[k6])
			}
			st.vips6[k6] = nv
			continue
		}
		if old != nil {
			nv.inherit(old.vips[k])
		}
		st.vips[k] = nv
	}
	if err := st.fragmentVIPs(); err != nil {
		return nil, err
	}
	return st, nil
}

// inherit makes the VIP and the backends that stay share their counters
// with the previous configuration's: flows tracked before the change
// count on the old objects, and Stats sees them.
func (v *vip) inherit(old *vip) {
	if old == nil {
		return
	}
	v.stats = old.stats
	for _, nb := range v.backends {
		for _, ob := range old.backends {
			if ob.ip == nb.ip {
				nb.stats = ob.stats
			}
		}
	}
}

// all yields every VIP, IPv4 then IPv6.
func (s *state) all() iter.Seq[*vip] {
	return func(yield func(*vip) bool) {
		for _, v := range s.vips {
			if !yield(v) {
				return
			}
		}
		for _, v := range s.vips6 {
			if !yield(v) {
				return
			}
		}
	}
}

// checkFamily checks v's address family: an IPv4 VIP with IPv4 backends,
// or an IPv6 VIP with IPv6 backends in the modes IPv6 supports, on an
// engine with an IPv6 address.
func (b *Balancer) checkFamily(v *VIP) error {
	if !v.Addr.Is4() && !v.Addr.Is6() || v.Addr.Is4In6() {
		return fmt.Errorf("lb: VIP %v: not an IPv4 or IPv6 address: %w", v.Addr, ErrConfig)
	}
	for _, be := range v.Backends {
		if be.Addr.Is4() != v.Addr.Is4() || be.Addr.Is4In6() {
			return fmt.Errorf("lb: VIP %s: backend %v: a VIP and its backends must be of one address family (IPv4 with IPv4, IPv6 with IPv6; mixed families are not supported yet): %w",
				v.Key(), be.Addr, ErrConfig)
		}
	}
	if v.Addr.Is4() {
		return nil
	}
	switch {
	case v.Mode != NAT && v.Mode != DSRL2:
		return fmt.Errorf("lb: VIP %s: forwarding %v over IPv6 is not supported yet (IPv6 VIPs use nat or dsr-l2): %w", v.Key(), v.Mode, ErrConfig)
	case v.FastPath:
		return fmt.Errorf("lb: VIP %s: the XDP fast path does not forward IPv6 yet: remove FastPath: %w", v.Key(), ErrConfig)
	case v.HashFragments:
		return fmt.Errorf("lb: VIP %s: hashed fragments are not supported over IPv6 yet (IPv6 fragments are reassembled): %w", v.Key(), ErrConfig)
	case v.HealthAtVIP:
		return fmt.Errorf("lb: VIP %s: health checks at an IPv6 VIP are not supported yet (check the backends' own addresses): %w", v.Key(), ErrConfig)
	case b.p.Host6 == nil:
		return fmt.Errorf("lb: VIP %s: the engine has no IPv6 address: %w", v.Key(), ErrConfig)
	case v.Mode == NAT && !b.p.SNAT6.IsValid():
		return fmt.Errorf("lb: VIP %s: nat needs an IPv6 address of the engine to send from: %w", v.Key(), ErrConfig)
	}
	return nil
}

// lookup finds the VIP of a packet: the exact port, else the VIP of every
// port.
func (s *state) lookup(dst [4]byte, port uint16, proto uint8) *vip {
	if v := s.vips[vipKey{dst, port, proto}]; v != nil {
		return v
	}
	return s.vips[vipKey{dst, 0, proto}]
}

// Lookup returns the backend a new flow from src to the VIP would get,
// for scripts and the CLI's `engine lb lookup`.
func (b *Balancer) Lookup(vipAddr netip.AddrPort, proto uint8, src netip.AddrPort) (netip.Addr, error) {
	st := b.cur.Load()
	if st == nil {
		return netip.Addr{}, fmt.Errorf("lb: no configuration")
	}
	va, sa := vipAddr.Addr().Unmap(), src.Addr().Unmap()
	var v *vip
	if va.Is6() {
		v = st.lookup6(va.As16(), vipAddr.Port(), proto)
	} else {
		v = st.lookup(va.As4(), vipAddr.Port(), proto)
	}
	if v == nil {
		return netip.Addr{}, fmt.Errorf("lb: no VIP %v/%d", vipAddr, proto)
	}
	if sa.Is6() != va.Is6() {
		return netip.Addr{}, fmt.Errorf("lb: VIP %s: client %v is of the other address family", v.key, sa)
	}
	var h uint64
	if va.Is6() {
		h = flowHash6(v, sa.As16(), va.As16(), src.Port(), vipAddr.Port(), proto, b.p.Seed)
	} else {
		h = flowHash(v, sa.As4(), va.As4(), src.Port(), vipAddr.Port(), proto, b.p.Seed)
	}
	i := v.table.Lookup(h)
	if i < 0 {
		return netip.Addr{}, fmt.Errorf("lb: VIP %s has no backend taking new flows", v.key)
	}
	return v.backends[i].ip, nil
}

// VIPStats are one VIP's counters, with its backends'. A VIP counts the
// packets of both directions it translates (in NAT mode the replies pass
// through the balancer too); its backends count what was sent to them.
type VIPStats struct {
	VIP      string
	Packets  uint64
	Bytes    uint64
	NewFlows uint64
	Drops    uint64 // all reasons
	// DropsBy breaks Drops down by DropReason.
	DropsBy  [NumDropReasons]uint64
	Flows    uint64 // tracked now
	Backends []BackendStats
}

// BackendStats are one backend's counters.
type BackendStats struct {
	Addr                     netip.Addr
	Weight                   uint32 // as it applies now: 0 while drained or down
	Up                       bool   // its health checks pass (true without checks)
	Checked                  bool   // it has health checks
	Packets, Bytes, NewFlows uint64
	// Flows are tracked now: those naming this backend (its address,
	// port and MAC; a backend that changed port has its earlier flows
	// under the earlier one, which Stats no longer lists).
	Flows uint64
}

// Stats returns the VIPs' counters.
func (b *Balancer) Stats() []VIPStats {
	st := b.cur.Load()
	if st == nil {
		return nil
	}
	counts := b.flowCounts()
	var out []VIPStats
	for v := range st.all() {
		vs := VIPStats{VIP: v.key}
		vs.Packets, vs.Bytes, vs.NewFlows, vs.DropsBy = v.stats.sum()
		for _, d := range vs.DropsBy {
			vs.Drops += d
		}
		for i, be := range v.backends {
			bs := BackendStats{Addr: be.ip, Weight: v.table.Backend(i).Weight, Up: true}
			bs.Packets, bs.Bytes, bs.NewFlows, _ = be.stats.sum()
			if b.checker != nil && checked(&v.cfg) {
				h, ok := b.checker.State(v.key + " " + bs.Addr.String())
				bs.Up, bs.Checked = ok && h.Up, true
			}
			// IPv4 flows by their claims on the backend (conntrack4.go),
			// the others as counted in the records' tables.
			bs.Flows = counts[v.key+" "+bs.Addr.String()] + uint64(max(be.tr.flows(), 0))
			vs.Flows += bs.Flows
			vs.Backends = append(vs.Backends, bs)
		}
		out = append(out, vs)
	}
	return out
}
