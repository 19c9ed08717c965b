package engine_test

import (
	"encoding/binary"
	"net"
	"net/netip"
	"testing"

	"github.com/xdpengine/engine/afxdp"
	"github.com/xdpengine/engine/engine"
	"github.com/xdpengine/engine/header"
	"github.com/xdpengine/engine/internal/enginetest"
	"github.com/xdpengine/engine/internal/testbed"
	"github.com/xdpengine/engine/portalloc"
)

// toeplitzRef is the RSS hash as Microsoft's specification defines it,
// bit by bit (no tables): for each set bit of the input, XOR in the 32
// key bits that start at that bit's position.
func toeplitzRef(key, input []byte) uint32 {
	var h uint32
	for i, b := range input {
		for bit := range 8 {
			if b&(0x80>>bit) == 0 {
				continue
			}
			pos := i*8 + bit
			var w uint32
			for j := range 32 {
				p := pos + j
				if key[p/8]&(0x80>>(p%8)) != 0 {
					w |= 1 << (31 - j)
				}
			}
			h ^= w
		}
	}
	return h
}

// rssQueue is the queue a NIC with key and table delivers a TCP or UDP
// packet from src to dst to.
func rssQueue(key []byte, table []uint16, src, dst netip.AddrPort) int {
	in := make([]byte, 0, 12)
	s, d := src.Addr().As4(), dst.Addr().As4()
	in = append(in, s[:]...)
	in = append(in, d[:]...)
	in = binary.BigEndian.AppendUint16(in, src.Port())
	in = binary.BigEndian.AppendUint16(in, dst.Port())
	return int(table[toeplitzRef(key, in)%uint32(len(table))])
}

// TestToeplitzReference checks the reference hash against the RSS
// specification's verification vector (IPv4 with TCP).
func TestToeplitzReference(t *testing.T) {
	in := []byte{66, 9, 149, 187, 161, 142, 100, 80, 0x0a, 0xea, 0x06, 0xe6} // 66.9.149.187:2794 → 161.142.100.80:1766
	if h := toeplitzRef(portalloc.MicrosoftKey[:], in[:8]); h != 0x323e8fc2 {
		t.Errorf("IPv4 hash %#x, want 0x323e8fc2", h)
	}
	if h := toeplitzRef(portalloc.MicrosoftKey[:], in); h != 0x51ccc178 {
		t.Errorf("IPv4 with TCP hash %#x, want 0x51ccc178", h)
	}
}

// TestConnectSteersRepliesToItsWorker: with a NIC's RSS configuration
// (Microsoft's key and a 128-entry table over 4 queues, given in
// Config.RSS because veth reports none), every port a TCP or UDP connect
// picks from worker k's shard makes the NIC's hash of the replies select
// queue k, and worker k owns the connection. The hash is the reference
// one above, not portalloc's tables.
func TestConnectSteersRepliesToItsWorker(t *testing.T) {
	const queues = 4
	bed := testbed.New(t, testbed.Config{Queues: queues})
	key := portalloc.MicrosoftKey[:]
	table := portalloc.DefaultIndirection(queues)
	eng := enginetest.Start(t, bed, engine.Config{Queues: queues, RSS: &afxdp.RSSConfig{Key: key, Indirection: table}})
	if got := eng.Steering(); got != "rss-toeplitz" {
		t.Fatalf("steering %q, want rss-toeplitz", got)
	}
	ln := enginetest.PeerListenTCP(t, bed, 7950)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	peer := netip.AddrPortFrom(bed.PeerAddr, 7950)
	seen := make([]int, queues)
	check := func(what string, shard, owner int, local netip.AddrPort) {
		t.Helper()
		q := rssQueue(key, table, peer, local) // the reply: peer → engine
		if q != shard || owner != shard {
			t.Errorf("%s from %v: port from shard %d, owner worker %d, the NIC's hash of the reply selects queue %d", what, local, shard, owner, q)
		}
		seen[q]++
	}
	for range 40 {
		c, err := eng.DialTCP("tcp4", nil, net.TCPAddrFromAddrPort(peer))
		if err != nil {
			t.Fatal(err)
		}
		local := c.LocalAddr().(*net.TCPAddr).AddrPort()
		check("TCP", eng.PortShard(header.ProtocolTCP, peer, local), c.IncomingQueue(), local)
		c.Close()
		u, err := eng.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(peer))
		if err != nil {
			t.Fatal(err)
		}
		ulocal := u.LocalAddr().(*net.UDPAddr).AddrPort()
		check("UDP", eng.PortShard(header.ProtocolUDP, peer, ulocal), u.IncomingQueue(), ulocal)
		u.Close()
	}
	for q, n := range seen {
		if n == 0 {
			t.Errorf("no connect was steered to queue %d (%v): the test did not exercise every shard", q, seen)
		}
	}
}
