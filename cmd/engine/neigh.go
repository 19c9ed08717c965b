package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"

	"github.com/xdpengine/engine/engine"
)

const neighSynopsis = `
Usage: engine neigh [-i IFACE | --ctl PATH] [--json]

List a running engine's ARP neighbors and IPv6 neighbor cache entries the
way ip-neigh(8) does: address, link-layer address, state (INCOMPLETE,
REACHABLE, STALE, DELAY, PROBE, FAILED, PERMANENT for --neigh entries; the
NUD state of RFC 4861 for IPv6), then the worker queue whose table
holds it, datagrams waiting for an answer, and when the address was last
confirmed. Each worker keeps its own table, so an address may appear once
per queue.`

// neighJSON is a neighbor entry on the control socket.
type neighJSON struct {
	Queue     int           `json:"queue"`
	Addr      netip.Addr    `json:"addr"`
	LLAddr    string        `json:"lladdr,omitempty"`
	State     string        `json:"state"`
	Queued    int           `json:"queued,omitempty"`
	Confirmed time.Duration `json:"confirmed_ns,omitempty"`
}

func neighbors(eng *engine.Engine) []neighJSON {
	out := []neighJSON{}
	for _, n := range eng.Neighbors() {
		j := neighJSON{Queue: n.Queue, Addr: n.Addr, State: n.State, Queued: n.Queued, Confirmed: n.Confirmed}
		if n.MAC != nil {
			j.LLAddr = n.MAC.String()
		}
		out = append(out, j)
	}
	return out
}

func runNeigh(args []string, stdout, stderr io.Writer) error {
	var t target
	fs := flagSet("neigh", neighSynopsis)
	t.flags(fs)
	asJSON := fs.BoolP("json", "j", false, "print the entries as JSON")
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	c, err := t.dial()
	if err != nil {
		return err
	}
	defer c.Close()
	var ns []neighJSON
	if err := c.Call("neigh", nil, &ns); err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(ns)
	}
	var b strings.Builder
	for _, n := range ns {
		b.WriteString(n.Addr.String())
		if n.LLAddr != "" {
			b.WriteString(" lladdr " + n.LLAddr)
		}
		fmt.Fprintf(&b, " %s queue %d", n.State, n.Queue)
		if n.Queued > 0 {
			fmt.Fprintf(&b, " waiting %d", n.Queued)
		}
		if n.Confirmed > 0 {
			fmt.Fprintf(&b, " confirmed %v ago", n.Confirmed.Round(time.Millisecond))
		}
		b.WriteByte('\n')
	}
	_, err = io.WriteString(stdout, b.String())
	return err
}
