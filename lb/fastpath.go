package lb

import (
	"errors"
	"sync/atomic"

	"github.com/xdpengine/engine/afxdp"
	"github.com/xdpengine/engine/flowtable"
	"github.com/xdpengine/engine/header"
	"github.com/xdpengine/engine/stack/inet4"
)

// The XDP fast path (Config.FastPath): a worker hands its established
// NAT and dsr-l2 flows to the steering program's table of its queue
// (afxdp.FastTable), which then rewrites and sends their packets itself
// (XDP_TX) without a copy to the worker. The worker keeps the flow in its
// connection table and stays the one that sees what changes a flow: its
// first packet, TCP segments with SYN, FIN or RST (a FIN or RST takes the
// flow back: closing flows end in the worker), fragments, packets with a
// partial checksum (completed by the worker), and packets that land on
// another worker's queue. Tunnel DSR modes stay in the worker.
//
// The program counts each entry's packets and bytes and stamps its last
// packet; the worker reads them back a share at every tick (a whole pass
// in about fastSyncPeriod) into the VIP's and backend's counters and its
// connection table's idle times, and once more before a flow would
// expire, so a flow busy in XDP never times out in the table.

// Flow fast-path states (flow.fast bits, owner only).
const (
	fastFwd = 1 << iota // the client's key is in the table
	fastRev             // NAT: the backend's reply key is
)

// fastSyncPeriod is about how long a pass over a worker's table takes,
// a share at each tick.
const fastSyncPeriod = 1e9

// fastPath is one worker's side of the fast path.
type fastPath struct {
	t     *afxdp.FastTable
	clock int64 // CLOCK_MONOTONIC less the worker's clock
	n     int   // entries in the table (keys)
	e     afxdp.FastEntry
	st    *fastCounters
}

// fastCounters count one worker's use of the fast path (FastPathStats).
type fastCounters struct {
	Entries  atomic.Int64
	Installs atomic.Uint64
	Full     atomic.Uint64
	Errors   atomic.Uint64
}

// FastPathStats count the fast path's use, all workers together.
type FastPathStats struct {
	Entries  int64  // keys in the tables now (a NAT flow has two)
	Installs uint64 // keys put in the tables
	Full     uint64 // keys not put: the worker's table was full
	Errors   uint64 // other failures of the tables' system calls
}

// SetFastPath gives each worker's forwarder its queue's table (table(q));
// before the workers start. clock is CLOCK_MONOTONIC less the workers'
// clock (afxdp.Monotonic - the datapath's Nanotime).
func (b *Balancer) SetFastPath(table func(queue int) *afxdp.FastTable, clock int64) error {
	for _, f := range b.fwds {
		t := table(f.queue)
		if t == nil {
			return errors.New("lb: no fast path table for queue")
		}
		f.fast = &fastPath{t: t, clock: clock, st: &fastCounters{}}
	}
	b.fastSet.Store(true) // after the writes above: pairs with FastPath's Load
	return nil
}

// FastPath returns the fast path's counters, all workers together; false
// without a fast path.
func (b *Balancer) FastPath() (FastPathStats, bool) {
	var s FastPathStats
	if !b.fastSet.Load() {
		return s, false
	}
	for _, f := range b.fwds {
		if f.fast == nil {
			return FastPathStats{}, false
		}
		s.Entries += f.fast.st.Entries.Load()
		s.Installs += f.fast.st.Installs.Load()
		s.Full += f.fast.st.Full.Load()
		s.Errors += f.fast.st.Errors.Load()
	}
	return s, len(b.fwds) > 0
}

// fastKey is the table's key of a connection-tracking key.
func fastKey(k *flowtable.Key) afxdp.FastKey {
	return afxdp.FastKeyOf([4]byte(k.Src[12:]), [4]byte(k.Dst[12:]), k.SrcPort, k.DstPort, k.Proto)
}

// fastReady reports a flow the fast path may take: a UDP or an
// established TCP flow of a VIP with FastPath (owner only).
func fastReady(fl *flow) bool {
	return fl.v.cfg.FastPath && (fl.proto == header.ProtocolUDP || fl.class == classEstablished)
}

// fastEncap is the fast path's encapsulation of each tunnel mode.
var fastEncap = map[Mode]uint32{DSRIPIP: afxdp.FastIPIP, DSRGUE: afxdp.FastGUE, DSRVXLAN: afxdp.FastVXLAN}

// fastInstall puts key's rewrite in the table, as the worker just made it
// of frame (its Ethernet addresses, and for NAT the translation to
// src:sport → dst:dport); bit is fastFwd or fastRev.
func (f *forwarder) fastInstall(fl *flow, key *flowtable.Key, frame []byte, bit uint8, src, dst [4]byte, sport, dport uint16) {
	fp := f.fast
	k := fastKey(key)
	fp.e = afxdp.FastEntry{DstMAC: [6]byte(frame[0:6]), SrcMAC: [6]byte(frame[6:12])}
	var err error
	switch m := fl.v.cfg.Mode; m {
	case NAT:
		fp.e.SetNAT(k, src, dst, sport, dport)
	case DSRIPIP, DSRGUE, DSRVXLAN:
		// The outer headers the worker just wrote in front of the
		// packet, in place (the program sets their lengths).
		o := overhead(m)
		err = fp.e.SetEncap(fastEncap[m], frame[header.EthernetHeaderLen:header.EthernetHeaderLen+o], f.b.p.Host.MTU()-o)
	}
	if err == nil {
		err = fp.t.Put(k, &fp.e)
	}
	if err != nil {
		if errors.Is(err, afxdp.ErrFastFull) {
			fp.st.Full.Add(1)
		} else {
			fp.st.Errors.Add(1)
		}
		fl.fast |= fastFailed
		return
	}
	fl.fast |= bit
	fp.n++
	fp.st.Entries.Store(int64(fp.n))
	fp.st.Installs.Add(1)
}

// fastFailed: a Put of the flow failed; it is not tried again.
const fastFailed = 1 << 7

// fastAfterForward offers a flow the worker just forwarded to the table.
func (f *forwarder) fastAfterForward(fl *flow, key *flowtable.Key, p *inet4.Packet) {
	if f.fast == nil || fl.fast&(fastFwd|fastFailed) != 0 || !fastReady(fl) {
		return
	}
	f.fastInstall(fl, key, p.Frame, fastFwd, f.b.p.SNAT.As4(), fl.be.addr, fl.snatPort, fl.bePort())
}

// fastAfterReply offers a NAT flow's reply key, whose packet the worker
// just translated back, to the table.
func (f *forwarder) fastAfterReply(fl *flow, key *flowtable.Key, p *inet4.Packet) {
	if f.fast == nil || fl.fast&(fastRev|fastFailed) != 0 || !fastReady(fl) {
		return
	}
	f.fastInstall(fl, key, p.Frame, fastRev, fl.v.cfg.Addr.As4(), fl.client, fl.vport, fl.cport)
}

// fastRemove takes a flow's keys out of the table, counting what the
// program forwarded since the last sync.
func (f *forwarder) fastRemove(fl *flow) {
	fp := f.fast
	if fp == nil || fl.fast&(fastFwd|fastRev) == 0 {
		return
	}
	for _, c := range []struct {
		bit uint8
		key *flowtable.Key
	}{{fastFwd, &fl.fwd}, {fastRev, &fl.rev}} {
		if fl.fast&c.bit == 0 {
			continue
		}
		if fp.t.Delete(fastKey(c.key), &fp.e) {
			f.fastCount(fl, c.bit == fastRev, &fp.e)
		}
		fp.n--
	}
	fl.fast &^= fastFwd | fastRev
	fp.st.Entries.Store(int64(fp.n))
}

// fastCount adds what the program forwarded of one of fl's keys since the
// last count to the VIP's and (not for replies) the backend's counters.
func (f *forwarder) fastCount(fl *flow, reply bool, e *afxdp.FastEntry) {
	seen := &fl.fastSeen[0]
	if reply {
		seen = &fl.fastSeen[1]
	}
	dp, db := e.Packets-seen.packets, e.Bytes-seen.bytes
	if dp == 0 {
		return
	}
	seen.packets, seen.bytes = e.Packets, e.Bytes
	fl.v.stats[f.queue].add(dp, db)
	if !reply {
		fl.be.stats[f.queue].add(dp, db)
	}
}

// fastSync reads back a share of the worker's table (at each tick): the
// counters, and the idle times into the connection table. An entry whose
// flow is gone is removed.
func (f *forwarder) fastSync() {
	fp := f.fast
	if fp == nil || fp.n == 0 {
		return
	}
	share := max(256, fp.n*int(tickShare)/fastSyncPeriod)
	_, err := fp.t.Scan(share, func(k *afxdp.FastKey, e *afxdp.FastEntry) {
		key := flowtable.KeyFrom4([4]byte(k[0:4]), [4]byte(k[4:8]),
			uint16(k[8])<<8|uint16(k[9]), uint16(k[10])<<8|uint16(k[11]), k[12])
		fl := f.ct.Lookup(&key)
		if fl == nil || key != fl.fwd && key != fl.rev {
			if fp.t.Delete(*k, &fp.e) { // left by a flow that is gone
				fp.n--
				fp.st.Entries.Store(int64(fp.n))
			}
			return
		}
		reply := key == fl.rev
		f.fastCount(fl, reply, e)
		if e.Last == 0 {
			return
		}
		last := int64(e.Last) - fp.clock
		if _, seen, ok := f.ct.Meta(fl.fwd); ok && last > seen {
			f.ct.LookupTouch(&fl.fwd, last)
		}
		if reply {
			if _, seen, ok := f.ct.Meta(key); ok && last > seen {
				f.ct.LookupTouch(&key, last)
			}
		}
	})
	if err != nil {
		fp.st.Errors.Add(1)
	}
}

// tickShare is the datapath's tick, in nanoseconds, for fastSync's share.
const tickShare = 100e6

// fastKeep decides for a flow the table's sweep just removed: if the
// program forwarded a packet of it within its idle timeout, the flow goes
// back into the table as it was (true); otherwise it leaves the fast path
// (false) and ends.
func (f *forwarder) fastKeep(fl *flow, now int64) bool {
	fp := f.fast
	if fp == nil || fl.fast&(fastFwd|fastRev) == 0 {
		return false
	}
	var last uint64
	for _, c := range []struct {
		bit uint8
		key *flowtable.Key
	}{{fastFwd, &fl.fwd}, {fastRev, &fl.rev}} {
		if fl.fast&c.bit != 0 && fp.t.Lookup(fastKey(c.key), &fp.e) {
			f.fastCount(fl, c.bit == fastRev, &fp.e)
			last = max(last, fp.e.Last)
		}
	}
	seen := int64(last) - fp.clock
	if last == 0 || now-seen >= f.timeouts.of(fl.class) {
		f.fastRemove(fl)
		return false
	}
	if f.ct.Insert(fl.fwd, fl, seen) != nil {
		f.fastRemove(fl)
		return false
	}
	f.ct.SetClass(fl.fwd, fl.class, seen)
	return true
}

// of is the idle timeout of class c (0: none).
func (t *Timeouts) of(c flowtable.Class) int64 {
	switch c {
	case classSyn:
		return int64(t.TCPSyn)
	case classEstablished:
		return int64(t.TCPEstablished)
	case classClosing:
		return int64(t.TCPClosing)
	case classUDP:
		return int64(t.UDP)
	}
	return 0 // the reply keys' classes: removed with their flows
}
