package engine

import (
	"syscall"

	"github.com/xdpengine/engine/flowtable"
	"github.com/xdpengine/engine/icmp"
	"github.com/xdpengine/engine/tcp"
)

// TCPPathMTUStats are the path MTU counters of the worker's TCP connections
// (tcp.Stats' fields of the same names), summed like RetransSegs: freed
// connections folded in, live ones added at publication.
type TCPPathMTUStats struct {
	OutOfWindowIcmps uint64 // ICMP errors quoting a sequence outside the window, ignored (RFC 5927)
	PMTUDecreases    uint64 // fragmentation needed that lowered a connection's path MTU
	TCPMTUPSuccess   uint64 // MTU probes acknowledged (RFC 4821)
	TCPMTUPFail      uint64 // MTU probes lost
	MTUProbes        uint64 // MTU probes sent
	MTUBlackHoles    uint64 // ICMP black holes detected (repeated timeouts lowered the MSS)
	RTOReverts       uint64 // retransmission backoffs undone by an ICMP unreachable (RFC 6069)
}

func (t *TCPPathMTUStats) addEndpoint(s tcp.Stats) {
	t.OutOfWindowIcmps += s.OutOfWindowIcmps
	t.PMTUDecreases += s.PMTUDecreases
	t.TCPMTUPSuccess += s.TCPMTUPSuccess
	t.TCPMTUPFail += s.TCPMTUPFail
	t.MTUProbes += s.MTUProbes
	t.MTUBlackHoles += s.MTUBlackHoles
	t.RTOReverts += s.RTOReverts
}

func (t *TCPPathMTUStats) add(w *TCPPathMTUStats) {
	t.OutOfWindowIcmps += w.OutOfWindowIcmps
	t.PMTUDecreases += w.PMTUDecreases
	t.TCPMTUPSuccess += w.TCPMTUPSuccess
	t.TCPMTUPFail += w.TCPMTUPFail
	t.MTUProbes += w.MTUProbes
	t.MTUBlackHoles += w.MTUBlackHoles
	t.RTOReverts += w.RTOReverts
}

// handleTCPICMP gives an ICMP error that quotes one of the engine's TCP
// segments to its connection, on the worker that owns it, as Linux's
// tcp_v4_err: "fragmentation needed" lowers the path MTU and resends
// what no longer fits; the others fail a connect, or are kept as the
// error a later timeout reports. frame is nil for a reassembled message
// (then only the owner can take it here). ICMP for no connection is
// ignored.
func (w *worker) handleTCPICMP(frame []byte, re *icmp.ReceivedError) {
	key := flowtable.KeyFrom4(re.Remote, re.Local, re.RemotePort, re.LocalPort, protoTCP)
	c := w.tcp.conns[key]
	if c == nil {
		if frame != nil && len(w.e.workers) > 1 {
			if owner := w.e.workers[w.e.steer.Steer(key)]; owner != w {
				w.steerTo(owner, frame)
			}
		}
		return
	}
	if re.Errno == syscall.EMSGSIZE {
		c.ep.ICMPFragNeeded(w.now, tcp.Seq(re.QuotedSeq), int(re.MTU))
	} else {
		c.ep.ICMPError(w.now, tcp.Seq(re.QuotedSeq), re.Errno, re.Fatal)
	}
	w.serviceTCP(c)
}
