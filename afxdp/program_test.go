package afxdp

import (
	"fmt"
	"strings"
	"testing"

	"github.com/cilium/ebpf/asm"
)

// TestProgramInsnsLabels: both variants of the program resolve every jump
// to a label they define, and the one without VLAN has no trace of the
// tagged path (no "vlan" label, no comparison with 0x8100). Loading them
// (the tests that attach a program) is what the verifier checks; this
// runs without privileges.
func TestProgramInsnsLabels(t *testing.T) {
	for _, c := range []struct{ vlan, fast bool }{{false, false}, {true, false}, {false, true}, {true, true}} {
		vlan := c.vlan
		insns := programInsns(vlan, c.fast)
		syms := map[string]bool{}
		for _, ins := range insns {
			if s := ins.Symbol(); s != "" {
				if syms[s] {
					t.Errorf("VLAN %v: label %q defined twice", vlan, s)
				}
				syms[s] = true
			}
		}
		var tagged []string
		for _, ins := range insns {
			ref := ins.Reference()
			if ins.OpCode.Class().IsJump() && ref != "" && !syms[ref] {
				t.Errorf("VLAN %v: jump to undefined label %q: %v", vlan, ref, ins)
			}
			isTPID := ins.OpCode.JumpOp() == asm.JEq && ins.Constant == int64(be16(0x8100))
			if strings.Contains(ins.Symbol()+" "+ref, "vlan") || isTPID {
				tagged = append(tagged, fmt.Sprint(ins))
			}
		}
		if vlan && len(tagged) == 0 {
			t.Error("VLAN true: no tagged path in the program")
		}
		if !vlan && len(tagged) != 0 {
			t.Errorf("VLAN false: tagged path in the program: %q", tagged)
		}
	}
}
