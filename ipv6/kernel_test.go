package ipv6

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
// over IPv6 on the 1500-byte veth; the frames captured on the engine side
// reassemble to exactly the datagrams sent, with a UDP checksum that
// verifies over the IPv6 pseudo-header.
func TestKernelFragmentsReassemble(t *testing.T) {
	bed := testbed.New(t, testbed.Config{MTU: 1500, IPv6: true})
	if err := bed.SetPeerNeighbor(bed.EngineAddr6, bed.HostMAC); err != nil {
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
		conn, err = net.DialUDP("udp6", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(bed.EngineAddr6, 9999)))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	r := NewReassembler(Config{})
	frame := make([]byte, 2048)
	src, dst := bed.PeerAddr6.As16(), bed.EngineAddr6.As16()
	for _, size := range []int{1453, 3000, 8952, 20000, 65487} {
		msg := testPayload(size, uint64(size))
		if _, err := conn.Write(msg); err != nil {
			t.Fatalf("send %d bytes: %v", size, err)
		}
		want := (size + 8 + 1447) / 1448 // 1500 - 40 - 8, rounded down to 8
		got, frags := []byte(nil), 0
		deadline := time.Now().Add(5 * time.Second)
		for got == nil && time.Now().Before(deadline) {
			n, _, err := pc.Recv(frame, time.Second)
			if err != nil {
				continue
			}
			eth, err := header.ParseEthernet(frame[:n])
			if err != nil || eth.Type() != header.EtherTypeIPv6 {
				continue
			}
			var e header.IPv6Ext
			f, err := ParseFragment(eth.Payload(), &e)
			if err != nil || f.Key.Src != src || f.NextHeader != header.ProtocolUDP {
				continue
			}
			if len(f.Packet) > 1500 {
				t.Fatalf("kernel sent a %d-byte fragment on a 1500 MTU link", len(f.Packet))
			}
			frags++
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
		ip, err := header.ParseIPv6(got)
		if err != nil || ip.NextHeader() != header.ProtocolUDP {
			t.Fatalf("size %d: reassembled header: %v", size, err)
		}
		u, err := header.ParseUDP(ip.Payload())
		if err != nil {
			t.Fatalf("size %d: UDP: %v", size, err)
		}
		ph := header.PseudoHeaderChecksum6(header.ProtocolUDP, src, dst, uint32(len(u)))
		if header.Checksum(u, ph) != 0xffff {
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

// TestOurFragmentsKernelReassembles: packets fragmented by Fragmenter (with
// a hop-by-hop header, in shuffled order) are injected toward the peer; its
// kernel reassembles them and its UDP socket receives the right bytes.
func TestOurFragmentsKernelReassembles(t *testing.T) {
	bed := testbed.New(t, testbed.Config{MTU: 1500, IPv6: true})
	pc, err := testbed.ListenPacket(bed.HostIf)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	var conn *net.UDPConn
	err = bed.Do(func() error {
		var err error
		conn, err = net.ListenUDP("udp6", net.UDPAddrFromAddrPort(netip.AddrPortFrom(bed.PeerAddr6, 7777)))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	before := peerSnmp6(t, bed, "Ip6ReasmOKs")

	ids := NewIDGenerator(nil)
	var fr Fragmenter
	src, dst := bed.EngineAddr6.As16(), bed.PeerAddr6.As16()
	rng := rand.New(rand.NewPCG(7, 8))
	cases := []struct {
		size int
		hbh  bool
		mtu  int
	}{
		{3000, false, 1500},
		{20000, false, 1500},
		{65487, false, 1500},
		{65479, true, 1500},
		{5000, true, 1280},
	}
	for _, c := range cases {
		msg := testPayload(c.size, uint64(c.size)+1)
		unfrag := 40
		if c.hbh {
			unfrag = 48
		}
		pkt := make([]byte, unfrag+8+len(msg))
		next := uint8(header.ProtocolUDP)
		if c.hbh {
			next = header.ProtocolHopByHop
			copy(pkt[40:], []byte{header.ProtocolUDP, 0, 1, 4, 0, 0, 0, 0})
		}
		header.PutIPv6(pkt, 0, 0, uint16(len(pkt)-40), next, 64, src, dst)
		u := header.UDP(pkt[unfrag:])
		u.SetSrcPort(5555)
		u.SetDstPort(7777)
		u.SetLength(uint16(8 + len(msg)))
		copy(u.Payload(), msg)
		u.SetChecksum(^header.Checksum(u, header.PseudoHeaderChecksum6(header.ProtocolUDP, src, dst, uint32(len(u)))))

		n, err := fr.Count(pkt, c.mtu)
		if err != nil {
			t.Fatal(err)
		}
		out := outBufs(n, c.mtu)
		if _, err := fr.Fragment(pkt, c.mtu, ids.Next(), out); err != nil {
			t.Fatal(err)
		}
		rng.Shuffle(n, func(i, j int) { out[i], out[j] = out[j], out[i] })
		eth := header.EthernetFields{Dst: header.MAC(bed.PeerMAC), Src: header.MAC(bed.HostMAC), Type: header.EtherTypeIPv6}
		frame := make([]byte, 14+1500)
		for _, f := range out {
			if _, err := eth.Put(frame); err != nil {
				t.Fatal(err)
			}
			m := copy(frame[14:], f)
			if err := pc.Send(frame[:14+m]); err != nil {
				t.Fatal(err)
			}
		}
		buf := make([]byte, 70000)
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		m, from, err := conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			t.Fatalf("size %d, %d fragments: peer kernel received nothing: %v (Ip6ReasmReqds %d ReasmFails %d InHdrErrors %d)",
				c.size, n, err, peerSnmp6(t, bed, "Ip6ReasmReqds"), peerSnmp6(t, bed, "Ip6ReasmFails"), peerSnmp6(t, bed, "Ip6InHdrErrors"))
		}
		if from != netip.AddrPortFrom(bed.EngineAddr6, 5555) {
			t.Errorf("size %d: from %v", c.size, from)
		}
		if !bytes.Equal(buf[:m], msg) {
			t.Errorf("size %d: peer kernel received %d bytes that differ from the %d sent", c.size, m, len(msg))
		}
	}
	if after := peerSnmp6(t, bed, "Ip6ReasmOKs"); after-before != len(cases) {
		t.Errorf("peer kernel Ip6ReasmOKs went from %d to %d, want +%d", before, after, len(cases))
	}
	if st := fr.Stats(); st.FragOKs != uint64(len(cases)) || st.FragFails != 0 {
		t.Errorf("stats %+v", st)
	}
}

// peerSnmp6 reads one counter of the peer namespace's /proc/net/snmp6.
func peerSnmp6(t *testing.T, bed *testbed.Bed, name string) int {
	t.Helper()
	var v int
	err := bed.Do(func() error {
		b, err := os.ReadFile("/proc/thread-self/net/snmp6")
		if err != nil {
			return err
		}
		for _, line := range strings.Split(string(b), "\n") {
			if f := strings.Fields(line); len(f) == 2 && f[0] == name {
				v, err = strconv.Atoi(f[1])
				return err
			}
		}
		return fmt.Errorf("no %s in /proc/net/snmp6", name)
	})
	if err != nil {
		t.Fatal(err)
	}
	return v
}
