package engine

import (
	"errors"
	"net/netip"
	"syscall"
	"testing"
)

// TestPingsRegistry: a reply reaches the request with its source,
// identifier and sequence number, once; others are ignored; a second
// request with the same key is refused; a request given up is forgotten.
func TestPingsRegistry(t *testing.T) {
	var p pings
	peer, other := netip.MustParseAddr("198.18.0.2"), netip.MustParseAddr("2001:db8::2")
	p.reply(peer, 1, 1, 64, 64) // nobody waits: ignored
	k := pingKey{addr: peer, id: 7, seq: 3}
	w, err := p.add(k)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.add(k); !errors.Is(err, syscall.EADDRINUSE) {
		t.Errorf("second request with the same key: %v, want EADDRINUSE", err)
	}
	p.reply(other, 7, 3, 64, 64) // another source
	p.reply(peer, 7, 4, 64, 64)  // another sequence number
	p.reply(peer, 8, 3, 64, 64)  // another identifier
	select {
	case r := <-w.done:
		t.Fatalf("a reply that does not match was delivered: %+v", r)
	default:
	}
	p.reply(netip.AddrFrom16(peer.As16()), 7, 3, 63, 1008) // the v4-mapped form matches
	r := <-w.done
	if r.TTL != 63 || r.Bytes != 1008 || r.at.Before(w.sent) {
		t.Errorf("reply %+v", r)
	}
	p.reply(peer, 7, 3, 64, 64) // a duplicate: nobody waits any more
	if p.n.Load() != 0 || len(p.wait) != 0 {
		t.Errorf("after the reply: %d outstanding, %d waiting", p.n.Load(), len(p.wait))
	}
	p.remove(k, w) // Ping's deferred remove after the reply: nothing to do
	w2, _ := p.add(k)
	p.remove(k, w2) // given up
	if p.n.Load() != 0 || len(p.wait) != 0 {
		t.Errorf("after giving up: %d outstanding, %d waiting", p.n.Load(), len(p.wait))
	}
	if a, b := p.newID(), p.newID(); a == 0 || a == b {
		t.Errorf("identifiers %d, %d", a, b)
	}
}

// BenchmarkPingsReplyIdle is what an echo reply costs a worker while no
// ping waits: one atomic load.
func BenchmarkPingsReplyIdle(b *testing.B) {
	var p pings
	peer := netip.MustParseAddr("198.18.0.2")
	b.ReportAllocs()
	for b.Loop() {
		p.reply(peer, 1, 1, 64, 64)
	}
}
