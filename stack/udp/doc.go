// Package udp is the engine's UDP socket layer: Conn (a net.PacketConn and,
// connected, a net.Conn) with ip(7)'s and ipv6(7)'s options, the error
// queue (IP_RECVERR, IPV6_RECVERR), multicast memberships and control
// messages, and one worker part per queue that is the inet4.Transport of
// protocol 17 and, when the engine has IPv6 addresses, the
// inet6.Transport of next header 17.
//
// Families: a socket is IPv4 (AF_INET) or IPv6 (AF_INET6), as the socket
// table models them. An IPv6 socket bound to [::] without V6Only is
// dual-stack: it also takes IPv4 datagrams, after the IPv4 sockets on the
// same key (Linux's scoring), and names their senders ::ffff:a.b.c.d,
// as Linux and Go's net do; a send to an IPv4 address, or its v4-mapped
// form, goes out over IPv4 with the IPv4 options (TTL, TOS). An IPv6
// socket bound to a specific IPv6 address, or V6Only, takes no IPv4
// (ENETUNREACH for an IPv4 destination, as Linux's udpv6_sendmsg).
//
// Receiving: a worker checks the checksum (trusting a partial one on a
// virtual link; over IPv6 it is mandatory, and a zero one is dropped and
// counted as Linux drops it), looks the datagram up in the socket table
// with the packet's family (exact 5-tuple, specific bind, wildcard; every
// matching socket for an IPv4 multicast or broadcast, and for an IPv6
// group, each filtered by its memberships and IP_MULTICAST_ALL or
// IPV6_MULTICAST_ALL), hands a connected socket's
// datagram to the worker that owns its flow, and copies the payload into
// a pool buffer on the socket's receive ring; a full receive buffer drops
// and counts. No socket: ICMP or ICMPv6 port unreachable (rate-limited by
// the network layer). Nothing on this path allocates.
//
// ICMP and ICMPv6 errors come through the network layers' one demux: a
// connected socket gets the errno of a hard error on its next call
// (ECONNREFUSED for a port unreachable, EMSGSIZE for a Packet Too Big
// unless the socket does not discover path MTUs, EACCES, EPROTO), as
// Linux's udp_err and udpv6_err; with the error queue on, every error is
// queued (SockError.ICMPv6 says which protocol carried it).
//
// Sending: the application's goroutine builds the whole IPv4/UDP or
// IPv6/UDP datagram (checksums included, except a unicast datagram's UDP
// checksum where the worker's transmit offload finishes it: the field
// then holds the pseudo-header's sum, and the worker finishes it itself
// before fragmenting) and queues it to the worker that
// receives the peer's answers (inet4.Host.Send, inet6.Host.SendUntil),
// waiting for room within the write deadline as a blocking send does.
// The worker fragments at the path MTU: over IPv4 unless DF, over IPv6
// unless IPV6_MTU_DISCOVER do/probe or IPV6_DONTFRAG, which refuse a
// datagram over the path MTU with EMSGSIZE before it is queued, as
// Linux's UDPv6 does. Largest payloads: 65,507 bytes over IPv4, 65,527
// over IPv6.
//
// A datagram to an IPv6 group goes, as Linux's __udp6_lib_mcast_deliver,
// to every IPv6 socket on its port bound to :: or to the group (and, if
// connected, to the sender) that joined the group or leaves
// IPV6_MULTICAST_ALL on (the default; SetMulticastAll), one copy each.
//
// Not supported over IPv6: source-specific multicast, IPV6_MULTICAST_IF,
// IPV6_MULTICAST_LOOP, flow labels, IPV6_TRANSPARENT (EOPNOTSUPP).
package udp
