package ndp

import (
	"testing"

	"github.com/xdpengine/engine/header"
)

// FuzzInput: no message makes the responder, DAD or router list panic,
// and a reply is always a valid advertisement.
func FuzzInput(f *testing.F) {
	f.Add(ns(f, ourAddr, macB, nil), false)
	f.Add(ns(f, ourAddr, header.MAC{}, &[6]byte{1}), true)
	f.Add(na(ourAddr, header.NDPFlagOverride, macB), false)
	f.Add(raMsg(f, 1800, []pfx{{ip(0), 64, header.NDPPrefixFlagOnLink, 600, 300}}, mtu(1500), sll(macA)), false)
	f.Fuzz(func(t *testing.T, msg []byte, unspecified bool) {
		c := NewCache(Config{MaxEntries: 4, Rand: halfRand{}})
		rl := NewRouterList(RouterConfig{MaxRouters: 2, MaxPrefixes: 2})
		rl.Cache = c
		d := NewDAD(DADConfig{Rand: halfRand{}})
		d.Start(0, ip(3))
		r := &Responder{MAC: ourMAC, Addrs: [][16]byte{ourAddr}, Cache: c, DAD: d, Routers: rl}
		src := peerLL
		if unspecified {
			src = [16]byte{}
		}
		var dst [16]byte
		if len(msg) >= 24 {
			dst = header.SolicitedNodeMulticast([16]byte(msg[8:24]))
		}
		out := make([]byte, 64)
		rep, err := r.Input(1, 255, src, dst, msg, out, nil)
		if err == nil && rep.Len > 0 {
			if e := header.ParseNDP(out[:rep.Len], 255, rep.Src, rep.Dst); e != nil {
				t.Fatalf("invalid reply: %v", e)
			}
		}
		_ = rl.Input(1, 255, src, dst, msg, nil)
		rl.DefaultRouter(2)
		c.Tick(10e9, nil, nil)
		d.Tick(10e9, nil)
	})
}
