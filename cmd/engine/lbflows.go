package main

import (
	"encoding/json"
	"fmt"
	"github.com/spf13/pflag"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/xdpengine/engine/lb/config"
)

// engine lb flows: the balancer's tracked connections, like conntrack -L.
// The engine answers lb.flows (lbserve.go) with at most a limit of them and
// how many it left out, so that a table of a million flows neither floods
// the terminal nor outgrows a control socket line.

// Bounds of lb.flows.
const (
	lbFlowsDefault = 1000
	lbFlowsMax     = 100000 // ~150 bytes of JSON each: well within a control socket line (16 MiB)
)

// lbFlowsArgs are the arguments of lb.flows.
type lbFlowsArgs struct {
	VIP   string `json:"vip,omitempty"`   // ADDR:PORT/PROTO; "": every VIP
	Limit int    `json:"limit,omitempty"` // 1 to lbFlowsMax; 0: lbFlowsDefault
}

// lbFlowsJSON is the answer to lb.flows.
type lbFlowsJSON struct {
	VIP   string       `json:"vip,omitempty"` // the VIP asked for
	Limit int          `json:"limit"`
	Flows []lbFlowJSON `json:"flows"` // by VIP, then client
	// Total is how many flows are tracked: len(flows) when all are
	// listed, else the balancer's count (at least limit+1; counted a
	// moment apart from the list). LeftOut is Total-len(flows).
	Total   int `json:"total"`
	LeftOut int `json:"left_out"`
}

// lbFlowJSON is one tracked flow (lb.Flow).
type lbFlowJSON struct {
	Proto   string          `json:"proto"` // tcp or udp
	VIP     string          `json:"vip"`   // ADDR:PORT/PROTO
	Client  netip.AddrPort  `json:"client"`
	Backend netip.AddrPort  `json:"backend"`
	SNAT    *netip.AddrPort `json:"snat,omitempty"` // NAT: the engine's address and port toward the backend
	Queue   int             `json:"queue"`          // the worker that owns the flow
	State   string          `json:"state"`          // syn, established, closing or udp (its idle timeout's class)
	IdleNs  int64           `json:"idle_ns"`        // since the flow's last packet, either direction
	// FastPath: the XDP program forwards the flow (idle_ns is then as of
	// the last read-back, within about a second).
	FastPath bool `json:"fast_path"`
}

// addFlowsFlags defines the flags of flows on fs.
func addFlowsFlags(fs *pflag.FlagSet) *lbFlowsArgs {
	a := &lbFlowsArgs{Limit: lbFlowsDefault}
	fs.Func("vip", "list the flows of `VIP` (ADDR:PORT/PROTO) only", func(v string) error {
		k, err := config.ParseVIPKey(v)
		a.VIP = k.String()
		return err
	})
	fs.Func("limit", fmt.Sprintf("list at most `N` flows, 1 to %d (default %d)", lbFlowsMax, lbFlowsDefault), func(v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > lbFlowsMax {
			return fmt.Errorf("%q: want 1 to %d", v, lbFlowsMax)
		}
		a.Limit = n
		return nil
	})
	return a
}

// printFlows prints lb.flows' answer as a table, then how many flows there
// are and how many were left out.
func printFlows(w io.Writer, raw json.RawMessage) error {
	var fl lbFlowsJSON
	if err := json.Unmarshal(raw, &fl); err != nil {
		return fmt.Errorf("engine sent malformed JSON: %w", err)
	}
	var b strings.Builder
	of := ""
	if fl.VIP != "" {
		of = " of " + fl.VIP
	}
	if len(fl.Flows) == 0 && fl.Total == 0 {
		fmt.Fprintf(&b, "no tracked flows%s\n", of)
		_, err := io.WriteString(w, b.String())
		return err
	}
	rows := [][]string{{"Proto", "Client", "VIP", "Backend", "NAT", "State", "Idle", "Queue"}}
	for _, f := range fl.Flows {
		snat := "-"
		if f.SNAT != nil {
			snat = f.SNAT.String()
		}
		vip, _, _ := strings.Cut(f.VIP, "/") // the protocol has its column
		state := f.State
		if state == "" {
			state = "-"
		}
		if f.FastPath {
			state += "+xdp"
		}
		rows = append(rows, []string{f.Proto, f.Client.String(), vip, f.Backend.String(), snat, state,
			shortDuration(time.Duration(f.IdleNs).Round(100 * time.Millisecond)), strconv.Itoa(f.Queue)})
	}
	writeColumns(&b, rows, 6)
	if fl.LeftOut > 0 {
		fmt.Fprintf(&b, "%d of %d flows%s shown, %d left out: raise --limit (at most %d) or pick a VIP with --vip\n",
			len(fl.Flows), fl.Total, of, fl.LeftOut, lbFlowsMax)
	} else {
		fmt.Fprintf(&b, "%d flow%s%s\n", len(fl.Flows), plural(len(fl.Flows)), of)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
