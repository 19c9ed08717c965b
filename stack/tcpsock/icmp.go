package tcpsock

import (
	"syscall"

	"github.com/xdpengine/engine/flowtable"
	"github.com/xdpengine/engine/header"
	"github.com/xdpengine/engine/icmp"
	"github.com/xdpengine/engine/stack/inet4"
	"github.com/xdpengine/engine/tcp"
)

// ICMPError implements inet4.Transport: it gives an ICMP error that
// quotes one of the engine's TCP segments to its connection, on the worker
// that owns it, as Linux's tcp_v4_err: "fragmentation needed" lowers the
// path MTU and resends what no longer fits; the others fail a connect, or
// are kept as the error a later timeout reports. A message that came
// reassembled is taken only by the owner. ICMP for no connection is
// ignored.
func (w *worker) ICMPError(r *inet4.Received, re *icmp.ReceivedError, _ header.ICMPv4) {
	key := flowtable.KeyFrom4(re.Remote, re.Local, re.RemotePort, re.LocalPort, header.ProtocolTCP)
	c := w.conns.Lookup(&key)
	if c == nil {
		if r.Frame != nil && !r.Steered && len(w.s.workers) > 1 {
			if owner := w.s.host.Owner(key); owner != w.l {
				w.l.Steer(owner, r)
			}
		}
		return
	}
	if re.Errno == syscall.EMSGSIZE {
		c.ep.ICMPFragNeeded(w.l.Now(), tcp.Seq(re.QuotedSeq), int(re.MTU))
	} else {
		c.ep.ICMPError(w.l.Now(), tcp.Seq(re.QuotedSeq), re.Errno, re.Fatal)
	}
	w.serviceTCP(c)
}
