package socktab

import (
	"cmp"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"text/tabwriter"
)

// Entry is one socket as ss(8) lists it.
type Entry struct {
	ID           uint64
	Proto        Proto
	State        State
	RecvQ, SendQ uint64
	Local        netip.AddrPort
	Peer         netip.AddrPort // invalid when not connected
	// TCP holds a TCP connection's details (ss -i); nil otherwise.
	TCP *TCPInfo `json:",omitempty"`
}

// TCPInfo is what `ss -ti` shows of a connection (Linux's tcp_info).
type TCPInfo struct {
	CC                   string
	SndWScale, RcvWScale uint8
	RTO, RTT, RTTVar     int64 // ns
	MinRTT               int64 // ns
	MSS, RcvMSS          int
	PMTU, AdvMSS         int // path MTU (IP_MTU); the MSS our SYN advertised
	Cwnd, Ssthresh       int // bytes
	Unacked              uint32
	Retrans, RetransSegs uint64 // segments: retransmitted now (backoff count) and in total
	BytesSent, BytesRcvd uint64
	SegsOut, SegsIn      uint64
	SndWnd, RcvWnd       uint32
	RcvSpace             int
	// RecvRing and SendRing are the ring memory the connection holds now,
	// in bytes (ss -m's rb and tb).
	RecvRing, SendRing int
}

// String formats the details as ss -ti's second line.
func (t *TCPInfo) String() string {
	ms := func(ns int64) string { return fmt.Sprintf("%.3g", float64(ns)/1e6) }
	seg := max(t.MSS, 1)
	return fmt.Sprintf("%s wscale:%d,%d rto:%s rtt:%s/%s minrtt:%s mss:%d pmtu:%d rcvmss:%d advmss:%d cwnd:%d ssthresh:%d bytes_sent:%d bytes_received:%d segs_out:%d segs_in:%d unacked:%d retrans:%d/%d snd_wnd:%d rcv_wnd:%d rcv_space:%d",
		t.CC, t.SndWScale, t.RcvWScale, ms(t.RTO), ms(t.RTT), ms(t.RTTVar), ms(t.MinRTT), t.MSS, t.PMTU, t.RcvMSS, t.AdvMSS,
		t.Cwnd/seg, min(t.Ssthresh/seg, 0x7fffffff), t.BytesSent, t.BytesRcvd, t.SegsOut, t.SegsIn,
		t.Unacked, t.Retrans, t.RetransSegs, t.SndWnd, t.RcvWnd, t.RcvSpace)
}

// StateName is the state as ss prints it.
func (e Entry) StateName() string {
	if e.Proto == UDP {
		if e.Peer.IsValid() {
			return "ESTAB"
		}
		return "UNCONN"
	}
	return [...]string{"UNCONN", "LISTEN", "SYN-SENT", "SYN-RECV", "ESTAB", "FIN-WAIT-1",
		"FIN-WAIT-2", "CLOSE-WAIT", "CLOSING", "LAST-ACK", "TIME-WAIT"}[e.State]
}

// Sockets lists the sockets of proto that hold a port, like `ss -tan` (TCP)
// or `ss -uan` (UDP), sorted by local then peer address.
func (t *Table) Sockets(proto Proto) []Entry {
	t.mu.Lock()
	var out []Entry
	for k, b := range t.buckets {
		if k.proto != proto {
			continue
		}
		for _, s := range b {
			e := Entry{ID: s.id, Proto: s.proto, State: s.state, Local: s.local, Peer: s.remote}
			if t.cfg.Queues != nil {
				e.RecvQ, e.SendQ = t.cfg.Queues.Queues(s)
			}
			out = append(out, e)
		}
	}
	t.mu.Unlock()
	slices.SortFunc(out, func(a, b Entry) int {
		if c := a.Local.Compare(b.Local); c != 0 {
			return c
		}
		if c := a.Peer.Compare(b.Peer); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	return out
}

// hostPort formats like ss: IPv6 in brackets, "*" for an unset port.
func hostPort(a netip.Addr, port string) string {
	if a.Is4() {
		return a.String() + ":" + port
	}
	return "[" + a.String() + "]:" + port
}

// WriteSS prints entries as ss -tan / -uan does, with its header.
func WriteSS(w io.Writer, entries []Entry) error {
	tw := tabwriter.NewWriter(w, 0, 8, 1, ' ', 0)
	fmt.Fprintln(tw, "State\tRecv-Q\tSend-Q\tLocal Address:Port\tPeer Address:Port")
	for _, e := range entries {
		peer := hostPort(netip.IPv4Unspecified(), "*")
		if e.Local.Addr().Is6() {
			peer = hostPort(netip.IPv6Unspecified(), "*")
		}
		if e.Peer.IsValid() {
			peer = hostPort(e.Peer.Addr(), fmt.Sprint(e.Peer.Port()))
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\n", e.StateName(), e.RecvQ, e.SendQ,
			hostPort(e.Local.Addr(), fmt.Sprint(e.Local.Port())), peer)
		if e.TCP != nil {
			fmt.Fprintf(tw, "\t %s\n", e.TCP)
		}
	}
	return tw.Flush()
}
