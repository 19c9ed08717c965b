package lb_test

import (
	"context"
	"testing"

	"github.com/xdpengine/engine/engine"
	"github.com/xdpengine/engine/header"
	"github.com/xdpengine/engine/internal/enginetest"
	"github.com/xdpengine/engine/lb"
)

// TestPingVIP: the balancer answers pings to its VIPs (the backends never
// see them), as a kernel answers pings to its addresses.
func TestPingVIP(t *testing.T) {
	enginetest.NeedTool(t, "ping")
	bed, hosts, vip := segmentVIP(t, 1)
	cfg := &lb.Config{VIPs: []lb.VIP{{Addr: vip, Port: 80, Proto: header.ProtocolTCP, Mode: lb.DSRL2,
		Backends: []lb.Backend{{Addr: hosts[0].Addr, Weight: 1}}}}}
	eng := enginetest.Start(t, bed, engine.Config{LoadBalancer: cfg})
	out, err := bed.Command(context.Background(), "ping", "-c", "3", "-i", "0.2", "-W", "2", vip.String()).CombinedOutput()
	if err != nil {
		t.Fatalf("ping %v: %v\n%s", vip, err, out)
	}
	if st := eng.Stats().Total.ICMP; st.OutEchoReps < 3 {
		t.Errorf("the engine sent %d echo replies, want 3", st.OutEchoReps)
	}
}
