package capture

import (
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/net/bpf"
)

// maxBPF bounds a program, as the kernel's BPF_MAXINSNS does.
const maxBPF = 4096

// ParseBPF parses a classic BPF program as `tcpdump -ddd EXPR` prints it: the
// instruction count, then one instruction a line, "code jt jf k" in
// decimal. Lines may also be separated by commas (the one-line form
// `tcpdump -ddd EXPR | tr '\n' ,` gives, as iptables' bpf match takes).
// The program is checked (golang.org/x/net/bpf's VM refuses jumps out of it
// and a last instruction that does not return); it runs in that VM.
func ParseBPF(text string) ([]bpf.RawInstruction, error) {
	lines := strings.FieldsFunc(text, func(r rune) bool { return r == '\n' || r == ',' || r == ';' })
	var fields [][]string
	for _, l := range lines {
		if f := strings.Fields(l); len(f) > 0 {
			fields = append(fields, f)
		}
	}
	if len(fields) == 0 {
		return nil, fmt.Errorf("%w: empty BPF program", ErrFilter)
	}
	if len(fields[0]) != 1 {
		return nil, fmt.Errorf("%w: BPF: the first line is the instruction count (tcpdump -ddd prints it)", ErrFilter)
	}
	n, err := strconv.Atoi(fields[0][0])
	if err != nil || n < 1 || n > maxBPF {
		return nil, fmt.Errorf("%w: BPF: instruction count %q: want 1 to %d", ErrFilter, fields[0][0], maxBPF)
	}
	if len(fields)-1 != n {
		return nil, fmt.Errorf("%w: BPF: %d instructions announced, %d given", ErrFilter, n, len(fields)-1)
	}
	prog := make([]bpf.RawInstruction, n)
	for i, f := range fields[1:] {
		if len(f) != 4 {
			return nil, fmt.Errorf("%w: BPF instruction %d: %q: want \"code jt jf k\"", ErrFilter, i, strings.Join(f, " "))
		}
		var v [4]uint64
		for j, s := range f {
			bits := [4]int{16, 8, 8, 32}[j]
			if v[j], err = strconv.ParseUint(s, 0, bits); err != nil {
				return nil, fmt.Errorf("%w: BPF instruction %d: %q: %w", ErrFilter, i, s, err)
			}
		}
		prog[i] = bpf.RawInstruction{Op: uint16(v[0]), Jt: uint8(v[1]), Jf: uint8(v[2]), K: uint32(v[3])}
	}
	if _, err := newBPFFilter(prog); err != nil {
		return nil, err
	}
	return prog, nil
}

// bpfFilter runs a classic BPF program; a non-zero return accepts the frame.
type bpfFilter struct{ vm *bpf.VM }

func newBPFFilter(prog []bpf.RawInstruction) (*bpfFilter, error) {
	// Disassemble keeps an instruction it does not know as a
	// RawInstruction, which NewVM refuses.
	insns, _ := bpf.Disassemble(prog)
	vm, err := bpf.NewVM(insns)
	if err != nil {
		return nil, fmt.Errorf("%w: BPF: %w", ErrFilter, err)
	}
	return &bpfFilter{vm: vm}, nil
}

func (f *bpfFilter) Match(frame []byte) bool {
	n, err := f.vm.Run(frame)
	return err == nil && n > 0
}
