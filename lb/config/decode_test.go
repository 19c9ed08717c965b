package config

import (
	"errors"
	"net/netip"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

// exampleYAML is the format's example (doc.go), comments included.
const exampleYAML = `vips:
  - address: 198.18.0.100
    port: 80            # 0: every port
    protocol: tcp       # tcp | udp
    forwarding: nat     # nat | dsr-l2 | dsr-ipip | dsr-gue | dsr-vxlan
    table_size: 65537   # Maglev table size, a prime (default 65537)
    hash: 5-tuple       # 5-tuple (default) | source
    on_backend_down: reset
    fragments: reassemble
    health: {type: http, port: 80, path: /healthz, status: 200, interval: 1s, timeout: 500ms, rise: 2, fall: 2}
    backends:
      - {address: 198.18.1.11, weight: 1}
      - {address: 198.18.1.12, weight: 2, drain: false}
`

var (
	vipAddr = netip.MustParseAddr("198.18.0.100")
	be11    = netip.MustParseAddr("198.18.1.11")
	be12    = netip.MustParseAddr("198.18.1.12")
)

func exampleConfig() *Config {
	return &Config{
		VIPs: []VIP{{
			Addr: vipAddr, Port: 80, Proto: TCP, Forwarding: NAT, TableSize: 65537,
			Health: Health{Type: HealthHTTP, Port: 80, Path: "/healthz", Status: 200,
				Interval: time.Second, Timeout: 500 * time.Millisecond, Rise: 2, Fall: 2},
			Backends: []Backend{{Addr: be11, Weight: 1}, {Addr: be12, Weight: 2}},
		}},
		Conntrack: DefaultConntrack(),
	}
}

func TestParseExample(t *testing.T) {
	c, err := Parse([]byte(exampleYAML))
	if err != nil {
		t.Fatal(err)
	}
	if want := exampleConfig(); !reflect.DeepEqual(c, want) {
		t.Errorf("got\n%+v\nwant\n%+v", c, want)
	}
}

func TestParseDefaults(t *testing.T) {
	c, err := Parse([]byte(`
vips:
  - {address: 198.18.0.100, port: 80, protocol: tcp, forwarding: dsr-gue, backends: [{address: 198.18.1.11}]}
  - {address: 198.18.0.100, port: 53, protocol: udp, forwarding: dsr-vxlan, vni: 0}
  - {address: 198.18.0.101, port: 0, protocol: udp, forwarding: dsr-l2}
  - {address: 198.18.0.102, port: 443, protocol: tcp, forwarding: dsr-ipip, health: {type: http}}
conntrack: {tcp_established: 1h}
`))
	if err != nil {
		t.Fatal(err)
	}
	tcpHealth := Health{Type: HealthTCP, Port: 80, Interval: DefaultInterval, Timeout: DefaultTimeout, Rise: 2, Fall: 2}
	httpHealth := Health{Type: HealthHTTP, Port: 443, Path: "/", Status: 200, Interval: DefaultInterval, Timeout: DefaultTimeout, Rise: 2, Fall: 2}
	ct := DefaultConntrack()
	ct.TCPEstablished = time.Hour
	want := &Config{
		VIPs: []VIP{
			{Addr: vipAddr, Port: 80, Proto: TCP, Forwarding: DSRGUE, TableSize: 65537, GUEPort: 6080, Health: tcpHealth,
				Backends: []Backend{{Addr: be11, Weight: 1}}},
			{Addr: vipAddr, Port: 53, Proto: UDP, Forwarding: DSRVXLAN, TableSize: 65537, VXLANPort: 4789, Health: Health{Type: HealthNone}},
			{Addr: netip.MustParseAddr("198.18.0.101"), Proto: UDP, Forwarding: DSRL2, TableSize: 65537, Health: Health{Type: HealthNone}},
			{Addr: netip.MustParseAddr("198.18.0.102"), Port: 443, Proto: TCP, Forwarding: DSRIPIP, TableSize: 65537, Health: httpHealth},
		},
		Conntrack: ct,
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("got\n%+v\nwant\n%+v", c, want)
	}
	for _, empty := range []string{"", "# nothing\n", "vips: []\n", "vips:\n", "---\n"} {
		c, err := Parse([]byte(empty))
		if err != nil || !reflect.DeepEqual(c, New()) {
			t.Errorf("Parse(%q) = %+v, %v; want New()", empty, c, err)
		}
	}
}

// vipHead is a valid VIP's first lines, for the error cases.
const vipHead = "vips:\n  - address: 198.18.0.100\n    port: 80\n    protocol: tcp\n    forwarding: nat\n"

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, src, want string
		kind            error
	}{
		{"unknown key", vipHead + "    portt: 81\n",
			"6:5: vips[0].portt: unknown key: did you mean port?", ErrInvalid},
		{"unknown key far from any", vipHead + "    bogus: 1\n",
			"6:5: vips[0].bogus: unknown key: use address, port, protocol, forwarding, table_size, hash, on_backend_down, fragments, gue_port, vni, vxlan_port, fast_path, announce, health, backends", ErrInvalid},
		{"unknown top-level key", "vip: []\n",
			"1:1: vip: unknown key: did you mean vips?", ErrInvalid},
		{"wrong type", strings.Replace(vipHead, "port: 80", "port: eighty", 1),
			`3:11: vips[0].port: want a whole number from 0 to 65535, got the string "eighty"`, ErrInvalid},
		{"wrong type: list for mapping", vipHead + "    backends: {address: 198.18.1.11}\n",
			"6:15: vips[0].backends: want a list of backends, got a mapping", ErrInvalid},
		{"wrong type: quoted bool", vipHead + "    backends:\n      - {address: 198.18.1.11, drain: \"true\"}\n",
			`7:39: vips[0].backends[0].drain: want true or false, got the string "true"`, ErrInvalid},
		{"bad address", strings.Replace(vipHead, "198.18.0.100", "198.18.0.300", 1),
			`2:14: vips[0].address: "198.18.0.300" is not an IP address: write one like 198.18.0.100 or 2001:db8::100`, ErrInvalid},
		{"IPv6 backend of an IPv4 VIP", vipHead + "    backends:\n      - {address: 198.18.1.11}\n      - {address: \"2001:db8::2\"}\n",
			"8:19: vips[0].backends[1].address: 2001:db8::2 is an IPv6 backend of an IPv4 VIP, and mixing address families is not supported yet: use an IPv4 address", ErrNotSupported},
		{"IPv4 backend of an IPv6 VIP", strings.Replace(vipHead, "198.18.0.100", "\"2001:db8::1\"", 1) + "    backends:\n      - {address: \"2001:db8::11\"}\n      - {address: 198.18.1.12}\n",
			"8:19: vips[0].backends[1].address: 198.18.1.12 is an IPv4 backend of an IPv6 VIP, and mixing address families is not supported yet: use an IPv6 address", ErrNotSupported},
		{"IPv6 tunnel", strings.Replace(strings.Replace(vipHead, "198.18.0.100", "\"2001:db8::1\"", 1), "forwarding: nat", "forwarding: dsr-ipip", 1),
			"5:17: vips[0].forwarding: dsr-ipip over IPv6 is not supported yet: use nat or dsr-l2 for an IPv6 VIP", ErrNotSupported},
		{"IPv6 fast path", strings.Replace(vipHead, "198.18.0.100", "\"2001:db8::1\"", 1) + "    fast_path: true\n",
			"6:16: vips[0].fast_path: the XDP fast path does not forward IPv6 yet: remove fast_path", ErrNotSupported},
		{"announce not a boolean", vipHead + "    announce: arp\n",
			"6:15: vips[0].announce: want true or false, got the string \"arp\"", ErrInvalid},
		{"IPv6 link-local VIP", strings.Replace(vipHead, "198.18.0.100", "\"fe80::1\"", 1),
			"2:14: vips[0].address: fe80::1 is a link-local address: use a global address, like 2001:db8::100", ErrInvalid},
		{"duplicate VIP", vipHead + "  - {address: 198.18.0.100, port: 80, protocol: tcp, forwarding: dsr-l2}\n",
			"6:5: vips[1]: duplicate VIP 198.18.0.100:80/tcp (also vips[0], line 2): remove one, or change its address, port or protocol", ErrExists},
		{"duplicate backend", vipHead + "    backends:\n      - {address: 198.18.1.11}\n      - {address: 198.18.1.11, weight: 2}\n",
			"8:19: vips[0].backends[1].address: duplicate backend 198.18.1.11 (also vips[0].backends[0], line 7): remove one", ErrExists},
		{"weight too large", vipHead + "    backends:\n      - {address: 198.18.1.11}\n      - {address: 198.18.1.12, weight: 70000}\n",
			"8:40: vips[0].backends[1].weight: 70000 is above 65535: use 0 to 65535", ErrInvalid},
		{"bad forwarding mode", strings.Replace(vipHead, "nat", "dsr", 1),
			`5:17: vips[0].forwarding: "dsr" is not a forwarding mode: use nat, dsr-l2, dsr-ipip, dsr-gue or dsr-vxlan`, ErrInvalid},
		{"non-prime table size", vipHead + "    table_size: 65536\n",
			"6:17: vips[0].table_size: 65536 is not a prime, and Maglev needs one: use 65537, the next prime", ErrInvalid},
		{"table size too small for backends", vipHead + "    table_size: 2\n    backends: [{address: 198.18.1.11}, {address: 198.18.1.12}]\n",
			"6:17: vips[0].table_size: 2 entries cannot spread 2 backends: use a prime at least 100 times the number of backends, like 211", ErrInvalid},
		{"timeout >= interval", vipHead + "    health: {type: tcp, interval: 1s, timeout: 1s}\n",
			"6:48: vips[0].health.timeout: 1s is not shorter than the interval (1s): shorten the timeout or lengthen the interval", ErrInvalid},
		{"timeout >= default interval", vipHead + "    health: {type: tcp, timeout: 2s}\n",
			"6:34: vips[0].health.timeout: 2s is not shorter than the interval (1s): shorten the timeout or lengthen the interval", ErrInvalid},
		{"missing vni for vxlan", strings.Replace(vipHead, "nat", "dsr-vxlan", 1),
			"2:5: vips[0].vni: forwarding dsr-vxlan needs a vni: add vni: N (0 to 16777215)", ErrInvalid},
		{"vni too large", strings.Replace(vipHead, "nat", "dsr-vxlan", 1) + "    vni: 16777216\n",
			"6:10: vips[0].vni: 16777216 is above 16777215: use 0 to 16777215", ErrInvalid},
		{"vxlan backend without mac", strings.Replace(vipHead, "nat", "dsr-vxlan", 1) + "    vni: 7\n    backends: [{address: 198.18.1.11}]\n",
			"7:16: vips[0].backends[0].mac: dsr-vxlan needs the Ethernet address of the backend's VXLAN device: add mac: like 02:00:5e:10:00:01", ErrInvalid},
		{"mac outside vxlan", vipHead + "    backends: [{address: 198.18.1.11, mac: \"02:00:5e:10:00:01\"}]\n",
			"6:44: vips[0].backends[0].mac: only forwarding: dsr-vxlan uses a backend's mac: remove it", ErrInvalid},
		{"bad mac", strings.Replace(vipHead, "nat", "dsr-vxlan", 1) + "    vni: 7\n    backends: [{address: 198.18.1.11, mac: 02:00:5e}]\n",
			`7:44: vips[0].backends[0].mac: "02:00:5e" is not an Ethernet address: write one like 02:00:5e:10:00:01`, ErrInvalid},
		{"port 0 VIP, health without port", strings.Replace(vipHead, "port: 80", "port: 0", 1) + "    health: {type: http, path: /healthz}\n",
			"6:13: vips[0].health.port: the VIP serves every port (port: 0), so its health check needs a port: add one (health: {type: http, port: N}), or use health: {type: none}", ErrInvalid},
		{"port 0 TCP VIP, default health", strings.Replace(vipHead, "port: 80", "port: 0", 1),
			"2:5: vips[0].health.port: the VIP serves every port (port: 0), so its health check needs a port: add one (health: {type: tcp, port: N}), or use health: {type: none}", ErrInvalid},
		{"health field of another type", vipHead + "    health: {type: tcp, path: /x}\n",
			"6:31: vips[0].health.path: type tcp has no path (only http checks do): remove it", ErrInvalid},
		{"health none with settings", vipHead + "    health: {type: none, interval: 2s}\n",
			"6:36: vips[0].health.interval: type none runs no checks: remove interval, or choose a type", ErrInvalid},
		{"health without type", vipHead + "    health: {port: 8080}\n",
			"6:13: vips[0].health.type: missing: add type: tcp, http, udp or none", ErrInvalid},
		{"duration without unit", vipHead + "    health: {type: tcp, interval: 5}\n",
			"6:35: vips[0].health.interval: 5 has no unit: write a duration like 5ms or 5s", ErrInvalid},
		{"health at the VIP with nat", vipHead + "    health: {type: tcp, target: vip}\n",
			"6:33: vips[0].health.target: target: vip checks a DSR backend at the VIP it owns, and nat backends do not own it: use target: backend", ErrInvalid},
		{"bad health target", vipHead + "    health: {type: tcp, target: vips}\n",
			`6:33: vips[0].health.target: "vips" is not a health check target: use backend or vip`, ErrInvalid},
		{"hash3 with nat", vipHead + "    fragments: hash3\n",
			"6:16: vips[0].fragments: hash3 needs a dsr-* forwarding mode (nat rewrites whole datagrams, so it reassembles): use fragments: reassemble", ErrInvalid},
		{"gue_port without dsr-gue", vipHead + "    gue_port: 5\n",
			"6:15: vips[0].gue_port: only forwarding: dsr-gue uses gue_port: remove it", ErrInvalid},
		{"backend is the VIP", vipHead + "    backends: [{address: 198.18.0.100}]\n",
			"6:26: vips[0].backends[0].address: 198.18.0.100 is the VIP itself: use the backend's own address", ErrInvalid},
		{"integer beyond 64 bits", vipHead + "    table_size: 99999999999999999999999\n",
			"6:17: vips[0].table_size: 99999999999999999999999 is above 16777213: use 2 to 16777213", ErrInvalid},
		{"tag", vipHead + "    health: !!map {type: tcp}\n",
			"6:13: vips[0].health: tag !!map: the format uses no tags: remove it", ErrInvalid},
		{"YAML syntax", "vips: [\n",
			"1:7: YAML syntax: sequence end token ']' not found", ErrInvalid},
		{"two documents", "vips: []\n---\nvips: []\n",
			"3:1: a second YAML document (---): keep one document in the file", ErrInvalid},
		{"conntrack", "conntrack: {max_flows: 0}\n",
			"1:24: conntrack.max_flows: 0 is below 1: use 1 to 4294967295", ErrInvalid},
		{"missing keys", "vips:\n  - port: 80\n    protocol: tcp\n",
			"2:5: vips[0].address: missing: add address: followed by the IPv4 address clients connect to\n" +
				"2:5: vips[0].forwarding: missing: add forwarding: nat, dsr-l2, dsr-ipip, dsr-gue or dsr-vxlan", ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(tt.src))
			if err == nil {
				t.Fatalf("Parse = %+v, want error %q", c, tt.want)
			}
			if err.Error() != tt.want {
				t.Errorf("error\n got: %s\nwant: %s", err, tt.want)
			}
			if !errors.Is(err, tt.kind) {
				t.Errorf("errors.Is(err, %v) = false", tt.kind)
			}
		})
	}
}

func TestLoadNamesFile(t *testing.T) {
	t.Chdir(t.TempDir())
	src := vipHead + "    backends:\n      - {address: 198.18.1.11}\n      - {address: 198.18.1.12, weight: 70000}\n"
	if err := os.WriteFile("lb.yaml", []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Load("lb.yaml")
	want := "lb.yaml:8:40: vips[0].backends[1].weight: 70000 is above 65535: use 0 to 65535"
	if err == nil || err.Error() != want {
		t.Errorf("Load: got %v, want %s", err, want)
	}
	var e *Error
	if !errors.As(err, &e) || e.File != "lb.yaml" || e.Line != 8 || e.Column != 40 || e.Path != "vips[0].backends[1].weight" {
		t.Errorf("Load: got %#v", e)
	}
	if _, err := Load("missing.yaml"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load(missing.yaml): got %v, want ErrNotExist", err)
	}
}

func TestErrorListIsCapped(t *testing.T) {
	var b strings.Builder
	b.WriteString("vips:\n")
	for range 30 {
		b.WriteString("  - {address: 198.18.0.100, port: 80, protocol: sctp, forwarding: nat}\n")
	}
	_, err := Parse([]byte(b.String()))
	var l ErrorList
	if !errors.As(err, &l) || len(l) != maxErrors {
		t.Fatalf("got %d errors, want %d: %v", len(l), maxErrors, err)
	}
	if want := "and 11 more problems: fix these first"; l[maxErrors-1].Error() != want {
		t.Errorf("last error: got %q, want %q", l[maxErrors-1], want)
	}
	if !errors.Is(err, ErrInvalid) {
		t.Error("errors.Is(list, ErrInvalid) = false")
	}
}

func TestAnchorsAndMergeKeys(t *testing.T) {
	c, err := Parse([]byte(`
x-health: &web {type: http, path: /healthz, interval: 2s}
vips:
  - address: 198.18.0.100
    port: 80
    protocol: tcp
    forwarding: nat
    health: *web
  - address: 198.18.0.100
    port: 8080
    protocol: tcp
    forwarding: nat
    health: {<<: *web, port: 8081, interval: 3s}
`))
	if err != nil {
		t.Fatal(err)
	}
	h0, h1 := c.VIPs[0].Health, c.VIPs[1].Health
	if h0.Type != HealthHTTP || h0.Path != "/healthz" || h0.Interval != 2*time.Second || h0.Port != 80 {
		t.Errorf("vips[0].health = %+v", h0)
	}
	if h1.Type != HealthHTTP || h1.Path != "/healthz" || h1.Interval != 3*time.Second || h1.Port != 8081 {
		t.Errorf("vips[1].health = %+v", h1)
	}
}

func TestParseVIPKey(t *testing.T) {
	k, err := ParseVIPKey("198.18.0.100:80/tcp")
	if err != nil || k != (VIPKey{vipAddr, 80, TCP}) || k.String() != "198.18.0.100:80/tcp" {
		t.Errorf("ParseVIPKey = %v, %v", k, err)
	}
	if k, err := ParseVIPKey("198.18.0.100:0/udp"); err != nil || k != (VIPKey{vipAddr, 0, UDP}) {
		t.Errorf("ParseVIPKey(port 0) = %v, %v", k, err)
	}
	v6 := netip.MustParseAddr("2001:db8::1")
	if k, err := ParseVIPKey("[2001:db8::1]:80/tcp"); err != nil || k != (VIPKey{v6, 80, TCP}) || k.String() != "[2001:db8::1]:80/tcp" {
		t.Errorf("ParseVIPKey(IPv6) = %v, %v", k, err)
	}
	for in, want := range map[string]string{
		"198.18.0.100:80":         `VIP "198.18.0.100:80": no protocol: want ADDR:PORT/PROTO, like 198.18.0.100:80/tcp (port 0: every port)`,
		"198.18.0.100/tcp":        `VIP "198.18.0.100/tcp": no port: want ADDR:PORT/PROTO, like 198.18.0.100:80/tcp (port 0: every port)`,
		"198.18.0.100:80/sctp":    `VIP "198.18.0.100:80/sctp": protocol "sctp": use tcp or udp (want ADDR:PORT/PROTO, like 198.18.0.100:80/tcp (port 0: every port))`,
		"198.18.0.100:http/tcp":   `VIP "198.18.0.100:http/tcp": port "http": want a number from 0 to 65535 (want ADDR:PORT/PROTO, like 198.18.0.100:80/tcp (port 0: every port))`,
		"lb1:80/tcp":              `VIP "lb1:80/tcp": address "lb1" is not an IP address: want ADDR:PORT/PROTO, like 198.18.0.100:80/tcp (port 0: every port)`,
		"2001:db8::1:80/tcp":      `VIP "2001:db8::1:80/tcp": an IPv6 address goes in brackets, like [2001:db8::1]:80/tcp`,
		"[::ffff:1.2.3.4]:80/tcp": `VIP "[::ffff:1.2.3.4]:80/tcp": ::ffff:1.2.3.4 is an IPv4-mapped IPv6 address: write it as 1.2.3.4`,
	} {
		_, err := ParseVIPKey(in)
		if err == nil || err.Error() != want {
			t.Errorf("ParseVIPKey(%q):\n got: %v\nwant: %s", in, err, want)
		}
	}
}

func TestLookup(t *testing.T) {
	c, err := Parse([]byte(`
vips:
  - {address: 198.18.0.100, port: 0, protocol: tcp, forwarding: dsr-l2, health: {type: tcp, port: 22}}
  - {address: 198.18.0.100, port: 80, protocol: tcp, forwarding: nat}
`))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		port  uint16
		proto Proto
		want  string
	}{{80, TCP, "198.18.0.100:80/tcp"}, {443, TCP, "198.18.0.100:0/tcp"}, {80, UDP, ""}} {
		got := ""
		if v := c.Lookup(vipAddr, tt.port, tt.proto); v != nil {
			got = v.Key()
		}
		if got != tt.want {
			t.Errorf("Lookup(%d/%s) = %q, want %q", tt.port, tt.proto, got, tt.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(exampleYAML))
	f.Add([]byte(vipHead + "    health: {type: udp, send: \"ping\\x00\", expect: pong}\n"))
	f.Add([]byte("vips:\n  - {address: 198.18.0.1, port: 0, protocol: udp, forwarding: dsr-vxlan, vni: 7, health: {type: none}}\nconntrack: {udp: 1m}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data)
		if err != nil {
			return
		}
		out, err := Marshal(c)
		if err != nil {
			t.Fatalf("Marshal of a parsed config: %v", err)
		}
		c2, err := Parse(out)
		if err != nil {
			t.Fatalf("Parse(Marshal(c)): %v\n%s", err, out)
		}
		if !c.Equal(c2) {
			t.Fatalf("round trip changed the config:\n%+v\n%+v\n%s", c, c2, out)
		}
	})
}
