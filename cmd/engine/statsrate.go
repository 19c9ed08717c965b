package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/xdpengine/engine/engine"
)

// rate is a counter's change per second between two snapshots of one
// engine. A counter that went down (the engine restarted between the two)
// counts from zero.
func rate(prev, cur uint64, secs float64) float64 {
	if cur < prev {
		prev = 0
	}
	return float64(cur-prev) / secs
}

// rateKey names a counter in --json rates: its metric family without
// _total, then its label values (packets_rx, drops_checksum).
func rateKey(c *counter) string {
	k := strings.TrimSuffix(c.family, "_total")
	for _, l := range c.labels {
		k += "_" + l.value
	}
	return k
}

// statsRates is one interval of `engine stats -w --json`: the counters'
// changes per second, in total and per queue, named by rateKey. Levels
// (gauges: frames in a ring, connections open) are left out: they have no
// rate.
type statsRates struct {
	Time     time.Time            `json:"time"`
	Interval float64              `json:"interval_seconds"`
	Total    map[string]float64   `json:"total"`
	Queues   []map[string]float64 `json:"queues"`
}

func ratesOf(prev, cur *engine.Stats, secs float64, when time.Time) statsRates {
	r := statsRates{Time: when.UTC(), Interval: secs, Total: map[string]float64{}}
	same := len(prev.Workers) == len(cur.Workers)
	for i := range cur.Workers {
		q := map[string]float64{}
		for j := range counters {
			c := &counters[j]
			if c.gauge || c.global {
				continue
			}
			var p uint64
			if same {
				p = c.get(&prev.Workers[i])
			}
			q[rateKey(c)] += rate(p, c.get(&cur.Workers[i]), secs)
		}
		r.Queues = append(r.Queues, q)
	}
	for j := range counters {
		c := &counters[j]
		if c.gauge {
			continue
		}
		p := uint64(0)
		if same {
			p = c.value(prev.Workers)
		}
		r.Total[rateKey(c)] += rate(p, c.value(cur.Workers), secs)
	}
	return r
}

// writeRateTable prints writeStatsTable's table with each counter's
// change per second over the interval, levels left out. Rows whose rate is
// zero everywhere are hidden unless all, except the main ones.
func writeRateTable(w io.Writer, prev, cur *engine.Stats, secs float64, all bool) error {
	heads := []string{"per second"}
	for _, ws := range cur.Workers {
		heads = append(heads, fmt.Sprintf("queue %d", ws.Queue))
	}
	total := len(cur.Workers) != 1
	if total {
		heads = append(heads, "total")
	}
	same := len(prev.Workers) == len(cur.Workers)
	rows := [][]string{heads}
	section := ""
	for j := range counters {
		c := &counters[j]
		if c.gauge {
			continue
		}
		var vals []string
		for i := range cur.Workers {
			if c.global && total {
				vals = append(vals, "-")
				continue
			}
			var p uint64
			if same {
				p = c.get(&prev.Workers[i])
			}
			vals = append(vals, fmtRate(rate(p, c.get(&cur.Workers[i]), secs)))
		}
		var p uint64
		if same {
			p = c.value(prev.Workers)
		}
		sum := rate(p, c.value(cur.Workers), secs)
		if total {
			vals = append(vals, fmtRate(sum))
		}
		if !all && !c.always && sum == 0 {
			continue
		}
		if c.section != section {
			section = c.section
			rows = append(rows, []string{section})
		}
		rows = append(rows, append([]string{"  " + c.row}, vals...))
	}
	return writeRows(w, rows)
}

// fmtRate prints a rate with one decimal below 100, whole above.
func fmtRate(v float64) string {
	if v < 100 && v != float64(int64(v)) {
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.0f", v)
}

// fmtBits prints a bit rate with its SI unit, as ip -s and iftop do.
func fmtBits(bps float64) string {
	for _, u := range []struct {
		div  float64
		name string
	}{{1e9, "Gbit/s"}, {1e6, "Mbit/s"}, {1e3, "kbit/s"}} {
		if bps >= u.div {
			return fmt.Sprintf("%.2f %s", bps/u.div, u.name)
		}
	}
	return fmt.Sprintf("%.0f bit/s", bps)
}

// statsCaller is what watchStats needs of the control client.
type statsCaller interface {
	Call(cmd string, args, reply any) error
}

// watchStats prints the counters' rates every interval, count times (0:
// until stop is closed), as tables or JSON lines.
func watchStats(c statsCaller, w io.Writer, interval time.Duration, count int, asJSON, all bool, stop <-chan struct{}) error {
	var prev engine.Stats
	if err := c.Call("stats", nil, &prev); err != nil {
		return err
	}
	last := time.Now()
	t := time.NewTicker(interval)
	defer t.Stop()
	for n := 0; count == 0 || n < count; n++ {
		select {
		case <-stop:
			return nil
		case <-t.C:
		}
		var cur engine.Stats
		if err := c.Call("stats", nil, &cur); err != nil {
			return err
		}
		now := time.Now()
		secs := now.Sub(last).Seconds()
		var err error
		if asJSON {
			err = writeJSONLine(w, ratesOf(&prev, &cur, secs, now))
		} else {
			if n > 0 {
				fmt.Fprintln(w)
			}
			fmt.Fprintf(w, "%s, over %.2fs:\n", now.Format("15:04:05"), secs)
			err = writeRateTable(w, &prev, &cur, secs, all)
		}
		if err != nil {
			return err
		}
		prev, last = cur, now
	}
	return nil
}
