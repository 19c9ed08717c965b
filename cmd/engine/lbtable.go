package main

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
)

// writeLBTable prints the load balancer the way ipvsadm -Ln does: a line
// per VIP, then a line per backend, under two header lines that share the
// columns. Text columns are left-aligned, counters right-aligned; "-" is a
// value the engine cannot report yet. The VIPs that dropped packets follow,
// their drops by reason.
func writeLBTable(w io.Writer, st lbState) error {
	unavailable := map[string]bool{}
	for _, u := range st.Unavailable {
		unavailable[u] = true
	}
	opt := func(what string, v *uint64) string {
		if v == nil || unavailable[what] {
			return "-"
		}
		return strconv.FormatUint(*v, 10)
	}
	num := func(v uint64) string { return strconv.FormatUint(v, 10) }
	ct := st.Conntrack
	var b strings.Builder
	fmt.Fprintf(&b, "Load balancer from %s: %d VIP%s; conntrack: max %d flows, idle timeouts tcp_syn %s, tcp_established %s, tcp_closing %s, udp %s\n\n",
		st.File, len(st.VIPs), plural(len(st.VIPs)), ct.MaxFlows, ct.TCPSyn, ct.TCPEstablished, ct.TCPClosing, ct.UDP)
	if fp := st.FastPath; fp != nil {
		fmt.Fprintf(&b, "XDP fast path: %d keys now, %d installed, %d refused (table full), %d errors\n\n", fp.Entries, fp.Installs, fp.TableFull, fp.Errors)
	}
	rows := [][]string{
		{"VIP", "Forward", "Hash", "Check", "Packets", "Bytes", "NewFlows", "Drops", "Flows"},
		{"  -> Backend", "Weight", "State", "Health", "Packets", "Bytes", "NewFlows", "", "Flows"},
	}
	var drops []string
	for _, v := range st.VIPs {
		fwd := forwardingText(v.Forwarding, v.GUEPort, v.VNI, v.VXLANPort)
		if v.FastPath {
			fwd += "+xdp"
		}
		if v.Announce {
			fwd += "+announce"
		}
		rows = append(rows, []string{v.VIP, fwd, v.Hash, v.HealthCheck, num(v.Packets), num(v.Bytes), num(v.NewFlows), num(v.Drops), opt("flows", v.Flows)})
		for _, be := range v.Backends {
			health := "-"
			if be.Health != nil && !unavailable["health"] {
				health = *be.Health
			}
			name := "  -> " + be.Addr.String()
			if be.MAC != "" {
				name += "@" + be.MAC // as --backend writes it
			}
			rows = append(rows, []string{name, num(uint64(be.Weight)), be.State, health,
				num(be.Packets), num(be.Bytes), num(be.NewFlows), "", opt("flows", be.Flows)})
		}
		if d := dropsText(v.DropsByReason); d != "" {
			drops = append(drops, "  "+v.VIP+": "+d)
		}
	}
	writeColumns(&b, rows, 4) // the name, forward/weight, hash/state, check/health
	if len(st.VIPs) == 0 {
		b.WriteString("(no VIPs: add one with `engine lb vip add ADDR:PORT/PROTO --forwarding nat --backend ADDR`)\n")
	}
	if len(drops) > 0 {
		b.WriteString("\nDrops by reason:\n" + strings.Join(drops, "\n") + "\n")
	}
	if len(st.Unavailable) > 0 {
		fmt.Fprintf(&b, "\n-: not available from this engine yet (%s)\n", strings.Join(st.Unavailable, ", "))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// dropsText writes the reasons that dropped packets, most first: "no
// backend 12, too big 3"; "" for none.
func dropsText(by map[string]uint64) string {
	var reasons []string
	for r, n := range by {
		if n > 0 {
			reasons = append(reasons, r)
		}
	}
	slices.SortFunc(reasons, func(a, b string) int { return cmp.Or(cmp.Compare(by[b], by[a]), strings.Compare(a, b)) })
	for i, r := range reasons {
		reasons[i] = fmt.Sprintf("%s %d", strings.ReplaceAll(r, "_", " "), by[r])
	}
	return strings.Join(reasons, ", ")
}

// writeColumns writes rows as aligned columns two spaces apart: the first
// textCols left-aligned, the others (counters) right-aligned.
func writeColumns(b *strings.Builder, rows [][]string, textCols int) {
	var widths []int
	for _, r := range rows {
		for i, cell := range r {
			if i == len(widths) {
				widths = append(widths, 0)
			}
			widths[i] = max(widths[i], len(cell))
		}
	}
	for _, r := range rows {
		var line strings.Builder
		for i, cell := range r {
			if i > 0 {
				line.WriteString("  ")
			}
			if i < textCols {
				fmt.Fprintf(&line, "%-*s", widths[i], cell)
			} else {
				fmt.Fprintf(&line, "%*s", widths[i], cell)
			}
		}
		b.WriteString(strings.TrimRight(line.String(), " ") + "\n")
	}
}

// shortDuration writes d as the file does: 24h, 2m, 1m30s, 500ms.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}
