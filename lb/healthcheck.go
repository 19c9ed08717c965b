package lb

import (
	"net/netip"
	"slices"
	"time"

	"github.com/xdpengine/engine/lb/health"
	"github.com/xdpengine/engine/stack/datapath"
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
			tg := health.Target{Key: targetKey(v, be), Addr: netip.AddrPortFrom(be.Addr, port), Spec: v.Health}
			if v.HealthAtVIP {
				// The backend owns the VIP: the check goes to the VIP,
				// sent to the backend as the VIP's packets are.
				tg.Addr, tg.Via = netip.AddrPortFrom(v.Addr, port), be.Addr
			}
			out = append(out, tg)
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
		st, err := b.build(b.effective(&b.cfg))
		if err == nil {
			err = b.assign(st)
		}
		if err == nil {
			b.publish(st)
			b.cur.Store(st)
		} else {
			b.p.Logger.Error("load balancer: cannot apply a health change", "err", err)
		}
		gone := b.newlyDown()
		b.mu.Unlock()
		for _, g := range gone {
			b.p.Logger.Warn("load balancer: backend down, its flows forgotten", "backend", g)
			b.forgetFlows(g)
		}
	}
}

// newlyDown returns the backends ("VIP BACKEND") that went down since the
// last call; b.mu is held.
func (b *Balancer) newlyDown() []string {
	var out []string
	now := map[string]bool{}
	for _, st := range b.checker.Snapshot() {
		if !st.Up {
			now[st.Key] = true
			if b.wasUp[st.Key] {
				out = append(out, st.Key)
			}
		}
	}
	b.wasUp = map[string]bool{}
	for _, st := range b.checker.Snapshot() {
		if !now[st.Key] {
			b.wasUp[st.Key] = true
		}
	}
	return out
}

// forgetFlows drops every tracked flow of a backend that went down (key
// "VIP BACKEND"), on the workers that own them: their next packets get a
// backend from the table as new flows do. A UDP flow moves on (rehash); a
// TCP connection's next segment reaches a backend that does not know it
// and answers RST (reset), as the connection ended with the backend.
func (b *Balancer) forgetFlows(key string) {
	dps := make([]*datapath.Worker, len(b.fwds))
	for i, f := range b.fwds {
		dps[i] = f.l.Worker()
	}
	datapath.Gather(dps, func(w *datapath.Worker) any {
		b.fwds[w.Queue()].forget(key)
		return nil
	}, time.Second)
}

// forget drops the worker's flows of backend key (worker goroutine).
func (f *forwarder) forget(key string) {
	f.forget4(key)
	var doomed []*flow
	for k, fl := range f.ct.All() {
		if k == fl.fwd && fl.v.key+" "+fl.be.ip.String() == key {
			doomed = append(doomed, fl)
		}
	}
	for _, fl := range doomed {
		f.fastRemove(fl)
		f.ct.Delete(fl.fwd)
		if fl.v.cfg.Mode == NAT {
			f.ct.Delete(fl.rev)
			f.ports(fl.proto).Release(fl.rev)
		}
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
