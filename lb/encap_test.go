package lb

import (
	"bytes"
	"encoding/hex"
	"testing"

	"github.com/xdpengine/engine/header"
)

// Golden frames computed independently (Python's struct and an RFC 1071
// checksum): a UDP datagram 198.18.0.1:40000 → VIP 198.18.0.100:53 ("hi",
// TOS 0x10, DF, ID 0x1234) sent from the engine 198.18.0.2 to backend
// 198.18.1.11 with entropy port 0xc123.
const (
	goldenInner = "4510001e1234400040119c01c6120001c61200649c400035000a6e716869"
	goldenIPIP  = "45100032000040004004ad86c6120002c612010b" + goldenInner
	goldenGUE   = "4510003a000040004011ad71c6120002c612010b" + "c12317c000260000" + goldenInner
	goldenVXLAN = "45100050000040004011ad5bc6120002c612010b" + "c12312b5003c0000" + "0800000012345600" +
		"02005e100001" + "020000000002" + "0800" + goldenInner
)

func TestPutOuterGolden(t *testing.T) {
	inner, _ := hex.DecodeString(goldenInner)
	src, dst := [4]byte{198, 18, 0, 2}, [4]byte{198, 18, 1, 11}
	srcMAC, dstMAC := header.MAC{2, 0, 0, 0, 0, 2}, header.MAC{2, 0, 0x5e, 0x10, 0, 1}
	for _, tc := range []struct {
		v    VIP
		want string
	}{
		{VIP{Mode: DSRIPIP}, goldenIPIP},
		{VIP{Mode: DSRGUE, GUEPort: DefaultGUEPort}, goldenGUE},
		{VIP{Mode: DSRVXLAN, VXLANPort: DefaultVXLANPort, VNI: 0x123456}, goldenVXLAN},
	} {
		t.Run(tc.v.Mode.String(), func(t *testing.T) {
			want, _ := hex.DecodeString(tc.want)
			o := overhead(tc.v.Mode)
			if o+len(inner) != len(want) {
				t.Fatalf("overhead %d, golden frame has %d", o, len(want)-len(inner))
			}
			out := make([]byte, o+len(inner))
			copy(out[o:], inner)
			putOuter(out, header.IPv4(out[o:]), &tc.v, dst, dstMAC, src, srcMAC, 0xc123, 0)
			if !bytes.Equal(out, want) {
				t.Errorf("got  %x\nwant %x", out, want)
			}
			if _, err := header.ParseIPv4(out); err != nil {
				t.Errorf("outer header does not parse: %v", err)
			}
		})
	}
}

// A packet that may be fragmented keeps DF clear outside too and carries
// the ID it was given.
func TestPutOuterNoDF(t *testing.T) {
	inner, _ := hex.DecodeString(goldenInner)
	ip := header.IPv4(inner)
	ip.SetFlagsFragmentOffset(0, 0)
	ip.UpdateChecksum()
	out := make([]byte, ipipOverhead+len(inner))
	copy(out[ipipOverhead:], inner)
	putOuter(out, header.IPv4(out[ipipOverhead:]), &VIP{Mode: DSRIPIP}, [4]byte{198, 18, 1, 11}, header.MAC{}, [4]byte{198, 18, 0, 2}, header.MAC{}, 0, 0xbeef)
	o, err := header.ParseIPv4(out)
	if err != nil {
		t.Fatal(err)
	}
	if o.DontFragment() || o.ID() != 0xbeef || o.Protocol() != protoIPIP {
		t.Errorf("outer: DF %v, ID %#x, protocol %d; want DF clear, ID 0xbeef, protocol 4", o.DontFragment(), o.ID(), o.Protocol())
	}
}

func TestEntropyPort(t *testing.T) {
	seen := map[uint16]bool{}
	for i := range 1 << 16 {
		// What the forwarder gives it: the hash of a flow's 5-tuple.
		p := entropyPort(flowHash(&vip{}, [4]byte{198, 18, byte(i >> 8), byte(i)}, [4]byte{198, 18, 0, 100}, uint16(i), 80, 6, 1))
		if p < 49152 {
			t.Fatalf("entropy port %d below 49152", p)
		}
		seen[p] = true
	}
	if len(seen) < 16000 {
		t.Errorf("%d distinct entropy ports of 16384", len(seen))
	}
}
