package lb

import (
	"cmp"
	"net/netip"
	"slices"
	"time"

	"github.com/xdpengine/engine/flowtable"
	"github.com/xdpengine/engine/stack/datapath"
)

// Flow is a tracked connection, as `conntrack -L` lists one.
type Flow struct {
	VIP     string         // "198.18.0.100:80/tcp"
	Client  netip.AddrPort // the client's address and port
	Backend netip.AddrPort // where it goes
	SNAT    netip.AddrPort // NAT: the engine's address and port toward the backend
	Queue   int            // the worker that owns it
	// State is the flow's connection-tracking state, which sets its idle
	// timeout: "syn" (TCP, only the client's SYN seen), "established",
	// "closing" (FIN or RST seen) or "udp".
	State string
	// Idle is how long since the flow's last packet (either direction).
	Idle time.Duration
	// FastPath: the flow's packets are forwarded by the XDP fast path
	// (Config.FastPath); Idle is then as of the last read-back.
	FastPath bool
}

// stateNames are the flow states by timeout class.
var stateNames = [...]string{classReverse: "reply", classSyn: "syn", classEstablished: "established",
	classClosing: "closing", classUDP: "udp", classReplyEstablished: "reply"}

// Flows lists the tracked flows of every worker (waiting up to timeout
// for each), at most max of them (0: all), sorted by VIP then client; vip
// ("" for all) keeps one VIP's.
func (b *Balancer) Flows(vip string, max int, timeout time.Duration) []Flow {
	dps := make([]*datapath.Worker, len(b.fwds))
	for i, f := range b.fwds {
		dps[i] = f.l.Worker()
	}
	var out []Flow
	for _, r := range datapath.Gather(dps, func(w *datapath.Worker) any {
		return b.fwds[w.Queue()].list(vip, max)
	}, timeout) {
		if l, ok := r.([]Flow); ok {
			out = append(out, l...)
		}
	}
	slices.SortFunc(out, func(a, b Flow) int {
		return cmp.Or(cmp.Compare(a.VIP, b.VIP), a.Client.Compare(b.Client))
	})
	if max > 0 && len(out) > max {
		out = out[:max]
	}
	return out
}

// list lists the worker's flows (worker goroutine).
func (f *forwarder) list(vip string, limit int) []Flow {
	now := f.l.Now()
	out := f.list4(nil, vip, limit, now)
	for k, fl := range f.ct.All() {
		if limit > 0 && len(out) >= limit {
			break
		}
		if k != fl.fwd || vip != "" && fl.v.key != vip {
			continue // a NAT flow's reply key, or another VIP
		}
		e := Flow{VIP: fl.v.key, Client: netip.AddrPortFrom(fl.clientAddr(), fl.cport),
			Backend: netip.AddrPortFrom(fl.be.ip, fl.bePort()), Queue: f.queue}
		if c, seen, ok := f.ct.Meta(k); ok && int(c) < len(stateNames) {
			e.State, e.Idle = stateNames[c], time.Duration(max(now-seen, 0))
			if fl.rev != (flowtable.Key{}) {
				// The replies keep the flow alive through its reply key.
				if _, rseen, ok := f.ct.Meta(fl.rev); ok && rseen > seen {
					e.Idle = time.Duration(max(now-rseen, 0))
				}
			}
		}
		e.FastPath = fl.fast&(fastFwd|fastRev) != 0
		if fl.snatPort != 0 {
			snat := f.b.p.SNAT
			if fl.be.ip.Is6() {
				snat = f.b.p.SNAT6
			}
			e.SNAT = netip.AddrPortFrom(snat, fl.snatPort)
		}
		out = append(out, e)
		if limit > 0 && len(out) >= limit {
			break
		}
	}
	return out
}

// flowCounts counts the flows with records (IPv6 flows, fast-path VIPs')
// by backend ("VIP BACKEND") on every worker (nothing from a worker that
// does not answer within a second). The IPv4 flows in the Table4s are
// counted by their claims (Stats), not by walking the tables: the bare
// walk of a table holding a million NAT flows takes 26 ms on the 2-core VM,
// and would hold the worker that long, and more with the counting, at
// every stats scrape. With every record table empty it asks no worker.
func (b *Balancer) flowCounts() map[string]uint64 {
	out := map[string]uint64{}
	empty := true
	for _, f := range b.fwds {
		empty = empty && f.ct.Len() == 0
	}
	if empty {
		return out
	}
	dps := make([]*datapath.Worker, len(b.fwds))
	for i, f := range b.fwds {
		dps[i] = f.l.Worker()
	}
	for _, r := range datapath.Gather(dps, func(w *datapath.Worker) any {
		return b.fwds[w.Queue()].count()
	}, time.Second) {
		if m, ok := r.(map[string]uint64); ok {
			for k, n := range m {
				out[k] += n
			}
		}
	}
	return out
}

// count counts the worker's flows with records by backend (worker
// goroutine).
func (f *forwarder) count() map[string]uint64 {
	out := map[string]uint64{}
	for k, fl := range f.ct.All() {
		if k == fl.fwd {
			out[fl.v.key+" "+fl.be.ip.String()]++
		}
	}
	return out
}
