package lb

import (
	"net/netip"
	"slices"

	"github.com/xdpengine/engine/lb/health"
)

// Health checks. The checker (lb/health) dials through the engine; its
// transitions only wake healthLoop, which rebuilds the running state from
// the configuration and the checker's current view (so a burst of
// transitions costs one rebuild, and a check never waits for the
// balancer's mutex). A backend that is down has weight 0 in the Maglev
// table: it takes no new flows, and its tracked flows go on.

// checked reports whether v's backends are health-checked.
func checked(v *VIP) bool { return v.Health.Kind != 0 && v.Health.Kind != health.KindNone }

// targetKey names a backend of a VIP for the checker.
func targetKey(v *VIP, be *Backend) string { return v.Key() + " " + be.Addr.String() }

// targets are the checks c asks for.
func targets(c *Config) []health.Target {
	var out []health.Target
	for i := range c.VIPs {
		v := &c.VIPs[i]
		if !checked(v) {
			continue
		}
		port := v.HealthPort
		if port == 0 {
			port = v.Port
		}
		for j := range v.Backends {
			be := &v.Backends[j]
			out = append(out, health.Target{Key: targetKey(v, be), Addr: netip.AddrPortFrom(be.Addr, port), Spec: v.Health})
		}
	}
	return out
}

// effective is c with the backends that are down at weight 0. A backend
// the checker does not know yet is down: it has not passed.
func (b *Balancer) effective(c *Config) *Config {
	if b.checker == nil {
		return c
	}
	e := cloneConfig(*c)
	for i := range e.VIPs {
		v := &e.VIPs[i]
		if !checked(v) {
			continue
		}
		for j := range v.Backends {
			if st, ok := b.checker.State(targetKey(v, &v.Backends[j])); !ok || !st.Up {
				v.Backends[j].Weight = 0
			}
		}
	}
	return &e
}

// healthLoop applies health transitions until Close.
func (b *Balancer) healthLoop() {
	defer b.loop.Done()
	for {
		select {
		case <-b.done:
			return
		case <-b.changed:
		}
		b.mu.Lock()
		if st, err := b.build(b.effective(&b.cfg)); err == nil {
			b.cur.Store(st)
		} else {
			b.p.Logger.Error("load balancer: cannot apply a health change", "err", err)
		}
		b.mu.Unlock()
	}
}

// Health returns the health checks' state, by backend ("VIP BACKEND").
func (b *Balancer) Health() []health.Status {
	if b.checker == nil {
		return nil
	}
	return b.checker.Snapshot()
}

// StopHealth stops the health checks (the engine is closing: they would
// only fail); safe to call more than once.
func (b *Balancer) StopHealth() {
	if b.checker == nil {
		return
	}
	b.stop.Do(func() {
		close(b.done)
		b.checker.Close()
		b.loop.Wait()
	})
}

// cloneConfig copies c's slices, so that the caller's later changes do
// not reach the balancer.
func cloneConfig(c Config) Config {
	c.VIPs = slices.Clone(c.VIPs)
	for i := range c.VIPs {
		c.VIPs[i].Backends = slices.Clone(c.VIPs[i].Backends)
	}
	return c
}
