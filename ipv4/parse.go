package ipv4

import "github.com/xdpengine/engine/header"

// ParseFragment validates pkt (an IPv4 packet starting at its header) with
// header.ParseIPv4 and returns the Fragment view of it, aliasing pkt, with
// link padding trimmed by the total length. Errors are header's sentinels
// (ErrTruncated, ErrBadChecksum, ...), returned as they are.
func ParseFragment(pkt []byte) (Fragment, error) {
	ip, err := header.ParseIPv4(pkt)
	if err != nil {
		return Fragment{}, err
	}
	return FragmentOf(ip), nil
}

// FragmentOf returns the Fragment view of an IPv4 packet already validated
// by header.ParseIPv4 (the worker's parse path, which parses once).
func FragmentOf(ip header.IPv4) Fragment {
	hl := ip.HeaderLen()
	return Fragment{
		Key:     FragKey{Src: ip.Src4(), Dst: ip.Dst4(), ID: ip.ID(), Proto: ip.Protocol()},
		Offset:  int(ip.FragmentOffset()),
		More:    ip.MoreFragments(),
		Header:  ip[:hl],
		Payload: ip.Payload(),
	}
}
