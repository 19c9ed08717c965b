package engine

import (
	"errors"
	"strings"
	"testing"

	"github.com/xdpengine/engine/portalloc"
)

// TestDecapValidate: GUE takes its default port; a port without GUE, or
// one automatic choice could hand a socket, is refused.
func TestDecapValidate(t *testing.T) {
	for _, tc := range []struct {
		name     string
		d        DecapConfig
		ports    portalloc.Range
		reserved []portalloc.Range
		port     uint16 // GUEPort after the defaults
		want     string
	}{
		{name: "off", d: DecapConfig{}},
		{name: "ipip", d: DecapConfig{IPIP: true}},
		{name: "gue, default port", d: DecapConfig{GUE: true}, port: DefaultGUEPort},
		{name: "gue, own port", d: DecapConfig{IPIP: true, GUE: true, GUEPort: 9999}, port: 9999},
		{name: "port without gue", d: DecapConfig{GUEPort: 6080}, want: "GUE off"},
		{name: "ephemeral port", d: DecapConfig{GUE: true, GUEPort: 40000}, want: "ephemeral range 32768-60999"},
		{name: "ephemeral port, reserved", d: DecapConfig{GUE: true, GUEPort: 40000}, port: 40000,
			reserved: []portalloc.Range{{First: 39999, Last: 40001}}},
		{name: "own ephemeral range", d: DecapConfig{GUE: true}, ports: portalloc.Range{First: 5000, Last: 7000},
			want: "ephemeral range 5000-7000"},
	} {
		c := Config{Interface: "x", Addrs: testAddrs, Decap: tc.d, Ports: tc.ports, ReservedPorts: tc.reserved}
		c.setDefaults()
		err := c.validate()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.want == "" && c.Decap.GUEPort != tc.port:
			t.Errorf("%s: GUE port %d, want %d", tc.name, c.Decap.GUEPort, tc.port)
		case tc.want != "" && (!errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: %v, want ErrConfig saying %q", tc.name, err, tc.want)
		}
	}
}
