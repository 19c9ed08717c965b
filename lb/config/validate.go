package config

import (
	"fmt"
	"net/netip"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/xdpengine/engine/header"
)

// Validate checks a complete configuration (every default filled in) as
// Parse does, and returns nil, an *Error or an ErrorList. Marshal and Save
// validate before writing.
func (c *Config) Validate() error {
	v := validator{}
	v.config(c)
	return errorOf(v.errs)
}

// validator collects the problems of a configuration. Paths are the file's
// (vips[0].health.port); where the line of a path is known (Parse), the
// messages that point at a second place say its line too.
type validator struct {
	errs ErrorList
	line func(path string) int // nil outside Parse
}

func (v *validator) add(path string, kind error, format string, args ...any) {
	v.errs = append(v.errs, &Error{Path: path, Msg: fmt.Sprintf(format, args...), Err: kind})
}

// other names a second place for a message: "vips[0]" or "vips[0], line 2".
func (v *validator) other(path string) string {
	if v.line != nil {
		if l := v.line(path); l > 0 {
			return fmt.Sprintf("%s, line %d", path, l)
		}
	}
	return path
}

func join(base, field string) string {
	if base == "" {
		return field
	}
	return base + "." + field
}

func (v *validator) config(c *Config) {
	seen := make(map[VIPKey]int, len(c.VIPs))
	for i := range c.VIPs {
		vip := &c.VIPs[i]
		path := fmt.Sprintf("vips[%d]", i)
		v.vip(vip, path)
		if j, ok := seen[vip.VIPKey()]; ok && vip.Addr.IsValid() {
			v.add(path, ErrExists, "duplicate VIP %s (also %s): remove one, or change its address, port or protocol",
				vip.Key(), v.other(fmt.Sprintf("vips[%d]", j)))
			continue
		}
		seen[vip.VIPKey()] = i
	}
	v.conntrack(&c.Conntrack, "conntrack")
}

func (v *validator) conntrack(ct *Conntrack, base string) {
	if ct.MaxFlows == 0 {
		v.add(join(base, "max_flows"), ErrInvalid, "%s", rangeMsg(0, 1, 1<<32-1))
	}
	v.positive(join(base, "tcp_syn"), ct.TCPSyn)
	v.positive(join(base, "tcp_established"), ct.TCPEstablished)
	v.positive(join(base, "tcp_closing"), ct.TCPClosing)
	v.positive(join(base, "udp"), ct.UDP)
}

func (v *validator) positive(path string, d time.Duration) {
	if d <= 0 {
		v.add(path, ErrInvalid, "%s is not positive: use a duration like 500ms, 30s or 1h", formatDuration(d))
	}
}

// vip checks one VIP; base is its path ("vips[3]", or "" for the helpers,
// which name the VIP by its key).
func (v *validator) vip(vip *VIP, base string) {
	if msg, kind := checkAddr(vip.Addr); msg != "" {
		v.add(join(base, "address"), kind, "%s", msg)
	}
	if _, ok := protoNames[vip.Proto]; !ok {
		v.add(join(base, "protocol"), ErrInvalid, "%s is not a protocol: use tcp or udp", vip.Proto)
	}
	if lookupName(modeNames, vip.Forwarding.String()) < 0 {
		v.add(join(base, "forwarding"), ErrInvalid, "%s is not a forwarding mode: use %s", vip.Forwarding, choices(modeNames))
	}
	if msg := tableSizeMsg(vip.TableSize, len(vip.Backends)); msg != "" {
		v.add(join(base, "table_size"), ErrInvalid, "%s", msg)
	}
	if lookupName(hashNames, vip.Hash.String()) < 0 {
		v.add(join(base, "hash"), ErrInvalid, "%s is not a hash mode: use %s", vip.Hash, choices(hashNames))
	}
	if lookupName(downNames, vip.OnBackendDown.String()) < 0 {
		v.add(join(base, "on_backend_down"), ErrInvalid, "%s is not an action: use %s", vip.OnBackendDown, choices(downNames))
	}
	v.family(vip, base)
	switch {
	case lookupName(fragNames, vip.Fragments.String()) < 0:
		v.add(join(base, "fragments"), ErrInvalid, "%s is not a fragment mode: use %s", vip.Fragments, choices(fragNames))
	case vip.Fragments == FragHash3 && !vip.Forwarding.IsDSR():
		v.add(join(base, "fragments"), ErrInvalid,
			"hash3 needs a dsr-* forwarding mode (%s rewrites whole datagrams, so it reassembles): use fragments: reassemble", vip.Forwarding)
	}
	v.modePort(join(base, "gue_port"), vip.GUEPort, vip.Forwarding == DSRGUE, "dsr-gue")
	v.modePort(join(base, "vxlan_port"), vip.VXLANPort, vip.Forwarding == DSRVXLAN, "dsr-vxlan")
	switch {
	case vip.Forwarding != DSRVXLAN && vip.VNI != 0:
		v.add(join(base, "vni"), ErrInvalid, "only forwarding: dsr-vxlan uses vni: remove it")
	case vip.VNI > MaxVNI:
		v.add(join(base, "vni"), ErrInvalid, "%s", rangeMsg(int64(vip.VNI), 0, MaxVNI))
	}
	v.health(&vip.Health, vip.Port, join(base, "health"))
	if vip.Health.AtVIP && !vip.Forwarding.IsDSR() {
		v.add(join(base, "health.target"), ErrInvalid, "target: vip checks a DSR backend at the VIP it owns, and %s backends do not own it: use target: backend", vip.Forwarding)
	}
	seen := make(map[netip.Addr]int, len(vip.Backends))
	for j, b := range vip.Backends {
		path := join(base, fmt.Sprintf("backends[%d]", j))
		if msg, kind := checkAddr(b.Addr); msg != "" {
			v.add(path+".address", kind, "%s", msg)
		} else if b.Addr == vip.Addr {
			v.add(path+".address", ErrInvalid, "%s is the VIP itself: use the backend's own address", b.Addr)
		} else if k, ok := seen[b.Addr]; ok {
			v.add(path+".address", ErrExists, "duplicate backend %s (also %s): remove one", b.Addr,
				v.other(join(base, fmt.Sprintf("backends[%d]", k))))
		} else {
			seen[b.Addr] = j
		}
		if b.Weight > MaxWeight {
			v.add(path+".weight", ErrInvalid, "%s", rangeMsg(int64(b.Weight), 0, MaxWeight))
		}
		switch {
		case vip.Forwarding == DSRVXLAN && b.MAC == (header.MAC{}):
			v.add(path+".mac", ErrInvalid, "dsr-vxlan needs the Ethernet address of the backend's VXLAN device: add mac: like 02:00:5e:10:00:01")
		case vip.Forwarding != DSRVXLAN && b.MAC != (header.MAC{}):
			v.add(path+".mac", ErrInvalid, "only forwarding: dsr-vxlan uses a backend's mac: remove it")
		case b.MAC[0]&1 != 0:
			v.add(path+".mac", ErrInvalid, "%v is a group address: use the unicast address of the backend's VXLAN device", b.MAC)
		}
	}
}

// family checks what an IPv6 VIP may have: IPv6 backends (a VIP and its
// backends are of one family), nat or dsr-l2, no fast path, no hashed
// fragments, no health check at the VIP.
func (v *validator) family(vip *VIP, base string) {
	if !vip.Addr.IsValid() {
		return
	}
	for j, b := range vip.Backends {
		if b.Addr.IsValid() && !b.Addr.Is4In6() && b.Addr.Is4() != vip.Addr.Is4() {
			v.add(join(base, fmt.Sprintf("backends[%d].address", j)), ErrNotSupported,
				"%s is an %s backend of an %s VIP, and mixing address families is not supported yet: use an %s address",
				b.Addr, familyName(b.Addr), familyName(vip.Addr), familyName(vip.Addr))
		}
	}
	if vip.Addr.Is4() {
		return
	}
	if vip.Forwarding != NAT && vip.Forwarding != DSRL2 {
		v.add(join(base, "forwarding"), ErrNotSupported,
			"%s over IPv6 is not supported yet: use nat or dsr-l2 for an IPv6 VIP", vip.Forwarding)
	}
	if vip.FastPath {
		v.add(join(base, "fast_path"), ErrNotSupported, "the XDP fast path does not forward IPv6 yet: remove fast_path")
	}
	if vip.Fragments == FragHash3 {
		v.add(join(base, "fragments"), ErrNotSupported, "hash3 is not supported over IPv6 yet: use fragments: reassemble")
	}
	if vip.Health.AtVIP {
		v.add(join(base, "health.target"), ErrNotSupported, "target: vip is not supported for an IPv6 VIP yet: use target: backend")
	}
}

func familyName(a netip.Addr) string {
	if a.Is4() {
		return "IPv4"
	}
	return "IPv6"
}

// modePort checks gue_port and vxlan_port: set in their mode, zero in others.
func (v *validator) modePort(path string, port uint16, inMode bool, mode string) {
	switch {
	case inMode && port == 0:
		v.add(path, ErrInvalid, "%s", rangeMsg(0, 1, 65535))
	case !inMode && port != 0:
		v.add(path, ErrInvalid, "only forwarding: %s uses %s: remove it", mode, path[strings.LastIndexByte(path, '.')+1:])
	}
}

func (v *validator) health(h *Health, vipPort uint16, base string) {
	if lookupName(healthNames, h.Type.String()) < 0 {
		v.add(join(base, "type"), ErrInvalid, "%s is not a health check type: use %s", h.Type, choices(healthNames))
		return
	}
	only := func(field string, set bool, types ...HealthType) {
		for _, t := range types {
			if h.Type == t {
				return
			}
		}
		if !set {
			return
		}
		if h.Type == HealthNone {
			v.add(join(base, field), ErrInvalid, "type none runs no checks: remove %s, or choose a type", field)
			return
		}
		var names []string
		for _, t := range types {
			names = append(names, t.String())
		}
		v.add(join(base, field), ErrInvalid, "type %s has no %s (only %s checks do): remove it", h.Type, field, strings.Join(names, " and "))
	}
	checked := []HealthType{HealthTCP, HealthHTTP, HealthUDP}
	only("port", h.Port != 0, checked...)
	only("path", h.Path != "", HealthHTTP)
	only("status", h.Status != 0, HealthHTTP)
	only("send", h.Send != "", HealthUDP)
	only("expect", h.Expect != "", HealthUDP)
	only("interval", h.Interval != 0, checked...)
	only("timeout", h.Timeout != 0, checked...)
	only("rise", h.Rise != 0, checked...)
	only("fall", h.Fall != 0, checked...)
	only("target", h.AtVIP, checked...)
	if h.Type == HealthNone {
		return
	}
	if h.Port == 0 {
		if vipPort == 0 {
			v.add(join(base, "port"), ErrInvalid,
				"the VIP serves every port (port: 0), so its health check needs a port: add one (health: {type: %s, port: N}), or use health: {type: none}", h.Type)
		} else {
			v.add(join(base, "port"), ErrInvalid, "%s", rangeMsg(0, 1, 65535))
		}
	}
	if h.Type == HealthHTTP {
		if msg := pathMsg(h.Path); msg != "" {
			v.add(join(base, "path"), ErrInvalid, "%s", msg)
		}
		if h.Status < 100 || h.Status > 599 {
			v.add(join(base, "status"), ErrInvalid, "%s", rangeMsg(int64(h.Status), 100, 599))
		}
	}
	for _, f := range [...]struct{ name, s string }{{"send", h.Send}, {"expect", h.Expect}} {
		if !utf8.ValidString(f.s) {
			v.add(join(base, f.name), ErrInvalid, "%q is not valid UTF-8, which a YAML file cannot hold: send text", f.s)
		}
	}
	v.positive(join(base, "interval"), h.Interval)
	v.positive(join(base, "timeout"), h.Timeout)
	if h.Timeout > 0 && h.Interval > 0 && h.Timeout >= h.Interval {
		v.add(join(base, "timeout"), ErrInvalid, "%s is not shorter than the interval (%s): shorten the timeout or lengthen the interval",
			formatDuration(h.Timeout), formatDuration(h.Interval))
	}
	if h.Rise < 1 || h.Rise > MaxRiseFall {
		v.add(join(base, "rise"), ErrInvalid, "%s", rangeMsg(int64(h.Rise), 1, MaxRiseFall))
	}
	if h.Fall < 1 || h.Fall > MaxRiseFall {
		v.add(join(base, "fall"), ErrInvalid, "%s", rangeMsg(int64(h.Fall), 1, MaxRiseFall))
	}
}

func pathMsg(p string) string {
	if !strings.HasPrefix(p, "/") {
		return fmt.Sprintf("%q does not start with /: write the path part of the URL, like /healthz", p)
	}
	if i := strings.IndexFunc(p, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }); i >= 0 {
		return fmt.Sprintf("%q holds a space or control character: percent-encode it (%%20 for a space)", p)
	}
	return ""
}

// checkAddr returns what is wrong with a VIP or backend address, if
// anything, and the kind of error.
func checkAddr(a netip.Addr) (string, error) {
	switch {
	case !a.IsValid():
		return "no address: add one, like 198.18.0.100", ErrInvalid
	case a.Is4In6():
		return fmt.Sprintf("%s is an IPv4-mapped IPv6 address: write it as %s", a, a.Unmap()), ErrInvalid
	case a.Zone() != "":
		return fmt.Sprintf("%s has a zone: use a global address, like 2001:db8::100", a), ErrInvalid
	case a.Is6() && a.IsLinkLocalUnicast():
		return fmt.Sprintf("%s is a link-local address: use a global address, like 2001:db8::100", a), ErrInvalid
	case a.IsUnspecified():
		return fmt.Sprintf("%s is the unspecified address: use the address of a host", a), ErrInvalid
	case a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return fmt.Sprintf("%s is the broadcast address: use the address of a host", a), ErrInvalid
	case a.IsMulticast():
		return fmt.Sprintf("%s is a multicast address: use the address of a host", a), ErrInvalid
	case a.IsLoopback():
		return fmt.Sprintf("%s is a loopback address, which never reaches the wire: use the address of a host", a), ErrInvalid
	}
	return "", nil
}

// rangeMsg says that v is out of [lo, hi].
func rangeMsg(v, lo, hi int64) string {
	if v < lo {
		return fmt.Sprintf("%d is below %d: use %d to %d", v, lo, lo, hi)
	}
	return fmt.Sprintf("%d is above %d: use %d to %d", v, hi, lo, hi)
}

// tableSizeMsg says what is wrong with a Maglev table size, if anything.
func tableSizeMsg(size uint32, backends int) string {
	switch {
	case size > MaxTableSize:
		return fmt.Sprintf("%d is above %d, the largest table size: use a prime up to that", size, MaxTableSize)
	case !isPrime(size):
		return fmt.Sprintf("%d is not a prime, and Maglev needs one: use %d, the next prime", size, nextPrime(size))
	case int(size) <= backends:
		return fmt.Sprintf("%d entries cannot spread %d backends: use a prime at least 100 times the number of backends, like %d",
			size, backends, nextPrime(uint32(min(100*backends, MaxTableSize-1))))
	}
	return ""
}

func isPrime(n uint32) bool {
	if n < 2 {
		return false
	}
	for d := uint32(2); d*d <= n; d++ {
		if n%d == 0 {
			return false
		}
	}
	return true
}

// nextPrime returns the smallest prime above n (at most MaxTableSize).
func nextPrime(n uint32) uint32 {
	for p := n + 1; p < MaxTableSize; p++ {
		if isPrime(p) {
			return p
		}
	}
	return MaxTableSize
}
