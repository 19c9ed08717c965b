package engine_test

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/xdpengine/engine/engine"
	"github.com/xdpengine/engine/internal/enginetest"
	"github.com/xdpengine/engine/internal/testbed"
)

// TestFirstBurstWaitsForARP: the engine sends a burst of datagrams to a
// peer it has never heard from; they wait for ARP (up to arp.QueueLen per
// neighbor, as Linux's unres_qlen) and all arrive, in order.
func TestFirstBurstWaitsForARP(t *testing.T) {
	const n = 100
	bed := testbed.New(t, testbed.Config{})
	eng := enginetest.Start(t, bed, engine.Config{})
	pc, ec := udpPair(t, bed, eng, 7400)
	enginetest.ForceReadBuffer(t, pc, 1<<20) // the burst waits unread
	to := netip.AddrPortFrom(bed.PeerAddr, 7400)
	p := make([]byte, 200)
	for i := range n {
		binary.BigEndian.PutUint32(p, uint32(i))
		if _, err := ec.WriteToUDPAddrPort(p, to); err != nil {
			t.Fatal(err)
		}
	}
	buf := make([]byte, 2048)
	for i := range n {
		pc.SetReadDeadline(time.Now().Add(5 * time.Second))
		m, err := pc.Read(buf)
		if err != nil {
			t.Fatalf("datagram %d: %v (stats %+v)", i, err, eng.Stats().Total)
		}
		if got := binary.BigEndian.Uint32(buf); m != len(p) || got != uint32(i) {
			t.Fatalf("datagram %d: got number %d, %d bytes", i, got, m)
		}
	}
	st := eng.Stats().Total
	if st.DropNeighbor != 0 || st.ARP.QueueDrops != 0 || st.ARP.OutRequests == 0 {
		t.Errorf("neighbor drops %d, ARP %+v", st.DropNeighbor, st.ARP)
	}
	wantNeighbor(t, eng, bed, "REACHABLE")
}

// wantNeighbor checks that the engine's ARP listing has the peer, at its
// MAC, in state.
func wantNeighbor(t *testing.T, eng *engine.Engine, bed *testbed.Bed, state string) {
	t.Helper()
	ns := eng.Neighbors()
	for _, n := range ns {
		if n.Addr == bed.PeerAddr {
			if n.State != state || n.MAC.String() != bed.PeerMAC.String() || n.Queued != 0 {
				t.Errorf("neighbor entry %+v: want %s at %v, nothing queued", n, state, bed.PeerMAC)
			}
			return
		}
	}
	t.Errorf("the peer %v is not in the neighbor listing %+v", bed.PeerAddr, ns)
}

// TestStaticNeighbor: with the peer as a static neighbor the engine never
// asks for it; a burst goes out at once, and the peer's own ARP requests
// (answered) do not change the entry.
func TestStaticNeighbor(t *testing.T) {
	bed := testbed.New(t, testbed.Config{})
	eng := enginetest.Start(t, bed, engine.Config{Neighbors: []engine.Neighbor{{Addr: bed.PeerAddr, MAC: bed.PeerMAC}}})
	pc, ec := udpPair(t, bed, eng, 7401)
	to := netip.AddrPortFrom(bed.PeerAddr, 7401)
	for i := range 10 {
		if _, err := ec.WriteToUDPAddrPort([]byte{byte(i)}, to); err != nil {
			t.Fatal(err)
		}
	}
	buf := make([]byte, 16)
	for i := range 10 {
		pc.SetReadDeadline(time.Now().Add(5 * time.Second))
		if n, err := pc.Read(buf); err != nil || n != 1 || buf[0] != byte(i) {
			t.Fatalf("datagram %d: %v %x", i, err, buf[:n])
		}
	}
	enginetest.PeerResolve(t, bed) // the peer asks for the engine: answered
	st := eng.Stats().Total
	if st.ARP.OutRequests != 0 || st.DropNeighbor != 0 || st.ARP.OutReplies == 0 {
		t.Errorf("ARP %+v, neighbor drops %d: want no request, a reply", st.ARP, st.DropNeighbor)
	}
	wantNeighbor(t, eng, bed, "PERMANENT")
}

// udpPair opens UDP port on the peer kernel and on the engine; both close
// with the test.
func udpPair(t *testing.T, bed *testbed.Bed, eng *engine.Engine, port uint16) (*net.UDPConn, *engine.UDPConn) {
	t.Helper()
	var pc *net.UDPConn
	if err := bed.Do(func() (err error) {
		pc, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(bed.PeerAddr, port)))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	ec, err := eng.ListenUDP("udp4", fmt.Sprintf(":%d", port), engine.SocketOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ec.Close() })
	return pc, ec
}
