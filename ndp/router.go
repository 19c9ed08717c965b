package ndp

import (
	"math"

	"github.com/xdpengine/engine/header"
)

// RouterConfig bounds a RouterList; zero fields take the defaults.
type RouterConfig struct {
	MaxRouters  int // default routers remembered (8)
	MaxPrefixes int // on-link prefixes remembered (16)
	// LinkMTU is the link's own MTU: an advertised MTU above it is
	// ignored (0: no bound). Advertised MTUs below 1280 always are.
	LinkMTU uint32
}

// DefaultRouter is one entry of the default router list (RFC 4861 5.1).
type DefaultRouter struct {
	Addr    [16]byte // link-local
	Expires int64    // invalidation time (now + Router Lifetime)
}

// Prefix is one entry of the prefix list: an on-link prefix (RFC 4861
// 6.3.4, the L flag).
type Prefix struct {
	Prefix     [16]byte // bits past Len cleared
	Len        uint8
	Autonomous bool  // the A flag: usable for address autoconfiguration (not done here)
	Expires    int64 // now + valid lifetime; math.MaxInt64: infinite
}

// RouterStats counts what the list saw.
type RouterStats struct {
	Adverts      uint64 // valid advertisements
	InErrors     uint64 // advertisements that failed validation
	RoutersFull  uint64 // routers not added: MaxRouters reached
	PrefixesFull uint64 // prefixes not added: MaxPrefixes reached
	BadMTU       uint64 // MTU options ignored
}

// RouterList is what a host learns from Router Advertisements (RFC 4861
// 6.3.4): default routers, on-link prefixes and the link parameters.
type RouterList struct {
	cfg      RouterConfig
	routers  []DefaultRouter
	prefixes []Prefix
	rr       int // round-robin position among routers not known reachable (6.3.6)

	// Link parameters, the last non-zero values advertised (0: none yet).
	CurHopLimit uint8
	MTU         uint32
	ReachableNs int64 // BaseReachableTime
	RetransNs   int64
	// Cache, when set, learns each router's link-layer address (with
	// IsRouter set), BaseReachableTime and RetransTimer, and orders
	// DefaultRouter's choice.
	Cache *Cache
	Stats RouterStats
}

// NewRouterList returns an empty list.
func NewRouterList(cfg RouterConfig) *RouterList {
	if cfg.MaxRouters <= 0 {
		cfg.MaxRouters = 8
	}
	if cfg.MaxPrefixes <= 0 {
		cfg.MaxPrefixes = 16
	}
	return &RouterList{cfg: cfg, routers: make([]DefaultRouter, 0, cfg.MaxRouters),
		prefixes: make([]Prefix, 0, cfg.MaxPrefixes)}
}

func expiry(now int64, seconds uint32) int64 {
	if seconds == header.NDPInfiniteLifetime {
		return math.MaxInt64
	}
	return now + int64(seconds)*1e9
}

func maskPrefix(p [16]byte, n uint8) [16]byte {
	for i := range p {
		switch bits := int(n) - 8*i; {
		case bits <= 0:
			p[i] = 0
		case bits < 8:
			p[i] &= ^byte(0xff >> bits)
		}
	}
	return p
}

// Input handles a Router Advertisement (the ICMPv6 message, checksum
// already verified) received at now from src to dst with hopLimit.
// Packets that waited for the router's address go to flush. Errors: those
// of header.ParseNDP, header.ErrNDPCode for another type. It does not
// allocate.
func (l *RouterList) Input(now int64, hopLimit uint8, src, dst [16]byte, msg []byte, flush func(handle uint64)) error {
	if err := header.ParseNDP(msg, hopLimit, src, dst); err != nil {
		l.Stats.InErrors++
		return err
	}
	if msg[0] != header.ICMPv6RouterAdvertisement {
		l.Stats.InErrors++
		return header.ErrNDPCode
	}
	l.Stats.Adverts++
	ra := header.RouterAdvertisement(msg)
	if v := ra.CurHopLimit(); v != 0 {
		l.CurHopLimit = v
	}
	if v := ra.ReachableTime(); v != 0 {
		l.ReachableNs = int64(v) * 1e6
		if l.Cache != nil {
			l.Cache.SetBaseReachable(now, l.ReachableNs)
		}
	}
	if v := ra.RetransTimer(); v != 0 {
		l.RetransNs = int64(v) * 1e6
		if l.Cache != nil {
			l.Cache.SetRetrans(l.RetransNs)
		}
	}
	l.router(now, src, ra.RouterLifetime())
	opts := ra.Options()
	for o, ok := opts.Next(); ok; o, ok = opts.Next() {
		switch o.Type() {
		case header.NDPOptionSourceLinkLayer:
			if mac, ok := o.LinkLayer(); ok && l.Cache != nil {
				l.Cache.Observe(now, src, mac, RouterSet, flush)
			}
		case header.NDPOptionMTU:
			if mtu, ok := o.MTU(); ok {
				if mtu < header.IPv6MinMTU || (l.cfg.LinkMTU != 0 && mtu > l.cfg.LinkMTU) {
					l.Stats.BadMTU++
				} else {
					l.MTU = mtu
				}
			}
		case header.NDPOptionPrefixInfo:
			if p, ok := o.PrefixInfo(); ok {
				l.prefix(now, p)
			}
		}
	}
	return nil
}

func (l *RouterList) router(now int64, src [16]byte, lifetime uint16) {
	for i := range l.routers {
		if l.routers[i].Addr == src {
			if lifetime == 0 {
				l.routers = append(l.routers[:i], l.routers[i+1:]...)
			} else {
				l.routers[i].Expires = now + int64(lifetime)*1e9
			}
			return
		}
	}
	if lifetime == 0 {
		return
	}
	l.expire(now)
	if len(l.routers) >= l.cfg.MaxRouters {
		l.Stats.RoutersFull++
		return
	}
	l.routers = append(l.routers, DefaultRouter{Addr: src, Expires: now + int64(lifetime)*1e9})
}

func (l *RouterList) prefix(now int64, p header.NDPPrefixInfo) {
	if !p.OnLink() || p.PrefixLen() > 128 {
		return
	}
	pfx := maskPrefix(p.Prefix(), p.PrefixLen())
	if pfx[0] == 0xfe && pfx[1]&0xc0 == 0x80 {
		return // the link-local prefix is always on-link
	}
	valid := p.ValidLifetime()
	for i := range l.prefixes {
		q := &l.prefixes[i]
		if q.Prefix == pfx && q.Len == p.PrefixLen() {
			if valid == 0 {
				l.prefixes = append(l.prefixes[:i], l.prefixes[i+1:]...)
			} else {
				q.Expires, q.Autonomous = expiry(now, valid), p.Autonomous()
			}
			return
		}
	}
	if valid == 0 {
		return
	}
	l.expire(now)
	if len(l.prefixes) >= l.cfg.MaxPrefixes {
		l.Stats.PrefixesFull++
		return
	}
	l.prefixes = append(l.prefixes, Prefix{Prefix: pfx, Len: p.PrefixLen(), Autonomous: p.Autonomous(),
		Expires: expiry(now, valid)})
}

// expire removes the routers and prefixes whose lifetime ended by now.
func (l *RouterList) expire(now int64) {
	l.routers = deleteExpired(l.routers, now, func(r *DefaultRouter) int64 { return r.Expires })
	l.prefixes = deleteExpired(l.prefixes, now, func(p *Prefix) int64 { return p.Expires })
}

func deleteExpired[T any](s []T, now int64, exp func(*T) int64) []T {
	j := 0
	for i := range s {
		if exp(&s[i]) > now {
			s[j] = s[i]
			j++
		}
	}
	clear(s[j:])
	return s[:j]
}

// Tick removes what expired by now.
func (l *RouterList) Tick(now int64) { l.expire(now) }

// Remove deletes router addr (its advertisement cleared the R flag, RFC
// 4861 7.2.5).
func (l *RouterList) Remove(addr [16]byte) {
	for i := range l.routers {
		if l.routers[i].Addr == addr {
			l.routers = append(l.routers[:i], l.routers[i+1:]...)
			return
		}
	}
}

// DefaultRouter picks the default router at now (RFC 4861 6.3.6): the
// first router of the list whose cache entry is known or probably
// reachable (not INCOMPLETE); when none is, the routers in turn (round
// robin), so that an unreachable router is not used forever. Without a
// Cache, the first unexpired router. It reports false when the list is
// empty.
func (l *RouterList) DefaultRouter(now int64) ([16]byte, bool) {
	var live int
	for i := range l.routers {
		r := &l.routers[i]
		if r.Expires <= now {
			continue
		}
		live++
		if l.Cache == nil {
			return r.Addr, true
		}
		if st, _, _ := l.Cache.State(r.Addr); st != 0 && st != Incomplete {
			return r.Addr, true
		}
	}
	if live == 0 {
		return [16]byte{}, false
	}
	l.rr = (l.rr + 1) % live
	k := 0
	for i := range l.routers {
		if l.routers[i].Expires > now {
			if k == l.rr {
				return l.routers[i].Addr, true
			}
			k++
		}
	}
	return [16]byte{}, false
}

// OnLink reports whether addr is in an unexpired on-link prefix at now
// (the link-local prefix is the caller's: always on-link).
func (l *RouterList) OnLink(now int64, addr [16]byte) bool {
	for i := range l.prefixes {
		p := &l.prefixes[i]
		if p.Expires > now && maskPrefix(addr, p.Len) == p.Prefix {
			return true
		}
	}
	return false
}

// Routers appends the default routers to out.
func (l *RouterList) Routers(out []DefaultRouter) []DefaultRouter { return append(out, l.routers...) }

// Prefixes appends the on-link prefixes to out.
func (l *RouterList) Prefixes(out []Prefix) []Prefix { return append(out, l.prefixes...) }
