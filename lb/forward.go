package lb

import (
	"encoding/binary"
	"fmt"
	"net/netip"

	"github.com/dgryski/go-metro"

	"github.com/xdpengine/engine/flowtable"
	"github.com/xdpengine/engine/header"
	"github.com/xdpengine/engine/portalloc"
	"github.com/xdpengine/engine/stack/datapath"
	"github.com/xdpengine/engine/stack/inet4"
	"github.com/xdpengine/engine/stack/inet6"
	"github.com/xdpengine/engine/stack/stats"
)

// Connection-tracking classes (flowtable idle timeouts).
const (
	classReverse     flowtable.Class = iota // a NAT flow's reply key: removed with its flow
	classSyn                                // TCP, only the client's SYN seen
	classEstablished                        // TCP, more than a SYN seen
	classClosing                            // TCP, FIN or RST seen
	classUDP
	// classReplyEstablished is a NAT reply key whose owner saw a reply
	// without SYN and made its flow established (conntrack4.go): removed
	// with its flow, as classReverse.
	classReplyEstablished
)

// flow is a tracked connection: the backend it was given and, for NAT, the
// source port it goes out with. Immutable once inserted, but for class,
// which only the owning worker reads and writes.
//
// The fields Forward reads come first, in 16 bytes: an Index's batch
// prefetches the first 16 bytes of a record (flowtable's
// prefetchValueBytes), and records are 16-aligned, so one cache line holds
// them. Layout-sensitive: TestFlowLayout. (The burst pre-pass prefetches
// the IPv4 Table4 only; records are IPv6 flows' and fast-path VIPs'.)
type flow struct {
	be       *backend
	snatPort uint16
	vport    uint16
	entropy  uint16 // tunnel DSR: the outer UDP source port
	proto    uint8
	class    flowtable.Class // the TCP state's timeout class the table has (owner only)
	v        *vip
	client   [4]byte
	cport    uint16
	fwd      flowtable.Key // the client's key (arrival order)
	rev      flowtable.Key // NAT: the backend's reply key (arrival order)
	fast     uint8         // fast path state: fastFwd, fastRev, fastFailed (owner only)
	// fastSeen are the program's counters of the client's key [0] and the
	// reply key [1] at the last count (fastCount; owner only).
	fastSeen [2]struct{ packets, bytes uint64 }
}

// forwarder is the balancer on one worker: its connection tracking
// (written by it alone, read lock-free by the other workers, which
// translate the packets of its flows that the NIC delivered to them) and
// the inet4.Forwarder and datapath.Layer the worker calls.
type forwarder struct {
	datapath.NoLayer
	b  *Balancer
	l  *inet4.Layer
	l6 *inet6.Layer // the worker's IPv6 layer (AddWorker6); nil without IPv6
	st *stats.Worker
	// ct4 tracks the IPv4 flows (conntrack4.go); ct the IPv6 flows and
	// those of VIPs with the fast path, as records.
	ct    *flowtable.Index[flow]
	ct4   *flowtable.Table4
	burst burstCache // the keys of the last burst: owners and hashes (prefetch.go)
	gone  []*flow    // flows the last sweep removed: their reply keys and ports go next
	gone4 []gone4    // the same of ct4
	queue int
	// scratch builds an encapsulated packet that does not fit its frame
	// (a reassembled datagram, one to be fragmented).
	scratch []byte
	// timeouts are the idle timeouts ct has (Balancer.timeouts once the
	// worker applied them).
	timeouts *Timeouts
	fast     *fastPath // nil without Config.FastPath (fastpath.go)
}

// AddWorker adds the balancer to a worker's IPv4 layer (in queue order);
// maxFlows is the worker's share of Config.MaxFlows (0: the default's
// share for one worker).
func (b *Balancer) AddWorker(l *inet4.Layer, maxFlows int, t Timeouts) error {
	if maxFlows <= 0 {
		maxFlows = DefaultMaxFlows
	}
	t = t.withDefaults()
	f := &forwarder{b: b, l: l, st: l.Stats(), queue: l.Queue(), scratch: make([]byte, 1<<16), timeouts: &t}
	cfg := flowtable.Config{
		Capacity:     2*maxFlows + maxFlows/4, // a NAT flow has two keys
		IdleTimeouts: t.classes(),
	}
	ct4, err := flowtable.NewTable4(cfg, f.removed4)
	if err != nil {
		return fmt.Errorf("lb: connection table: %w", err)
	}
	// The records' table serves IPv6 flows and fast-path VIPs' only: its
	// pages come as it fills.
	ixCfg := cfg
	ixCfg.NoPopulate = true
	ct, err := flowtable.NewIndex[flow](ixCfg, f.removed)
	if err != nil {
		ct4.Close()
		return fmt.Errorf("lb: connection table: %w", err)
	}
	f.ct, f.ct4 = ct, ct4
	l.SetForwarder(f)
	l.Worker().AddLayer(f)
	b.fwds = append(b.fwds, f)
	return nil
}

// Close stops the health checks and gives back the workers' connection
// tables; after the workers stopped.
func (b *Balancer) Close() {
	b.StopHealth()
	for _, f := range b.fwds {
		f.ct.Close()
		f.ct4.Close()
	}
}

// removed is the table's callback for an expired flow: its reply key and
// port go at the next Tick (the callback may not write the table).
func (f *forwarder) removed(k flowtable.Key, fl *flow, _ flowtable.RemoveReason) {
	if k == fl.fwd {
		f.gone = append(f.gone, fl)
	}
}

// Tick implements datapath.Layer: applies changed idle timeouts and ages
// the connection table.
func (f *forwarder) Tick() {
	if t := f.b.timeouts.Load(); t != nil && t != f.timeouts {
		if err := f.ct.SetIdleTimeouts(t.classes()); err == nil && f.ct4.SetIdleTimeouts(t.classes()) == nil {
			f.timeouts = t
		}
	}
	now := f.l.Now()
	f.ct4.Sweep(now, 4096) // buckets of two entries: as many as the Index's 1024 of eight
	f.reap4(now)
	f.ct.Sweep(now, 1024)
	for i, fl := range f.gone {
		if f.fastKeep(fl, now) {
			f.gone[i] = nil // busy in the fast path: back in the table
			continue
		}
		if fl.v.cfg.Mode == NAT {
			f.ct.Delete(fl.rev)
			f.ports(fl.proto).Release(fl.rev)
		}
		f.gone[i] = nil
	}
	f.gone = f.gone[:0]
	f.fastSync()
}

func (f *forwarder) ports(proto uint8) *portalloc.Allocator {
	if proto == header.ProtocolUDP {
		return f.b.p.UDPPorts
	}
	return f.b.p.TCPPorts
}

// Forward implements inet4.Forwarder.
func (f *forwarder) Forward(p *inet4.Packet) inet4.Verdict {
	ip := p.IP
	st := f.b.cur.Load()
	if st == nil {
		return inet4.Pass
	}
	proto := ip.Protocol()
	if proto == header.ProtocolICMP {
		return f.icmp(p, st)
	}
	if proto != header.ProtocolTCP && proto != header.ProtocolUDP {
		return inet4.Pass
	}
	l4 := ip.Payload()
	if len(l4) < 4 || ip.FragmentOffset() != 0 {
		return inet4.Pass
	}
	src, dst := ip.Src4(), ip.Dst4()
	sport, dport := binary.BigEndian.Uint16(l4), binary.BigEndian.Uint16(l4[2:])
	var key flowtable.Key
	key.SetFrom4(src, dst, sport, dport, proto) // in place: hashing reads it back at once
	k4 := flowtable.MakeKey4(src, dst, sport, dport, proto)
	v := st.lookup(dst, dport, proto)
	if v == nil {
		q, h4, hashed := f.burst.cached(k4)
		if !hashed {
			q = f.b.p.Host.Owner(key).Queue()
			h4 = f.b.fwds[q].ct4.Hash(k4)
		}
		of := f.b.fwds[q]
		if verdict, ok := f.reply4(p, k4, of, h4); ok {
			return verdict
		}
		if of.ct.Len() == 0 {
			return inet4.Pass
		}
		return f.reply(p, &key, of, of.ct.Hash(&key))
	}
	if !v.cfg.FastPath {
		return f.forward4(p, v, k4, &key, l4, true)
	}
	return f.forwardRecord(p, v, k4, &key, l4)
}

// forwardRecord forwards a packet to VIP v whose flow has a record in the
// Index: a VIP with the fast path (fastpath.go), or a flow tracked before
// its VIP got it. A flow tracked in the Table4 before the VIP got the
// fast path stays there.
func (f *forwarder) forwardRecord(p *inet4.Packet, v *vip, k4 flowtable.Key4, key *flowtable.Key, l4 []byte) inet4.Verdict {
	ip, proto := p.IP, k4.Proto()
	of := f.b.fwds[f.b.p.Host.Owner(*key).Queue()]
	fl := of.ct.LookupTouchHashed(key, of.ct.Hash(key), p.Now)
	if fl == nil && of.ct4.Len() > 0 {
		if _, ok := of.ct4.Lookup(k4); ok {
			return f.forward4(p, v, k4, key, l4, false)
		}
	}
	if fl == nil {
		if of != f {
			return f.handOver(p, v, of)
		}
		var why DropReason
		if fl, why = f.newFlow(v, key, p.Now); fl == nil {
			return f.drop(v, why)
		}
	} else if of == f && proto == header.ProtocolTCP {
		f.track(fl, l4, p.Now)
	}
	n := uint64(len(ip))
	v.stats[f.queue].add(1, n)
	fl.be.stats[f.queue].add(1, n)
	partial := f.partial(ip)
	switch v.cfg.Mode {
	case NAT:
		ip.RewriteSrc(f.b.p.SNAT.As4())
		ip.RewriteSrcPort(fl.snatPort)
		ip.RewriteDst(fl.be.addr)
		ip.RewriteDstPort(fl.bePort())
	case DSRIPIP, DSRGUE, DSRVXLAN:
		if partial {
			completeChecksum(ip)
		}
		verdict := f.tunnel(p, v, fl.be, fl.entropy)
		if verdict == inet4.Transmit && of == f && f.fast != nil && !partial {
			f.fastAfterForward(fl, key, p)
		}
		return verdict
	}
	if partial {
		completeChecksum(ip)
	}
	verdict := f.send(p, fl.be.addr, v.cfg.Mode == DSRL2)
	// A flow whose packets come with partial checksums would stay in
	// the worker all the same (the program leaves them to it).
	if verdict == inet4.Transmit && of == f && f.fast != nil && !partial {
		f.fastAfterForward(fl, key, p)
	}
	return verdict
}

// handOver gives the first packet of a new flow to of, the worker that
// owns it, which creates the flow.
func (f *forwarder) handOver(p *inet4.Packet, v *vip, of *forwarder) inet4.Verdict {
	if p.Frame == nil {
		return f.drop(v, DropOther) // a reassembled datagram of another worker's flow
	}
	f.l.SteerForward(of.l, p.Frame)
	p.Consumed = true
	return inet4.Drop
}

// reply translates a NAT reply (backend → the engine's port) back to the
// client; anything else is the engine's own.
// of is the key's owner, h its hash there.
func (f *forwarder) reply(p *inet4.Packet, key *flowtable.Key, of *forwarder, h uint64) inet4.Verdict {
	fl := of.ct.LookupHashed(key, h)
	if fl == nil {
		return inet4.Pass
	}
	ip := p.IP
	n := uint64(len(ip))
	fl.v.stats[f.queue].add(1, n)
	partial := f.partial(ip)
	ip.RewriteSrc(fl.v.cfg.Addr.As4())
	ip.RewriteSrcPort(fl.vport)
	ip.RewriteDst(fl.client)
	ip.RewriteDstPort(fl.cport)
	if partial {
		completeChecksum(ip)
	}
	if fl.proto == header.ProtocolTCP && of == f {
		f.track(fl, ip.Payload(), p.Now)
	}
	of.ct.LookupTouch(&fl.fwd, p.Now) // the flow lives while its replies do
	verdict := f.send(p, fl.client, false)
	if verdict == inet4.Transmit && of == f && f.fast != nil && !partial {
		f.fastAfterReply(fl, key, p)
	}
	return verdict
}

func (fl *flow) bePort() uint16 {
	if fl.be.port != 0 {
		return fl.be.port
	}
	return fl.vport
}

// newFlow gives a new flow its backend (Maglev) and, for NAT, its port;
// nil and why when it cannot have one.
func (f *forwarder) newFlow(v *vip, key *flowtable.Key, now int64) (*flow, DropReason) {
	src, dst := [4]byte(key.Src[12:]), [4]byte(key.Dst[12:])
	i := v.table.Lookup(flowHash(v, src, dst, key.SrcPort, key.DstPort, key.Proto, f.b.p.Seed))
	if i < 0 {
		return nil, DropNoBackend
	}
	fl := &flow{v: v, be: v.backends[i], client: src, cport: key.SrcPort, vport: key.DstPort, proto: key.Proto, fwd: *key}
	if overhead(v.cfg.Mode) > 0 {
		// Per flow, even with client affinity: the backend's NIC spreads
		// a client's connections over its queues.
		fl.entropy = entropyPort(flowHash(&vip{}, src, dst, key.SrcPort, key.DstPort, key.Proto, f.b.p.Seed))
	}
	class := classUDP
	if key.Proto == header.ProtocolTCP {
		class = classSyn
	}
	fl.class = class
	var rev flowtable.Key
	if v.cfg.Mode == NAT {
		rev = flowtable.KeyFrom4(fl.be.addr, f.b.p.SNAT.As4(), fl.bePort(), 0, key.Proto)
	}
	return f.admit(v, fl, key, rev, now)
}

// admit gives a new flow (fl, with its class) its NAT port toward rev (the
// backend's reply key without its port) and puts it in the table; nil and
// why when it cannot have one. Both families.
func (f *forwarder) admit(v *vip, fl *flow, key *flowtable.Key, rev flowtable.Key, now int64) (*flow, DropReason) {
	class := fl.class
	if v.cfg.Mode == NAT {
		port, err := f.ports(key.Proto).Shard(f.queue).Connect(rev)
		if err != nil {
			return nil, DropTableFull // the shard's ports toward this backend are used up
		}
		rev.DstPort = port
		fl.snatPort, fl.rev = port, rev
		if f.ct.Insert(rev, fl, now) != nil {
			f.ports(key.Proto).Release(rev)
			return nil, DropTableFull
		}
		f.ct.SetClass(rev, classReverse, now)
	}
	if err := f.ct.Insert(*key, fl, now); err != nil {
		if v.cfg.Mode == NAT {
			f.ct.Delete(fl.rev)
			f.ports(key.Proto).Release(fl.rev)
			return nil, DropTableFull
		}
		// DSR with a full table: Maglev alone is still consistent.
	} else {
		f.ct.SetClass(*key, class, now)
	}
	v.stats[f.queue].newFlows.Add(1)
	fl.be.stats[f.queue].newFlows.Add(1)
	return fl, 0
}

// track moves a TCP flow from SYN to established (a segment without SYN)
// and to closing (a FIN or RST, either way), never back: the ACKs that
// follow a FIN leave it closing (the owning worker only). The table is
// written only when the class changes.
//
// A SYN alone on a closing flow is a new connection on the same 5-tuple
// (see track4): the flow starts over.
func (f *forwarder) track(fl *flow, l4 []byte, now int64) {
	if len(l4) < 14 {
		return
	}
	flags := l4[13]
	if fl.class == classClosing {
		if flags&(header.TCPFlagSYN|header.TCPFlagACK) == header.TCPFlagSYN && f.ct.SetClass(fl.fwd, classSyn, now) == nil {
			fl.class = classSyn
		}
		return
	}
	c := fl.class
	switch {
	case flags&(header.TCPFlagFIN|header.TCPFlagRST) != 0:
		c = classClosing
	case flags&header.TCPFlagSYN == 0:
		c = classEstablished
	}
	if c != fl.class && f.ct.SetClass(fl.fwd, c, now) == nil {
		fl.class = c
		if c == classClosing {
			f.fastRemove(fl) // a closing flow ends in the worker
		}
	}
}

// partial reports a TCP or UDP checksum that holds only the pseudo-header
// sum (a Linux sender on a virtual link): a forwarded packet must carry a
// full one, which the receiving kernel verifies.
func (f *forwarder) partial(ip header.IPv4) bool {
	if !f.b.p.Host.TrustPartial() {
		return false
	}
	// A full checksum equal to the pseudo-header sum is a 1-in-65536
	// coincidence, and recomputing it is right anyway: no verification.
	src, dst := ip.Src4(), ip.Dst4()
	if ip.Protocol() == header.ProtocolTCP {
		t := header.TCP(ip.Payload())
		return len(t) >= header.TCPMinHeaderLen && t.ChecksumPartial(src, dst)
	}
	u := header.UDP(ip.Payload())
	return len(u) >= 8 && u.Checksum() != 0 && u.ChecksumPartial(src, dst)
}

// completeChecksum writes the full TCP or UDP checksum.
func completeChecksum(ip header.IPv4) {
	src, dst := ip.Src4(), ip.Dst4()
	if ip.Protocol() == header.ProtocolTCP {
		t := header.TCP(ip.Payload())
		t.SetChecksum(0)
		t.UpdateChecksum(src, dst)
		return
	}
	u := header.UDP(ip.Payload())
	u.SetChecksum(0)
	u.UpdateChecksum(src, dst)
}

// send transmits the rewritten packet to the next hop toward to: in place
// when its MAC is known, else through the send path, which waits for ARP
// (a DSR packet keeps the VIP as its destination: it names the backend as
// the next hop).
func (f *forwarder) send(p *inet4.Packet, to [4]byte, dsr bool) inet4.Verdict {
	mac, resolved, ok := f.l.NextHop(addr4(to))
	switch {
	case !ok:
		return inet4.Drop
	case !resolved || p.Frame == nil || len(p.IP) > f.b.p.Host.MTU():
		if dsr {
			p.Via = addr4(to) // the VIP stays the destination: name the backend
		}
		return inet4.Route
	}
	f.l.PutEthernet(p.Frame, mac)
	p.Frame = p.Frame[:14+len(p.IP)]
	return inet4.Transmit
}

func (f *forwarder) drop(v *vip, why DropReason) inet4.Verdict {
	v.stats[f.queue].drops[why].Add(1)
	return inet4.Drop
}

// flowHash is the Maglev input of a flow: its 5-tuple, or its source
// address alone for a VIP with client affinity.
func flowHash(v *vip, src, dst [4]byte, sport, dport uint16, proto uint8, seed uint64) uint64 {
	var b [13]byte
	copy(b[0:4], src[:])
	if v.cfg.SourceHash {
		return metro.Hash64(b[:4], seed)
	}
	copy(b[4:8], dst[:])
	binary.BigEndian.PutUint16(b[8:], sport)
	binary.BigEndian.PutUint16(b[10:], dport)
	b[12] = proto
	return metro.Hash64(b[:], seed)
}

func addr4(a [4]byte) netip.Addr { return netip.AddrFrom4(a) }

// clientAddr returns the flow's client address (either family).
func (fl *flow) clientAddr() netip.Addr {
	if fl.fwd.Family == flowtable.FamilyIPv6 {
		return netip.AddrFrom16(fl.fwd.Src)
	}
	return addr4(fl.client)
}
