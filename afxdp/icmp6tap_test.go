package afxdp

import (
	"bytes"
	"encoding/binary"
	"slices"
	"testing"
	"time"

	"github.com/xdpengine/engine/internal/testbed"

	"golang.org/x/sys/unix"
)

// runCBPF runs a classic BPF filter made of the instructions icmp6Filter
// uses (absolute loads, JEQ, RET) on frame, as the kernel would.
func runCBPF(t *testing.T, prog []unix.SockFilter, frame []byte) uint32 {
	t.Helper()
	var a uint32
	for pc := 0; pc < len(prog); pc++ {
		in := prog[pc]
		switch in.Code {
		case unix.BPF_LD | unix.BPF_B | unix.BPF_ABS:
			if int(in.K) >= len(frame) {
				return 0
			}
			a = uint32(frame[in.K])
		case unix.BPF_LD | unix.BPF_H | unix.BPF_ABS:
			if int(in.K)+2 > len(frame) {
				return 0
			}
			a = uint32(binary.BigEndian.Uint16(frame[in.K:]))
		case unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K:
			if a == in.K {
				pc += int(in.Jt)
			} else {
				pc += int(in.Jf)
			}
		case unix.BPF_RET | unix.BPF_K:
			return in.K
		default:
			t.Fatalf("instruction %d: code %#x not interpreted", pc, in.Code)
		}
	}
	t.Fatal("ran off the end of the filter")
	return 0
}

// tapFrame6 builds an untagged IPv6 frame: next header nh, then ext (an
// extension header), then an ICMPv6 message of type typ.
func tapFrame6(etherType uint16, nh uint8, ext []byte, typ uint8) []byte {
	f := make([]byte, 14+40+len(ext)+24)
	binary.BigEndian.PutUint16(f[12:], etherType)
	f[14] = 0x60
	binary.BigEndian.PutUint16(f[18:], uint16(len(ext)+24))
	f[20], f[21] = nh, 255
	copy(f[54:], ext)
	f[54+len(ext)] = typ
	return f
}

func TestICMPv6TapFilter(t *testing.T) {
	hbh := []byte{58, 0, 5, 2, 0, 0, 1, 0}    // Router Alert, then ICMPv6
	hbhUDP := []byte{17, 0, 5, 2, 0, 0, 1, 0} // Router Alert, then UDP
	hbh16 := make([]byte, 16)                 // a 16-byte hop-by-hop header
	hbh16[0], hbh16[1] = 58, 1
	for _, c := range []struct {
		name  string
		frame []byte
		want  bool
	}{
		{"router advertisement", tapFrame6(0x86dd, 58, nil, 134), true},
		{"MLD query", tapFrame6(0x86dd, 58, nil, 130), true},
		{"MLD query behind the Router Alert", tapFrame6(0x86dd, 0, hbh, 130), true},
		{"router advertisement behind hop-by-hop", tapFrame6(0x86dd, 0, hbh, 134), false},
		{"neighbor solicitation", tapFrame6(0x86dd, 58, nil, 135), false},
		{"MLDv2 report", tapFrame6(0x86dd, 0, hbh, 143), false},
		{"echo request", tapFrame6(0x86dd, 58, nil, 128), false},
		{"UDP", tapFrame6(0x86dd, 17, nil, 130), false},
		{"UDP behind hop-by-hop", tapFrame6(0x86dd, 0, hbhUDP, 130), false},
		{"longer hop-by-hop", tapFrame6(0x86dd, 0, hbh16, 130), false},
		{"fragment header", tapFrame6(0x86dd, 44, []byte{58, 0, 0, 0, 0, 0, 0, 1}, 130), false},
		{"IPv4", tapFrame6(0x0800, 58, nil, 134), false},
		{"VLAN tagged", tapFrame6(0x8100, 58, nil, 134), false},
		{"truncated", tapFrame6(0x86dd, 58, nil, 134)[:40], false},
	} {
		if got := runCBPF(t, icmp6Filter, c.frame) != 0; got != c.want {
			t.Errorf("%s: accepted %v, want %v", c.name, got, c.want)
		}
	}
}

// TestICMPv6TapOnLink: with the XDP program attached (owning an IPv6
// address), the tap receives the Router Advertisement and the MLD query
// the peer sends to ff02::1, and nothing else.
func TestICMPv6TapOnLink(t *testing.T) {
	e := newEngineWith(t, testbed.Config{IPv6: true}, Config{}, ProgramConfig{})
	if err := e.prog.AddAddr(e.bed.EngineAddr6); err != nil {
		t.Fatal(err)
	}
	tap, err := OpenICMPv6Tap(e.bed.HostIf)
	if err != nil {
		t.Fatal(err)
	}
	defer tap.Close()
	toAllNodes := func(f []byte) []byte {
		copy(f, []byte{0x33, 0x33, 0, 0, 0, 1})
		copy(f[6:], e.bed.PeerMAC)
		f[14+8], f[14+9], f[14+23] = 0xfe, 0x80, 2   // from fe80::2
		f[14+24], f[14+25], f[14+39] = 0xff, 0x02, 1 // to ff02::1
		return f
	}
	hbh := []byte{58, 0, 5, 2, 0, 0, 1, 0}
	want := [][]byte{
		toAllNodes(tapFrame6(0x86dd, 58, nil, 134)),
		toAllNodes(tapFrame6(0x86dd, 0, hbh, 130)),
	}
	others := [][]byte{
		toAllNodes(tapFrame6(0x86dd, 58, nil, 128)), // echo request
		toAllNodes(tapFrame6(0x86dd, 17, nil, 0)),   // UDP
	}
	err = e.bed.Do(func() error {
		for _, f := range append(slices.Clone(others[:1]), append(want, others[1:]...)...) {
			if err := sendFrame(e.bed.PeerIf, f); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var got [][]byte
	buf := make([]byte, 2048)
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); {
		if !tap.Wait(100 * time.Millisecond) {
			if len(got) >= len(want) {
				break
			}
			continue
		}
		n, err := tap.Recv(buf)
		if err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			got = append(got, slices.Clone(buf[:n]))
		}
	}
	if len(got) != len(want) || !bytes.Equal(got[0], want[0]) || !bytes.Equal(got[1], want[1]) {
		t.Fatalf("tap received %x, want the advertisement and the query", got)
	}
}
