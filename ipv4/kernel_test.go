package ipv4

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xdpengine/engine/header"
	"github.com/xdpengine/engine/internal/testbed"
)

// TestKernelFragmentsReassemble: the peer kernel fragments large UDP sends
// over the 1500-byte veth; the frames captured on the engine side reassemble
// to exactly the datagrams sent, with a UDP checksum that verifies.
func TestKernelFragmentsReassemble(t *testing.T) {
	bed := testbed.New(t, testbed.Config{MTU: 1500})
	if err := bed.SetPeerNeighbor(bed.EngineAddr, bed.HostMAC); err != nil {
		t.Fatal(err)
	}
	pc, err := testbed.ListenPacket(bed.HostIf)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()

	var conn *net.UDPConn
	err = bed.Do(func() error {
		var err error
		conn, err = net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(bed.EngineAddr, 9999)))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	r := NewReassembler(Config{})
	frame := make([]byte, 2048)
	for _, size := range []int{1473, 3000, 8972, 20000, 65507} {
		msg := testPayload(size, uint64(size))
		if _, err := conn.Write(msg); err != nil {
			t.Fatalf("send %d bytes: %v", size, err)
		}
		want := (size + 8 + 1479) / 1480
		got, frags := []byte(nil), 0
		deadline := time.Now().Add(5 * time.Second)
		for got == nil && time.Now().Before(deadline) {
			n, _, err := pc.Recv(frame, time.Second)
			if err != nil {
				continue
			}
			eth, err := header.ParseEthernet(frame[:n])
			if err != nil || eth.Type() != header.EtherTypeIPv4 {
				continue
			}
			ip, err := header.ParseIPv4(eth.Payload())
			if err != nil || ip.Src() != bed.PeerAddr || ip.Protocol() != header.ProtocolUDP || !ip.IsFragment() {
				continue
			}
			if len(ip) > 1500 {
				t.Fatalf("kernel sent a %d-byte fragment on a 1500 MTU link", len(ip))
			}
			frags++
			f := FragmentOf(ip)
			d, ok, err := r.Add(&f, time.Now().UnixNano())
			if err != nil {
				t.Fatalf("size %d: kernel fragment rejected: %v", size, err)
			}
			if ok {
				got = bytes.Clone(d.Bytes())
				d.Release()
			}
		}
		if got == nil {
			t.Fatalf("size %d: datagram not reassembled from %d captured fragments", size, frags)
		}
		if frags != want {
			t.Errorf("size %d: %d fragments, want %d", size, frags, want)
		}
		ip, err := header.ParseIPv4(got)
		if err != nil {
			t.Fatalf("size %d: reassembled header: %v", size, err)
		}
		u, err := header.ParseUDP(ip.Payload())
		if err != nil {
			t.Fatalf("size %d: UDP: %v", size, err)
		}
		if !u.ChecksumValid(ip.Src4(), ip.Dst4()) || u.Checksum() == 0 {
			t.Errorf("size %d: UDP checksum of the reassembled datagram does not verify", size)
		}
		if !bytes.Equal(u.Payload(), msg) {
			t.Errorf("size %d: reassembled payload differs from what the kernel was given", size)
		}
	}
	if st := r.Stats(); st.ReasmOKs != 5 || st.ReasmFails != 0 || st.MemInUse != 0 {
		t.Errorf("stats %+v", st)
	}
}

// TestOurFragmentsKernelReassembles: datagrams fragmented by Fragmenter
// (with options, in shuffled order) are injected toward the peer; its
// kernel reassembles them and its UDP socket receives the right bytes.
func TestOurFragmentsKernelReassembles(t *testing.T) {
	bed := testbed.New(t, testbed.Config{MTU: 1500})
	pc, err := testbed.ListenPacket(bed.HostIf)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	var conn *net.UDPConn
	err = bed.Do(func() error {
		var err error
		conn, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(bed.PeerAddr, 7777)))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	before := peerSnmp(t, bed, "ReasmOKs")

	ids := NewIDGenerator(2048, [2]uint64{rand.Uint64(), rand.Uint64()}, rand.New(rand.NewPCG(5, 6)))
	var fr Fragmenter
	src, dst := bed.EngineAddr.As4(), bed.PeerAddr.As4()
	rng := rand.New(rand.NewPCG(7, 8))
	cases := []struct {
		size int
		opts []byte
		mtu  int
	}{
		{3000, nil, 1500},
		{20000, nil, 1500},
		{65507, nil, 1500},
		{65467, []byte{0x88, 4, 0xab, 0xcd, 0x07, 7, 4, 0, 0, 0, 0, 1}, 1500}, // copied stream ID, uncopied RR
		{5000, nil, 576},
	}
	for _, c := range cases {
		msg := testPayload(c.size, uint64(c.size)+1)
		hl := 20 + len(c.opts)
		pkt := make([]byte, hl+8+len(msg))
		ipf := header.IPv4Fields{TotalLength: uint16(len(pkt)), ID: ids.Next(src, dst, 17, time.Now().UnixNano()),
			TTL: 64, Protocol: header.ProtocolUDP, Src: bed.EngineAddr, Dst: bed.PeerAddr, Options: c.opts}
		if _, err := ipf.Put(pkt); err != nil {
			t.Fatal(err)
		}
		udp := header.UDP(pkt[hl:])
		udp.SetSrcPort(5555)
		udp.SetDstPort(7777)
		udp.SetLength(uint16(8 + len(msg)))
		copy(udp.Payload(), msg)
		udp.UpdateChecksum(src, dst)

		n, err := fr.Count(pkt, c.mtu)
		if err != nil {
			t.Fatal(err)
		}
		out := outBufs(n, c.mtu)
		if _, err := fr.Fragment(pkt, c.mtu, out); err != nil {
			t.Fatal(err)
		}
		rng.Shuffle(n, func(i, j int) { out[i], out[j] = out[j], out[i] })
		eth := header.EthernetFields{Dst: header.MAC(bed.PeerMAC), Src: header.MAC(bed.HostMAC), Type: header.EtherTypeIPv4}
		frame := make([]byte, 14+1500)
		for _, f := range out {
			eth.Put(frame)
			m := copy(frame[14:], f)
			if err := pc.Send(frame[:14+m]); err != nil {
				t.Fatal(err)
			}
		}
		buf := make([]byte, 70000)
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		m, from, err := conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			t.Fatalf("size %d, %d fragments: peer kernel received nothing: %v (peer ReasmReqds %d ReasmFails %d InHdrErrors %d InAddrErrors %d InDiscards %d)", c.size, n, err,
				peerSnmp(t, bed, "ReasmReqds"), peerSnmp(t, bed, "ReasmFails"), peerSnmp(t, bed, "InHdrErrors"), peerSnmp(t, bed, "InAddrErrors"), peerSnmp(t, bed, "InDiscards"))
		}
		if from != netip.AddrPortFrom(bed.EngineAddr, 5555) {
			t.Errorf("size %d: from %v", c.size, from)
		}
		if !bytes.Equal(buf[:m], msg) {
			t.Errorf("size %d: peer kernel received %d bytes that differ from the %d sent", c.size, m, len(msg))
		}
	}
	if after := peerSnmp(t, bed, "ReasmOKs"); after-before != len(cases) {
		t.Errorf("peer kernel ReasmOKs went from %d to %d, want +%d", before, after, len(cases))
	}
	if st := fr.Stats(); st.FragOKs != uint64(len(cases)) || st.FragFails != 0 {
		t.Errorf("stats %+v", st)
	}
}

// peerSnmp reads one counter of the Ip: line of the peer namespace's
// /proc/net/snmp.
func peerSnmp(t *testing.T, bed *testbed.Bed, name string) int {
	t.Helper()
	var v int
	err := bed.Do(func() error {
		b, err := os.ReadFile("/proc/thread-self/net/snmp")
		if err != nil {
			return err
		}
		lines := strings.Split(string(b), "\n")
		for i := 0; i+1 < len(lines); i++ {
			if !strings.HasPrefix(lines[i], "Ip: ") || !strings.HasPrefix(lines[i+1], "Ip: ") {
				continue
			}
			names, vals := strings.Fields(lines[i]), strings.Fields(lines[i+1])
			for j := range names {
				if names[j] == name && j < len(vals) {
					v, err = strconv.Atoi(vals[j])
					return err
				}
			}
		}
		return fmt.Errorf("no %s in /proc/net/snmp", name)
	})
	if err != nil {
		t.Fatal(err)
	}
	return v
}
