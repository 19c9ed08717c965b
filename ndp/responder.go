package ndp

import (
	"errors"

	"github.com/xdpengine/engine/header"
)

// Well-known addresses.
var (
	AllNodes   = [16]byte{0xff, 0x02, 15: 0x01} // ff02::1: unsolicited advertisements, DAD answers
	AllRouters = [16]byte{0xff, 0x02, 15: 0x02} // ff02::2: router solicitations
)

// ErrBufferTooSmall: the output buffer cannot hold the message.
var ErrBufferTooSmall = errors.New("ndp: buffer too small")

// SolicitationDst returns where a Neighbor Solicitation for target goes
// (RFC 4861 7.2.2, 7.3.3): to target's solicited-node group and its MAC
// when unicast is the zero MAC (address resolution), otherwise to target
// itself at unicast (a PROBE). The arguments are those of Cache.Tick's
// solicit callback.
func SolicitationDst(target [16]byte, unicast header.MAC) ([16]byte, header.MAC) {
	if unicast == (header.MAC{}) {
		g := header.SolicitedNodeMulticast(target)
		return g, header.MulticastMAC6(g)
	}
	return target, unicast
}

// PutSolicitation writes a Neighbor Solicitation for target from an
// interface at mac (with the source link-layer option) and returns its
// length (32). The checksum is left zero: the caller computes it over the
// IPv6 pseudo-header once it wrote the header (source: one of our
// addresses, destination: SolicitationDst, hop limit 255).
func PutSolicitation(b []byte, mac header.MAC, target [16]byte) (int, error) {
	n, err := header.PutNeighborSolicitation(b, target, mac)
	if err != nil {
		return 0, ErrBufferTooSmall
	}
	return n, nil
}

// Reply says what Responder.Input wants sent: an ICMPv6 message of Len
// bytes at the start of the output buffer (0: nothing to send), with its
// checksum left zero, from Src to Dst with hop limit 255. DstMAC is the
// frame's destination; when it is zero the caller resolves Dst through
// the cache (a unicast solicitation without a source link-layer option).
type Reply struct {
	Len      int
	Src, Dst [16]byte
	DstMAC   header.MAC
}

// Responder answers Neighbor Solicitations for the interface's addresses
// (RFC 4861 7.2.4) and feeds what Neighbor Discovery messages teach to
// the Cache, the DAD and the RouterList it is given (each may be nil).
type Responder struct {
	MAC   header.MAC
	Addrs [][16]byte // the interface's assigned (not tentative) addresses
	// Also reports the other addresses it answers solicitations for, as
	// its own (a load balancer's announced VIPs); nil: none.
	Also   func(a [16]byte) bool
	Router bool // set the R flag in advertisements (a host: false)
	Cache  *Cache
	DAD    *DAD
	// Routers loses a router whose advertisement cleared its R flag
	// (RFC 4861 7.2.5).
	Routers *RouterList
	Stats   ResponderStats
}

// ResponderStats counts the responder's messages.
type ResponderStats struct {
	InSolicits, InAdverts uint64 // valid messages received
	OutAdverts            uint64 // advertisements built
	InErrors              uint64 // messages that failed validation (header.ParseNDP)
	Conflicts             uint64 // advertisements for one of our assigned addresses from another node
}

func (r *Responder) owns(a [16]byte) bool {
	for i := range r.Addrs {
		if r.Addrs[i] == a {
			return true
		}
	}
	return false
}

// Input handles msg, a Neighbor Solicitation or Advertisement (the
// ICMPv6 message, checksum already verified), received at now in an IPv6
// packet from src to dst with hopLimit. Other NDP types are validated
// and ignored (Router Advertisements go to RouterList.Input). Packets
// that waited for a neighbor it learned go to flush. The advertisement
// to send, if any, is written into out. Errors: those of header.ParseNDP,
// ErrBufferTooSmall. It does not allocate.
func (r *Responder) Input(now int64, hopLimit uint8, src, dst [16]byte, msg, out []byte, flush func(handle uint64)) (Reply, error) {
	if err := header.ParseNDP(msg, hopLimit, src, dst); err != nil {
		r.Stats.InErrors++
		return Reply{}, err
	}
	switch msg[0] {
	case header.ICMPv6NeighborSolicitation:
		r.Stats.InSolicits++
		return r.solicitation(now, src, header.NeighborSolicitation(msg), out, flush)
	case header.ICMPv6NeighborAdvertisement:
		r.Stats.InAdverts++
		r.advertisement(now, header.NeighborAdvertisement(msg), flush)
	}
	return Reply{}, nil
}

func (r *Responder) solicitation(now int64, src [16]byte, ns header.NeighborSolicitation, out []byte, flush func(uint64)) (Reply, error) {
	target := ns.Target()
	unspecified := src == [16]byte{}
	if r.DAD != nil && r.DAD.Tentative(target) {
		// RFC 4862 5.4.3: a probe from :: is another node's DAD (or
		// our own looped back); a solicitation from a unicast source
		// for a tentative address is discarded.
		if unspecified {
			r.DAD.Solicitation(now, target, ns.Options().Nonce())
		}
		return Reply{}, nil
	}
	if !r.owns(target) && (r.Also == nil || !r.Also(target)) {
		return Reply{}, nil
	}
	sll, hasSLL := ns.Options().LinkLayer(header.NDPOptionSourceLinkLayer)
	if !unspecified && hasSLL && r.Cache != nil {
		r.Cache.Observe(now, src, sll, RouterUnchanged, flush)
	}
	flags := uint8(header.NDPFlagOverride)
	if r.Router {
		flags |= header.NDPFlagRouter
	}
	rep := Reply{Src: target}
	switch {
	case unspecified: // 7.2.4: answer a DAD probe to all-nodes, not solicited
		rep.Dst, rep.DstMAC = AllNodes, header.MulticastMAC6(AllNodes)
	default:
		flags |= header.NDPFlagSolicited
		rep.Dst = src
		if hasSLL {
			rep.DstMAC = sll
		} else if r.Cache != nil {
			if st, mac, _ := r.Cache.State(src); st != 0 && st != Incomplete {
				rep.DstMAC = mac
			}
		}
	}
	n, err := header.PutNeighborAdvertisement(out, target, flags, r.MAC)
	if err != nil {
		return Reply{}, ErrBufferTooSmall
	}
	r.Stats.OutAdverts++
	rep.Len = n
	return rep, nil
}

func (r *Responder) advertisement(now int64, na header.NeighborAdvertisement, flush func(uint64)) {
	target := na.Target()
	if r.DAD != nil && r.DAD.Tentative(target) {
		r.DAD.Advertisement(now, target)
		return
	}
	if r.owns(target) {
		r.Stats.Conflicts++ // RFC 4862 5.4.4: log it; the address stays
		return
	}
	if r.Cache == nil {
		return
	}
	tll, hasTLL := na.Options().LinkLayer(header.NDPOptionTargetLinkLayer)
	if r.Cache.Advertised(now, target, tll, hasTLL, na.Flags(), flush) && r.Routers != nil {
		r.Routers.Remove(target)
	}
}

// PutAnnouncement writes an unsolicited Neighbor Advertisement for addr
// (RFC 4861 7.2.6: override set, to AllNodes) and returns its length; an
// interface sends it after DAD or when its MAC changed.
func PutAnnouncement(b []byte, mac header.MAC, addr [16]byte, router bool) (int, error) {
	flags := uint8(header.NDPFlagOverride)
	if router {
		flags |= header.NDPFlagRouter
	}
	n, err := header.PutNeighborAdvertisement(b, addr, flags, mac)
	if err != nil {
		return 0, ErrBufferTooSmall
	}
	return n, nil
}
