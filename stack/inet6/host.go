package inet6

import (
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/xdpengine/engine/afxdp"
	"github.com/xdpengine/engine/header"
	"github.com/xdpengine/engine/ipv6"
	"github.com/xdpengine/engine/mld"
	"github.com/xdpengine/engine/stack/datapath"
)

// Config configures the IPv6 layer of an engine.
type Config struct {
	Interface string
	Ifindex   int
	MAC       header.MAC
	MTU       int              // the link MTU (at least 1280)
	Addrs     []netip.Prefix   // the engine's IPv6 addresses
	Gateway   netip.Addr       // next hop off the link (zero: none); may be link-local
	Neighbors []StaticNeighbor // static neighbor cache entries
	// NoDAD assigns the addresses at once, without Duplicate Address
	// Detection (`ip addr add ... nodad`).
	NoDAD bool
	// RouterSolicitation sets the Router Solicitations sent, when Gateway
	// is not set, until a Router Advertisement is heard (zero: Linux's 3,
	// 4 s apart, after a random delay up to 1 s).
	RouterSolicitation RouterSolicitation
	// TrustPartial accepts UDP and TCP packets whose checksum field holds
	// only the pseudo-header sum (for the transports).
	TrustPartial bool
	FragMemory   int // reassembly memory per worker
	TxQueue      int // datagrams applications may queue per worker
	Bufs         *datapath.Bufs
	Epoch        time.Time // the workers' clock origin
	Logger       *slog.Logger
	// EchoReply, when set, is given every ICMPv6 echo reply that arrives
	// for one of the engine's addresses (for the engine's own pings): its
	// source, identifier, sequence number, hop limit and the ICMPv6
	// message's length. It runs on the worker and must return at once.
	EchoReply func(src netip.Addr, id, seq uint16, hopLimit uint8, n int)
}

// StaticNeighbor is a static neighbor cache entry: Addr is at MAC.
type StaticNeighbor struct {
	Addr netip.Addr
	MAC  header.MAC
}

// Host is the engine's IPv6 state that every worker shares: its addresses
// (configured, and those past Duplicate Address Detection), its route,
// the path MTUs learned from Packet Too Big, the fragment identifications
// and the MLD host of the groups joined. Its methods are safe for
// concurrent use; workers read it without locks.
type Host struct {
	cfg       Config
	owned     map[netip.Addr]netip.Prefix // configured; read-only after NewHost
	solicited map[[16]byte]bool           // their solicited-node groups; read-only after NewHost
	linkLocal [16]byte                    // the interface's EUI-64 link-local address (the host kernel's)
	ids       *ipv6.IDGenerator
	pmtu      pmtuCache
	layers    []*Layer // by queue
	ra        routers  // learned from Router Advertisements

	// usable holds the addresses past DAD (all of them with NoDAD);
	// workers load it per packet and refresh their responders when gen
	// moves.
	usable atomic.Pointer[[]netip.Prefix]
	gen    atomic.Uint64
	// transparent holds the addresses the engine receives for without
	// owning them (AddTransparent: the load balancer's VIPs); nil: none.
	transparent atomic.Pointer[map[[16]byte]struct{}]

	mu       sync.Mutex // guards prog, mld, groups' and transparent's copies, dad*
	prog     *afxdp.Program
	mld      *mld.Host
	mldDue   atomic.Bool                           // a report may be due now: worker 0 polls
	groups   atomic.Pointer[map[[16]byte]struct{}] // joined groups, for the receive check
	dadLeft  int                                   // addresses whose DAD has not ended
	dadDone  chan struct{}                         // closed when dadLeft reaches 0
	dadFails []netip.Addr                          // addresses found duplicate
	ann      announcements6                        // addresses answered in NDP besides the owned ones (announce.go)
}

// NewHost prepares the shared state (the engine validated cfg); NewLayer
// adds the workers.
func NewHost(cfg Config) (*Host, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	h := &Host{cfg: cfg, owned: map[netip.Addr]netip.Prefix{}, solicited: map[[16]byte]bool{},
		linkLocal: header.LinkLocalFromMAC(cfg.MAC), ids: ipv6.NewIDGenerator(nil),
		dadDone: make(chan struct{})}
	for _, p := range cfg.Addrs {
		if !p.Addr().Is6() || p.Addr().Is4In6() {
			return nil, fmt.Errorf("inet6: %v is not an IPv6 address", p)
		}
		h.owned[p.Addr()] = p
		h.solicited[header.SolicitedNodeMulticast(p.Addr().As16())] = true
	}
	h.initRouters()
	h.mld = mld.New(mld.Config{MTU: header.IPv6MinMTU}) // reports fit the layer's frame scratch
	h.groups.Store(&map[[16]byte]struct{}{})
	none := []netip.Prefix{}
	h.usable.Store(&none)
	if cfg.NoDAD {
		all := slices.Clone(cfg.Addrs)
		h.usable.Store(&all)
		h.gen.Add(1)
		close(h.dadDone)
	} else {
		h.dadLeft = len(cfg.Addrs)
		if h.dadLeft == 0 {
			close(h.dadDone)
		}
	}
	return h, nil
}

// Attach makes the XDP program follow the groups joined and opens the
// ICMPv6 tap (Start).
func (h *Host) Attach(prog *afxdp.Program) error {
	h.mu.Lock()
	h.prog = prog
	if t := h.transparent.Load(); t != nil {
		for a := range *t {
			if err := prog.AddAddr(netip.AddrFrom16(a)); err != nil {
				h.mu.Unlock()
				return fmt.Errorf("inet6: %w", err)
			}
		}
	}
	for g := range *h.groups.Load() {
		if err := prog.AddGroup(netip.AddrFrom16(g)); err != nil {
			h.mu.Unlock()
			return fmt.Errorf("inet6: %w", err)
		}
	}
	h.mldDue.Store(true)
	h.mu.Unlock()
	if err := h.startRouters(); err != nil {
		// Config.Gateway still routes, and group-specific queries come.
		h.cfg.Logger.Warn("IPv6 Router Advertisements and general MLD queries will not be seen", "err", err)
	}
	return nil
}

// Detach forgets the program (it is being closed) and closes the tap.
func (h *Host) Detach() {
	h.stopRouters()
	h.mu.Lock()
	h.prog = nil
	h.mu.Unlock()
}

// WaitDAD waits, up to timeout, for Duplicate Address Detection to end on
// every configured address, and returns the addresses found duplicate
// (which the engine does not use). ok is false on timeout.
func (h *Host) WaitDAD(timeout time.Duration) (dups []netip.Addr, ok bool) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-h.dadDone:
		ok = true
	default:
		select {
		case <-h.dadDone:
			ok = true
		case <-t.C:
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.dadFails), ok
}

// dadResult records the end of an address's DAD (worker 0).
func (h *Host) dadResult(a16 [16]byte, unique bool) {
	a := netip.AddrFrom16(a16)
	p, ok := h.owned[a]
	if !ok {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if unique {
		next := append(slices.Clone(*h.usable.Load()), p)
		h.usable.Store(&next)
		h.gen.Add(1)
	} else {
		h.dadFails = append(h.dadFails, a)
		h.cfg.Logger.Error("IPv6 duplicate address detected: another node on the link uses it; the engine does not use it",
			"interface", h.cfg.Interface, "addr", a)
		if h.prog != nil {
			if err := h.prog.RemoveAddr(a); err != nil {
				h.cfg.Logger.Warn("cannot give a duplicate address back to the host", "addr", a, "err", err)
			}
		}
	}
	if h.dadLeft > 0 {
		if h.dadLeft--; h.dadLeft == 0 {
			close(h.dadDone)
		}
	}
}

// MAC returns the interface's Ethernet address.
func (h *Host) MAC() header.MAC { return h.cfg.MAC }

// MTU returns the link MTU: Config.MTU, or less when a Router
// Advertisement's MTU option said so (never below 1280).
func (h *Host) MTU() int {
	if m := h.ra.mtu.Load(); m != 0 {
		return int(m)
	}
	return h.cfg.MTU
}

// TrustPartial reports whether workers accept UDP and TCP packets whose
// checksum field holds only the pseudo-header sum.
func (h *Host) TrustPartial() bool { return h.cfg.TrustPartial }

// Addrs returns the configured IPv6 addresses (usable or not).
func (h *Host) Addrs() []netip.Prefix { return h.cfg.Addrs }

// UsableAddrs returns the addresses past DAD, the ones the engine uses.
func (h *Host) UsableAddrs() []netip.Prefix { return slices.Clone(*h.usable.Load()) }

// Layers returns the workers' IPv6 layers, by queue.
func (h *Host) Layers() []*Layer { return h.layers }

// Owns reports whether a is a configured address (tentative, duplicate
// or usable).
func (h *Host) Owns(a netip.Addr) bool {
	_, ok := h.owned[a]
	return ok
}

// Usable reports whether a is an address the engine uses: configured and
// past DAD.
func (h *Host) Usable(a netip.Addr) bool {
	for _, p := range *h.usable.Load() {
		if p.Addr() == a {
			return true
		}
	}
	return false
}

// AddTransparent makes traffic to the unicast address a reach the engine
// (the XDP program's address map) although the engine does not own it: a
// load balancer's VIP, which the engine does not use as a source and
// answers Neighbor Discovery for only once announced (Announce). The IPv6 layer offers its packets to
// the Forwarder, then to the engine's own stack. An address stays until
// the engine closes.
func (h *Host) AddTransparent(a netip.Addr) error {
	a = a.WithZone("")
	if !a.Is6() || a.Is4In6() || a.IsMulticast() || a.IsUnspecified() {
		return fmt.Errorf("inet6: %v is not an IPv6 unicast address", a)
	}
	if h.Owns(a) || h.isTransparent(a.As16()) {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	next := map[[16]byte]struct{}{}
	if old := h.transparent.Load(); old != nil {
		for k := range *old {
			next[k] = struct{}{}
		}
	}
	if h.prog != nil {
		if err := h.prog.AddAddr(a); err != nil {
			return fmt.Errorf("inet6: %w", err)
		}
	}
	next[a.As16()] = struct{}{}
	h.transparent.Store(&next)
	return nil
}

// isTransparent reports whether a was added with AddTransparent.
func (h *Host) isTransparent(a [16]byte) bool {
	t := h.transparent.Load()
	if t == nil {
		return false
	}
	_, ok := (*t)[a]
	return ok
}

// isLinkLocal reports whether a is in fe80::/10.
func isLinkLocal(a [16]byte) bool { return a[0] == 0xfe && a[1]&0xc0 == 0x80 }

// Route returns the next hop toward dst and the source address to use
// (RFC 6724's rules that matter with one interface and no temporary
// addresses: the usable address whose prefix holds dst, then the one
// whose prefix holds the next hop, then the first). A destination inside
// a prefix of a usable address, link-local, or in a prefix a Router
// Advertisement said is on-link, is on the link; anything else goes
// through Config.Gateway, or when it is not set through the default router
// learned from Router Advertisements. ok is false when there is no usable
// address, or no route.
func (h *Host) Route(dst netip.Addr) (next, src netip.Addr, ok bool) {
	us := *h.usable.Load()
	if len(us) == 0 {
		return next, src, false
	}
	for _, p := range us {
		if p.Masked().Contains(dst) {
			return dst, p.Addr(), true
		}
	}
	if isLinkLocal(dst.As16()) || dst.IsMulticast() {
		return dst, us[0].Addr(), true
	}
	gw := h.cfg.Gateway
	if lr := h.ra.learned.Load(); lr != nil {
		now := h.Nanotime()
		if lr.onLink(now, dst.As16()) {
			return dst, us[0].Addr(), true
		}
		if !gw.IsValid() && lr.router.IsValid() && lr.routerExp > now {
			gw = lr.router
		}
	}
	if !gw.IsValid() {
		return next, src, false
	}
	for _, p := range us {
		if p.Masked().Contains(gw) {
			return gw, p.Addr(), true
		}
	}
	return gw, us[0].Addr(), true
}

// SourceFor returns the address the engine sends to dst from: the route's,
// or the first usable address (zero when there is none).
func (h *Host) SourceFor(dst netip.Addr) netip.Addr {
	if _, src, ok := h.Route(dst); ok {
		return src
	}
	if us := *h.usable.Load(); len(us) > 0 {
		return us[0].Addr()
	}
	return netip.Addr{}
}

// PathMTU returns the path MTU toward dst: the link MTU, or less when a
// Packet Too Big said so within the last 10 minutes (never below 1280).
func (h *Host) PathMTU(dst netip.Addr) int { return h.pmtu.get(dst, h.MTU(), time.Now()) }

// Learn records mtu toward dst (from a Packet Too Big, RFC 8201).
func (h *Host) Learn(dst netip.Addr, mtu int) { h.pmtu.update(dst, mtu, time.Now()) }

// NextFragID returns a fragment identification.
func (h *Host) NextFragID() uint32 { return h.ids.Next() }

// Nanotime returns the workers' clock (monotonic nanoseconds).
func (h *Host) Nanotime() int64 { return int64(time.Since(h.cfg.Epoch)) }

// takesGroup reports whether the engine receives packets to the
// multicast address g: all-nodes, the solicited-node group of one of its
// addresses, or a group a socket joined.
func (h *Host) takesGroup(g [16]byte) bool {
	if g == allNodes || h.solicited[g] || h.announcesGroup(g) {
		return true
	}
	_, ok := (*h.groups.Load())[g]
	return ok
}

var allNodes = [16]byte{0xff, 0x02, 15: 0x01}

// JoinGroup adds a membership of the multicast group g (a socket's
// IPV6_JOIN_GROUP): the XDP program steers g to the engine and MLD
// reports it.
func (h *Host) JoinGroup(g netip.Addr) error {
	if !g.Is6() || !g.IsMulticast() {
		return fmt.Errorf("inet6: %v is not an IPv6 multicast group", g)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	k := g.As16()
	if err := h.mld.Join(h.Nanotime(), k); err != nil {
		return fmt.Errorf("inet6: %w", err)
	}
	cur := *h.groups.Load()
	if _, ok := cur[k]; !ok {
		if h.prog != nil {
			if err := h.prog.AddGroup(g); err != nil {
				h.mld.Leave(h.Nanotime(), k)
				return fmt.Errorf("inet6: %w", err)
			}
		}
		next := make(map[[16]byte]struct{}, len(cur)+1)
		for a := range cur {
			next[a] = struct{}{}
		}
		next[k] = struct{}{}
		h.groups.Store(&next)
	}
	h.mldDue.Store(true)
	h.wake0()
	return nil
}

// LeaveGroup drops one membership of g; the last one stops the steering
// and is reported.
func (h *Host) LeaveGroup(g netip.Addr) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	k := g.As16()
	if err := h.mld.Leave(h.Nanotime(), k); err != nil {
		return fmt.Errorf("inet6: %w", err)
	}
	if !h.mld.Member(k) {
		cur := *h.groups.Load()
		next := make(map[[16]byte]struct{}, len(cur))
		for a := range cur {
			if a != k {
				next[a] = struct{}{}
			}
		}
		h.groups.Store(&next)
		if h.prog != nil {
			h.prog.RemoveGroup(g)
		}
	}
	h.mldDue.Store(true)
	h.wake0()
	return nil
}

// Groups lists the groups joined (with those whose leave is still being
// reported).
func (h *Host) Groups() []mld.GroupInfo {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.mld.Groups(nil)
}

func (h *Host) wake0() {
	if len(h.layers) > 0 && h.layers[0].dp != nil {
		h.layers[0].dp.Wake()
	}
}
