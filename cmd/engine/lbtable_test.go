package main

import (
	"bytes"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func sampleLBState() lbState {
	vni := uint32(42)
	return lbState{
		File:      "/etc/engine/lb.yaml",
		Conntrack: lbConntrackJSON{MaxFlows: 65536, TCPSyn: "1m", TCPEstablished: "24h", TCPClosing: "2m", UDP: "30s"},
		VIPs: []lbVIPJSON{
			{VIP: lbTestVIP, Forwarding: "nat", Hash: "5-tuple", TableSize: 65537, HealthCheck: "tcp",
				Packets: 123456, Bytes: 98765432, NewFlows: 400, Drops: 3,
				DropsByReason: map[string]uint64{"no_backend": 1, "table_full": 2, "too_big": 0, "other": 0}, Backends: []lbBackendJSON{
					{Addr: netip.MustParseAddr("198.18.0.11"), Weight: 1, ConfigWeight: 1, State: "active", Packets: 41000, Bytes: 32000000, NewFlows: 133},
					{Addr: netip.MustParseAddr("198.18.0.12"), Weight: 0, ConfigWeight: 2, Drain: true, State: "drained", Packets: 82456, Bytes: 66765432, NewFlows: 267},
					{Addr: netip.MustParseAddr("198.18.0.13"), Weight: 0, State: "quiesced"},
				}},
			{VIP: "198.18.0.100:0/udp", Forwarding: "dsr-l2", Hash: "source", TableSize: 251, HealthCheck: "none", Backends: []lbBackendJSON{}},
			{VIP: "198.18.0.101:443/tcp", Forwarding: "dsr-gue", GUEPort: 6080, Hash: "5-tuple", TableSize: 65537, HealthCheck: "tcp",
				Packets: 900, Bytes: 1300000, NewFlows: 9, Drops: 4, DropsByReason: map[string]uint64{"too_big": 4}, Backends: []lbBackendJSON{
					{Addr: netip.MustParseAddr("198.18.1.11"), Weight: 1, ConfigWeight: 1, State: "active", Packets: 900, Bytes: 1300000, NewFlows: 9},
				}},
			{VIP: "198.18.0.102:443/tcp", Forwarding: "dsr-vxlan", VNI: &vni, VXLANPort: 4789, Hash: "5-tuple", TableSize: 65537, HealthCheck: "tcp",
				Backends: []lbBackendJSON{
					{Addr: netip.MustParseAddr("198.18.1.12"), MAC: "02:00:5e:10:00:01", Weight: 1, ConfigWeight: 1, State: "active"},
				}},
		},
		Unavailable: []string{"flows", "health"},
	}
}

func TestLBTable(t *testing.T) {
	var b bytes.Buffer
	if err := writeLBTable(&b, sampleLBState()); err != nil {
		t.Fatal(err)
	}
	got := b.String()
	golden := filepath.Join("testdata", "lb-table.golden")
	if *update {
		os.WriteFile(golden, b.Bytes(), 0o644)
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("engine lb show: got\n%s\nwant (%s)\n%s", got, golden, want)
	}
	// Once the engine reports flows and health, they replace the dashes.
	st := sampleLBState()
	st.Unavailable = nil
	flows, up := uint64(7), "up"
	st.VIPs[0].Flows, st.VIPs[0].Backends[0].Flows, st.VIPs[0].Backends[0].Health = &flows, &flows, &up
	b.Reset()
	writeLBTable(&b, st)
	if !hasRow(b.String(), lbTestVIP, "nat 5-tuple tcp 123456 98765432 400 3 7") ||
		!hasRow(b.String(), "  -> 198.18.0.11", "1 active up 41000 32000000 133 7") || strings.Contains(b.String(), "not available") {
		t.Errorf("with flows and health:\n%s", b.String())
	}
	for _, row := range [][2]string{
		{"198.18.0.101:443/tcp", "dsr-gue:6080 5-tuple tcp 900 1300000 9 4 -"},
		{"198.18.0.102:443/tcp", "dsr-vxlan:4789 vni 42 5-tuple tcp 0 0 0 0 -"},
		{"  -> 198.18.1.12@02:00:5e:10:00:01", "1 active - 0 0 0 -"},
	} {
		if !hasRow(got, row[0], row[1]) {
			t.Errorf("no row %q %q in\n%s", row[0], row[1], got)
		}
	}
	if !strings.Contains(got, "Drops by reason:\n  "+lbTestVIP+": table full 2, no backend 1\n  198.18.0.101:443/tcp: too big 4\n") {
		t.Errorf("drops by reason:\n%s", got)
	}
	b.Reset()
	writeLBTable(&b, lbState{File: "x.yaml"})
	if !strings.Contains(b.String(), "0 VIPs") || !strings.Contains(b.String(), "no VIPs: add one with `engine lb vip add") {
		t.Errorf("empty:\n%s", b.String())
	}
}
