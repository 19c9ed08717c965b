package reflector

import (
	"bytes"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/xdpengine/engine/header"
	"github.com/xdpengine/engine/internal/testbed"
)

// TestXDPProgram runs the reflecting program on frames in the kernel
// (BPF_PROG_TEST_RUN) and compares it with Reflect: what it sends back
// (XDP_TX) is byte for byte what Reflect makes of the frame; what it
// passes is left as it was.
func TestXDPProgram(t *testing.T) {
	testbed.RequirePrivileged(t)
	prog, err := loadXDP(ipB)
	if err != nil {
		t.Fatal(err)
	}
	defer prog.Close()
	const pass, tx = 2, 3
	other := frame(header.ProtocolUDP, false, 0, udp(1, 2, "0123456789abcdef01"))
	other[14+19] ^= 1 // another destination address
	options := frame(header.ProtocolUDP, false, 0, udp(1, 2, "0123456789abcdef01"))
	options[14] = 0x46
	arp := frame(header.ProtocolUDP, false, 0, udp(1, 2, "x"))
	arp[12], arp[13] = 0x08, 0x06
	short := frame(header.ProtocolUDP, false, 0, udp(1, 2, ""))[:14+20+3]
	cases := []struct {
		name  string
		frame []byte
		want  uint32
	}{
		{"udp", frame(header.ProtocolUDP, false, 0, udp(5000, 7, "0123456789abcdef01")), tx},
		{"tcp", frame(header.ProtocolTCP, false, 0, tcp()), tx},
		{"icmp", frame(header.ProtocolICMP, false, 0, make([]byte, 8)), pass},
		{"fragment", frame(header.ProtocolUDP, false, 100, make([]byte, 16)), pass},
		{"tagged", frame(header.ProtocolUDP, true, 0, udp(1, 2, "ab")), pass},
		{"other address", other, pass},
		{"ip options", options, pass},
		{"arp", arp, pass},
		{"short", short, pass},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := bytes.Clone(c.frame)
			out := make([]byte, len(in))
			ret, err := prog.Run(&ebpf.RunOptions{Data: in, DataOut: out})
			if err != nil {
				t.Fatal(err)
			}
			if ret != c.want {
				t.Fatalf("returned %d, want %d", ret, c.want)
			}
			want := bytes.Clone(c.frame)
			if c.want == tx {
				if err := Reflect(want); err != nil {
					t.Fatal(err)
				}
				if !valid(out) {
					t.Errorf("a checksum of the reflected frame does not verify")
				}
			}
			if !bytes.Equal(out, want) {
				t.Errorf("got\n% x\nwant\n% x", out, want)
			}
		})
	}
}
