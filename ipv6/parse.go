package ipv6

import "github.com/xdpengine/engine/header"

// ParseFragment validates pkt (an IPv6 packet from its header on) with
// header.ParseIPv6 and header.ParseIPv6Ext and returns its Fragment view,
// aliasing pkt trimmed to the payload length. Errors: header's sentinels as
// they are (header.ErrIncompleteChain for a first fragment without the
// whole header chain, RFC 7112), ErrNotFragment without a fragment header.
// The IPv6Ext is filled for the caller (parameter problem reports).
func ParseFragment(pkt []byte, ext *header.IPv6Ext) (Fragment, error) {
	ip, err := header.ParseIPv6(pkt)
	if err != nil {
		return Fragment{}, err
	}
	if err := header.ParseIPv6Ext(ip, ext); err != nil {
		return Fragment{}, err
	}
	if !ext.Frag {
		return Fragment{}, ErrNotFragment
	}
	return FragmentOf(ip, ext), nil
}

// FragmentOf returns the Fragment view of ip, a packet validated by
// header.ParseIPv6 whose extension walk into ext returned no error and
// found a fragment header (ext.Frag): the worker's path, which parses once.
func FragmentOf(ip header.IPv6, ext *header.IPv6Ext) Fragment {
	return Fragment{
		Key:            FragKey{Src: ip.Src16(), Dst: ip.Dst16(), ID: ext.FragID},
		Offset:         int(ext.FragOffset),
		More:           ext.FragMore,
		NextHeader:     ip[ext.FragHdrOffset],
		Packet:         ip,
		HdrOffset:      ext.FragHdrOffset,
		PrevNextHeader: ext.FragPrevNextHeader,
	}
}
