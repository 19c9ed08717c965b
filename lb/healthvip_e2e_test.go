package lb_test

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/xdpengine/engine/internal/enginetest"
	"github.com/xdpengine/engine/lb"
	"github.com/xdpengine/engine/lb/health"
)

// TestHealthAtVIP: dsr-l2 backends whose health service listens on the
// VIP only (the address they own on their loopback) are down when checked
// at their own addresses (connection refused) and up when checked at the
// VIP (HealthAtVIP: the engine's TCP sends the check to the backend's MAC
// with the VIP as destination); a backend whose service on the VIP stops
// goes down.
func TestHealthAtVIP(t *testing.T) {
	b := newLBBed(t, lb.DSRL2, []uint32{1, 1, 1})
	lns := make([]net.Listener, len(b.hosts))
	for i, h := range b.hosts {
		if err := h.Do(func() (err error) {
			lns[i], err = net.Listen("tcp4", netip.AddrPortFrom(b.vip, 8080).String())
			return err
		}); err != nil {
			t.Fatal(err)
		}
		ln := lns[i]
		t.Cleanup(func() { ln.Close() })
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		}()
	}
	bal := b.eng.Balancer()
	cfg := bal.Config()
	cfg.VIPs[0].Health = health.Spec{Kind: health.KindTCP, Interval: 100 * time.Millisecond, Timeout: 80 * time.Millisecond, Rise: 2, Fall: 2}
	cfg.VIPs[0].HealthPort = 8080
	if err := bal.SetConfig(cfg); err != nil {
		t.Fatal(err)
	}
	time.Sleep(600 * time.Millisecond) // six intervals: checks at the backends' addresses ran and failed
	for _, be := range bal.Stats()[0].Backends {
		if be.Up {
			t.Fatalf("backend %v up when checked at its own address, where nothing listens", be.Addr)
		}
	}
	cfg.VIPs[0].HealthAtVIP = true
	if err := bal.SetConfig(cfg); err != nil {
		t.Fatal(err)
	}
	// A backend is up, or down, once the checker says so and the running
	// table has it with its weight, or with weight 0 (the table is rebuilt
	// just after the checker's transition).
	up := func(want ...bool) func() bool {
		return func() bool {
			for i, be := range bal.Stats()[0].Backends {
				if be.Up != want[i] || (be.Weight > 0) != want[i] {
					return false
				}
			}
			return true
		}
	}
	enginetest.WaitFor(t, "every backend up when checked at the VIP", up(true, true, true))
	lns[1].Close()
	enginetest.WaitFor(t, "backend 1 down once its service on the VIP stopped", up(true, false, true))
	if got := b.get(t, 30); got["backend-1"] != 0 {
		t.Errorf("backend-1 took %d connections while down: %v", got["backend-1"], got)
	}
	cfg.VIPs[0].Mode = lb.DSRGUE
	if err := bal.SetConfig(cfg); err == nil {
		t.Error("health at the VIP of a dsr-gue VIP accepted; want not supported")
	}
}
