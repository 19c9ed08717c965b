package arp

import (
	"errors"

	"github.com/xdpengine/engine/header"
)

// FrameLen is the length of the frames built here: Ethernet header plus
// ARP, before padding (the NIC or veth pads to 60 bytes).
const FrameLen = header.EthernetHeaderLen + header.ARPLen

// Errors of the responder.
var (
	// ErrBadSender: the sender address is not a unicast host address.
	ErrBadSender = errors.New("arp: sender is not a unicast host")
	// ErrBufferTooSmall: the output buffer is shorter than FrameLen.
	ErrBufferTooSmall = errors.New("arp: buffer too small")
)

func build(buf []byte, dst, src header.MAC, op uint16, sha header.MAC, sip [4]byte, tha header.MAC, tip [4]byte) (int, error) {
	if len(buf) < FrameLen {
		return 0, ErrBufferTooSmall
	}
	e := header.EthernetFields{Dst: dst, Src: src, Type: header.EtherTypeARP}
	n, _ := e.Put(buf)
	a := header.ARPFields{Op: op, SenderMAC: sha, SenderIP: sip, TargetMAC: tha, TargetIP: tip}
	m, _ := a.Put(buf[n:])
	return n + m, nil
}

// Request builds a request for target from (mac, ip): broadcast when
// unicast is the zero MAC, otherwise sent to unicast (a PROBE).
func Request(buf []byte, mac header.MAC, ip, target [4]byte, unicast header.MAC) (int, error) {
	dst := unicast
	if dst == (header.MAC{}) {
		dst = header.BroadcastMAC
	}
	return build(buf, dst, mac, header.ARPRequest, mac, ip, header.MAC{}, target)
}

// Gratuitous builds the gratuitous ARP the engine broadcasts at start-up
// for ip (RFC 5227 2.4 announcement form: a request with sender and target
// IP both ip, target MAC zero).
func Gratuitous(buf []byte, mac header.MAC, ip [4]byte) (int, error) {
	return build(buf, header.BroadcastMAC, mac, header.ARPRequest, mac, ip, header.MAC{}, ip)
}

// Responder answers ARP for the engine's addresses and feeds its Table.
type Responder struct {
	MAC   header.MAC
	Addrs [][4]byte // the engine's addresses on this link
	// Also reports the other addresses it answers for, as its own (a load
	// balancer's announced VIPs); nil: none.
	Also  func(ip [4]byte) bool
	Table *Table
	// Counters.
	InRequests, InReplies, OutReplies, InErrors uint64
}

func (r *Responder) owns(ip [4]byte) bool {
	for _, a := range r.Addrs {
		if a == ip {
			return true
		}
	}
	return false
}

// Input handles an ARP packet (the Ethernet payload) received at now. If
// it asks for one of the engine's addresses, the reply frame is written to
// out and its length returned (0 when there is nothing to send). Queued
// packets released by what was learned go to flush.
func (r *Responder) Input(now int64, p []byte, out []byte, flush func(handle uint64)) (int, error) {
	a, err := header.ParseARP(p)
	if err != nil {
		r.InErrors++
		return 0, err
	}
	sip, sha := a.SenderIP4(), a.SenderMAC()
	if sip[0] == 127 || sip[0] >= 224 || sha.IsMulticast() {
		r.InErrors++
		return 0, ErrBadSender
	}
	tip := a.TargetIP4()
	forUs := r.owns(tip) || (r.Also != nil && r.Also(tip))
	switch a.Op() {
	case header.ARPRequest:
		r.InRequests++
		if sip == [4]byte{} { // RFC 5227 probe: answer, learn nothing
			if !forUs {
				return 0, nil
			}
			return r.reply(out, a)
		}
		if r.Table != nil {
			r.Table.Update(now, sip, sha, false, forUs && sip != tip, flush)
		}
		if !forUs || sip == tip {
			return 0, nil
		}
		return r.reply(out, a)
	case header.ARPReply:
		r.InReplies++
		if r.Table != nil && sip != [4]byte{} {
			r.Table.Update(now, sip, sha, forUs, false, flush)
		}
	}
	return 0, nil
}

func (r *Responder) reply(out []byte, a header.ARP) (int, error) {
	n, err := build(out, a.SenderMAC(), r.MAC, header.ARPReply, r.MAC, a.TargetIP4(), a.SenderMAC(), a.SenderIP4())
	if err == nil {
		r.OutReplies++
	}
	return n, err
}
