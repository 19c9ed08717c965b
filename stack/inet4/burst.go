package inet4

import (
	"encoding/binary"

	"github.com/xdpengine/engine/header"
)

// BurstForwarder is a Forwarder that sees the flows of each burst the
// worker receives before their packets come to Forward one by one, to
// start the memory accesses Forward will make for them (the load
// balancer prefetches its connection-table entries: flowtable.Index.
// Prefetch), so that their cache misses overlap. A worker whose Forwarder
// is one makes its IPv4 layer a datapath.BurstInput; others pay nothing.
type BurstForwarder interface {
	Forwarder
	// PrefetchBurst is given the 5-tuples of the burst's unfragmented
	// TCP and UDP packets over IPv4, in arrival order, read from the
	// headers without validation: the checksum is not verified, the
	// destination may not be the engine's, and a packet listed here may
	// never reach Forward (the Hook or the address check may drop it).
	// It is a hint and must not change state Forward depends on. It runs
	// on the worker goroutine and must not block, allocate or keep
	// tuples (valid during the call only).
	PrefetchBurst(tuples []Tuple)
}

// Tuple is the 5-tuple of a received packet, as it arrived: Src is the
// remote end.
type Tuple struct {
	Src, Dst         [4]byte
	SrcPort, DstPort uint16
	Proto            uint8
}

// burstInput is the worker's datapath.Input when its Forwarder is a
// BurstForwarder: the Layer, with the burst pre-pass.
type burstInput struct {
	*Layer
	fwd    BurstForwarder
	tuples []Tuple // scratch, reused every burst
}

// setBurstInput makes the layer, with f's burst pre-pass, the worker's
// input when f is a BurstForwarder, and the layer alone otherwise (before
// the worker runs).
func (l *Layer) setBurstInput(f Forwarder) {
	if bf, ok := f.(BurstForwarder); ok {
		l.dp.SetInput(&burstInput{Layer: l, fwd: bf})
		return
	}
	l.dp.SetInput(l)
}

// PrefetchBurst implements datapath.BurstInput: it reads the 5-tuples of
// the burst's TCP and UDP packets (see BurstForwarder) and hands them to
// the Forwarder. Frames it cannot read so are skipped: too short, VLAN
// tagged, not IPv4, a bad header length, a fragment, another protocol.
func (b *burstInput) PrefetchBurst(frames [][]byte) {
	if len(b.tuples) < len(frames) {
		b.tuples = make([]Tuple, len(frames)) // once: no burst is larger than the worker's
	}
	n := 0
	for _, f := range frames {
		if tupleOf(f, &b.tuples[n]) {
			n++
		}
	}
	if n > 0 {
		b.fwd.PrefetchBurst(b.tuples[:n])
	}
}

// tupleOf reads the 5-tuple of an Ethernet frame holding an unfragmented
// IPv4 TCP or UDP packet into t, and reports whether it could. It reads
// only what it checked is there.
func tupleOf(f []byte, t *Tuple) bool {
	const eth = header.EthernetHeaderLen
	if len(f) < eth+header.IPv4MinHeaderLen+4 || binary.BigEndian.Uint16(f[12:]) != header.EtherTypeIPv4 {
		return false
	}
	ip := f[eth:]
	hl := int(ip[0]&0x0f) * 4
	switch {
	case ip[0]>>4 != 4, hl < header.IPv4MinHeaderLen, len(ip) < hl+4, int(binary.BigEndian.Uint16(ip[2:])) < hl+4:
		return false
	case binary.BigEndian.Uint16(ip[6:])&0x3fff != 0: // more fragments, or an offset
		return false
	case ip[9] != header.ProtocolTCP && ip[9] != header.ProtocolUDP:
		return false
	}
	t.Src, t.Dst = [4]byte(ip[12:16]), [4]byte(ip[16:20])
	t.SrcPort, t.DstPort = binary.BigEndian.Uint16(ip[hl:]), binary.BigEndian.Uint16(ip[hl+2:])
	t.Proto = ip[9]
	return true
}
