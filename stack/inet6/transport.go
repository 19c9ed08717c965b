package inet6

import (
	"sync/atomic"

	"github.com/xdpengine/engine/header"
	"github.com/xdpengine/engine/stack/sock"
	"github.com/xdpengine/engine/stack/stats"
)

// What a registered transport calls back: the counters and answers the
// layer gives a packet that reaches no socket, and the send that waits
// within a socket's deadline.

// NoSocket answers a datagram of a registered transport that no socket
// takes as Linux does: counted (InNoPorts), and a port unreachable unless
// it was sent to a group (RFC 4443 2.4(e)); rate-limited. The transport
// has checked its checksum.
func (l *Layer) NoSocket(r *Received) {
	l.c.InNoPorts++
	l.st.DropNoSocket++
	l.SendICMPError(r.IP, r.LinkMcast, header.ICMPv6DstUnreachable, header.ICMPv6PortUnreachable, 0)
}

// Stats returns the worker's counters (the transport counts its drops
// there).
func (l *Layer) Stats() *stats.Worker { return l.st }

// SendUntil queues d on worker l, waiting for room while l is behind, as
// inet4's Host.Send does (sock.PushUntil: stop ends the wait with its
// error, and is looked at when done closes or the deadline passes: a
// closed socket, a write deadline); call it after TrySend failed. On error
// d.Buf is not taken.
func (h *Host) SendUntil(l *Layer, d Datagram, stop func() error, deadline *atomic.Int64, done <-chan struct{}) error {
	return sock.PushUntil(l.txq, d, l.dp.Wake, stop, deadline, done)
}
