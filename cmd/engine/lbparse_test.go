package main

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
)

var be11 = netip.MustParseAddr("198.18.0.11")

// TestParseLB: good command lines and the control command each sends.
func TestParseLB(t *testing.T) {
	w := func(n uint32) *uint32 { return &n }
	for _, tc := range []struct {
		args []string
		cmd  string
		want any // the control command's arguments
	}{
		{[]string{"show"}, "lb.show", nil},
		{[]string{"-i", "eth1", "show", "--json"}, "lb.show", nil},
		{[]string{"show", "--ctl", "/x.sock"}, "lb.show", nil},
		{[]string{"reload"}, "lb.reload", nil},
		{[]string{"vip", "add", lbTestVIP, "--forwarding", "nat", "--backend", "198.18.0.11", "--backend=198.18.0.12=3"},
			"lb.vip.add", lbArgs{VIP: lbTestVIP, Forwarding: "nat", Backends: []lbBackendArg{
				{Addr: netip.MustParseAddr("198.18.0.11")}, {Addr: netip.MustParseAddr("198.18.0.12"), Weight: w(3)}}}},
		{[]string{"vip", "add", "--forwarding", "dsr-l2", "--hash", "source", "--table-size", "251", "198.18.0.100:0/udp"},
			"lb.vip.add", lbArgs{VIP: "198.18.0.100:0/udp", Forwarding: "dsr-l2", Hash: "source", TableSize: 251}},
		{[]string{"vip", "remove", lbTestVIP}, "lb.vip.remove", lbArgs{VIP: lbTestVIP}},
		{[]string{"vip", "del", lbTestVIP}, "lb.vip.remove", lbArgs{VIP: lbTestVIP}}, // lb/config's messages say "vip del"
		{[]string{"backend", "add", lbTestVIP, "198.18.0.13"}, "lb.backend.add", lbArgs{VIP: lbTestVIP, Backend: "198.18.0.13"}},
		{[]string{"backend", "add", lbTestVIP, "198.18.0.13", "0"}, "lb.backend.add", lbArgs{VIP: lbTestVIP, Backend: "198.18.0.13", Weight: w(0)}},
		{[]string{"backend", "remove", lbTestVIP, "198.18.0.13"}, "lb.backend.remove", lbArgs{VIP: lbTestVIP, Backend: "198.18.0.13"}},
		{[]string{"backend", "weight", lbTestVIP, "198.18.0.13", "65535"}, "lb.backend.weight", lbArgs{VIP: lbTestVIP, Backend: "198.18.0.13", Weight: w(65535)}},
		{[]string{"backend", "drain", lbTestVIP, "198.18.0.13", "-i", "eth1"}, "lb.backend.drain", lbArgs{VIP: lbTestVIP, Backend: "198.18.0.13"}},
		{[]string{"backend", "undrain", lbTestVIP, "198.18.0.13"}, "lb.backend.undrain", lbArgs{VIP: lbTestVIP, Backend: "198.18.0.13"}},
		{[]string{"lookup", "198.18.0.100:53/udp", "198.18.0.2:4000"}, "lb.lookup", lbLookupArgs{
			VIP: netip.MustParseAddrPort("198.18.0.100:53"), Proto: "udp", Src: netip.MustParseAddrPort("198.18.0.2:4000")}},

		// Tunnel modes: a port or VNI of their own, a MAC per dsr-vxlan backend.
		{[]string{"vip", "add", lbTestVIP, "--forwarding", "dsr-ipip", "--backend", "198.18.0.11"},
			"lb.vip.add", lbArgs{VIP: lbTestVIP, Forwarding: "dsr-ipip", Backends: []lbBackendArg{{Addr: be11}}}},
		{[]string{"vip", "add", lbTestVIP, "--forwarding", "dsr-gue"}, "lb.vip.add", lbArgs{VIP: lbTestVIP, Forwarding: "dsr-gue"}},
		{[]string{"vip", "add", lbTestVIP, "--forwarding", "dsr-gue", "--gue-port", "7000"},
			"lb.vip.add", lbArgs{VIP: lbTestVIP, Forwarding: "dsr-gue", GUEPort: 7000}},
		{[]string{"vip", "add", lbTestVIP, "--forwarding", "dsr-vxlan", "--vni", "42", "--vxlan-port", "8472",
			"--backend", "198.18.0.11@02:00:5E:10:00:01", "--backend", "198.18.0.12=2@02-00-5e-10-00-02"},
			"lb.vip.add", lbArgs{VIP: lbTestVIP, Forwarding: "dsr-vxlan", VNI: w(42), VXLANPort: 8472, Backends: []lbBackendArg{
				{Addr: be11, MAC: "02:00:5e:10:00:01"}, {Addr: netip.MustParseAddr("198.18.0.12"), Weight: w(2), MAC: "02:00:5e:10:00:02"}}}},
		{[]string{"vip", "add", lbTestVIP, "--forwarding=dsr-vxlan", "--vni=0"}, "lb.vip.add", lbArgs{VIP: lbTestVIP, Forwarding: "dsr-vxlan", VNI: w(0)}},
		{[]string{"backend", "add", lbTestVIP, "198.18.0.13", "2", "--mac", "02:00:5e:10:00:03"},
			"lb.backend.add", lbArgs{VIP: lbTestVIP, Backend: "198.18.0.13", Weight: w(2), MAC: "02:00:5e:10:00:03"}},
		{[]string{"backend", "add", "--mac=02:00:5E:10:00:03", lbTestVIP, "198.18.0.13"},
			"lb.backend.add", lbArgs{VIP: lbTestVIP, Backend: "198.18.0.13", MAC: "02:00:5e:10:00:03"}},

		// Flows: bounded by default.
		{[]string{"flows"}, "lb.flows", lbFlowsArgs{Limit: lbFlowsDefault}},
		{[]string{"flows", "--vip", lbTestVIP, "--limit", "5", "--json"}, "lb.flows", lbFlowsArgs{VIP: lbTestVIP, Limit: 5}},
		{[]string{"flows", "--limit=100000"}, "lb.flows", lbFlowsArgs{Limit: lbFlowsMax}},
	} {
		r, err := parseLB(tc.args, nil)
		if err != nil {
			t.Errorf("engine lb %s: %v", strings.Join(tc.args, " "), err)
			continue
		}
		got, _ := json.Marshal(r.args)
		want, _ := json.Marshal(tc.want)
		if r.cmd != tc.cmd || !bytes.Equal(got, want) {
			t.Errorf("engine lb %s: %s %s, want %s %s", strings.Join(tc.args, " "), r.cmd, got, tc.cmd, want)
		}
	}
	r, _ := parseLB([]string{"-i", "eth1", "show", "--json"}, nil)
	if r.t.iface != "eth1" || !r.asJSON {
		t.Errorf("flags before and after the subcommand: %+v", r)
	}
}

// TestLBUsageErrors: bad command lines exit with status 2 and a message
// that says what to do, before any engine is asked.
func TestLBUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args     []string
		inStderr string
	}{
		{[]string{"lb"}, "give a subcommand: show, flows, vip add|remove, backend add|remove|weight|drain|undrain, lookup or reload"},
		{[]string{"lb", "frob"}, `unknown subcommand "frob"`},
		{[]string{"lb", "vip"}, "lb vip: give what to do: add or remove"},
		{[]string{"lb", "backend", "kill"}, `unknown subcommand "backend kill"`},
		{[]string{"lb", "show", "extra"}, "wrong number of arguments: engine lb show [--json]"},
		{[]string{"lb", "vip", "add", lbTestVIP}, "vip add: give --forwarding nat, dsr-l2, dsr-ipip, dsr-gue or dsr-vxlan"},
		{[]string{"lb", "vip", "add", lbTestVIP, "--forwarding", "tunnel"}, `--forwarding "tunnel": want nat, dsr-l2, dsr-ipip, dsr-gue, dsr-vxlan`},
		{[]string{"lb", "vip", "add", lbTestVIP, "--forwarding", "nat", "--hash", "random"}, `--hash "random": want 5-tuple or source`},
		{[]string{"lb", "vip", "add", lbTestVIP, "--forwarding", "nat", "--backend", "198.18.0.11=x"}, `weight "x": want 0 to 65535`},
		{[]string{"lb", "vip", "add", lbTestVIP, "--forwarding", "nat", "--table-size", "big"}, "want a prime"},
		{[]string{"lb", "vip", "add", "198.18.0.100:80", "--forwarding", "nat"}, "no protocol: want ADDR:PORT/PROTO, like 198.18.0.100:80/tcp"},
		{[]string{"lb", "vip", "remove", "198.18.0.100/tcp"}, "no port"},
		{[]string{"lb", "backend", "add", lbTestVIP}, "wrong number of arguments: engine lb backend add VIP ADDR [WEIGHT]"},
		{[]string{"lb", "backend", "add", lbTestVIP, "198.18.0.11:8080"}, "give its address only, 198.18.0.11: a backend serves on the port the client sent to"},
		{[]string{"lb", "backend", "add", lbTestVIP, "web1"}, `backend "web1" is not an IPv4 or IPv6 address`},
		{[]string{"lb", "backend", "weight", lbTestVIP, "198.18.0.11"}, "wrong number of arguments: engine lb backend weight VIP ADDR WEIGHT"},
		{[]string{"lb", "backend", "weight", lbTestVIP, "198.18.0.11", "70000"}, `weight "70000": want 0 to 65535`},
		{[]string{"lb", "backend", "drain", "198.18.0.100:80/sctp", "198.18.0.11"}, `protocol "sctp": use tcp or udp`},
		{[]string{"lb", "lookup", lbTestVIP, "198.18.0.2"}, `client "198.18.0.2": want its IPv4 ADDR:PORT`},
		{[]string{"lb", "show", "--frob"}, "unknown flag: --frob"},
		{[]string{"lb", "-i", "a", "--ctl", "b", "show"}, "give -i IFACE or --ctl PATH, not both"},

		// Tunnel settings with the wrong mode, or missing.
		{[]string{"lb", "vip", "add", lbTestVIP, "--forwarding", "nat", "--gue-port", "6080"},
			"--gue-port applies to --forwarding dsr-gue only (this VIP forwards nat): drop it"},
		{[]string{"lb", "vip", "add", lbTestVIP, "--forwarding", "dsr-gue", "--vni", "1"},
			"--vni applies to --forwarding dsr-vxlan only (this VIP forwards dsr-gue): drop it"},
		{[]string{"lb", "vip", "add", lbTestVIP, "--forwarding", "dsr-ipip", "--vxlan-port", "4789"},
			"--vxlan-port applies to --forwarding dsr-vxlan only (this VIP forwards dsr-ipip): drop it"},
		{[]string{"lb", "vip", "add", lbTestVIP, "--forwarding", "dsr-vxlan", "--backend", "198.18.0.11@02:00:5e:10:00:01"},
			"--forwarding dsr-vxlan needs --vni N (0 to 16777215), the VXLAN network identifier of the backends' VXLAN devices"},
		{[]string{"lb", "vip", "add", lbTestVIP, "--forwarding", "dsr-vxlan", "--vni", "7", "--backend", "198.18.0.11=2"},
			"--backend 198.18.0.11=2: dsr-vxlan needs the MAC of the backend's VXLAN device (ip link show DEV on the backend prints it): " +
				"write --backend 198.18.0.11=2@MAC, e.g. 198.18.0.11=2@02:00:5e:10:00:01"},
		{[]string{"lb", "vip", "add", lbTestVIP, "--forwarding", "dsr-l2", "--backend", "198.18.0.11@02:00:5e:10:00:01"},
			"--backend 198.18.0.11@02:00:5e:10:00:01: only --forwarding dsr-vxlan uses a backend's MAC (this VIP forwards dsr-l2): drop @02:00:5e:10:00:01"},
		{[]string{"lb", "vip", "add", lbTestVIP, "--forwarding", "dsr-gue", "--gue-port", "0"}, `"0": want a UDP port, 1 to 65535`},
		{[]string{"lb", "vip", "add", lbTestVIP, "--forwarding", "dsr-vxlan", "--vxlan-port", "65536"}, `"65536": want a UDP port, 1 to 65535`},
		{[]string{"lb", "vip", "add", lbTestVIP, "--forwarding", "dsr-vxlan", "--vni", "16777216"}, `"16777216": want 0 to 16777215`},
		{[]string{"lb", "vip", "add", lbTestVIP, "--forwarding", "dsr-vxlan", "--vni", "1", "--backend", "198.18.0.11@zz"},
			`MAC "zz": want the Ethernet address of the backend's VXLAN device, like 02:00:5e:10:00:01`},
		{[]string{"lb", "vip", "add", lbTestVIP, "--forwarding", "dsr-vxlan", "--vni", "1", "--backend", "198.18.0.11@01:00:5e:00:00:01"},
			"MAC 01:00:5e:00:00:01 is a group address: give the unicast address of the backend's VXLAN device"},
		{[]string{"lb", "vip", "add", lbTestVIP, "--forwarding", "dsr-vxlan", "--vni", "1", "--backend", "198.18.0.11@02:00:5e:10:00:01=2"},
			`backend "198.18.0.11@02:00:5e:10:00:01=2": write the weight before the MAC, ADDR=WEIGHT@MAC`},
		{[]string{"lb", "backend", "add", lbTestVIP, "198.18.0.13", "--mac", "00:00:00:00:00:00"}, "give the address of the backend's VXLAN device, not zero"},
		{[]string{"lb", "backend", "weight", lbTestVIP, "198.18.0.13", "1", "--mac", "02:00:5e:10:00:01"}, "unknown flag: --mac"},

		// Flows.
		{[]string{"lb", "flows", lbTestVIP}, "wrong number of arguments: engine lb flows [--vip VIP] [--limit N] [--json]"},
		{[]string{"lb", "flows", "--limit", "0"}, `invalid argument "0" for "--limit" flag: "0": want 1 to 100000`},
		{[]string{"lb", "flows", "--limit", "100001"}, `"100001": want 1 to 100000`},
		{[]string{"lb", "flows", "--vip", "198.18.0.100:80"}, "no protocol: want ADDR:PORT/PROTO"},
	} {
		var out, errb bytes.Buffer
		code := run(tc.args, &out, &errb)
		if code != 2 || !strings.Contains(errb.String(), tc.inStderr) || !strings.Contains(errb.String(), "Run 'engine lb -h'") {
			t.Errorf("engine %s: exit %d, stderr %q; want exit 2 and %q", strings.Join(tc.args, " "), code, errb.String(), tc.inStderr)
		}
	}
	var out, errb bytes.Buffer
	if code := run([]string{"lb", "show", "--ctl", "/nonexistent/engine.sock"}, &out, &errb); code != 1 || !strings.Contains(errb.String(), "no engine is running") {
		t.Errorf("engine lb show with no engine: exit %d, %q", code, errb.String())
	}
	for _, args := range [][]string{{"lb", "-h"}, {"lb", "vip", "add", "-h"}} {
		out.Reset()
		if code := run(args, &out, &errb); code != 0 || !strings.Contains(out.String(), "Usage: engine lb [-i IFACE | --ctl PATH] ") {
			t.Errorf("engine %s: exit %d:\n%s", strings.Join(args, " "), code, out.String())
		}
	}
	if !strings.Contains(out.String(), "-forwarding") {
		t.Errorf("engine lb vip add -h does not list --forwarding:\n%s", out.String())
	}
}
