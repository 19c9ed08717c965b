package main

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/spf13/pflag"

	"github.com/xdpengine/engine/header"
	"github.com/xdpengine/engine/lb/config"
)

// The pieces of engine lb's command line: flags, backends, MACs and the
// forwarding modes. checkVIPArgs is shared with lb.vip.add, so that the
// command line and the control socket refuse the same things in the same
// words.

// addVIPFlags defines vip add's flags on fs, to be parsed into a.
func addVIPFlags(fs *pflag.FlagSet, a *lbArgs) {
	fs.StringVar(&a.Forwarding, "forwarding", "", "how packets reach the backends: nat, dsr-l2, dsr-ipip, dsr-gue or dsr-vxlan (required)")
	fs.Func("backend", "add the backend `ADDR[=WEIGHT][@MAC]` (repeatable; weight 0 to 65535, default 1; MAC: dsr-vxlan's, required there)", func(v string) error {
		b, err := parseBackendArg(v)
		if err == nil {
			a.Backends = append(a.Backends, b)
		}
		return err
	})
	fs.StringVar(&a.Hash, "hash", "", "what a new flow's hash covers: 5-tuple (default) or source (client affinity)")
	fs.BoolVar(&a.FastPath, "fast-path", false, "forward established flows in XDP (the engine's XDP program), not in the workers")
	fs.BoolVar(&a.Announce, "announce", false, "answer ARP / Neighbor Discovery for the VIP's address and announce it: clients on the segment need no route to the engine")
	fs.Func("table-size", "Maglev table `size`, a prime (default 65537)", func(v string) error {
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil || n == 0 {
			return fmt.Errorf("%q: want a prime such as 65537", v)
		}
		a.TableSize = uint32(n)
		return nil
	})
	fs.Func("gue-port", fmt.Sprintf("dsr-gue: the backends' GUE UDP `port` (default %d)", config.DefaultGUEPort), func(v string) error {
		p, err := parsePort(v)
		a.GUEPort = p
		return err
	})
	fs.Func("vxlan-port", fmt.Sprintf("dsr-vxlan: the backends' VXLAN UDP `port` (default %d)", config.DefaultVXLANPort), func(v string) error {
		p, err := parsePort(v)
		a.VXLANPort = p
		return err
	})
	fs.Func("vni", fmt.Sprintf("dsr-vxlan: the `VNI` (VXLAN network identifier) of the backends' VXLAN devices, 0 to %d (required)", config.MaxVNI), func(v string) error {
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil || n > config.MaxVNI {
			return fmt.Errorf("%q: want 0 to %d", v, config.MaxVNI)
		}
		vni := uint32(n)
		a.VNI = &vni
		return nil
	})
}

// checkVIPAdd checks vip add's command line once it is parsed.
func checkVIPAdd(a *lbArgs) error {
	if a.Forwarding == "" {
		return usagef("vip add: give --forwarding nat, dsr-l2, dsr-ipip, dsr-gue or dsr-vxlan")
	}
	if a.Hash != "" {
		if _, err := parseHash(a.Hash); err != nil {
			return usagef("--%v", err)
		}
	}
	if _, err := checkVIPArgs(a); err != nil {
		return usagef("%v", err)
	}
	return nil
}

// checkVIPArgs checks that vip add's settings fit its forwarding mode: a
// tunnel's port and VNI with their own mode only, dsr-vxlan's VNI and its
// backends' MACs present, no MAC in other modes. It returns the mode.
func checkVIPArgs(a *lbArgs) (config.Mode, error) {
	mode, err := parseForwarding(a.Forwarding)
	if err != nil {
		return 0, fmt.Errorf("--%w", err)
	}
	only := func(flag string, owner config.Mode) error {
		return fmt.Errorf("--%s applies to --forwarding %s only (this VIP forwards %s): drop it", flag, owner, mode)
	}
	switch {
	case a.GUEPort != 0 && mode != config.DSRGUE:
		return 0, only("gue-port", config.DSRGUE)
	case a.VXLANPort != 0 && mode != config.DSRVXLAN:
		return 0, only("vxlan-port", config.DSRVXLAN)
	case a.VNI != nil && mode != config.DSRVXLAN:
		return 0, only("vni", config.DSRVXLAN)
	case a.VNI == nil && mode == config.DSRVXLAN:
		return 0, fmt.Errorf("--forwarding dsr-vxlan needs --vni N (0 to %d), the VXLAN network identifier of the backends' VXLAN devices", config.MaxVNI)
	case a.VNI != nil && *a.VNI > config.MaxVNI:
		return 0, fmt.Errorf("--vni %d: want 0 to %d", *a.VNI, config.MaxVNI)
	}
	const example = "02:00:5e:10:00:01"
	for _, b := range a.Backends {
		spec := b.Addr.String()
		if b.Weight != nil {
			spec += fmt.Sprintf("=%d", *b.Weight)
		}
		if b.MAC != "" {
			if _, err := parseMAC(b.MAC); err != nil {
				return 0, fmt.Errorf("--backend %s@%s: %w", spec, b.MAC, err)
			}
		}
		switch {
		case mode == config.DSRVXLAN && b.MAC == "":
			return 0, fmt.Errorf("--backend %s: dsr-vxlan needs the MAC of the backend's VXLAN device (ip link show DEV on the backend prints it): "+
				"write --backend %s@MAC, e.g. %s@%s", spec, spec, spec, example)
		case mode != config.DSRVXLAN && b.MAC != "":
			return 0, fmt.Errorf("--backend %s@%s: only --forwarding dsr-vxlan uses a backend's MAC (this VIP forwards %s): drop @%s", spec, b.MAC, mode, b.MAC)
		}
	}
	return mode, nil
}

// checkBackendMAC checks backend add's MAC ("" for none) against the mode
// of the VIP it joins.
func checkBackendMAC(mode config.Mode, addr netip.Addr, mac string) error {
	if mac != "" {
		if _, err := parseMAC(mac); err != nil {
			return err
		}
	}
	switch {
	case mode == config.DSRVXLAN && mac == "":
		return fmt.Errorf("backend %s: the VIP forwards dsr-vxlan, which needs the MAC of the backend's VXLAN device "+
			"(ip link show DEV on the backend prints it): add --mac MAC, e.g. --mac 02:00:5e:10:00:01", addr)
	case mode != config.DSRVXLAN && mac != "":
		return fmt.Errorf("backend %s: only dsr-vxlan VIPs use a backend's MAC (this VIP forwards %s): drop --mac", addr, mode)
	}
	return nil
}

// describeForwarding writes a mode with its tunnel settings, defaults
// filled in: "nat", "dsr-gue:6080", "dsr-vxlan:4789 vni 42".
func describeForwarding(a *lbArgs) string {
	switch a.Forwarding {
	case config.DSRGUE.String():
		return forwardingText(a.Forwarding, cmpOr(a.GUEPort, config.DefaultGUEPort), nil, 0)
	case config.DSRVXLAN.String():
		return forwardingText(a.Forwarding, 0, a.VNI, cmpOr(a.VXLANPort, config.DefaultVXLANPort))
	}
	return a.Forwarding
}

func cmpOr(p, def uint16) uint16 {
	if p == 0 {
		return def
	}
	return p
}

// forwardingText writes a mode and the tunnel settings it has: its UDP
// port after a colon, then the VNI.
func forwardingText(mode string, guePort uint16, vni *uint32, vxlanPort uint16) string {
	s := mode
	if p := max(guePort, vxlanPort); p != 0 {
		s += fmt.Sprintf(":%d", p)
	}
	if vni != nil {
		s += fmt.Sprintf(" vni %d", *vni)
	}
	return s
}

// parseFlagsUntilArg parses the flags before the first argument that is
// not one and returns the rest.
func parseFlagsUntilArg(fs *pflag.FlagSet, args []string, stdout io.Writer) ([]string, error) {
	if err := parseGNU(fs, args, stdout, false); err != nil {
		return nil, err
	}
	return fs.Args(), nil
}

// parseInterspersed parses flags placed anywhere among the positional
// arguments, which it returns in order.
func parseInterspersed(fs *pflag.FlagSet, args []string, stdout io.Writer) ([]string, error) {
	if err := parseGNU(fs, args, stdout, true); err != nil {
		return nil, err
	}
	return fs.Args(), nil
}

// parseBackendAddr parses a backend: an IPv4 or IPv6 address, no port.
func parseBackendAddr(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err == nil && (a.Is4() || a.Is6() && !a.Is4In6() && a.Zone() == "") {
		return a, nil
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return netip.Addr{}, fmt.Errorf("backend %q: give its address only, %s: a backend serves on the port the client sent to", s, ap.Addr())
	}
	return netip.Addr{}, fmt.Errorf("backend %q is not an IPv4 or IPv6 address, e.g. 198.18.0.11 or 2001:db8::11", s)
}

func parseWeight(s string) (uint32, error) {
	w, err := strconv.ParseUint(s, 10, 32)
	if err != nil || w > config.MaxWeight {
		return 0, fmt.Errorf("weight %q: want 0 to %d (0: no new flows)", s, config.MaxWeight)
	}
	return uint32(w), nil
}

// parsePort parses a tunnel's UDP port.
func parsePort(s string) (uint16, error) {
	p, err := strconv.ParseUint(s, 10, 16)
	if err != nil || p == 0 {
		return 0, fmt.Errorf("%q: want a UDP port, 1 to 65535", s)
	}
	return uint16(p), nil
}

// parseMAC parses the Ethernet address of a backend's VXLAN device: six
// bytes, unicast, not zero.
func parseMAC(s string) (header.MAC, error) {
	hw, err := net.ParseMAC(s)
	if err != nil || len(hw) != len(header.MAC{}) {
		return header.MAC{}, fmt.Errorf("MAC %q: want the Ethernet address of the backend's VXLAN device, like 02:00:5e:10:00:01", s)
	}
	m := header.MAC(hw)
	switch {
	case m.IsMulticast():
		return header.MAC{}, fmt.Errorf("MAC %s is a group address: give the unicast address of the backend's VXLAN device", m)
	case m == header.MAC{}:
		return header.MAC{}, fmt.Errorf("MAC %s: give the address of the backend's VXLAN device, not zero", m)
	}
	return m, nil
}

// parseBackendArg parses --backend ADDR[=WEIGHT][@MAC].
func parseBackendArg(s string) (lbBackendArg, error) {
	rest, ms, hasMAC := strings.Cut(s, "@")
	as, ws, hasWeight := strings.Cut(rest, "=")
	if hasMAC && strings.Contains(ms, "=") {
		return lbBackendArg{}, fmt.Errorf("backend %q: write the weight before the MAC, ADDR=WEIGHT@MAC", s)
	}
	addr, err := parseBackendAddr(as)
	if err != nil {
		return lbBackendArg{}, err
	}
	b := lbBackendArg{Addr: addr}
	if hasWeight {
		w, err := parseWeight(ws)
		if err != nil {
			return lbBackendArg{}, err
		}
		b.Weight = &w
	}
	if hasMAC {
		m, err := parseMAC(ms)
		if err != nil {
			return lbBackendArg{}, err
		}
		b.MAC = m.String()
	}
	return b, nil
}

// parseForwarding and parseHash take the file's names (config's String
// methods), so that the command line and the file spell them alike.
func parseForwarding(s string) (config.Mode, error) {
	var names []string
	for m := config.NAT; m <= config.DSRVXLAN; m++ {
		if m.String() == s {
			return m, nil
		}
		names = append(names, m.String())
	}
	return 0, fmt.Errorf("forwarding %q: want %s", s, strings.Join(names, ", "))
}

func parseHash(s string) (config.HashMode, error) {
	for _, h := range []config.HashMode{config.Hash5Tuple, config.HashSource} {
		if h.String() == s {
			return h, nil
		}
	}
	return 0, fmt.Errorf("hash %q: want %s or %s", s, config.Hash5Tuple, config.HashSource)
}
