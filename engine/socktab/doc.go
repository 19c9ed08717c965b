// Package socktab is the engine's socket table: bind, listen, connect and
// close with Linux's rules, and the lookup that finds the socket for an
// arriving packet.
//
// # Rules
//
// The reference is Linux (ip(7), tcp(7), udp(7); inet_csk_get_port,
// inet_bind_conflict, inet_rcv_saddr_equal, udp_lib_lport_inuse,
// __inet_hash_connect). conflict.go transcribes the kernel's conflict
// functions; oracle_test.go performs every scenario on the peer kernel as
// well and requires the same errno.
//
//   - TCP: two sockets may share an address and port when both set
//     SO_REUSEADDR and the existing one is not listening (listen re-checks,
//     so only one of them can listen), or when both set SO_REUSEPORT with the
//     same Options.Owner (Linux compares uids).
//   - UDP: both sockets set SO_REUSEADDR, or both SO_REUSEPORT with the
//     same owner.
//   - Addresses conflict when equal or when either is the wildcard; an IPv6
//     socket on :: overlaps IPv4 addresses unless V6Only (default false, as
//     net.ipv6.bindv6only=0); a v4-mapped bind is an IPv4 bind.
//   - Ports below Config.UnprivilegedPortStart (1024) need
//     Config.BindService (CAP_NET_BIND_SERVICE): EACCES. An address the
//     engine does not own: EADDRNOTAVAIL unless Options.Freebind or
//     Config.NonlocalBind. IPv4 checks the address before the port, IPv6
//     the port first, as the kernel does.
//   - A wildcard bind logs a warning naming the exposure; Config.DenyWildcard
//     makes it an error (EACCES, ErrWildcardDenied).
//   - connect keeps a bound port (EADDRNOTAVAIL if the 5-tuple exists),
//     otherwise takes one from the caller's portalloc shard: TCP may share a
//     port across destinations (__inet_hash_connect; also after bind(addr, 0)
//     with BindAddressNoPort), UDP takes a port no socket uses (Linux's UDP
//     autobind), both steered to the caller's worker.
//
// # Lookup
//
// Lookup tries, in order: a connected socket by exact 5-tuple (ExactTable);
// a receiver (TCP listener, bound unconnected UDP socket) on the packet's
// destination address and port; one on the wildcard address; nothing (the
// caller answers with a TCP RST or ICMP port unreachable). Among receivers
// of one key, an IPv4 socket beats an IPv6 socket for IPv4 traffic, and a
// SO_REUSEPORT group is spread by a seeded go-metro hash of the 4-tuple;
// otherwise the newest socket wins, as Linux inserts at the head of its
// chains.
//
// # Concurrency and memory
//
// Control-plane calls (Open, Bind, Listen, Connect, Close, SetState) take
// Table.mu. Receivers live in an immutable map rebuilt on each change
// (O(receivers)) and published through an atomic.Pointer; connected sockets
// live in an ExactTable whose default is 4096 copy-on-write maps, each
// published through an atomic.Pointer (a connect copies 1/4096 of the
// connections, TIME-WAIT included: a stand-in until the lock-free flow
// table implements ExactTable). Lookup takes no lock and allocates nothing.
//
// # Listings
//
// Sockets lists the sockets holding a port the way `ss -tan` / `ss -uan`
// do, with Recv-Q/Send-Q from Config.Queues; WriteSS prints them.
package socktab
