package engine

import "github.com/xdpengine/engine/stack/socktab"

// EachSocket lists the sockets Sockets lists, in batches of at most n
// entries handed to fn as they come, so that a listing of a million
// connections never sits whole in memory: first the socket table's (for
// TCP: its listeners and unconnected sockets, sorted), then each worker's
// connections in its table order (TCP details when info is set; see
// tcpsock.Stack.EachConnection: not a snapshot, like a netlink dump). It
// stops at fn's first error and returns it.
func (e *Engine) EachSocket(proto socktab.Proto, n int, info bool, fn func([]socktab.Entry) error) error {
	n = max(n, 1)
	tab := e.tab.Sockets(proto)
	if proto == socktab.TCP {
		// Connections come from the workers below.
		tab = unconnected(tab)
	}
	for len(tab) > 0 {
		k := min(n, len(tab))
		if err := fn(tab[:k]); err != nil {
			return err
		}
		tab = tab[k:]
	}
	if proto != socktab.TCP || !e.state.Running() {
		return nil
	}
	return e.tcp.EachConnection(n, info, publishWait, fn)
}

// unconnected keeps the entries without a peer, in place.
func unconnected(es []socktab.Entry) []socktab.Entry {
	out := es[:0]
	for _, s := range es {
		if !s.Peer.IsValid() {
			out = append(out, s)
		}
	}
	return out
}
