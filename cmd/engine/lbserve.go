package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/xdpengine/engine/header"
	"github.com/xdpengine/engine/internal/ctl"
	"github.com/xdpengine/engine/lb"
	"github.com/xdpengine/engine/lb/config"
)

// The load balancer side of engine serve: --lb FILE, SIGHUP and the lb.*
// control commands.
//
// # The file and the engine never disagree
//
// The file's model (config.Config, with what the balancer's lb.Config
// drops: drain flags, health checks) is kept beside the running balancer
// and is always the model of both the file on disk and the balancer. Every
// change runs under lbControl.mu, in this order:
//
//  1. The file is read back and compared with the model. A file edited by
//     hand since it was loaded is not overwritten: the change is refused
//     until the edit is applied (SIGHUP, engine lb reload) or undone.
//  2. The copy-on-write helper makes the new model and validates it.
//  3. The balancer gets it (SetConfig). If it refuses, nothing changed:
//     the file was not touched.
//  4. The file is saved atomically (config.Save). If that fails, the
//     balancer is given back the configuration it ran before (which it
//     built a moment ago, so it takes it again), and the file is still the
//     old one.
//
// Saving first and restoring the file when SetConfig fails would leave, if
// the restore also failed, a file the engine refused and could not start
// from. In this order a failure leaves the old file and the old balancer;
// a crash between 3 and 4 leaves the old file, which is what the next
// start loads, and the client was never told the change was made.

// balancer is what engine serve uses of the engine's load balancer
// (*lb.Balancer); the tests give a fake.
type balancer interface {
	Config() lb.Config
	SetConfig(lb.Config) error
	Stats() []lb.VIPStats
	Lookup(vip netip.AddrPort, proto uint8, src netip.AddrPort) (netip.Addr, error)
	Flows(vip string, max int, timeout time.Duration) []lb.Flow
	FastPath() (lb.FastPathStats, bool)
}

// lbFlowsTimeout is how long lb.flows waits for each worker's list.
const lbFlowsTimeout = 2 * time.Second

// errNoLB answers the lb.* commands of an engine started without --lb.
var errNoLB = errors.New("this engine runs no load balancer: start `engine serve` with --lb FILE (a YAML file; an empty one has no VIPs yet)")

// loadLB reads and converts the --lb file. Its errors name the file and,
// for the file's own problems, the line and column.
func loadLB(path string) (*config.Config, lb.Config, error) {
	m, err := config.Load(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, lb.Config{}, fmt.Errorf("%w (create it: an empty file is a load balancer without VIPs, which `engine lb vip add` fills)", err)
		}
		return nil, lb.Config{}, err
	}
	c, err := lb.FromConfig(m)
	if err != nil {
		// lb.FromConfig knows no line: name the file at least.
		return nil, lb.Config{}, fmt.Errorf("%s: %w", path, err)
	}
	return m, c, nil
}

// lbControl is engine serve's load balancer: the --lb file, its model and
// the engine's balancer.
type lbControl struct {
	path string // the --lb file, absolute
	bal  balancer
	log  *slog.Logger
	// maxFlows is in effect since the start: the balancer sizes its
	// tables when the engine starts (the timeouts follow the model: a
	// reload or change applies them to the running tables).
	maxFlows uint32
	// save writes the file (config.Save; the tests make it fail).
	save func(path string, c *config.Config) error

	mu    sync.Mutex     // serializes reloads and changes: read back, change, SetConfig, save
	model *config.Config // what the file and the balancer hold; immutable, replaced under mu
}

func newLBControl(path string, model *config.Config, bal balancer, log *slog.Logger) *lbControl {
	return &lbControl{path: path, bal: bal, log: log, maxFlows: model.Conntrack.MaxFlows, save: config.Save, model: model}
}

// current returns the model the balancer runs.
func (c *lbControl) current() *config.Config {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.model
}

// reload applies the file as it is now. An invalid file, or one the
// balancer refuses, leaves the running configuration; every problem is
// logged with its line.
func (c *lbControl) reload(why string) (lbState, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m, lc, err := loadLB(c.path)
	if err == nil {
		err = c.bal.SetConfig(lc)
	}
	if err != nil {
		var list config.ErrorList
		if errors.As(err, &list) {
			for _, e := range list {
				c.log.Error("lb: not reloaded, the running configuration stays", "trigger", why, "problem", e.Error())
			}
		} else {
			c.log.Error("lb: not reloaded, the running configuration stays", "trigger", why, "problem", err.Error())
		}
		return lbState{}, fmt.Errorf("%s not reloaded, the running configuration stays: %w", c.path, err)
	}
	changes := lbChanges(c.model, m)
	c.model = m
	if len(changes) == 0 {
		changes = []string{"none"}
	}
	c.log.Info("lb: reloaded", "trigger", why, "file", c.path, "vips", len(m.VIPs), "changes", strings.Join(changes, " "))
	if m.Conntrack.MaxFlows != c.maxFlows {
		c.log.Warn("lb: conntrack max_flows changed in the file; the tables are sized at the start, so it applies at the next start of the engine (the timeouts apply now)",
			"file", c.path, "running", c.maxFlows, "file_value", m.Conntrack.MaxFlows)
	}
	return c.stateLocked(), nil
}

// mutate applies change to the model, then to the balancer, then to the
// file (the order is explained at the top of this file).
func (c *lbControl) mutate(what string, change func(*config.Config) (*config.Config, error)) (lbState, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	disk, err := config.Load(c.path)
	if err != nil {
		return lbState{}, fmt.Errorf("nothing changed: %s cannot be read back: %w (fix the file and apply it with `engine lb reload`, or restore it)", c.path, err)
	}
	if !disk.Equal(c.model) {
		return lbState{}, fmt.Errorf("nothing changed: %s was edited since the engine loaded it: apply the edit first with `engine lb reload` (or kill -HUP %d), or undo it",
			c.path, os.Getpid())
	}
	n, err := change(c.model)
	if err != nil {
		return lbState{}, err
	}
	lc, err := lb.FromConfig(n)
	if err != nil {
		return lbState{}, err
	}
	old := c.bal.Config()
	if err := c.bal.SetConfig(lc); err != nil {
		return lbState{}, fmt.Errorf("nothing changed: the balancer refused it: %w", err)
	}
	if err := c.save(c.path, n); err != nil {
		if rerr := c.bal.SetConfig(old); rerr != nil {
			c.log.Error("lb: saving failed and the balancer kept the new configuration", "change", what, "file", c.path, "save_error", err, "error", rerr)
			return lbState{}, fmt.Errorf("the balancer runs the change but %s could not be saved (%w) and the previous configuration could not be put back (%v): "+
				"fix the file system, then apply the file with `engine lb reload`", c.path, err, rerr)
		}
		return lbState{}, fmt.Errorf("nothing changed: %s could not be saved: %w (the balancer is back to the file's configuration)", c.path, err)
	}
	c.model = n
	c.log.Info("lb: changed", "change", what, "file", c.path)
	return c.stateLocked(), nil
}

// lbChanges lists the VIPs added (+), removed (-) and changed (~) from a
// to b, by key.
func lbChanges(a, b *config.Config) []string {
	var out []string
	for _, v := range b.VIPs {
		i := slices.IndexFunc(a.VIPs, func(w config.VIP) bool { return w.Key() == v.Key() })
		switch {
		case i < 0:
			out = append(out, "+"+v.Key())
		case !(&config.Config{VIPs: []config.VIP{a.VIPs[i]}}).Equal(&config.Config{VIPs: []config.VIP{v}}):
			out = append(out, "~"+v.Key())
		}
	}
	for _, v := range a.VIPs {
		if !slices.ContainsFunc(b.VIPs, func(w config.VIP) bool { return w.Key() == v.Key() }) {
			out = append(out, "-"+v.Key())
		}
	}
	return out
}

// state is the answer to lb.show.
func (c *lbControl) state() lbState {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stateLocked()
}

// stateLocked merges the model (file weights, drain flags, settings) with
// the balancer's counters and running weights.
func (c *lbControl) stateLocked() lbState {
	ct := c.model.Conntrack
	st := lbState{
		File: c.path,
		Conntrack: lbConntrackJSON{MaxFlows: c.maxFlows, TCPSyn: shortDuration(ct.TCPSyn), TCPEstablished: shortDuration(ct.TCPEstablished),
			TCPClosing: shortDuration(ct.TCPClosing), UDP: shortDuration(ct.UDP)},
		VIPs: []lbVIPJSON{},
	}
	stats := map[string]lb.VIPStats{}
	for _, s := range c.bal.Stats() {
		stats[s.VIP] = s
	}
	if fp, ok := c.bal.FastPath(); ok {
		st.FastPath = &lbFastPathJSON{Entries: fp.Entries, Installs: fp.Installs, TableFull: fp.Full, Errors: fp.Errors}
	}
	for _, v := range c.model.VIPs {
		s := stats[v.Key()]
		flows := s.Flows
		j := lbVIPJSON{VIP: v.Key(), Forwarding: v.Forwarding.String(), GUEPort: v.GUEPort, VXLANPort: v.VXLANPort,
			Hash: v.Hash.String(), TableSize: v.TableSize, FastPath: v.FastPath, Announce: v.Announce, HealthCheck: v.Health.Type.String(),
			Packets: s.Packets, Bytes: s.Bytes, NewFlows: s.NewFlows, Drops: s.Drops, DropsByReason: map[string]uint64{},
			Flows: &flows, Backends: []lbBackendJSON{}}
		if v.Forwarding == config.DSRVXLAN {
			vni := v.VNI
			j.VNI = &vni
		}
		for r, n := range s.DropsBy {
			j.DropsByReason[dropReasonName(lb.DropReason(r))] = n
		}
		for _, b := range v.Backends {
			bj := lbBackendJSON{Addr: b.Addr, ConfigWeight: b.Weight, Drain: b.Drain}
			if b.MAC != (header.MAC{}) {
				bj.MAC = b.MAC.String()
			}
			i := slices.IndexFunc(s.Backends, func(bs lb.BackendStats) bool { return bs.Addr == b.Addr })
			if i >= 0 {
				bs := s.Backends[i]
				bj.Weight, bj.Packets, bj.Bytes, bj.NewFlows = bs.Weight, bs.Packets, bs.Bytes, bs.NewFlows
				bf := bs.Flows
				bj.Flows = &bf
				if bs.Checked {
					h := "down"
					if bs.Up {
						h = "up"
					}
					bj.Health = &h
				}
			}
			switch {
			case b.Drain:
				bj.State = "drained"
			case i < 0:
				bj.State = "missing" // not in the balancer: cannot happen while the file and the engine agree
			case bj.Weight == 0:
				bj.State = "quiesced"
			default:
				bj.State = "active"
			}
			j.Backends = append(j.Backends, bj)
		}
		st.VIPs = append(st.VIPs, j)
	}
	return st
}

// lookup answers lb.lookup.
func (c *lbControl) lookup(a lbLookupArgs) (lbLookupJSON, error) {
	var proto uint8
	switch a.Proto {
	case "tcp", "":
		proto = uint8(config.TCP)
	case "udp":
		proto = uint8(config.UDP)
	default:
		return lbLookupJSON{}, fmt.Errorf("protocol %q: want tcp or udp", a.Proto)
	}
	if !a.VIP.IsValid() || !a.Src.IsValid() {
		return lbLookupJSON{}, fmt.Errorf("want the VIP's ADDR:PORT and the client's ADDR:PORT")
	}
	be, err := c.bal.Lookup(a.VIP, proto, a.Src)
	if err != nil {
		return lbLookupJSON{}, err
	}
	return lbLookupJSON{VIP: config.VIPKey{Addr: a.VIP.Addr(), Port: a.VIP.Port(), Proto: config.Proto(proto)}.String(), Src: a.Src, Backend: be}, nil
}

// flows answers lb.flows: at most a.Limit of the tracked flows (of a.VIP),
// and how many it left out.
func (c *lbControl) flows(a lbFlowsArgs) (lbFlowsJSON, error) {
	limit := a.Limit
	switch {
	case limit == 0:
		limit = lbFlowsDefault
	case limit < 0 || limit > lbFlowsMax:
		return lbFlowsJSON{}, fmt.Errorf("limit %d: want 1 to %d", limit, lbFlowsMax)
	}
	vip := ""
	if a.VIP != "" {
		k, err := config.ParseVIPKey(a.VIP)
		if err != nil {
			return lbFlowsJSON{}, err
		}
		vip = k.String()
		if !slices.ContainsFunc(c.current().VIPs, func(v config.VIP) bool { return v.Key() == vip }) {
			return lbFlowsJSON{}, fmt.Errorf("VIP %s does not exist: `engine lb show` lists the VIPs", vip)
		}
	}
	// One more than the limit tells whether flows were left out; the
	// counters say how many.
	list := c.bal.Flows(vip, limit+1, lbFlowsTimeout)
	out := lbFlowsJSON{VIP: vip, Limit: limit, Flows: make([]lbFlowJSON, 0, min(len(list), limit)), Total: len(list)}
	if len(list) > limit {
		list = list[:limit]
		var counted uint64
		for _, s := range c.bal.Stats() {
			if vip == "" || s.VIP == vip {
				counted += s.Flows
			}
		}
		out.Total = max(int(counted), limit+1)
	}
	out.LeftOut = out.Total - len(list)
	for _, f := range list {
		_, proto, _ := strings.Cut(f.VIP, "/")
		j := lbFlowJSON{Proto: proto, VIP: f.VIP, Client: f.Client, Backend: f.Backend, Queue: f.Queue,
			State: f.State, IdleNs: int64(f.Idle), FastPath: f.FastPath}
		if f.SNAT.IsValid() {
			snat := f.SNAT
			j.SNAT = &snat
		}
		out.Flows = append(out.Flows, j)
	}
	return out, nil
}

// dropReasonName is a drop reason as JSON and /metrics write it:
// "no backend" becomes no_backend.
func dropReasonName(r lb.DropReason) string {
	return strings.ReplaceAll(r.String(), " ", "_")
}

// handleLB registers the lb.* control commands; c is nil without --lb.
func handleLB(reg func(string, ctl.Handler), c *lbControl) {
	with := func(h func(a lbArgs) (any, error)) func(json.RawMessage) (any, error) {
		return func(raw json.RawMessage) (any, error) {
			if c == nil {
				return nil, errNoLB
			}
			var a lbArgs
			if len(raw) > 0 {
				if err := json.Unmarshal(raw, &a); err != nil {
					return nil, fmt.Errorf("arguments: %w", err)
				}
			}
			return h(a)
		}
	}
	reg("lb.show", with(func(lbArgs) (any, error) { return c.state(), nil }))
	reg("lb.reload", with(func(lbArgs) (any, error) { return c.reload("engine lb reload") }))
	reg("lb.lookup", func(raw json.RawMessage) (any, error) {
		if c == nil {
			return nil, errNoLB
		}
		var a lbLookupArgs
		if err := json.Unmarshal(raw, &a); err != nil {
			return nil, fmt.Errorf("arguments: %w", err)
		}
		return c.lookup(a)
	})
	reg("lb.flows", func(raw json.RawMessage) (any, error) {
		if c == nil {
			return nil, errNoLB
		}
		var a lbFlowsArgs
		if len(raw) > 0 {
			if err := json.Unmarshal(raw, &a); err != nil {
				return nil, fmt.Errorf("arguments: %w", err)
			}
		}
		return c.flows(a)
	})
	reg("lb.vip.add", with(func(a lbArgs) (any, error) {
		k, err := config.ParseVIPKey(a.VIP)
		if err != nil {
			return nil, err
		}
		v := config.VIP{Addr: k.Addr, Port: k.Port, Proto: k.Proto, TableSize: a.TableSize, GUEPort: a.GUEPort, VXLANPort: a.VXLANPort,
			FastPath: a.FastPath, Announce: a.Announce}
		if v.Forwarding, err = checkVIPArgs(&a); err != nil {
			return nil, err
		}
		if a.VNI != nil {
			v.VNI = *a.VNI
		}
		if a.Hash != "" {
			if v.Hash, err = parseHash(a.Hash); err != nil {
				return nil, err
			}
		}
		for _, b := range a.Backends {
			w := uint32(config.DefaultWeight)
			if b.Weight != nil {
				w = *b.Weight
			}
			cb := config.Backend{Addr: b.Addr, Weight: w}
			if b.MAC != "" {
				cb.MAC, _ = parseMAC(b.MAC) // checkVIPArgs checked it
			}
			v.Backends = append(v.Backends, cb)
		}
		return c.mutate("vip add "+k.String(), func(m *config.Config) (*config.Config, error) { return m.AddVIP(v) })
	}))
	reg("lb.vip.remove", with(func(a lbArgs) (any, error) {
		return c.mutate("vip remove "+a.VIP, func(m *config.Config) (*config.Config, error) { return m.RemoveVIP(a.VIP) })
	}))
	backend := func(verb string, needWeight bool, edit func(m *config.Config, a lbArgs, addr netip.Addr, w uint32) (*config.Config, error)) {
		reg("lb.backend."+verb, with(func(a lbArgs) (any, error) {
			addr, err := netip.ParseAddr(a.Backend)
			if err != nil {
				return nil, fmt.Errorf("backend %q is not an IP address", a.Backend)
			}
			w := uint32(config.DefaultWeight)
			if a.Weight != nil {
				w = *a.Weight
			} else if needWeight {
				return nil, fmt.Errorf("backend weight: no weight given")
			}
			what := fmt.Sprintf("backend %s %s %s", verb, a.VIP, addr)
			if a.Weight != nil {
				what += fmt.Sprintf(" %d", w)
			}
			if a.MAC != "" {
				what += " mac " + a.MAC
			}
			return c.mutate(what, func(m *config.Config) (*config.Config, error) { return edit(m, a, addr, w) })
		}))
	}
	backend("add", false, func(m *config.Config, a lbArgs, addr netip.Addr, w uint32) (*config.Config, error) {
		b := config.Backend{Addr: addr, Weight: w}
		// The VIP's mode says whether a MAC is needed: checked here, under
		// the lock, against the model the change applies to.
		k, err := config.ParseVIPKey(a.VIP)
		if err != nil {
			return nil, err
		}
		if i := slices.IndexFunc(m.VIPs, func(v config.VIP) bool { return v.VIPKey() == k }); i >= 0 {
			if err := checkBackendMAC(m.VIPs[i].Forwarding, addr, a.MAC); err != nil {
				return nil, err
			}
		}
		if a.MAC != "" {
			b.MAC, _ = parseMAC(a.MAC) // checkBackendMAC checked it
		}
		return m.AddBackend(a.VIP, b)
	})
	backend("remove", false, func(m *config.Config, a lbArgs, addr netip.Addr, _ uint32) (*config.Config, error) {
		return m.RemoveBackend(a.VIP, addr)
	})
	backend("weight", true, func(m *config.Config, a lbArgs, addr netip.Addr, w uint32) (*config.Config, error) {
		return m.SetWeight(a.VIP, addr, w)
	})
	backend("drain", false, func(m *config.Config, a lbArgs, addr netip.Addr, _ uint32) (*config.Config, error) {
		return m.Drain(a.VIP, addr)
	})
	backend("undrain", false, func(m *config.Config, a lbArgs, addr netip.Addr, _ uint32) (*config.Config, error) {
		return m.Undrain(a.VIP, addr)
	})
}
