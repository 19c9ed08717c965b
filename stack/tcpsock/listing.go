package tcpsock

import (
	"slices"
	"time"

	"github.com/xdpengine/engine/stack/datapath"
	"github.com/xdpengine/engine/stack/socktab"
)

// listTCP lists this worker's connections for Engine.Sockets.
func (w *worker) listTCP() []socktab.Entry {
	out := make([]socktab.Entry, 0, w.conns.Len()+w.tw.Len())
	for _, c := range w.conns.All() {
		in := c.ep.Info()
		st := in.Stats
		out = append(out, socktab.Entry{
			Proto: socktab.TCP, State: socktab.State(in.State),
			RecvQ: uint64(in.RecvQ), SendQ: uint64(in.SendQ),
			Local: c.laddr, Peer: c.raddr,
			TCP: &socktab.TCPInfo{
				CC: in.CC, SndWScale: in.SndWScale, RcvWScale: in.RcvWScale,
				RTO: in.RTO, RTT: in.RTT, RTTVar: in.RTTVar, MinRTT: in.MinRTT,
				MSS: in.MSS, RcvMSS: in.RcvMSS, PMTU: in.PMTU, AdvMSS: in.AdvMSS, Cwnd: in.Cwnd, Ssthresh: in.Ssthresh,
				Unacked: in.Unacked, Retrans: uint64(in.Backoff), RetransSegs: st.Retrans,
				BytesSent: st.BytesOut, BytesRcvd: st.BytesIn, SegsOut: st.SegsOut, SegsIn: st.SegsIn,
				SndWnd: in.SndWnd, RcvWnd: in.RcvWnd, RcvSpace: in.RcvBuf,
			},
		})
	}
	for _, t := range w.tw.All() {
		out = append(out, socktab.Entry{Proto: socktab.TCP, State: socktab.StateTimeWait,
			Local: t.key.DstAddrPort(), Peer: t.key.SrcAddrPort()})
	}
	return out
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
