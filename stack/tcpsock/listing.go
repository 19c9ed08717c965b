package tcpsock

import (
	"slices"
	"time"

	"github.com/xdpengine/engine/stack/datapath"
	"github.com/xdpengine/engine/stack/socktab"
)

// connEntry is c's listing entry, with its tcp_info-like details when
// info is set.
func connEntry(c *Conn, info bool) socktab.Entry {
	in := c.ep.Info()
	e := socktab.Entry{
		Proto: socktab.TCP, State: socktab.State(in.State),
		RecvQ: uint64(in.RecvQ), SendQ: uint64(in.SendQ),
		Local: c.laddrPort(), Peer: c.raddrPort(),
	}
	if info {
		st := in.Stats
		e.TCP = &socktab.TCPInfo{
			CC: in.CC, SndWScale: in.SndWScale, RcvWScale: in.RcvWScale,
			RTO: in.RTO, RTT: in.RTT, RTTVar: in.RTTVar, MinRTT: in.MinRTT,
			MSS: in.MSS, RcvMSS: in.RcvMSS, PMTU: in.PMTU, AdvMSS: in.AdvMSS, Cwnd: in.Cwnd, Ssthresh: in.Ssthresh,
			Unacked: in.Unacked, Retrans: uint64(in.Backoff), RetransSegs: st.Retrans,
			BytesSent: st.BytesOut, BytesRcvd: st.BytesIn, SegsOut: st.SegsOut, SegsIn: st.SegsIn,
			SndWnd: in.SndWnd, RcvWnd: in.RcvWnd, RcvSpace: in.RcvBuf,
			RecvRing: in.RecvRing, SendRing: in.SendRing,
		}
	}
	return e
}

// listTCP lists this worker's connections for Engine.Sockets.
func (w *worker) listTCP() []socktab.Entry {
	out, _ := w.listBatch(0, w.conns.Len()+w.tw.Len(), true)
	return out
}

// listBatch lists at most n of this worker's connections, in table order
// (those not in TIME-WAIT, then the TIME-WAIT records), after the first
// skip of them; more reports whether others follow. Worker only: it runs
// through datapath.Gather, and n bounds what one round spends.
func (w *worker) listBatch(skip, n int, info bool) (out []socktab.Entry, more bool) {
	out = make([]socktab.Entry, 0, min(n, w.conns.Len()+w.tw.Len()))
	i := 0
	for _, c := range w.conns.All() {
		if i++; i <= skip {
			continue
		}
		if len(out) == n {
			return out, true
		}
		out = append(out, connEntry(c, info))
	}
	for _, t := range w.tw.All() {
		if i++; i <= skip {
			continue
		}
		if len(out) == n {
			return out, true
		}
		out = append(out, socktab.Entry{Proto: socktab.TCP, State: socktab.StateTimeWait,
			Local: t.key.DstAddrPort(), Peer: t.key.SrcAddrPort()})
	}
	return out, false
}

// Connections lists the workers' connections (waiting up to timeout for
// each), sorted by local then remote address; nothing while the engine
// does not run.
func (s *Stack) Connections(timeout time.Duration) []socktab.Entry {
	if !s.cfg.State.Running() {
		return nil
	}
	var out []socktab.Entry
	for _, r := range datapath.Gather(s.dps(), func(dp *datapath.Worker) any {
		return s.workers[dp.Queue()].listTCP()
	}, timeout) {
		if l, ok := r.([]socktab.Entry); ok {
			out = append(out, l...)
		}
	}
	slices.SortFunc(out, func(a, b socktab.Entry) int {
		if c := a.Local.Compare(b.Local); c != 0 {
			return c
		}
		return a.Peer.Compare(b.Peer)
	})
	return out
}

// batch is one answer of listBatch.
type batch struct {
	entries []socktab.Entry
	more    bool
}

// EachConnection lists the workers' connections in batches of at most n
// entries (TCP details with info), handing each batch to fn as it comes:
// worker by worker, each in its table order, never the whole listing at
// once, so a million connections list in bounded memory and no worker
// round stalls on more than n of them. Each batch is one call on its
// worker (waiting up to timeout; a worker that does not answer is left
// out). Like a netlink dump of the kernel's sockets, the listing is not
// a snapshot: a connection that comes or goes meanwhile may be missed or
// listed twice. It stops at fn's first error and returns it; nothing is
// listed while the engine does not run.
func (s *Stack) EachConnection(n int, info bool, timeout time.Duration, fn func([]socktab.Entry) error) error {
	n = max(n, 1)
	for _, dp := range s.dps() {
		w := s.workers[dp.Queue()]
		for skip := 0; s.cfg.State.Running(); {
			r := datapath.Gather([]*datapath.Worker{dp}, func(*datapath.Worker) any {
				e, more := w.listBatch(skip, n, info)
				return batch{e, more}
			}, timeout)
			b, ok := r[0].(batch)
			if !ok {
				break
			}
			if len(b.entries) > 0 {
				if err := fn(b.entries); err != nil {
					return err
				}
			}
			if !b.more {
				break
			}
			skip += len(b.entries)
		}
	}
	return nil
}
