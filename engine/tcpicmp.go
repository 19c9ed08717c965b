package engine

import (
	"syscall"

	"github.com/xdpengine/engine/flowtable"
	"github.com/xdpengine/engine/icmp"
	"github.com/xdpengine/engine/tcp"
)

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
		c.ep.ICMPFragNeeded(w.now(), tcp.Seq(re.QuotedSeq), int(re.MTU))
	} else {
		c.ep.ICMPError(w.now(), tcp.Seq(re.QuotedSeq), re.Errno, re.Fatal)
	}
	w.serviceTCP(c)
}
