package inet4

import (
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// pmtuExpiry is how long a learned path MTU holds, like Linux's
// net.ipv4.route.mtu_expires (600 s).
const pmtuExpiry = 600 * time.Second

// minPMTU is Linux's net.ipv4.route.min_pmtu: lower values from ICMP are
// raised to it, so a forged "fragmentation needed" cannot force tiny
// fragments.
const minPMTU = 552

type pmtuEntry struct {
	mtu     int
	expires int64 // UnixNano
}

// pmtuCache holds path MTUs learned from ICMP "fragmentation needed"
// (RFC 1191). Updates are rare and copy the map under a mutex; lookups, done
// by senders for every datagram, read the current map without locking.
type pmtuCache struct {
	mu  sync.Mutex
	cur atomic.Pointer[map[netip.Addr]pmtuEntry]
}

// get returns the path MTU toward dst, or linkMTU when none is known.
func (c *pmtuCache) get(dst netip.Addr, linkMTU int, now time.Time) int {
	m := c.cur.Load()
	if m == nil {
		return linkMTU
	}
	e, ok := (*m)[dst]
	if !ok || now.UnixNano() > e.expires || e.mtu >= linkMTU {
		return linkMTU
	}
	return e.mtu
}

// Learn records mtu toward dst (from an ICMP "fragmentation needed").
func (h *Host) Learn(dst netip.Addr, mtu int) { h.pmtu.update(dst, mtu, time.Now()) }

// update records mtu toward dst.
func (c *pmtuCache) update(dst netip.Addr, mtu int, now time.Time) {
	if mtu <= 0 {
		return
	}
	mtu = max(mtu, minPMTU)
	c.mu.Lock()
	defer c.mu.Unlock()
	next := map[netip.Addr]pmtuEntry{}
	if old := c.cur.Load(); old != nil {
		for k, v := range *old {
			if now.UnixNano() <= v.expires {
				next[k] = v
			}
		}
	}
	next[dst] = pmtuEntry{mtu: mtu, expires: now.Add(pmtuExpiry).UnixNano()}
	c.cur.Store(&next)
}
