package sock

import (
	"fmt"
	"net/netip"
	"os"
	"syscall"

	"github.com/xdpengine/engine/stack/socktab"
)

// Options are the options a socket takes before it binds or connects, as
// a program sets them with setsockopt(2) between socket(2) and bind(2) or
// connect(2). Options that can change later (TTL, TOS, path MTU
// discovery, control messages) are methods of the connections.
type Options struct {
	// ReuseAddr is SO_REUSEADDR: bind a port whose earlier sockets are
	// not listening any more (TIME-WAIT, accepted connections); for UDP,
	// share a port with sockets that set it too.
	ReuseAddr bool
	// ReusePort is SO_REUSEPORT: sockets of one program that all set it
	// share an address and port; packets are spread over them by flow
	// hash.
	ReusePort bool
	// V6Only is IPV6_V6ONLY: an IPv6 socket takes IPv6 traffic only. Off
	// (net.ipv6.bindv6only=0, Linux's default), an IPv6 socket bound to
	// [::] also takes IPv4 traffic, its IPv4 peers seen as ::ffff:a.b.c.d;
	// the "udp6" network sets it, as Go's net does. Ignored by IPv4
	// sockets.
	V6Only bool
	// Freebind is IP_FREEBIND (IPV6_FREEBIND on an IPv6 socket): bind an
	// address the engine does not own (yet). Nothing reaches such a
	// socket until the address is the engine's.
	Freebind bool
	// Transparent is IP_TRANSPARENT (IPv4 only: IPV6_TRANSPARENT is not
	// supported, EOPNOTSUPP): bind an address the engine does not own and
	// receive the traffic for it, as a transparent proxy or a load
	// balancer does; a packet to the address reaches the engine when the
	// network routes it there (the engine does not answer ARP for it). It
	// also allows any source address in WriteMsg. From the first
	// transparent bind to an address until the engine closes, the engine
	// takes the traffic to it, as a TPROXY rule does.
	Transparent bool
	// BindAddressNoPort is IP_BIND_ADDRESS_NO_PORT: a Dialer with a
	// LocalAddr of port 0 takes no port at bind time; connect chooses one
	// that only has to make the 4-tuple unique, so many connections to
	// different peers share local ports.
	BindAddressNoPort bool
	// Broadcast is SO_BROADCAST (UDP over IPv4): allow sending to, and
	// connecting to, a broadcast address. Without it both fail with
	// EACCES. IPv6 has no broadcast.
	Broadcast bool
	// NextHop, when set, is the neighbor on the link that every packet of
	// the socket is sent to, whatever the route toward its destination
	// says (the destination stays): what a host route `ip route add DST
	// via NEXTHOP` does, for one socket. The load balancer's health checks
	// use it to reach a direct-server-return backend at the VIP it owns.
	// It must be on one of the engine's prefixes of the socket's family
	// (else ENETUNREACH).
	NextHop netip.Addr
}

// CheckNextHop returns ENETUNREACH, as an *os.SyscallError of op, when
// next is set and not on one of prefixes.
func (o Options) CheckNextHop(op string, prefixes []netip.Prefix) error {
	if !o.NextHop.IsValid() {
		return nil
	}
	for _, p := range prefixes {
		if p.Masked().Contains(o.NextHop) {
			return nil
		}
	}
	return os.NewSyscallError(op, syscall.ENETUNREACH)
}

// Table returns the options the socket table applies.
func (o Options) Table() socktab.Options {
	return socktab.Options{ReuseAddr: o.ReuseAddr, ReusePort: o.ReusePort,
		Freebind: o.Freebind || o.Transparent, BindAddressNoPort: o.BindAddressNoPort, V6Only: o.V6Only}
}

// PMTUDisc is a socket's path MTU discovery mode, ip(7)'s IP_MTU_DISCOVER
// and ipv6(7)'s IPV6_MTU_DISCOVER, numbered as Linux numbers both. IPv6
// has no DF bit: the source fragments, so Dont and Want fragment what
// exceeds the path MTU, and Do and Probe refuse it with EMSGSIZE, as
// Linux's UDPv6 does.
type PMTUDisc int32

const (
	// PMTUDiscDont never sets DF: a datagram larger than the path MTU is
	// fragmented.
	PMTUDiscDont PMTUDisc = 0
	// PMTUDiscWant (Linux's default for UDP) sets DF on what fits the path
	// MTU and fragments the rest.
	PMTUDiscWant PMTUDisc = 1
	// PMTUDiscDo always sets DF: a datagram larger than the path MTU fails
	// with EMSGSIZE.
	PMTUDiscDo PMTUDisc = 2
	// PMTUDiscProbe always sets DF and ignores the learned path MTU (it
	// sends up to the link MTU, for probing): larger fails with EMSGSIZE.
	PMTUDiscProbe PMTUDisc = 3
)

func (d PMTUDisc) String() string {
	switch d {
	case PMTUDiscDont:
		return "dont"
	case PMTUDiscWant:
		return "want"
	case PMTUDiscDo:
		return "do"
	case PMTUDiscProbe:
		return "probe"
	}
	return fmt.Sprintf("PMTUDisc(%d)", int(d))
}

// DefaultTTL is net.ipv4.ip_default_ttl.
const DefaultTTL = 64

// DefaultHopLimit is net.ipv6.conf.*.hop_limit, the hop limit of unicast
// IPv6 packets (IPV6_UNICAST_HOPS -1).
const DefaultHopLimit = 64
