package lb

import (
	"fmt"

	"github.com/xdpengine/engine/lb/config"
	"github.com/xdpengine/engine/lb/health"
)

// FromConfig turns a configuration file's model (lb/config) into the
// balancer's Config; a drained backend keeps its place with weight 0. on_backend_down
// needs no setting: a backend that goes down has its flows forgotten, so
// UDP rehashes and TCP is reset by the next backend, whichever is asked.
func FromConfig(c *config.Config) (Config, error) {
	out := Config{
		MaxFlows: int(c.Conntrack.MaxFlows),
		Timeouts: Timeouts{TCPSyn: c.Conntrack.TCPSyn, TCPEstablished: c.Conntrack.TCPEstablished,
			TCPClosing: c.Conntrack.TCPClosing, UDP: c.Conntrack.UDP},
	}
	for _, v := range c.VIPs {
		nv := VIP{Addr: v.Addr, Port: v.Port, Proto: uint8(v.Proto), TableSize: v.TableSize,
			SourceHash: v.Hash == config.HashSource, GUEPort: v.GUEPort, VXLANPort: v.VXLANPort, VNI: v.VNI,
			FastPath: v.FastPath, Announce: v.Announce}
		modes := map[config.Mode]Mode{config.NAT: NAT, config.DSRL2: DSRL2, config.DSRIPIP: DSRIPIP,
			config.DSRGUE: DSRGUE, config.DSRVXLAN: DSRVXLAN}
		m, ok := modes[v.Forwarding]
		if !ok {
			return Config{}, fmt.Errorf("lb: VIP %s: forwarding %v: want nat, dsr-l2, dsr-ipip, dsr-gue or dsr-vxlan: %w", v.Key(), v.Forwarding, ErrConfig)
		}
		nv.Mode = m
		nv.HashFragments = v.Fragments == config.FragHash3
		nv.Health, nv.HealthPort = healthSpec(&v.Health)
		nv.HealthAtVIP = v.Health.AtVIP && nv.Health.Kind != health.KindNone
		for _, be := range v.Backends {
			w := be.Weight
			if be.Drain {
				w = 0
			}
			nv.Backends = append(nv.Backends, Backend{Addr: be.Addr, Weight: w, MAC: be.MAC})
		}
		out.VIPs = append(out.VIPs, nv)
	}
	return out, nil
}

// healthSpec maps a VIP's health check (the names line up: tcp, http,
// udp, none).
func healthSpec(h *config.Health) (health.Spec, uint16) {
	kinds := map[config.HealthType]health.Kind{config.HealthTCP: health.KindTCP, config.HealthHTTP: health.KindHTTP,
		config.HealthUDP: health.KindUDP, config.HealthNone: health.KindNone}
	k, ok := kinds[h.Type]
	if !ok || k == health.KindNone {
		return health.Spec{Kind: health.KindNone}, 0
	}
	return health.Spec{Kind: k, Path: h.Path, Status: h.Status, Send: []byte(h.Send), Expect: []byte(h.Expect),
		Interval: h.Interval, Timeout: h.Timeout, Rise: h.Rise, Fall: h.Fall}, h.Port
}
