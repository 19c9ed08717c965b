package afxdp

import (
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xdpengine/engine/internal/testbed"
)

// TestRxOverrunRecovers floods a socket from the kernel peer while the
// consumer stalls now and then, so the rx ring overflows again and again;
// once the flood stops, the socket must still receive.
func TestRxOverrunRecovers(t *testing.T) {
	e := newEngine(t, testbed.Config{}, Config{RxSize: 2048, FillSize: 4096, CompSize: 2048, TxSize: 2048,
		UMEMConfig: UMEMConfig{Frames: 7168}})
	s := e.socks[0]
	s.Fill()
	stop := make(chan struct{})
	var flood sync.WaitGroup
	for i := range 4 {
		var c *net.UDPConn
		if err := e.bed.Do(func() (err error) {
			c, err = net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(e.bed.EngineAddr, 9)))
			return err
		}); err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		flood.Go(func() {
			msg := make([]byte, 200+i*300)
			for {
				select {
				case <-stop:
					return
				default:
				}
				c.Write(msg)
			}
		})
	}
	var got atomic.Int64
	descs := make([]Desc, 64)
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		n := s.Receive(descs)
		got.Add(int64(n))
		s.Release(descs[:n])
		s.Fill()
		if got.Load()%5000 < 64 {
			time.Sleep(5 * time.Millisecond) // a stall: the ring overflows
		}
	}
	close(stop)
	flood.Wait()
	st, _ := s.Stats()
	t.Logf("received %d during the flood; %+v", got.Load(), st)
	// Drain, then expect fresh traffic to arrive.
	for n := s.Receive(descs); n > 0; n = s.Receive(descs) {
		s.Release(descs[:n])
		s.Fill()
	}
	fd := peerUDP(t, e.bed, 4000)
	sendTo(t, fd, e.bed.EngineAddr, 9, "after the flood")
	if !recv(s, 2*time.Second, hasPayload("after the flood")) {
		st, _ := s.Stats()
		t.Fatalf("the socket stopped receiving after the flood: %+v fill prod %d cons %d rx prod %d cons %d",
			st, *s.fill.producer, *s.fill.consumer, *s.rx.producer, *s.rx.consumer)
	}
}
