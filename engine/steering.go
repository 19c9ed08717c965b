package engine

import (
	"errors"
	"fmt"

	"github.com/xdpengine/engine/afxdp"
	"github.com/xdpengine/engine/portalloc"
)

// Steering. A connection belongs to the worker whose queue its replies
// arrive on, and a connect picks its source port so that they do: from
// the port shard of the worker the steering function gives for the reply's
// 5-tuple (portalloc, socktab.Connect). On a NIC that reports its RSS
// Toeplitz key and indirection table (ETHTOOL_GRSSH), the function is the
// NIC's own hash, so a connect's replies land on the connecting worker's
// queue and are never handed over; elsewhere (veth, a NIC without
// RSS, a hash other than Toeplitz) it is go-metro with a random seed, and
// the worker that receives a reply hands it to the owner through the
// steering rings.

// steering chooses the steering function: Config.RSS when given, else the
// NIC's RSS configuration when it has a Toeplitz one for the engine's
// queues, else software. It returns the function and its name.
func steering(cfg *Config, seed uint64, log func(msg string, args ...any)) (portalloc.Steering, string, error) {
	soft := portalloc.Metro{Seed: seed, Workers: cfg.Queues}
	rss := cfg.RSS
	if rss == nil {
		r, err := afxdp.RSS(cfg.Interface)
		if err != nil {
			if !errors.Is(err, afxdp.ErrNoRSS) {
				log("cannot use the NIC's RSS hash for steering; software steering", "interface", cfg.Interface, "err", err)
			}
			return soft, "software", nil
		}
		rss = &r
	}
	tz, err := portalloc.NewToeplitz(rss.Key, rss.Indirection, cfg.Queues)
	if err != nil {
		if cfg.RSS != nil {
			return nil, "", fmt.Errorf("engine: RSS steering: %w: %w", err, ErrConfig)
		}
		// The table names queues the engine does not serve (Config.Queues
		// below the NIC's): replies there would not reach it anyway.
		log("the NIC's RSS table does not fit the engine's queues; software steering", "interface", cfg.Interface, "err", err)
		return soft, "software", nil
	}
	return tz, "rss-toeplitz", nil
}

// Steering returns how connects choose their ports: "rss-toeplitz" (the
// NIC's hash) or "software" (go-metro).
func (e *Engine) Steering() string { return e.steerName }
