package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xdpengine/engine/portalloc"
)

func writeConfig(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "engine.yaml")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestServeConfig(t *testing.T) {
	p := writeConfig(t, `
interface: eth1
addr: [198.18.0.1/24, 2001:db8::1/64]
echo:
  - udp:7
  - tcp:7
nodad: true
tcp_mem: 1M,2M,3M
tcp-congestion: reno
tcp-max-time-wait: 1000
reserved-ports: 40000-40099
http: 8080
`)
	o, err := parseServe([]string{"--config", p}, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &o.cfg
	if c.Interface != "eth1" || len(c.Addrs) != 2 || len(o.echo) != 2 || !c.IPv6NoDAD || c.TCPMem.High != 3<<20 ||
		c.TCPCongestion != "reno" || c.TCPMaxTimeWait != 1000 || o.httpPort != 8080 ||
		len(c.ReservedPorts) != 1 || c.ReservedPorts[0] != (portalloc.Range{First: 40000, Last: 40099}) {
		t.Errorf("from the file: %+v, echo %v", c, o.echo)
	}
	// The command line wins, a repeatable flag's list as a whole.
	o, err = parseServe([]string{"-i", "eth2", "--echo", "udp:9", "--config", p, "--http", "81"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if o.cfg.Interface != "eth2" || len(o.echo) != 1 || o.echo[0].String() != "udp:9" || o.httpPort != 81 || len(o.cfg.Addrs) != 2 {
		t.Errorf("flags over the file: interface %s, echo %v, http %d, addrs %v", o.cfg.Interface, o.echo, o.httpPort, o.cfg.Addrs)
	}
	for _, tc := range []struct{ text, want string }{
		{"interface: eth1\nfrobnicate: 3\n", `:2: unknown key "frobnicate"`},
		{"interface: eth1\naddr: 198.18.0.1\n", `:2: addr: "198.18.0.1" has no prefix length`},
		{"interface: eth1\necho: {udp: 7}\n", ":2: echo: want a value or a list of values, not a mapping"},
		{"interface: eth1\ninterface: eth2\n", `mapping key "interface" already defined`},
		{"tcp-mem: 1M,2M,3M\ntcp_mem: 1M,2M,3M\n", ":2: tcp-mem is given twice"},
		{"- eth1\n", "want a mapping of flag names to values"},
		{"interface: [eth1\n", "YAML syntax"},
		{"config: other.yaml\n", "cannot name another"},
		{"socket: /x\n", `unknown key "socket"`}, // a hidden alias is no key
	} {
		_, err := parseServe([]string{"--config", writeConfig(t, tc.text)}, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "engine.yaml") {
			t.Errorf("config %q: %v, want an error naming the file and %q", tc.text, err, tc.want)
		}
	}
	if _, err := parseServe([]string{"-i", "eth1", "--addr", "198.18.0.1/24", "--config", "/nonexistent.yaml"}, nil); err == nil {
		t.Error("a missing file is no error")
	}
	// The example in packaging/ is valid.
	if _, err := parseServe([]string{"--config", "../../packaging/engine.yaml"}, nil); err != nil {
		t.Errorf("packaging/engine.yaml: %v", err)
	}
	// An empty file sets nothing.
	if _, err := parseServe([]string{"-i", "eth1", "--addr", "198.18.0.1/24", "--config", writeConfig(t, "# nothing\n")}, nil); err != nil {
		t.Errorf("empty file: %v", err)
	}
}
