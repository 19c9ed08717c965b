package header

import (
	"testing"
)

// FuzzNDP: ParseNDP never panics, and after it accepted a message no view
// accessor or option walk does; every option the walk returns fits.
func FuzzNDP(f *testing.F) {
	for _, s := range []string{goldenNS, goldenNA, goldenRS, goldenRA} {
		f.Add(mustHex(s), uint8(255), false)
	}
	f.Add([]byte{135, 0, 0, 0, 0, 0, 0, 0}, uint8(255), true)
	f.Fuzz(func(t *testing.T, b []byte, hop uint8, unspecified bool) {
		src := ndpLL
		if unspecified {
			src = [16]byte{}
		}
		var dst [16]byte
		if len(b) >= 24 {
			dst = SolicitedNodeMulticast([16]byte(b[8:24]))
		}
		// The option iterator is safe on any bytes.
		it := ParseNDPOptions(b)
		for o, ok := it.Next(); ok; o, ok = it.Next() {
			if len(o) == 0 || len(o)%8 != 0 {
				t.Fatalf("option of %d bytes", len(o))
			}
			_, _ = o.LinkLayer()
			_, _ = o.MTU()
			if p, ok := o.PrefixInfo(); ok {
				_, _, _, _, _, _ = p.PrefixLen(), p.OnLink(), p.Autonomous(), p.ValidLifetime(), p.PreferredLifetime(), p.Prefix()
			}
			_ = o.Body()
		}
		if (it.Err() == nil) != (CheckNDPOptions(b) == nil) {
			t.Fatalf("iterator and CheckNDPOptions disagree")
		}
		if ParseNDP(b, hop, src, dst) != nil {
			return
		}
		var opts NDPOptions
		switch b[0] {
		case ICMPv6NeighborSolicitation:
			_ = NeighborSolicitation(b).Target()
			opts = NeighborSolicitation(b).Options()
		case ICMPv6NeighborAdvertisement:
			v := NeighborAdvertisement(b)
			_, _, _, _ = v.Target(), v.Flags(), v.Router(), v.Solicited()
			opts = v.Options()
		case ICMPv6RouterSolicitation:
			opts = RouterSolicitation(b).Options()
		case ICMPv6RouterAdvertisement:
			v := RouterAdvertisement(b)
			_, _, _, _, _, _ = v.CurHopLimit(), v.Managed(), v.OtherConfig(), v.RouterLifetime(), v.ReachableTime(), v.RetransTimer()
			opts = v.Options()
		case ICMPv6Redirect:
			_, _ = NDPRedirect(b).Target(), NDPRedirect(b).Destination()
			opts = NDPRedirect(b).Options()
		default:
			t.Fatalf("accepted type %d", b[0])
		}
		_, _ = opts.LinkLayer(NDPOptionSourceLinkLayer)
		_ = opts.Nonce()
		for _, ok := opts.Next(); ok; _, ok = opts.Next() {
		}
		if opts.Err() != nil {
			t.Fatalf("accepted message with a bad option")
		}
	})
}

// FuzzMLD: ParseMLD never panics; the accessors and the record walk of an
// accepted message do not either, and the walk yields NumRecords records.
func FuzzMLD(f *testing.F) {
	f.Add(mustHex(goldenMLDQuery))
	f.Add(mustHex(goldenMLDReport))
	f.Add(make([]byte, 24))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseMLD(b)
		if err != nil {
			return
		}
		_, _, _, _ = m.Type(), m.QueryVersion(), m.MaxResponseCode(), m.MaxResponseDelay()
		_, _, _, _ = m.Address(), m.SuppressRouterProcessing(), m.QRV(), m.QQIC()
		for i := -1; i <= m.NumSources(); i++ {
			_ = m.Source(i)
		}
		it := m.Records()
		n := 0
		for r, ok := it.Next(); ok; r, ok = it.Next() {
			n++
			_, _ = r.Type(), r.Address()
			for i := -1; i <= r.NumSources(); i++ {
				_ = r.Source(i)
			}
		}
		if n != m.NumRecords() {
			t.Fatalf("walked %d records of %d", n, m.NumRecords())
		}
	})
}
