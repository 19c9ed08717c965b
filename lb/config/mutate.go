package config

import (
	"fmt"
	"net/netip"
	"slices"
)

// The commands the helpers' messages suggest; the CLI defines them.
const (
	cmdVIPAdd     = "engine lb vip add"
	cmdVIPRemove  = "engine lb vip remove"
	cmdBackendAdd = "engine lb backend add"
	cmdWeight     = "engine lb backend weight"
)

// The mutation helpers below serve the command line and the control socket.
// Each returns a new Config and leaves c untouched (copy-on-write), or an
// error that names the VIP and backend and says what to do; the result is
// checked as Parse checks a file. Setting what is already set (draining a
// draining backend, the same weight) is not an error.

// AddVIP returns c with v appended. Zero fields of v that have a default
// take it, as absent keys do in a file (TableSize, Health and its fields,
// GUEPort, VXLANPort); Backend weights and VNI 0 are values, kept as they
// are. The error wraps ErrExists if c has a VIP with v's key.
func (c *Config) AddVIP(v VIP) (*Config, error) {
	v.Backends = slices.Clone(v.Backends)
	fillDefaults(&v)
	if c.index(v.VIPKey()) >= 0 {
		return nil, &Error{VIP: v.Key(), Err: ErrExists,
			Msg: fmt.Sprintf("the VIP exists already: change its backends, or remove it first with %q", cmdVIPRemove)}
	}
	if err := checkVIP(&v); err != nil {
		return nil, err
	}
	n := c.Clone()
	n.VIPs = append(n.VIPs, v)
	return validated(n)
}

// RemoveVIP returns c without the VIP of key ("ADDR:PORT/PROTO").
func (c *Config) RemoveVIP(key string) (*Config, error) {
	n, i, err := c.cloneFind(key)
	if err != nil {
		return nil, err
	}
	n.VIPs = slices.Delete(n.VIPs, i, i+1)
	return validated(n)
}

// AddBackend returns c with b added to the VIP of vipKey.
func (c *Config) AddBackend(vipKey string, b Backend) (*Config, error) {
	n, i, err := c.cloneFind(vipKey)
	if err != nil {
		return nil, err
	}
	v := &n.VIPs[i]
	if msg, kind := checkAddr(b.Addr); msg != "" {
		return nil, &Error{VIP: v.Key(), Path: "backend", Msg: msg, Err: kind}
	}
	if slices.ContainsFunc(v.Backends, func(x Backend) bool { return x.Addr == b.Addr }) {
		return nil, &Error{VIP: v.Key(), Err: ErrExists, Msg: fmt.Sprintf(
			"backend %s is already in it: change its weight with %q, or remove it first", b.Addr, cmdWeight)}
	}
	v.Backends = append(v.Backends, b)
	if err := checkVIP(v); err != nil {
		return nil, err
	}
	return validated(n)
}

// RemoveBackend returns c without the backend addr of the VIP of vipKey.
func (c *Config) RemoveBackend(vipKey string, addr netip.Addr) (*Config, error) {
	return c.editBackend(vipKey, addr, func(v *VIP, j int) {
		v.Backends = slices.Delete(v.Backends, j, j+1)
	})
}

// SetWeight returns c with the backend's weight set to w (0 to 65535; 0
// sends it no new flows).
func (c *Config) SetWeight(vipKey string, addr netip.Addr, w uint32) (*Config, error) {
	if w > MaxWeight {
		return nil, &Error{VIP: vipKey, Path: "backend " + addr.String(), Err: ErrInvalid,
			Msg: "weight " + rangeMsg(int64(w), 0, MaxWeight)}
	}
	return c.editBackend(vipKey, addr, func(v *VIP, j int) { v.Backends[j].Weight = w })
}

// Drain returns c with the backend draining: no new flows, its tracked
// flows go on.
func (c *Config) Drain(vipKey string, addr netip.Addr) (*Config, error) {
	return c.editBackend(vipKey, addr, func(v *VIP, j int) { v.Backends[j].Drain = true })
}

// Undrain returns c with the backend taking new flows again.
func (c *Config) Undrain(vipKey string, addr netip.Addr) (*Config, error) {
	return c.editBackend(vipKey, addr, func(v *VIP, j int) { v.Backends[j].Drain = false })
}

// editBackend clones c, finds the backend and applies edit to the clone.
func (c *Config) editBackend(vipKey string, addr netip.Addr, edit func(v *VIP, j int)) (*Config, error) {
	n, i, err := c.cloneFind(vipKey)
	if err != nil {
		return nil, err
	}
	v := &n.VIPs[i]
	j := slices.IndexFunc(v.Backends, func(b Backend) bool { return b.Addr == addr })
	if j < 0 {
		return nil, &Error{Err: ErrNotFound, Msg: fmt.Sprintf("backend %s is not in %s: add it first with %q", addr, v.Key(), cmdBackendAdd)}
	}
	edit(v, j)
	if err := checkVIP(v); err != nil {
		return nil, err
	}
	return validated(n)
}

// cloneFind parses key and returns a clone of c and the index of the VIP.
func (c *Config) cloneFind(key string) (*Config, int, error) {
	k, err := ParseVIPKey(key)
	if err != nil {
		return nil, 0, err
	}
	i := c.index(k)
	if i < 0 {
		return nil, 0, &Error{Err: ErrNotFound, Msg: fmt.Sprintf("VIP %s does not exist: add it first with %q", k, cmdVIPAdd)}
	}
	return c.Clone(), i, nil
}

// checkVIP validates one VIP, naming it by its key.
func checkVIP(v *VIP) error {
	val := validator{}
	val.vip(v, "")
	for _, e := range val.errs {
		e.VIP = v.Key()
	}
	return errorOf(val.errs)
}

// validated returns n if it is valid.
func validated(n *Config) (*Config, error) {
	if err := n.Validate(); err != nil {
		return nil, err
	}
	return n, nil
}
