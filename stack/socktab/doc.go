// Package socktab is the engine's socket table: bind, listen, connect,
// accept and close with Linux's rules, and the lookup that finds the socket
// for an arriving packet.
//
// # Rules
//
// The reference is Linux (ip(7), tcp(7), udp(7); inet_csk_get_port,
// inet_bind_conflict, inet_rcv_saddr_equal, udp_lib_lport_inuse,
// __inet_hash_connect). conflict.go transcribes the kernel's conflict
// functions; oracle_test.go and oracle_script_test.go perform every scenario
// on the peer kernel as well (connects, accepted connections and TIME-WAIT
// included) and require the same errno.
//
//   - TCP: two sockets may share an address and port when both set
//     SO_REUSEADDR and the existing one is not listening (listen re-checks,
//     so only one of them can listen), or when both set SO_REUSEPORT with the
//     same Options.Owner (Linux compares uids; a TIME-WAIT socket shares
//     with any owner).
//   - UDP: both sockets set SO_REUSEADDR, or both SO_REUSEPORT with the
//     same owner.
//   - Addresses conflict when equal or when either is the wildcard; an IPv6
//     socket on :: overlaps IPv4 addresses unless V6Only (default false, as
//     net.ipv6.bindv6only=0); a v4-mapped bind is an IPv4 bind, and
//     ::ffff:0.0.0.0 is the IPv4 wildcard of an IPv6 socket (it takes every
//     IPv4 address and no IPv6 traffic; V6Only refuses it with EINVAL). An
//     IPv6 socket bound to a specific address that is not v4-mapped counts
//     as V6Only, as __inet6_bind sets sk_ipv6only for it: it never
//     conflicts with an IPv4 bind (engine's TestDualStackBindConflicts
//     compares this with the kernel).
//   - Accepted connections (Accept) and TIME-WAIT sockets keep their port:
//     a child shares its listener's port and copies its options, so after
//     the listener closes a new bind or listen on that address and port gets
//     EADDRINUSE unless both the new socket and the old listener set
//     SO_REUSEADDR (or SO_REUSEPORT, same owner); SO_REUSEADDR on the new
//     socket alone is not enough. Connected sockets and their TIME-WAIT
//     hold their port the same way.
//   - bind on a socket that has a port or left CLOSE is EINVAL; a
//     bind(addr, 0) with IP_BIND_ADDRESS_NO_PORT took no port, so the socket
//     may be bound again. A sockaddr of the wrong family: an IPv6 socket
//     given an IPv4 address is EINVAL (Linux sees a sockaddr_in too short),
//     an IPv4 socket given an IPv6 address EAFNOSUPPORT.
//   - Ports below Config.UnprivilegedPortStart (1024) need
//     Config.BindService (CAP_NET_BIND_SERVICE): EACCES. An address the
//     engine does not own: EADDRNOTAVAIL unless Options.Freebind or
//     Config.NonlocalBind. Any socket, TCP included, may bind (and TCP
//     listen on) 255.255.255.255, a subnet broadcast address of
//     Config.Addrs, or a multicast address, as Linux allows (a SYN to such
//     an address is dropped later, by tcp_v4_conn_request); the engine
//     has no loopback, so 127.0.0.1 is not owned (a Linux host whose lo has
//     no address answers the same). IPv4 checks the address before the
//     port, IPv6 the port first, as the kernel does.
//   - A wildcard bind logs a warning naming the exposure; Config.DenyWildcard
//     makes it an error (EACCES, ErrWildcardDenied).
//   - bind(port 0) and listen's automatic bind choose a port from the
//     ephemeral range: TCP skips every port with a socket on an overlapping
//     address, whatever its options (inet_csk_find_open_port); exhaustion is
//     EADDRINUSE.
//   - connect keeps a bound port (EADDRNOTAVAIL if the 5-tuple exists),
//     otherwise takes one from the caller's portalloc shard, or another
//     worker's when the caller's share is used up (ConnectShard says which
//     worker owns the connection): TCP may share a port across destinations
//     (__inet_hash_connect; also after bind(addr, 0) with
//     BindAddressNoPort) and fails with EADDRNOTAVAIL when the range is used
//     up toward the peer; UDP takes a port no socket uses (Linux's UDP
//     autobind) and fails with EAGAIN.
//   - The ephemeral range and reserved ports can change at run time
//     (SetPortRange, SetReservedPorts); a range starting below
//     UnprivilegedPortStart, or with first > last, is EINVAL.
//
// # Lookup
//
// Lookup tries, in order: a connected or accepted socket by exact 5-tuple
// (ExactTable; not one registered with ConnectUnlisted or HoldAccepted, for
// a transport that finds its connections itself, as the engine's TCP
// workers do in their flow tables: Holder finds those, for the control
// plane); a receiver (TCP listener, bound unconnected UDP socket) on
// the packet's destination address and port; one on the wildcard address;
// nothing (the caller answers with a TCP RST or ICMP port unreachable).
// Among receivers of one key, an IPv4 socket beats an IPv6 socket for IPv4
// traffic, and a SO_REUSEPORT group is spread by a seeded go-metro hash of
// the 4-tuple; otherwise the newest socket wins, as Linux inserts at the
// head of its chains. A socket in TIME-WAIT stays in the exact table until
// Close, or until ReleaseTuple lets a new connection take its tuple (Linux's
// tcp_tw_reuse); it keeps its port against bind either way.
//
// LookupOn is Lookup for the worker that received the packet: within a
// SO_REUSEPORT group it hashes among the members homed on that worker
// (SetHome) when there are any, else among all members, like Linux's
// SO_INCOMING_CPU preference.
//
// # Broadcast and multicast
//
// A UDP datagram over IPv4 to a multicast group, to 255.255.255.255 or to
// the directed broadcast address of one of Config.Addrs (IsFanout) goes to
// every matching socket, as Linux's __udp4_lib_mcast_deliver does:
// LookupAll appends every UDP socket on the destination port whose IPv4
// receive address is the wildcard (0.0.0.0, a dual-stack ::,
// ::ffff:0.0.0.0) or the destination itself, and which, when connected, is
// connected to the datagram's source; every member of a SO_REUSEPORT group
// gets a copy. A socket on a unicast address, an IPV6_V6ONLY socket, one on
// a native IPv6 address, and one connected after a wildcard bind (connect
// gave it a unicast address) get none. oracle_fanout_test.go sends each
// kind of destination from another namespace to the same sockets on the
// peer kernel and requires the same set. Group membership is the caller's
// filter (ip_mc_sf_allow): a socket that joined nothing takes a group's
// datagrams when IP_MULTICAST_ALL is set, which Linux sets by default on
// IPv4 sockets and not on IPv6 ones, so a dual-stack socket gets IPv4
// broadcasts but not IPv4 multicast unless it joins the group.
//
// A UDP datagram to an IPv6 group (ff00::/8) fans out too, as Linux's
// __udp6_lib_mcast_deliver: to every IPv6 socket on the port whose
// receive address is :: (IPV6_V6ONLY or not) or the group, connected
// only to the datagram's source if at all, SO_REUSEPORT members each;
// IPv4 sockets and IPv6 ones on a unicast or v4-mapped address get none.
// The caller applies the membership filter (inet6_mc_check:
// IPV6_MULTICAST_ALL, which Linux sets by default on IPv6 sockets).
//
// # Concurrency and memory
//
// Control-plane calls (Open, Bind, Listen, Connect, Accept, SetState,
// ReleaseTuple, Close, SetPortRange, SetHome) take Table.mu. A port's
// sockets live in a bucket with O(1) insertion and removal (a listener's
// port holds all its accepted connections). Receivers, their SO_REUSEPORT
// groups indexed by home worker, and the per-port fan-out lists of
// LookupAll live in an immutable snapshot rebuilt from the bound sockets
// on each change (O(bound sockets); connections are not read, except the
// rare UDP socket connected from a broadcast or multicast bind) and
// published through an atomic.Pointer; connected sockets live in an
// ExactTable whose default is 4096 copy-on-write shards (a list of up to
// 8 connections, a map beyond), each published through an
// atomic.Pointer (a connect or accept copies 1/4096 of the connections,
// TIME-WAIT included: a stand-in until the lock-free flow table
// implements ExactTable). Lookup, LookupOn, IsFanout and
// LookupAll take no lock and allocate nothing (LookupAll appends into the
// caller's slice, at most MaxFanout sockets).
//
// # Not modelled
//
// SO_BINDTODEVICE and VRFs, multicast group membership
// and source filters (the engine's), net.ipv4.ip_autobind_reuse, sendto's autobind
// of an unconnected UDP socket (the engine's own send path), the AF_UNSPEC
// compatibility of bind(2) on IPv4 sockets, and the local routes that make
// a whole prefix on lo local.
//
// # Listings
//
// Sockets lists the sockets holding a port the way `ss -tan` / `ss -uan`
// do, with Recv-Q/Send-Q from Config.Queues; WriteSS prints them.
package socktab
