package main

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/xdpengine/engine/stack/socktab"
)

// ssEntryJSON is one socket as `engine ss --json` prints it: stable
// snake_case names (the control socket's wire format, socktab.Entry, is
// not the user's).
type ssEntryJSON struct {
	Netid string `json:"netid"` // "tcp" or "udp"
	State string `json:"state"` // as ss prints it: ESTAB, LISTEN, UNCONN...
	RecvQ uint64 `json:"recv_q"`
	SendQ uint64 `json:"send_q"`
	Local string `json:"local"`          // ADDR:PORT ([ADDR]:PORT for IPv6)
	Peer  string `json:"peer,omitempty"` // absent when not connected
	// ID is the socket's identifier in the engine's socket table (-e;
	// ss's sk cookie); a TCP connection, kept in its worker's table, has
	// none.
	ID      uint64       `json:"id,omitempty"`
	TCPInfo *ssTCPInfo   `json:"tcp_info,omitempty"` // --info
	Memory  *ssMemoryOut `json:"memory,omitempty"`   // -m
}

// ssTCPInfo is socktab.TCPInfo with snake_case names and units.
type ssTCPInfo struct {
	CC            string `json:"cc"`
	SndWScale     uint8  `json:"snd_wscale"`
	RcvWScale     uint8  `json:"rcv_wscale"`
	RTONs         int64  `json:"rto_ns"`
	RTTNs         int64  `json:"rtt_ns"`
	RTTVarNs      int64  `json:"rttvar_ns"`
	MinRTTNs      int64  `json:"min_rtt_ns"`
	MSS           int    `json:"mss"`
	RcvMSS        int    `json:"rcv_mss"`
	PMTU          int    `json:"pmtu"`
	AdvMSS        int    `json:"adv_mss"`
	CwndBytes     int    `json:"cwnd_bytes"`
	SsthreshBytes int    `json:"ssthresh_bytes"`
	Unacked       uint32 `json:"unacked"`
	Retrans       uint64 `json:"retrans"`
	TotalRetrans  uint64 `json:"total_retrans"`
	BytesSent     uint64 `json:"bytes_sent"`
	BytesReceived uint64 `json:"bytes_received"`
	SegsOut       uint64 `json:"segs_out"`
	SegsIn        uint64 `json:"segs_in"`
	SndWnd        uint32 `json:"snd_wnd"`
	RcvWnd        uint32 `json:"rcv_wnd"`
	RcvSpace      int    `json:"rcv_space"`
}

// ssMemoryOut is what ss -m shows of a connection's memory: the bytes
// queued and the ring memory the connection holds for them.
type ssMemoryOut struct {
	RecvQueued int `json:"recv_queued_bytes"`
	RecvRing   int `json:"recv_ring_bytes"`
	SendQueued int `json:"send_queued_bytes"`
	SendRing   int `json:"send_ring_bytes"`
}

// ssShow is what engine ss adds to each entry: -e, --info, -m.
type ssShow struct{ extended, info, memory bool }

func ssEntryOut(e *socktab.Entry, show ssShow) ssEntryJSON {
	j := ssEntryJSON{Netid: protoName(e.Proto), State: e.StateName(), RecvQ: e.RecvQ, SendQ: e.SendQ,
		Local: hostPort(e.Local.Addr(), fmt.Sprint(e.Local.Port()))}
	if e.Peer.IsValid() {
		j.Peer = hostPort(e.Peer.Addr(), fmt.Sprint(e.Peer.Port()))
	}
	if show.extended {
		j.ID = e.ID
	}
	if t := e.TCP; t != nil && show.info {
		j.TCPInfo = &ssTCPInfo{CC: t.CC, SndWScale: t.SndWScale, RcvWScale: t.RcvWScale, RTONs: t.RTO, RTTNs: t.RTT,
			RTTVarNs: t.RTTVar, MinRTTNs: t.MinRTT, MSS: t.MSS, RcvMSS: t.RcvMSS, PMTU: t.PMTU, AdvMSS: t.AdvMSS,
			CwndBytes: t.Cwnd, SsthreshBytes: t.Ssthresh, Unacked: t.Unacked, Retrans: t.Retrans, TotalRetrans: t.RetransSegs,
			BytesSent: t.BytesSent, BytesReceived: t.BytesRcvd, SegsOut: t.SegsOut, SegsIn: t.SegsIn,
			SndWnd: t.SndWnd, RcvWnd: t.RcvWnd, RcvSpace: t.RcvSpace}
	}
	if show.memory && e.Proto == socktab.TCP {
		j.Memory = &ssMemoryOut{RecvQueued: int(e.RecvQ), SendQueued: int(e.SendQ)}
		if e.TCP != nil {
			j.Memory.RecvRing, j.Memory.SendRing = e.TCP.RecvRing, e.TCP.SendRing
		}
	}
	return j
}

// ssExtra is the text ss prints after an entry: -e's on its line, -m's
// and --info's on the second line.
func ssExtra(e *socktab.Entry, show ssShow) (sameLine, second string) {
	if show.extended {
		sameLine = fmt.Sprintf(" sk:%x", e.ID)
	}
	var parts []string
	if show.memory && e.Proto == socktab.TCP {
		m := ssEntryOut(e, ssShow{memory: true}).Memory
		parts = append(parts, fmt.Sprintf("skmem:(r%d,rb%d,t%d,tb%d)", m.RecvQueued, m.RecvRing, m.SendQueued, m.SendRing))
	}
	if show.info && e.TCP != nil {
		parts = append(parts, e.TCP.String())
	}
	return sameLine, strings.Join(parts, " ")
}

// ssSummary is engine ss -s: the sockets by protocol, state and family.
type ssSummary struct {
	Total int            `json:"total"`
	TCP   ssProtoSummary `json:"tcp"`
	UDP   ssProtoSummary `json:"udp"`
}

type ssProtoSummary struct {
	Total   int            `json:"total"`
	IPv4    int            `json:"ipv4"`
	IPv6    int            `json:"ipv6"`
	States  map[string]int `json:"states"` // by ss's state name: ESTAB, LISTEN, TIME-WAIT...
	Orphans uint64         `json:"orphans,omitempty"`
}

// Entry counts e (ssSummary is an ssOutput).
func (s *ssSummary) Entry(e *socktab.Entry) error {
	p := &s.UDP
	if e.Proto == socktab.TCP {
		p = &s.TCP
	}
	if p.States == nil {
		p.States = map[string]int{}
	}
	s.Total++
	p.Total++
	p.States[e.StateName()]++
	if e.Local.Addr().Is4() {
		p.IPv4++
	} else {
		p.IPv6++
	}
	return nil
}

func (s *ssSummary) Close() error { return nil }

func writeSSSummary(w io.Writer, s *ssSummary) error {
	var b strings.Builder
	fmt.Fprintf(&b, "Total: %d\n", s.Total)
	st := s.TCP.States
	closed := s.TCP.Total - st["ESTAB"] - st["TIME-WAIT"] - st["LISTEN"] - st["SYN-SENT"] - st["SYN-RECV"]
	fmt.Fprintf(&b, "TCP:   %d (estab %d, closed %d, orphaned %d, timewait %d)\n\n",
		s.TCP.Total, st["ESTAB"], closed, s.TCP.Orphans, st["TIME-WAIT"])
	fmt.Fprintf(&b, "Transport Total     IP        IPv6\n")
	for _, r := range []struct {
		name string
		p    ssProtoSummary
	}{{"UDP", s.UDP}, {"TCP", s.TCP}} {
		fmt.Fprintf(&b, "%-9s %-9d %-9d %-9d\n", r.name, r.p.Total, r.p.IPv4, r.p.IPv6)
	}
	if len(s.TCP.States) > 0 {
		b.WriteString("\nTCP states:")
		for _, name := range slices.Sorted(maps.Keys(s.TCP.States)) {
			fmt.Fprintf(&b, " %s %d", name, s.TCP.States[name])
		}
		b.WriteString("\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}
