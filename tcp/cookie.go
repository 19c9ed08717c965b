package tcp

import "github.com/xdpengine/engine/header"

// optionsFromCookie rebuilds the SYN options a cookie stood for.
func optionsFromCookie(p CookieParams, seg *Segment) header.TCPOptions {
	o := header.TCPOptions{HasMSS: p.MSS > 0, MSS: uint16(max(p.MSS, 0))}
	if p.WScale >= 0 {
		o.HasWScale, o.WindowScale = true, uint8(min(p.WScale, maxWScale))
	}
	o.SACKPermitted = p.SACK
	if p.Timestamps && seg.Options.HasTimestamp {
		o.HasTimestamp = true
		o.TSVal = seg.Options.TSVal
	}
	return o
}
