package lb_test

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/xdpengine/engine/engine"
	"github.com/xdpengine/engine/header"
	"github.com/xdpengine/engine/internal/enginetest"
	"github.com/xdpengine/engine/lb"
)

// TestTimeoutsChangeLive: SetConfig with a shorter UDP idle timeout
// applies to the flows already tracked: a UDP flow idle for longer than
// the new timeout (but far less than the old 60 s) leaves the table.
func TestTimeoutsChangeLive(t *testing.T) {
	bed, hosts, vip := segmentVIP(t, 1)
	serveUDPName(t, hosts[0], netip.AddrPortFrom(netip.IPv4Unspecified(), 53), "b0")
	cfg := &lb.Config{MaxFlows: 1024, VIPs: []lb.VIP{{Addr: vip, Port: 53, Proto: header.ProtocolUDP, Mode: lb.NAT,
		Backends: []lb.Backend{{Addr: hosts[0].Addr, Weight: 1}}}}}
	eng := enginetest.Start(t, bed, engine.Config{LoadBalancer: cfg})
	err := bed.Do(func() error {
		c, err := net.Dial("udp4", netip.AddrPortFrom(vip, 53).String())
		if err != nil {
			return err
		}
		defer c.Close()
		buf := make([]byte, 64)
		for range 5 {
			c.Write([]byte("q"))
			c.SetReadDeadline(time.Now().Add(time.Second))
			if _, err = c.Read(buf); err == nil {
				return nil
			}
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	b := eng.Balancer()
	if n := len(b.Flows("", 0, time.Second)); n != 1 {
		t.Fatalf("%d flows tracked, want 1", n)
	}
	c := b.Config()
	c.Timeouts = lb.Timeouts{UDP: 200 * time.Millisecond}
	if err := b.SetConfig(c); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	enginetest.WaitFor(t, "the idle UDP flow to expire under the new timeout", func() bool {
		return len(b.Flows("", 0, time.Second)) == 0
	})
	t.Logf("expired %v after the change", time.Since(start))
}
