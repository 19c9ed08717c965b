package inet4

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/xdpengine/engine/afxdp"
	"github.com/xdpengine/engine/flowtable"
	"github.com/xdpengine/engine/header"
	"github.com/xdpengine/engine/ipv4"
	"github.com/xdpengine/engine/portalloc"
	"github.com/xdpengine/engine/stack/datapath"
	"github.com/xdpengine/engine/stack/sock"
)

// Config configures the IPv4 layer of an engine.
type Config struct {
	Interface string
	Ifindex   int
	MAC       header.MAC
	MTU       int
	Addrs     []netip.Prefix   // the engine's addresses
	Gateway   netip.Addr       // next hop off the link (zero: none)
	Neighbors []StaticNeighbor // static ARP entries
	// TrustPartial accepts UDP and TCP packets whose checksum field holds
	// only the pseudo-header sum (a Linux sender on a virtual link).
	TrustPartial bool
	Hook         Hook // sees every packet before transport dispatch (nil: none)
	// HookFragments shows the Hook each fragment as it arrives instead of
	// the reassembled datagram.
	HookFragments bool
	FragMemory    int // reassembly memory per worker
	TxQueue       int // datagrams applications may queue per worker
	Steering      portalloc.Steering
	Bufs          *datapath.Bufs
	State         *sock.State
	Epoch         time.Time // the workers' clock origin
	Logger        *slog.Logger

	// Decap says which tunnels the engine terminates: the far end of a
	// load balancer's direct server return (decap.go).
	Decap Decap
	// EchoReply, when set, is given every ICMP echo reply that arrives
	// (for the engine's own pings): its source, identifier, sequence
	// number, TTL and the ICMP message's length. It runs on the worker
	// and must return at once.
	EchoReply func(src netip.Addr, id, seq uint16, ttl uint8, n int)
}

// StaticNeighbor is a static ARP entry: Addr is at MAC.
type StaticNeighbor struct {
	Addr netip.Addr
	MAC  header.MAC
}

// Host is the engine's IPv4 state that every worker shares: its addresses
// and route, the path MTUs learned from ICMP, the IP ID generator, the
// addresses of IP_TRANSPARENT binds, the UDP ports that receive
// broadcasts, and IP multicast (multicast.go). Its methods are safe for
// concurrent use; workers read it without locks.
type Host struct {
	cfg    Config
	owned  map[netip.Addr]netip.Prefix // read-only after NewHost
	bcast  []netip.Addr                // the subnets' directed broadcasts; read-only after NewHost
	ids    *ipv4.IDGenerator
	pmtu   pmtuCache
	mc     multicast
	layers []*Layer // by queue

	mu          sync.Mutex                  // guards the transparent set's copies, bcastPorts, prog, ann.set's copies
	transparent atomic.Pointer[transparent] // addresses of IP_TRANSPARENT binds
	bcastPorts  map[uint16]int              // UDP sockets able to receive broadcasts, by port
	prog        *afxdp.Program              // the XDP program while the engine runs
	ann         announcements               // addresses answered in ARP besides the owned ones (announce.go)
}

// NewHost checks nothing (the engine validated cfg) and prepares the
// shared state; NewLayer adds the workers.
func NewHost(cfg Config) (*Host, error) {
	h := &Host{cfg: cfg, owned: map[netip.Addr]netip.Prefix{}, bcastPorts: map[uint16]int{}}
	h.ids = ipv4.NewIDGenerator(2048, [2]uint64{randUint64(), randUint64()}, nil)
	for _, p := range cfg.Addrs {
		h.owned[p.Addr()] = p
		if b, ok := afxdp.DirectedBroadcast(p); ok && !slices.Contains(h.bcast, b) {
			h.bcast = append(h.bcast, b)
		}
	}
	if err := h.initMulticast(); err != nil {
		return nil, err
	}
	return h, nil
}

// Attach makes the XDP program follow the host's transparent addresses,
// broadcast ports and multicast groups (Start), and opens the IGMP tap.
func (h *Host) Attach(prog *afxdp.Program) error {
	h.mu.Lock()
	h.prog = prog
	if t := h.transparent.Load(); t != nil {
		for a := range *t {
			if err := prog.AddAddr(a); err != nil {
				h.mu.Unlock()
				return fmt.Errorf("inet4: %w", err)
			}
		}
	}
	for port := range h.bcastPorts {
		if err := prog.AddBroadcastPort(port); err != nil {
			h.mu.Unlock()
			return fmt.Errorf("inet4: %w", err)
		}
	}
	h.mu.Unlock()
	if err := h.startMulticast(prog); err != nil {
		// Reports still go out; only queries are not seen.
		h.cfg.Logger.Warn("IGMP queries will not be answered", "err", err)
	}
	return nil
}

// Detach forgets the program (it is being closed) and closes the tap.
func (h *Host) Detach() {
	h.stopMulticast()
	h.mu.Lock()
	h.prog = nil
	h.mu.Unlock()
}

// TrustPartial reports whether workers accept UDP and TCP packets whose
// checksum field holds only the pseudo-header sum.
func (h *Host) TrustPartial() bool { return h.cfg.TrustPartial }

// MAC returns the interface's Ethernet address.
func (h *Host) MAC() header.MAC { return h.cfg.MAC }

// Addrs returns the engine's addresses.
func (h *Host) Addrs() []netip.Prefix { return h.cfg.Addrs }

// Broadcasts returns the directed broadcasts of the engine's subnets.
func (h *Host) Broadcasts() []netip.Addr { return slices.Clone(h.bcast) }

// Layers returns the workers' IPv4 layers, by queue.
func (h *Host) Layers() []*Layer { return h.layers }

// Owner returns the worker that owns a flow: the one its packets (k in
// arrival order) are steered to.
func (h *Host) Owner(k flowtable.Key) *Layer { return h.layers[h.cfg.Steering.Steer(k)] }

// MTU returns the link MTU.
func (h *Host) MTU() int { return h.cfg.MTU }

// Ifindex returns the interface's index.
func (h *Host) Ifindex() int { return h.cfg.Ifindex }

// Nanotime returns the workers' clock (monotonic nanoseconds).
func (h *Host) Nanotime() int64 { return int64(time.Since(h.cfg.Epoch)) }

// Owns reports whether a is one of the engine's addresses.
func (h *Host) Owns(a netip.Addr) bool {
	_, ok := h.owned[a]
	return ok
}

// IsLocal reports whether a packet to a is for the engine: one of its
// addresses, or one a transparent socket was bound to.
func (h *Host) IsLocal(a netip.Addr) bool {
	if h.Owns(a) {
		return true
	}
	if t := h.transparent.Load(); t != nil {
		_, ok := (*t)[a]
		return ok
	}
	return false
}

// Route returns the next hop for dst, and the source address to use.
func (h *Host) Route(dst netip.Addr) (next, src netip.Addr, ok bool) {
	for _, p := range h.cfg.Addrs {
		if p.Masked().Contains(dst) {
			return dst, p.Addr(), true
		}
	}
	if gw := h.cfg.Gateway; gw.IsValid() {
		for _, p := range h.cfg.Addrs {
			if p.Masked().Contains(gw) {
				return gw, p.Addr(), true
			}
		}
	}
	return next, src, false
}

// SourceFor returns the engine's address it sends to dst from: the
// route's, or the first address when there is no route (the zero Addr
// when the engine has no IPv4 address).
func (h *Host) SourceFor(dst netip.Addr) netip.Addr {
	if _, src, ok := h.Route(dst); ok {
		return src
	}
	if len(h.cfg.Addrs) == 0 {
		return netip.Addr{} // an IPv6-only engine
	}
	return h.cfg.Addrs[0].Addr()
}

// IsBroadcast reports whether a is the limited broadcast or the directed
// broadcast of one of the engine's subnets.
func (h *Host) IsBroadcast(a netip.Addr) bool {
	return a == netip.AddrFrom4([4]byte{255, 255, 255, 255}) || slices.Contains(h.bcast, a)
}

// BroadcastOf returns the directed broadcast address of a's subnet (a is
// one of the engine's addresses), or the zero Addr.
func (h *Host) BroadcastOf(a netip.Addr) netip.Addr {
	p, ok := h.owned[a]
	if !ok || p.Bits() >= 31 {
		return netip.Addr{}
	}
	b := p.Masked().Addr().As4()
	binary.BigEndian.PutUint32(b[:], binary.BigEndian.Uint32(b[:])|^(^uint32(0)<<(32-p.Bits())))
	return netip.AddrFrom4(b)
}

// PathMTU returns the path MTU toward dst: the link MTU, or less when an
// ICMP "fragmentation needed" said so within the last 10 minutes.
func (h *Host) PathMTU(dst netip.Addr) int { return h.pmtu.get(dst, h.cfg.MTU, time.Now()) }

// NextID returns the IP ID of the next datagram from src to dst.
func (h *Host) NextID(src, dst netip.Addr, proto uint8, now int64) uint16 {
	return h.ids.Next(src.As4(), dst.As4(), proto, now)
}

// transparent is the set of addresses IP_TRANSPARENT sockets were bound
// to that the engine does not own. Workers read it without locks; binds
// copy it under Host.mu. An address stays in it, and in the XDP
// program's map, until the engine closes: connections accepted on it
// outlive their listener, as they do under a TPROXY rule, and a packet for
// it that finds no socket gets a RST or a port unreachable.
type transparent map[netip.Addr]struct{}

// AddTransparent makes traffic to a reach the engine (the XDP program's
// address map), for a socket bound to it with IP_TRANSPARENT.
func (h *Host) AddTransparent(a netip.Addr) error {
	if a.IsUnspecified() || h.Owns(a) {
		return nil
	}
	if t := h.transparent.Load(); t != nil {
		if _, ok := (*t)[a]; ok {
			return nil
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	next := transparent{}
	if old := h.transparent.Load(); old != nil {
		for k := range *old {
			next[k] = struct{}{}
		}
	}
	if h.prog != nil {
		if err := h.prog.AddAddr(a); err != nil {
			return err
		}
	}
	next[a] = struct{}{}
	h.transparent.Store(&next)
	return nil
}

// BroadcastBind reports whether a socket bound to a receives broadcasts:
// bound to the wildcard or to a broadcast address (Linux's fan-out rule).
func (h *Host) BroadcastBind(a netip.Addr) bool {
	a = a.Unmap()
	return a.IsUnspecified() || a.Is4() && h.IsBroadcast(a)
}

// AddBroadcastPort makes the XDP program steer broadcast UDP to port to
// the engine while a socket that receives broadcasts is bound to it;
// RemoveBroadcastPort undoes it at close. Counted here so that binds made
// before Start reach the program when it attaches.
func (h *Host) AddBroadcastPort(port uint16) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.bcastPorts[port] == 0 && h.prog != nil {
		if err := h.prog.AddBroadcastPort(port); err != nil {
			return err
		}
	}
	h.bcastPorts[port]++
	return nil
}

// RemoveBroadcastPort drops one socket's claim on port.
func (h *Host) RemoveBroadcastPort(port uint16) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.bcastPorts[port]--; h.bcastPorts[port] > 0 {
		return
	}
	delete(h.bcastPorts, port)
	if h.prog != nil {
		h.prog.RemoveBroadcastPort(port)
	}
}

func randUint64() uint64 {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand never fails on Linux
	}
	return binary.LittleEndian.Uint64(b[:])
}
