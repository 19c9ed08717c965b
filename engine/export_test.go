package engine

import (
	"net/netip"

	"github.com/xdpengine/engine/flowtable"
	"github.com/xdpengine/engine/stack/datapath"
	"github.com/xdpengine/engine/stack/tcpsock"
)

// The internals the external tests (package engine_test) read, and nothing
// else: every other check goes through the public API.

// TCPPools returns the TCP layer's ring and endpoint pool counters
// (ringpool_e2e_test.go).
func (e *Engine) TCPPools() tcpsock.PoolStats { return e.tcp.Pools() }

// SteerKey returns the worker the steering function gives key
// (tcp_edge_e2e_test.go).
func (e *Engine) SteerKey(key flowtable.Key) int { return e.steer.Steer(key) }

// PortShard returns the port shard the socket table recorded for the
// connection of proto from local to peer, or -1 when the table has no
// exact match (steering_e2e_test.go).
func (e *Engine) PortShard(proto uint8, peer, local netip.AddrPort) int {
	key := flowtable.KeyFrom(peer, local, proto)
	s := e.tab.Holder(key) // a TCP dial's socket is not in the lookup table (ConnectUnlisted)
	if s == nil {
		return -1
	}
	return e.tab.Shard(s)
}

// WakesDirectly reports whether worker q wakes applications directly
// rather than through its netpoller goroutine (tcp_e2e_test.go).
func (e *Engine) WakesDirectly(q int) bool { return e.workers[q].Waker().Direct() }

// IfIndex returns the index of the engine's interface (ipopts_e2e_test.go).
func (e *Engine) IfIndex() int { return e.ifindex }

// WithFaults returns cfg with the fault injector f (faults_e2e_test.go):
// a test hook, kept out of Config's documented fields.
func WithFaults(cfg Config, f datapath.NewInjector) Config {
	cfg.faults = f
	return cfg
}
