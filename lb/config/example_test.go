package config_test

import (
	"fmt"
	"net/netip"

	"github.com/xdpengine/engine/lb/config"
)

func ExampleParse() {
	c, err := config.Parse([]byte(`
vips:
  - address: 198.18.0.100
    port: 80
    protocol: tcp
    forwarding: dsr-gue
    health: {type: http, path: /healthz}
    backends:
      - {address: 198.18.1.11}
      - {address: 198.18.1.12, weight: 2}
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	v := c.VIPs[0]
	fmt.Println(v.Key(), v.Forwarding, v.GUEPort, v.TableSize, v.Health.Type, v.Health.Port, v.Health.Interval)
	for _, b := range v.Backends {
		fmt.Println(b.Addr, b.Weight)
	}
	// Output:
	// 198.18.0.100:80/tcp dsr-gue 6080 65537 http 80 1s
	// 198.18.1.11 1
	// 198.18.1.12 2
}

func ExampleParse_error() {
	_, err := config.Parse([]byte(`
vips:
  - address: 198.18.0.100
    port: 80
    protocol: tcp
    forwarding: nat
    table_size: 1000
`))
	fmt.Println(err)
	// Output:
	// 7:17: vips[0].table_size: 1000 is not a prime, and Maglev needs one: use 1009, the next prime
}

func ExampleConfig_AddBackend() {
	c, err := config.New().AddVIP(config.VIP{
		Addr: netip.MustParseAddr("198.18.0.100"), Port: 53, Proto: config.UDP, Forwarding: config.DSRL2,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	c2, err := c.AddBackend("198.18.0.100:53/udp", config.Backend{Addr: netip.MustParseAddr("198.18.1.11"), Weight: 1})
	if err != nil {
		fmt.Println(err)
		return
	}
	_, err = c2.Drain("198.18.0.100:53/udp", netip.MustParseAddr("198.18.1.99"))
	fmt.Println(len(c.VIPs[0].Backends), len(c2.VIPs[0].Backends))
	fmt.Println(err)
	out, _ := config.Marshal(c2)
	fmt.Print(string(out))
	// Output:
	// 0 1
	// backend 198.18.1.99 is not in 198.18.0.100:53/udp: add it first with "engine lb backend add"
	// vips:
	//   - address: 198.18.0.100
	//     port: 53
	//     protocol: udp
	//     forwarding: dsr-l2
	//     health: {type: none}
	//     backends:
	//       - {address: 198.18.1.11}
}
