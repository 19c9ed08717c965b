package xdpgen

import (
	"context"
	"encoding/binary"
	"fmt"
	"net/netip"
	"time"

	"github.com/xdpengine/engine/afxdp"
	"github.com/xdpengine/engine/arp"
	"github.com/xdpengine/engine/header"
)

// ARP timing of Resolve.
const (
	arpRetry          = 200 * time.Millisecond // between requests
	arpDefaultTimeout = 3 * time.Second        // when ctx has no deadline
)

// isARP reports whether frame is an untagged ARP frame.
func isARP(f []byte) bool {
	return len(f) >= header.EthernetHeaderLen && binary.BigEndian.Uint16(f[12:]) == header.EtherTypeARP
}

// answerARP handles an ARP frame received on s: a request for the port's
// address is answered from a fresh frame (the request's frame stays the
// caller's to release). It returns the sender's address and MAC when the
// frame was a reply, and whether it answered.
func (p *Port) answerARP(s *afxdp.Socket, r *arp.Responder, now int64, f []byte) (from netip.Addr, mac header.MAC, answered bool) {
	a, err := header.ParseARP(f[header.EthernetHeaderLen:])
	if err != nil {
		return netip.Addr{}, mac, false
	}
	if a.Op() == header.ARPReply {
		return a.SenderIP(), a.SenderMAC(), false
	}
	var addr [1]uint64
	if s.Alloc(addr[:]) == 0 {
		return netip.Addr{}, mac, false
	}
	n, err := r.Input(now, f[header.EthernetHeaderLen:], s.FrameBuffer(addr[0]), nil)
	if err != nil || n == 0 {
		s.ReleaseAddr(addr[0])
		return netip.Addr{}, mac, false
	}
	d := [1]afxdp.Desc{{Addr: addr[0], Len: uint32(n)}}
	if s.Transmit(d[:]) == 0 {
		s.ReleaseAddr(addr[0])
		return netip.Addr{}, mac, false
	}
	return netip.Addr{}, mac, true
}

// Resolve returns target's MAC address, asked by ARP from the port's
// address (a broadcast request every 200 ms) until a reply comes, ctx
// ends or, without a deadline in ctx, 3 s pass (ErrNoARPReply). A target
// outside the port's subnet gives ErrNotOnLink: resolve its gateway
// instead. ARP requests for the port's address are answered meanwhile.
func (p *Port) Resolve(ctx context.Context, target netip.Addr) (header.MAC, error) {
	if !target.Is4() || !p.cfg.Addr.Contains(target) {
		return header.MAC{}, fmt.Errorf("%w: %v is outside %v", ErrNotOnLink, target, p.cfg.Addr.Masked())
	}
	if err := p.acquire(); err != nil {
		return header.MAC{}, err
	}
	defer p.release()
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, arpDefaultTimeout)
		defer cancel()
	}
	src := p.cfg.Addr.Addr().As4()
	tip := target.As4()
	descs := make([]afxdp.Desc, p.cfg.Batch)
	responder := &arp.Responder{MAC: p.mac, Addrs: [][4]byte{src}}
	var next time.Time
	for {
		if time.Now().After(next) {
			s := p.socks[0]
			var addr [1]uint64
			if s.Alloc(addr[:]) == 1 {
				n, _ := arp.Request(s.FrameBuffer(addr[0]), p.mac, src, tip, header.MAC{})
				if s.Transmit([]afxdp.Desc{{Addr: addr[0], Len: uint32(n)}}) == 0 {
					s.ReleaseAddr(addr[0])
				}
			}
			next = time.Now().Add(arpRetry)
		}
		for _, s := range p.socks {
			s.Complete()
			k := s.Receive(descs)
			for _, d := range descs[:k] {
				f := s.Frame(d)
				if !isARP(f) {
					continue
				}
				if from, mac, _ := p.answerARP(s, responder, p.Now(), f); from == target {
					s.Release(descs[:k])
					s.Fill()
					return mac, nil
				}
			}
			s.Release(descs[:k])
			s.Fill()
		}
		select {
		case <-ctx.Done():
			return header.MAC{}, fmt.Errorf("%w from %v on %s: %w", ErrNoARPReply, target, p.cfg.Interface, ctx.Err())
		case <-time.After(time.Millisecond):
		}
	}
}
