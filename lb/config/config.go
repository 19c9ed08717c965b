package config

import (
	"fmt"

	"net/netip"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/xdpengine/engine/header"
)

// Config is the load balancer's whole configuration: the file's contents.
// A Config returned by Parse, Load, New or a mutation helper is complete
// (every default filled in) and valid; treat it as immutable and share it
// freely between goroutines. The helpers return a new Config and never
// modify the one they are called on.
type Config struct {
	VIPs      []VIP
	Conntrack Conntrack
}

// VIP is one virtual service: an address, a port (0: every port) and a
// protocol, the way its packets reach the backends, and the backends.
type VIP struct {
	Addr          netip.Addr
	Port          uint16 // 0: every port
	Proto         Proto
	Forwarding    Mode
	TableSize     uint32 // Maglev lookup table size, a prime
	Hash          HashMode
	OnBackendDown DownAction
	Fragments     FragMode
	GUEPort       uint16 // UDP destination port of dsr-gue; 0 in other modes
	VNI           uint32 // VXLAN network identifier of dsr-vxlan; 0 in other modes
	VXLANPort     uint16 // UDP destination port of dsr-vxlan; 0 in other modes
	FastPath      bool   // established flows forwarded in XDP
	Announce      bool   // the engine answers ARP / Neighbor Discovery for the VIP's address
	Health        Health
	Backends      []Backend
}

// Backend is one real server behind a VIP.
type Backend struct {
	Addr netip.Addr
	// Weight is the backend's share of new flows relative to the other
	// backends of the VIP, 0 to 65535. 0 sends it no new flows. The file's
	// default is 1; a Backend built in Go has the weight it is given.
	Weight uint32
	// Drain stops new flows to the backend; its tracked flows go on.
	Drain bool
	// MAC is the Ethernet address of the backend's VXLAN device: the inner
	// frame's destination in dsr-vxlan (required there), unset otherwise.
	MAC header.MAC
}

// Health describes the check run against every backend of a VIP.
type Health struct {
	Type     HealthType
	Port     uint16 // the backend port checked; defaults to the VIP's port
	Path     string // http: the path of the GET
	Status   int    // http: the status expected
	Send     string // udp: the datagram sent
	Expect   string // udp: the prefix the reply must start with ("": any reply)
	Interval time.Duration
	Timeout  time.Duration // shorter than Interval
	Rise     int           // consecutive successes that bring a backend up
	Fall     int           // consecutive failures that take it down
	// AtVIP (target: vip; DSR modes) checks each backend at the VIP,
	// which it owns, sent to it as the VIP's packets are.
	AtVIP bool
}

// Conntrack sizes the connection tracking table and sets its idle timeouts.
type Conntrack struct {
	MaxFlows       uint32
	TCPSyn         time.Duration // a TCP flow until the handshake completes
	TCPEstablished time.Duration // an established TCP flow
	TCPClosing     time.Duration // a TCP flow after a FIN or RST
	UDP            time.Duration // a UDP flow
}

// Defaults; doc.go explains where each comes from.
const (
	DefaultTableSize      = 65537
	MaxTableSize          = 16777213 // the largest prime below 2^24
	DefaultGUEPort        = 6080     // Katran's
	DefaultVXLANPort      = 4789     // IANA's
	MaxVNI                = 1<<24 - 1
	MaxWeight             = 65535
	DefaultHTTPPath       = "/"
	DefaultHTTPStatus     = 200
	DefaultInterval       = time.Second
	DefaultTimeout        = 500 * time.Millisecond
	DefaultRise           = 2
	DefaultFall           = 2
	MaxRiseFall           = 255
	DefaultMaxFlows       = 1 << 16
	DefaultTCPSyn         = 60 * time.Second
	DefaultTCPEstablished = 24 * time.Hour
	DefaultTCPClosing     = 120 * time.Second
	DefaultUDP            = 30 * time.Second
	DefaultWeight         = 1 // the file's; a Backend built in Go has the weight it is given
)

// DefaultConntrack returns the connection tracking settings used when the
// file has no conntrack key.
func DefaultConntrack() Conntrack {
	return Conntrack{
		MaxFlows:       DefaultMaxFlows,
		TCPSyn:         DefaultTCPSyn,
		TCPEstablished: DefaultTCPEstablished,
		TCPClosing:     DefaultTCPClosing,
		UDP:            DefaultUDP,
	}
}

// New returns an empty configuration: no VIPs, default conntrack settings.
// It is what an empty file parses to.
func New() *Config {
	return &Config{Conntrack: DefaultConntrack()}
}

// Proto is a VIP's transport protocol; its value is the IP protocol number.
type Proto uint8

// Protocols.
const (
	TCP Proto = 6
	UDP Proto = 17
)

// Mode is how packets reach a backend.
type Mode uint8

// Forwarding modes; the zero Mode is unset and invalid.
const (
	NAT      Mode = iota + 1 // rewrite the destination; replies come back through the balancer
	DSRL2                    // direct server return: rewrite the destination MAC only
	DSRIPIP                  // direct server return: IPv4-in-IPv4 encapsulation
	DSRGUE                   // direct server return: GUE (UDP) encapsulation
	DSRVXLAN                 // direct server return: VXLAN (UDP) encapsulation
)

// IsDSR reports whether backends answer clients directly.
func (m Mode) IsDSR() bool { return m >= DSRL2 && m <= DSRVXLAN }

// HashMode is what the Maglev hash of a new flow covers.
type HashMode uint8

// Hash modes; the zero value is the default.
const (
	Hash5Tuple HashMode = iota // source and destination address and port, protocol
	HashSource                 // source address only: client affinity
)

// DownAction is what happens to the tracked flows of a backend that goes down.
type DownAction uint8

// Actions; the zero value is the default.
const (
	DownReset  DownAction = iota // forget them: TCP is answered with a RST, UDP starts over
	DownRehash                   // move them to the backend the table picks now
)

// FragMode is how IP fragments of a VIP's datagrams are forwarded.
type FragMode uint8

// Fragment modes; the zero value is the default.
const (
	FragReassemble FragMode = iota // reassemble, then forward like any packet
	FragHash3                      // forward each fragment by a (source, destination, protocol) hash
)

// HealthType is the kind of check run against backends.
type HealthType uint8

// Health check types; the zero value is unset (AddVIP fills in the default).
const (
	HealthTCP  HealthType = iota + 1 // connect
	HealthHTTP                       // GET Path, expect Status
	HealthUDP                        // send Send, expect a reply (starting with Expect)
	HealthNone                       // no checks: every backend is up
)

// Each enum has a table of names, indexed by value; "" marks a hole.
var (
	protoNames  = map[Proto]string{TCP: "tcp", UDP: "udp"}
	modeNames   = []string{"", "nat", "dsr-l2", "dsr-ipip", "dsr-gue", "dsr-vxlan"}
	hashNames   = []string{"5-tuple", "source"}
	downNames   = []string{"reset", "rehash"}
	fragNames   = []string{"reassemble", "hash3"}
	healthNames = []string{"", "tcp", "http", "udp", "none"}
)

func name(names []string, i uint8) string {
	if int(i) < len(names) && names[i] != "" {
		return names[i]
	}
	return fmt.Sprintf("invalid(%d)", i)
}

// lookupName returns the index of s in names, or -1.
func lookupName(names []string, s string) int {
	for i, n := range names {
		if n != "" && n == s {
			return i
		}
	}
	return -1
}

// choices lists the valid names: "a, b or c".
func choices(names []string) string {
	var ns []string
	for _, n := range names {
		if n != "" {
			ns = append(ns, n)
		}
	}
	return strings.Join(ns[:len(ns)-1], ", ") + " or " + ns[len(ns)-1]
}

func (p Proto) String() string {
	if s, ok := protoNames[p]; ok {
		return s
	}
	return fmt.Sprintf("invalid(%d)", uint8(p))
}
func (m Mode) String() string       { return name(modeNames, uint8(m)) }
func (h HashMode) String() string   { return name(hashNames, uint8(h)) }
func (a DownAction) String() string { return name(downNames, uint8(a)) }
func (f FragMode) String() string   { return name(fragNames, uint8(f)) }
func (t HealthType) String() string { return name(healthNames, uint8(t)) }

func parseProto(s string) (Proto, bool) {
	switch s {
	case "tcp":
		return TCP, true
	case "udp":
		return UDP, true
	}
	return 0, false
}

// VIPKey identifies a VIP: no two VIPs of a Config have the same key.
type VIPKey struct {
	Addr  netip.Addr
	Port  uint16
	Proto Proto
}

// String returns the key as ADDR:PORT/PROTO, e.g. "198.18.0.100:80/tcp".
func (k VIPKey) String() string {
	return netip.AddrPortFrom(k.Addr, k.Port).String() + "/" + k.Proto.String()
}

// VIPKey returns the VIP's key.
func (v VIP) VIPKey() VIPKey { return VIPKey{v.Addr, v.Port, v.Proto} }

// Key returns the VIP's key as text, e.g. "198.18.0.100:80/tcp", the form
// ParseVIPKey reads and the mutation helpers take.
func (v VIP) Key() string { return v.VIPKey().String() }

// ParseVIPKey parses the command line's ADDR:PORT/PROTO form of a VIP key,
// e.g. "198.18.0.100:80/tcp" (port 0: the VIP of every port).
func ParseVIPKey(s string) (VIPKey, error) {
	const form = "want ADDR:PORT/PROTO, like 198.18.0.100:80/tcp (port 0: every port)"
	bad := func(format string, args ...any) (VIPKey, error) {
		return VIPKey{}, &Error{Msg: fmt.Sprintf("VIP %q: ", s) + fmt.Sprintf(format, args...), Err: ErrInvalid}
	}
	ap, protoText, ok := strings.Cut(s, "/")
	if !ok {
		return bad("no protocol: %s", form)
	}
	proto, ok := parseProto(protoText)
	if !ok {
		return bad("protocol %q: use tcp or udp (%s)", protoText, form)
	}
	host, portText, ok := splitHostPort(ap)
	if !ok {
		return bad("no port: %s", form)
	}
	port, err := strconv.ParseUint(portText, 10, 16)
	if err != nil {
		return bad("port %q: want a number from 0 to 65535 (%s)", portText, form)
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return bad("address %q is not an IP address: %s", host, form)
	}
	if addr.Is6() && !strings.HasPrefix(ap, "[") {
		return bad("an IPv6 address goes in brackets, like [%s]:%s/%s", host, portText, protoText)
	}
	if msg, err := checkAddr(addr); msg != "" {
		return VIPKey{}, &Error{Msg: fmt.Sprintf("VIP %q: %s", s, msg), Err: err}
	}
	return VIPKey{addr, uint16(port), proto}, nil
}

// splitHostPort splits "a.b.c.d:p" and "[v6]:p".
func splitHostPort(s string) (host, port string, ok bool) {
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return "", "", false
	}
	host, port = s[:i], s[i+1:]
	if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		host = host[1 : len(host)-1]
	}
	return host, port, true
}

// Clone returns a deep copy of c.
func (c *Config) Clone() *Config {
	n := &Config{Conntrack: c.Conntrack, VIPs: slices.Clone(c.VIPs)}
	for i := range n.VIPs {
		n.VIPs[i].Backends = slices.Clone(n.VIPs[i].Backends)
	}
	return n
}

// Equal reports whether c and d describe the same configuration. A nil and
// an empty slice are equal.
func (c *Config) Equal(d *Config) bool {
	if c.Conntrack != d.Conntrack || len(c.VIPs) != len(d.VIPs) {
		return false
	}
	for i := range c.VIPs {
		a, b := c.VIPs[i], d.VIPs[i]
		if !slices.Equal(a.Backends, b.Backends) {
			return false
		}
		a.Backends, b.Backends = nil, nil
		if !reflect.DeepEqual(a, b) {
			return false
		}
	}
	return true
}

// Lookup returns the VIP that serves a packet to addr:port over proto, or
// nil; the VIP is c's own, not a copy: do not modify it. The order is: the
// VIP of exactly that address, port and protocol, then the address's port-0
// VIP for that protocol (a specific port wins over "every port"). It scans
// the list: a datapath builds its own index, in this order.
func (c *Config) Lookup(addr netip.Addr, port uint16, proto Proto) *VIP {
	if i := c.index(VIPKey{addr, port, proto}); i >= 0 {
		return &c.VIPs[i]
	}
	if i := c.index(VIPKey{addr, 0, proto}); i >= 0 {
		return &c.VIPs[i]
	}
	return nil
}

// index returns the index of the VIP with key k, or -1.
func (c *Config) index(k VIPKey) int {
	return slices.IndexFunc(c.VIPs, func(v VIP) bool { return v.VIPKey() == k })
}

// fillDefaults sets the fields of v that are zero and have a default, as
// Parse does for absent keys. Backend weights and the VNI are left alone:
// their zero is a value.
func fillDefaults(v *VIP) {
	if v.TableSize == 0 {
		v.TableSize = DefaultTableSize
	}
	if v.Forwarding == DSRGUE && v.GUEPort == 0 {
		v.GUEPort = DefaultGUEPort
	}
	if v.Forwarding == DSRVXLAN && v.VXLANPort == 0 {
		v.VXLANPort = DefaultVXLANPort
	}
	h := &v.Health
	if h.Type == 0 {
		h.Type = HealthNone
		if v.Proto == TCP {
			h.Type = HealthTCP
		}
	}
	if h.Type == HealthNone {
		return
	}
	if h.Port == 0 {
		h.Port = v.Port
	}
	if h.Type == HealthHTTP {
		if h.Path == "" {
			h.Path = DefaultHTTPPath
		}
		if h.Status == 0 {
			h.Status = DefaultHTTPStatus
		}
	}
	if h.Interval == 0 {
		h.Interval = DefaultInterval
	}
	if h.Timeout == 0 {
		h.Timeout = DefaultTimeout
	}
	if h.Rise == 0 {
		h.Rise = DefaultRise
	}
	if h.Fall == 0 {
		h.Fall = DefaultFall
	}
}
