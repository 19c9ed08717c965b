package inet6

import (
	"math"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/xdpengine/engine/afxdp"
	"github.com/xdpengine/engine/header"
	"github.com/xdpengine/engine/ndp"
)

// routers is what the engine learns from the Router Advertisements that
// the ICMPv6 tap reads (afxdp.ICMPv6Tap: the XDP program leaves ff02::1 to
// the host kernel, which handles them too): the default routers, the
// on-link prefixes and the link MTU. Worker 0 reads the tap at its ticks;
// the other workers read the learned snapshot without locks.
type routers struct {
	mu      sync.Mutex // guards tap and list
	tap     *afxdp.ICMPv6Tap
	list    *ndp.RouterList
	buf     []byte                  // tap reads (worker 0)
	learned atomic.Pointer[learned] // nil until an advertisement was learned
	heard   atomic.Bool             // a valid advertisement was learned: Router Solicitations stop
	mtu     atomic.Int32            // the link MTU an advertisement lowered (0: none)
}

// learned is a snapshot of the router list, read by Route.
type learned struct {
	router    netip.Addr // the default router (link-local); invalid: none
	routerExp int64      // when it expires (Host.Nanotime)
	prefixes  []ndp.Prefix
	next      int64 // the earliest expiry: the list is read again past it
}

func (h *Host) initRouters() {
	h.ra.list = ndp.NewRouterList(ndp.RouterConfig{LinkMTU: uint32(h.cfg.MTU)})
	h.ra.buf = make([]byte, 2048)
}

// startRouters opens the ICMPv6 tap (Attach); without it the engine
// learns no router and answers no general MLD query.
func (h *Host) startRouters() error {
	tap, err := afxdp.OpenICMPv6Tap(h.cfg.Interface)
	if err != nil {
		return err
	}
	h.ra.mu.Lock()
	h.ra.tap = tap
	h.ra.mu.Unlock()
	return nil
}

// stopRouters closes the tap (Detach).
func (h *Host) stopRouters() {
	h.ra.mu.Lock()
	defer h.ra.mu.Unlock()
	if h.ra.tap != nil {
		h.ra.tap.Close()
		h.ra.tap = nil
	}
}

// pollTap reads the frames the ICMPv6 tap caught and lets the routers
// that expired go (worker 0, at its ticks).
func (l *Layer) pollTap() {
	ra := &l.h.ra
	now := l.h.Nanotime()
	ra.mu.Lock()
	defer ra.mu.Unlock()
	for ra.tap != nil {
		n, err := ra.tap.Recv(ra.buf)
		if err != nil || n == 0 {
			break
		}
		l.tapFrame(now, ra.buf[:n])
	}
	if lr := ra.learned.Load(); lr != nil && now >= lr.next {
		l.h.publishRouters(now)
	}
}

// tapFrame handles one frame of the tap: a Router Advertisement teaches
// every worker's neighbor cache the router's link-layer address (as one
// that reached a worker would) and goes to the router list; an MLD query
// goes to the MLD host, which answers for the groups joined. The kernel
// counts these messages: the engine's ICMPv6 counters do not.
func (l *Layer) tapFrame(now int64, f []byte) {
	eth, err := header.ParseEthernet(f)
	if err != nil || eth.Type() != header.EtherTypeIPv6 {
		return
	}
	ip, err := header.ParseIPv6(eth.Payload())
	if err != nil || header.ParseIPv6Ext(ip, &l.ext) != nil || l.ext.Proto != header.ProtocolICMPv6 || l.ext.Frag {
		return
	}
	r := Received{Frame: f, IP: ip, Offset: l.ext.Offset, Proto: header.ProtocolICMPv6,
		LinkMcast: eth.Dst()[0]&1 != 0, nhOff: l.ext.NextHeaderOffset, routerAlert: l.ext.RouterAlert, tapped: true}
	m, err := header.ParseICMPv6(r.Payload())
	if err != nil || !m.ChecksumValid(ip.Src16(), ip.Dst16()) {
		return
	}
	switch m.Type() {
	case header.ICMPv6RouterAdvertisement:
		l.raIn++
		if l.h.learnRA(now, ip, m) {
			l.raUsed++
			l.handleNDP(&r, m)
		} else {
			l.ndpErrors++
		}
	case header.ICMPv6MulticastListenerQuery:
		l.handleMLD(&r, m)
	}
}

// learnRA gives a Router Advertisement (checksum verified) to the router
// list: from a link-local source, hop limit 255 (RFC 4861 6.1.2, ParseNDP).
// It reports whether the advertisement was valid.
func (h *Host) learnRA(now int64, ip header.IPv6, m header.ICMPv6) bool {
	src := ip.Src16()
	if !isLinkLocal(src) {
		return false
	}
	list := h.ra.list
	if list.Input(now, ip.HopLimit(), src, ip.Dst16(), m, nil) != nil {
		return false
	}
	var mtu int32
	if v := list.MTU; v >= header.IPv6MinMTU && int(v) < h.cfg.MTU {
		mtu = int32(v)
	}
	h.ra.mtu.Store(mtu)
	h.publishRouters(now)
	h.ra.heard.Store(true)
	return true
}

// learnUnicastRA gives the router list a Router Advertisement (valid:
// ParseNDP passed) that came through the XDP program, unicast to one of
// the engine's addresses: a router's answer to a Router Solicitation
// (RFC 4861 6.2.6 lets it answer the solicitation's source directly),
// which the host kernel, and so the tap, never sees.
func (l *Layer) learnUnicastRA(r *Received, m header.ICMPv6) {
	h := l.h
	l.raIn++
	h.ra.mu.Lock()
	ok := h.learnRA(h.Nanotime(), r.IP, m)
	h.ra.mu.Unlock()
	if ok {
		l.raUsed++
	} else {
		l.ndpErrors++
	}
}

// publishRouters stores a new snapshot of the router list.
func (h *Host) publishRouters(now int64) {
	list := h.ra.list
	list.Tick(now)
	lr := &learned{next: math.MaxInt64}
	if a, ok := list.DefaultRouter(now); ok {
		lr.router = netip.AddrFrom16(a)
	}
	for _, r := range list.Routers(nil) {
		if netip.AddrFrom16(r.Addr) == lr.router {
			lr.routerExp = r.Expires
		}
		lr.next = min(lr.next, r.Expires)
	}
	lr.prefixes = list.Prefixes(nil)
	for _, p := range lr.prefixes {
		lr.next = min(lr.next, p.Expires)
	}
	h.ra.learned.Store(lr)
}

// onLink reports whether dst is in a prefix advertised on-link at now.
func (lr *learned) onLink(now int64, dst [16]byte) bool {
	for i := range lr.prefixes {
		p := &lr.prefixes[i]
		if p.Expires > now && netip.PrefixFrom(netip.AddrFrom16(p.Prefix), int(p.Len)).Contains(netip.AddrFrom16(dst)) {
			return true
		}
	}
	return false
}

// DefaultRouter returns the default router learned from Router
// Advertisements (ok false: none, or its lifetime ended). Route uses it
// when Config.Gateway is not set.
func (h *Host) DefaultRouter() (netip.Addr, bool) {
	lr := h.ra.learned.Load()
	if lr == nil || !lr.router.IsValid() || lr.routerExp <= h.Nanotime() {
		return netip.Addr{}, false
	}
	return lr.router, true
}
