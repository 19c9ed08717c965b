package stream

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// TestRewrite: a sender that keeps a few buffers per template (Prefill
// once, then Rewrite) sends the same bytes as Next into fresh buffers, for
// random generated specs (sizes ranged and IMIX included) and a replay
// with several templates.
func TestRewrite(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	specs := []Spec{}
	for range 200 {
		specs = append(specs, randomSpec(r))
	}
	frames, _ := testFrames(t)
	specs = append(specs, Spec{Kind: Replay, Frames: frames[:6], Sign: SignOff,
		Src: AddrRange{First: addr("10.0.0.0"), Last: addr("10.0.255.255"), Mode: Random}})
	for i, sp := range specs {
		want, got := mustNew(t, sp), mustNew(t, sp)
		// Four buffers, reused round robin, each remembering the template
		// it holds (-1: none yet), dirtied with 0xAA first.
		var bufs [4][]byte
		held := [4]int{-1, -1, -1, -1}
		for j := range bufs {
			bufs[j] = bytes.Repeat([]byte{0xAA}, got.MaxLen())
		}
		fresh := make([]byte, want.MaxLen())
		for k := range 300 {
			now := int64(1e9 + k*1000)
			n := want.Next(fresh, now)
			j := k % len(bufs)
			if tpl := got.Template(); held[j] != tpl {
				if !got.Prefill(bufs[j]) {
					t.Fatalf("spec %d: Prefill refused a buffer of MaxLen %d", i, got.MaxLen())
				}
				held[j] = tpl
			}
			m := got.Rewrite(bufs[j], now)
			if m != n || !bytes.Equal(bufs[j][:m], fresh[:n]) {
				t.Fatalf("spec %d (%v) frame %d: Rewrite wrote\n% x\nNext\n% x", i, sp.Kind, k, bufs[j][:m], fresh[:n])
			}
		}
	}
}

// TestPrefillShort: Prefill refuses a buffer shorter than the template.
func TestPrefillShort(t *testing.T) {
	s := mustNew(t, baseSpec(UDP))
	if s.Prefill(make([]byte, s.MaxLen()-1)) {
		t.Fatal("Prefill accepted a short buffer")
	}
	if s.Rewrite(make([]byte, 10), 1) != 0 {
		t.Fatal("Rewrite wrote into a short buffer")
	}
}
