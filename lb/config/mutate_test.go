package config

import (
	"errors"
	"net/netip"
	"reflect"
	"testing"
	"time"
)

const exampleKey = "198.18.0.100:80/tcp"

// mustOK returns a function that fails the test if err is not nil and
// returns c.
func mustOK(t *testing.T) func(c *Config, err error) *Config {
	return func(c *Config, err error) *Config {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
}

// wantErr checks the message and the sentinel of an error.
func wantErr(t *testing.T, c *Config, err error, kind error, msg string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got %+v, want error %q", c, msg)
	}
	if c != nil {
		t.Errorf("got a config with the error %v", err)
	}
	if err.Error() != msg {
		t.Errorf("error\n got: %s\nwant: %s", err, msg)
	}
	if !errors.Is(err, kind) {
		t.Errorf("errors.Is(%v, %v) = false", err, kind)
	}
}

func TestMutationsCopyOnWrite(t *testing.T) {
	orig := exampleConfig()
	be13 := netip.MustParseAddr("198.18.1.13")

	c := mustOK(t)(orig.AddBackend(exampleKey, Backend{Addr: be13, Weight: 5}))
	c = mustOK(t)(c.SetWeight(exampleKey, be11, 9))
	c = mustOK(t)(c.Drain(exampleKey, be12))
	c = mustOK(t)(c.Drain(exampleKey, be12)) // draining twice is no error
	want := []Backend{{Addr: be11, Weight: 9}, {Addr: be12, Weight: 2, Drain: true}, {Addr: be13, Weight: 5}}
	if !reflect.DeepEqual(c.VIPs[0].Backends, want) {
		t.Errorf("backends: got %+v, want %+v", c.VIPs[0].Backends, want)
	}
	c = mustOK(t)(c.Undrain(exampleKey, be12))
	c = mustOK(t)(c.RemoveBackend(exampleKey, be11))
	want = []Backend{{Addr: be12, Weight: 2}, {Addr: be13, Weight: 5}}
	if !reflect.DeepEqual(c.VIPs[0].Backends, want) {
		t.Errorf("backends: got %+v, want %+v", c.VIPs[0].Backends, want)
	}
	c = mustOK(t)(c.RemoveVIP(exampleKey))
	if len(c.VIPs) != 0 {
		t.Errorf("VIPs after RemoveVIP: %+v", c.VIPs)
	}
	if !reflect.DeepEqual(orig, exampleConfig()) {
		t.Errorf("the original config changed: %+v", orig)
	}

	// A helper's result shares no backing array with its input.
	c = mustOK(t)(orig.SetWeight(exampleKey, be11, 3))
	c.VIPs[0].Backends[1].Weight = 77
	if orig.VIPs[0].Backends[1].Weight != 2 {
		t.Error("the helper's result aliases the original's backends")
	}
}

func TestAddVIP(t *testing.T) {
	orig := exampleConfig()
	v := VIP{Addr: netip.MustParseAddr("198.18.0.101"), Port: 443, Proto: TCP, Forwarding: DSRGUE,
		Backends: []Backend{{Addr: be11, Weight: 1}}}
	c := mustOK(t)(orig.AddVIP(v))
	got := c.VIPs[1]
	want := VIP{Addr: v.Addr, Port: 443, Proto: TCP, Forwarding: DSRGUE, TableSize: DefaultTableSize, GUEPort: DefaultGUEPort,
		Health:   Health{Type: HealthTCP, Port: 443, Interval: time.Second, Timeout: 500 * time.Millisecond, Rise: 2, Fall: 2},
		Backends: []Backend{{Addr: be11, Weight: 1}}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("AddVIP: got %+v, want %+v", got, want)
	}
	// Parse of the saved form gives the same config.
	out, err := Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	if back, err := Parse(out); err != nil || !reflect.DeepEqual(back, c) {
		t.Errorf("round trip: %v\n%s", err, out)
	}
	if !reflect.DeepEqual(orig, exampleConfig()) {
		t.Errorf("the original config changed: %+v", orig)
	}
	// The specific port and port 0 coexist.
	mustOK(t)(orig.AddVIP(VIP{Addr: vipAddr, Port: 0, Proto: TCP, Forwarding: DSRL2, Health: Health{Type: HealthNone}}))
}

func TestMutationErrors(t *testing.T) {
	c := exampleConfig()
	v6 := netip.MustParseAddr("2001:db8::1")
	be99 := netip.MustParseAddr("198.18.1.99")

	n, err := c.AddVIP(VIP{Addr: vipAddr, Port: 80, Proto: TCP, Forwarding: DSRL2})
	wantErr(t, n, err, ErrExists, `198.18.0.100:80/tcp: the VIP exists already: change its backends, or remove it first with "engine lb vip remove"`)
	n, err = c.AddVIP(VIP{Addr: v6, Port: 80, Proto: TCP, Forwarding: DSRGUE})
	wantErr(t, n, err, ErrNotSupported, "[2001:db8::1]:80/tcp: forwarding: dsr-gue over IPv6 is not supported yet: use nat or dsr-l2 for an IPv6 VIP")
	if n, err := c.AddVIP(VIP{Addr: v6, Port: 80, Proto: TCP, Forwarding: NAT, Backends: []Backend{{Addr: netip.MustParseAddr("2001:db8::11"), Weight: 1}}}); err != nil || n.VIPs[len(n.VIPs)-1].Key() != "[2001:db8::1]:80/tcp" {
		t.Errorf("AddVIP(IPv6) = %v", err)
	}
	n, err = c.AddVIP(VIP{Addr: vipAddr, Port: 0, Proto: TCP, Forwarding: NAT})
	wantErr(t, n, err, ErrInvalid, "198.18.0.100:0/tcp: health.port: the VIP serves every port (port: 0), so its health check needs a port: add one (health: {type: tcp, port: N}), or use health: {type: none}")
	n, err = c.AddVIP(VIP{Addr: vipAddr, Port: 81, Proto: TCP, Forwarding: NAT, TableSize: 100})
	wantErr(t, n, err, ErrInvalid, "198.18.0.100:81/tcp: table_size: 100 is not a prime, and Maglev needs one: use 101, the next prime")

	n, err = c.RemoveVIP("198.18.0.100:81/tcp")
	wantErr(t, n, err, ErrNotFound, `VIP 198.18.0.100:81/tcp does not exist: add it first with "engine lb vip add"`)
	n, err = c.RemoveVIP("198.18.0.100:80")
	wantErr(t, n, err, ErrInvalid, `VIP "198.18.0.100:80": no protocol: want ADDR:PORT/PROTO, like 198.18.0.100:80/tcp (port 0: every port)`)

	n, err = c.AddBackend(exampleKey, Backend{Addr: be11, Weight: 1})
	wantErr(t, n, err, ErrExists, `198.18.0.100:80/tcp: backend 198.18.1.11 is already in it: change its weight with "engine lb backend weight", or remove it first`)
	n, err = c.AddBackend(exampleKey, Backend{Addr: v6, Weight: 1})
	wantErr(t, n, err, ErrNotSupported, "198.18.0.100:80/tcp: backends[2].address: 2001:db8::1 is an IPv6 backend of an IPv4 VIP, and mixing address families is not supported yet: use an IPv4 address")
	n, err = c.AddBackend(exampleKey, Backend{Addr: be99, Weight: 70000})
	wantErr(t, n, err, ErrInvalid, "198.18.0.100:80/tcp: backends[2].weight: 70000 is above 65535: use 0 to 65535")
	n, err = c.AddBackend("198.18.0.100:80/udp", Backend{Addr: be99, Weight: 1})
	wantErr(t, n, err, ErrNotFound, `VIP 198.18.0.100:80/udp does not exist: add it first with "engine lb vip add"`)

	n, err = c.RemoveBackend(exampleKey, be99)
	wantErr(t, n, err, ErrNotFound, `backend 198.18.1.99 is not in 198.18.0.100:80/tcp: add it first with "engine lb backend add"`)
	n, err = c.SetWeight(exampleKey, be11, 70000)
	wantErr(t, n, err, ErrInvalid, "198.18.0.100:80/tcp: backend 198.18.1.11: weight 70000 is above 65535: use 0 to 65535")
	n, err = c.Drain(exampleKey, be99)
	wantErr(t, n, err, ErrNotFound, `backend 198.18.1.99 is not in 198.18.0.100:80/tcp: add it first with "engine lb backend add"`)
	n, err = c.Undrain(exampleKey, be99)
	wantErr(t, n, err, ErrNotFound, `backend 198.18.1.99 is not in 198.18.0.100:80/tcp: add it first with "engine lb backend add"`)

	// A table too small for one more backend.
	small := mustOK(t)(New().AddVIP(VIP{Addr: vipAddr, Port: 80, Proto: TCP, Forwarding: NAT, TableSize: 2,
		Backends: []Backend{{Addr: be11, Weight: 1}}}))
	n, err = small.AddBackend(exampleKey, Backend{Addr: be12, Weight: 1})
	wantErr(t, n, err, ErrInvalid, "198.18.0.100:80/tcp: table_size: 2 entries cannot spread 2 backends: use a prime at least 100 times the number of backends, like 211")

	if !reflect.DeepEqual(c, exampleConfig()) {
		t.Errorf("a failed helper changed the config: %+v", c)
	}
}
