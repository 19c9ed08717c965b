package lb

import (
	"fmt"

	"github.com/xdpengine/engine/lb/config"
)

// FromConfig turns a configuration file's model (lb/config) into the
// balancer's Config. Forwarding modes the datapath does not have yet
// (dsr-ipip, dsr-gue, dsr-vxlan) are refused with an error that says so;
// a drained backend keeps its place with weight 0.
func FromConfig(c *config.Config) (Config, error) {
	out := Config{
		MaxFlows: int(c.Conntrack.MaxFlows),
		Timeouts: Timeouts{TCPSyn: c.Conntrack.TCPSyn, TCPEstablished: c.Conntrack.TCPEstablished,
			TCPClosing: c.Conntrack.TCPClosing, UDP: c.Conntrack.UDP},
	}
	for _, v := range c.VIPs {
		nv := VIP{Addr: v.Addr, Port: v.Port, Proto: uint8(v.Proto), TableSize: v.TableSize,
			SourceHash: v.Hash == config.HashSource}
		switch v.Forwarding {
		case config.NAT:
			nv.Mode = NAT
		case config.DSRL2:
			nv.Mode = DSRL2
		default:
			return Config{}, fmt.Errorf("lb: VIP %s: forwarding %v is not supported yet (use nat or dsr-l2): %w", v.Key(), v.Forwarding, ErrConfig)
		}
		for _, be := range v.Backends {
			w := be.Weight
			if be.Drain {
				w = 0
			}
			nv.Backends = append(nv.Backends, Backend{Addr: be.Addr, Weight: w})
		}
		out.VIPs = append(out.VIPs, nv)
	}
	return out, nil
}
