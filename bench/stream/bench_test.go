package stream

import (
	"testing"
	"time"
)

// BenchmarkNext measures one generated frame: template copy, variation,
// signature and checksums (next), or variation, signature and checksums
// written over a buffer that holds the template (rewrite: Prefill when the
// template changes, then Rewrite, as xdpgen's workers send). Metrics: ns/op is per frame; Mpps the rate one
// core would generate at (without transmitting).
func BenchmarkNext(b *testing.B) {
	vary := func(sp Spec) Spec {
		sp.Src = AddrRange{First: addr("10.0.0.0"), Last: addr("10.0.255.255"), Mode: Random}
		sp.Dst = AddrRange{First: addr("10.1.0.0"), Last: addr("10.1.0.99")}
		sp.SrcPort = PortRange{First: 1024, Last: 65535, Mode: Random}
		sp.DstPort = PortRange{First: 1, Last: 100}
		return sp
	}
	fixed := func(sp Spec, n int) Spec { sp.Size = Fixed(n); return sp }
	frames, _ := testFrames(b)
	cases := []struct {
		name string
		sp   Spec
	}{
		{"udp-64-fixed", baseSpec(UDP)},
		{"udp-64-varied", vary(baseSpec(UDP))},
		{"udp-1518-varied", fixed(vary(baseSpec(UDP)), 1518)},
		{"udp-imix-varied", func() Spec { sp := vary(baseSpec(UDP)); sp.Size = IMIX(); return sp }()},
		{"tcp-syn-64-varied", vary(baseSpec(TCPSYN))},
		{"icmp-64", baseSpec(ICMPEcho)},
		{"replay-varied", Spec{Kind: Replay, Frames: frames[:6], Sign: SignOff,
			Src: AddrRange{First: addr("10.0.0.0"), Last: addr("10.0.255.255"), Mode: Random}}},
	}
	for _, c := range cases {
		for _, how := range []string{"next", "rewrite"} {
			b.Run(c.name+"/"+how, func(b *testing.B) {
				s := mustNew(b, c.sp)
				buf := make([]byte, 2048)
				held := -1
				b.ReportAllocs()
				now := int64(1)
				start := time.Now()
				for b.Loop() {
					now++
					if how == "next" {
						s.Next(buf, now)
						continue
					}
					if tpl := s.Template(); tpl != held {
						s.Prefill(buf)
						held = tpl
					}
					s.Rewrite(buf, now)
				}
				b.ReportMetric(float64(b.N)/time.Since(start).Seconds()/1e6, "Mpps")
			})
		}
	}
}
