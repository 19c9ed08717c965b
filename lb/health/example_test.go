package health_test

import (
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/xdpengine/engine/lb/health"
)

// The balancer passes an engine.Dialer's DialContext; this example uses the
// kernel's.
func Example() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()

	events := make(chan health.Event, 1)
	c := health.New(new(net.Dialer).DialContext, func(ev health.Event) {
		events <- ev // the balancer adds ev.Key to its Maglev table, or removes it
	}, nil)
	defer c.Close()
	err = c.Set([]health.Target{{
		Key:  "198.18.0.100:80/tcp 127.0.0.1",
		Addr: netip.MustParseAddrPort(ln.Addr().String()),
		Spec: health.Spec{Kind: health.KindTCP, Interval: 20 * time.Millisecond, Rise: 2},
	}})
	if err != nil {
		panic(err)
	}
	st, _ := c.State("198.18.0.100:80/tcp 127.0.0.1")
	fmt.Println("at start, up:", st.Up)
	ev := <-events
	fmt.Println(ev.Key, "up:", ev.Up)
	// Output:
	// at start, up: false
	// 198.18.0.100:80/tcp 127.0.0.1 up: true
}
