package inet6

import (
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/xdpengine/engine/header"
)

// pmtuExpiry is how long a learned path MTU holds, like Linux's
// net.ipv6.route.mtu_expires (600 s).
const pmtuExpiry = 600 * time.Second

type pmtuEntry struct {
	mtu     int
	expires int64 // UnixNano
}

// pmtuCache holds path MTUs learned from Packet Too Big (RFC 8201).
// Updates are rare and copy the map under a mutex; lookups, done for
// every datagram sent, read the current map without locking.
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

// update records mtu toward dst. A value below IPv6's minimum MTU is
// raised to 1280 (RFC 8201 4: a node never lowers its estimate below
// it; since RFC 8021 no atomic fragments are sent instead).
func (c *pmtuCache) update(dst netip.Addr, mtu int, now time.Time) {
	if mtu <= 0 {
		return
	}
	mtu = max(mtu, header.IPv6MinMTU)
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
