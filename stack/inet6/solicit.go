package inet6

import (
	"math/rand/v2"
	"time"

	"github.com/xdpengine/engine/header"
	"github.com/xdpengine/engine/ndp"
)

// RouterSolicitation configures the Router Solicitations (RFC 4861
// 6.3.7) the engine sends when Config.Gateway is not set: Linux's
// net.ipv6.conf.*.router_solicitations, router_solicitation_interval and
// router_solicitation_delay. Zero fields take Linux's defaults.
type RouterSolicitation struct {
	Count    int           // solicitations at most (0: 3; negative: none)
	Interval time.Duration // between two solicitations (0: 4 s)
	MaxDelay time.Duration // random delay before the first (0: up to 1 s; negative: none)
}

// Linux's defaults (MAX_RTR_SOLICITATIONS, RTR_SOLICITATION_INTERVAL,
// MAX_RTR_SOLICITATION_DELAY).
const (
	defaultRSCount    = 3
	defaultRSInterval = 4 * time.Second
	defaultRSDelay    = time.Second
)

// withDefaults returns rs with its zero fields replaced.
func (rs RouterSolicitation) withDefaults() RouterSolicitation {
	if rs.Count == 0 {
		rs.Count = defaultRSCount
	}
	if rs.Interval <= 0 {
		rs.Interval = defaultRSInterval
	}
	if rs.MaxDelay == 0 {
		rs.MaxDelay = defaultRSDelay
	}
	return rs
}

// solicitor is worker 0's Router Solicitation state. It starts once
// Duplicate Address Detection ended with a usable address (at once with
// NoDAD), waits a random delay up to MaxDelay (the engine's DAD has no
// random delay of its own, RFC 4861 6.3.7), then sends up to Count
// solicitations Interval apart, and stops for good at the first valid
// Router Advertisement heard (routers.heard), as Linux does (IF_RA_RCVD).
type solicitor struct {
	cfg  RouterSolicitation // with the defaults
	done bool               // nothing more to send
	sent int
	next int64 // when the next one is due (Now's clock); 0: not started
}

// initSolicitor arms worker 0's solicitor: only without a configured
// gateway, and when Count is not negative.
func (l *Layer) initSolicitor() {
	cfg := l.h.cfg.RouterSolicitation.withDefaults()
	l.rs = solicitor{cfg: cfg, done: l.queue != 0 || l.h.cfg.Gateway.IsValid() || cfg.Count < 0}
}

// solicitRouters sends the Router Solicitation due, if any (worker 0, at
// its ticks: the 4 s interval needs no finer timer).
func (l *Layer) solicitRouters() {
	rs := &l.rs
	if rs.done {
		return
	}
	if l.h.ra.heard.Load() {
		rs.done = true
		return
	}
	now := l.Now()
	if rs.next == 0 {
		if l.dad != nil && l.dad.Next() != 0 || len(*l.h.usable.Load()) == 0 {
			return // DAD still runs, or found no address usable
		}
		rs.next = now
		if d := int64(rs.cfg.MaxDelay); d > 0 {
			rs.next += rand.Int64N(d)
		}
		rs.next = max(rs.next, 1)
	}
	if now < rs.next {
		return
	}
	l.sendRS()
	rs.sent++
	rs.next = now + int64(rs.cfg.Interval)
	if rs.sent >= rs.cfg.Count {
		rs.done = true
	}
}

// sendRS sends a Router Solicitation to all-routers (ff02::2) from the
// first usable address, with the source link-layer address option and hop
// limit 255 (RFC 4861 4.1, 6.3.7). ICMP.OutRouterSolicits counts it.
func (l *Layer) sendRS() {
	us := *l.h.usable.Load()
	if len(us) == 0 {
		return
	}
	n, err := header.PutRouterSolicitation(l.ndpOut[:], l.h.cfg.MAC)
	if err != nil {
		return
	}
	l.sendICMPFrame(us[0].Addr().As16(), ndp.AllRouters, header.MulticastMAC6(ndp.AllRouters), header.NDPHopLimit, l.ndpOut[:n], false)
}
