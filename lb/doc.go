// Package lb is the engine's L4 load balancer: VIPs (address, port —
// 0 for every port — and protocol) whose flows are spread over backends by
// Maglev (lb/maglev) and tracked per worker, forwarded in NAT or DSR mode
// by the workers themselves, without terminating them.
//
// # Datapath
//
// The balancer plugs into each worker's IPv4 layer as its
// inet4.Forwarder, and into its IPv6 layer as its inet6.Forwarder (the
// same object; IPv6 VIPs, forward6.go), (after the Hook, before transport dispatch; a fragmented
// datagram is seen once, reassembled, unless its VIP hashes fragments:
// fragments.go) and into the worker's loop as a
// datapath.Layer (it ages its connection table at every tick). For a packet
// to a VIP it looks the 5-tuple up in the connection table of the worker
// that owns the flow (the engine's steering function of the client's
// tuple: with RSS, the worker the NIC delivers it to), else gives a new
// flow its backend from the VIP's Maglev table (5-tuple hash, or the
// client's address only with SourceHash), then rewrites and sends it:
//
//   - NAT: destination to the backend, source to the engine's first
//     address and a port from the owning worker's share of the engine's
//     ephemeral ports (the socket table's allocator: no collision with the
//     engine's own connections), chosen so that the backend's reply is
//     steered to that worker; the reply is found by its own key and
//     translated back. RFC 1624 incremental checksums; a partial checksum
//     (a Linux sender on a virtual link) is completed, as the receiving
//     kernel verifies it.
//   - DSRL2: only the Ethernet destination changes, to the backend, which
//     owns the VIP on a loopback and answers the client directly.
//   - DSRIPIP, DSRGUE, DSRVXLAN: the packet goes unchanged inside an outer
//     header to the backend (IP-in-IP; GUE variant 1 over UDP, Katran's;
//     VXLAN with the backend's VXLAN MAC), which decapsulates it, owns the
//     VIP and answers the client directly (encap.go). The outer header is
//     written in place in front of the packet (a received frame has the
//     rest of its UMEM frame to grow into). A packet that would exceed the
//     MTU once encapsulated gets the client ICMP "fragmentation needed"
//     when it has DF, else goes out in outer fragments.
//
// A packet goes out in place when the next hop's MAC is known, else
// through the send path, which waits for ARP (inet4.Route, with the backend
// as the next hop for DSR). A packet of a flow owned by another worker is
// translated where it lands (connection tables are readable lock-free from
// any worker); a new flow's first packet is handed to its owner, which
// creates it. Nothing on this path locks or allocates per packet (a NAT
// flow takes its port under the allocator's shard mutex; an IPv6 flow, or
// one of a fast-path VIP, allocates its record).
//
// # Connection tracking
//
// Per worker, bounded (Config.MaxFlows), with idle timeouts by TCP state
// (SYN, established, closing: FIN or RST seen; a SYN alone on a closing
// flow is a new connection on its 5-tuple and starts it over) and for UDP
// (DefaultTimeouts). A NAT flow has two keys, the client's and the
// backend's reply; the replies keep the flow alive. Expired flows give
// their port back at the tick that expires them (IPv4) or the next one.
//
// IPv4 flows live in a flowtable.Table4 (conntrack4.go), where one 64-byte
// line holds two entries and each entry's 8-byte value is everything the
// flow's packets are translated with: for the client's key the backend's
// and the VIP's registry slots and the NAT port (or a tunnel's entropy
// port), for the reply key the client's address and port and the VIP's
// slot. A lookup reads one cache line and nothing behind it. The
// registries (registry.go) number the VIPs and backends in 16 bits; a
// slot stays with its VIP or backend (address, port, MAC) across
// configurations and is freed once a removed one has no flow left. A NAT
// VIP of every port sends each flow to its client's port (a backend port
// is refused: the reply key could not name the client's port). IPv6 flows
// and those of VIPs with the XDP fast path keep a record each, in a
// flowtable.Index (forward.go, forward6.go, fastpath.go), whose memory is
// faulted in as it fills (flowtable.Config.NoPopulate): an engine without
// such flows pays for the Table4 alone, 32 bytes an entry.
// A full table refuses new NAT flows and
// forwards new DSR flows by Maglev alone (consistent, untracked), counted.
// Tracked flows keep their backend when the configuration changes (a
// backend removed or drained serves its flows until they end). New
// timeouts apply to the flows already tracked, at each worker's next tick;
// MaxFlows sizes the tables at the start.
//
// Lookups are prefetched per burst: the forwarder is an
// inet4.BurstForwarder, so before a worker hands it a burst's packets one
// by one it gets their 5-tuples, builds their keys, finds their owners and
// prefetches each key's line in its owner's Table4 (prefetch.go,
// flowtable.Table4.PrefetchHash), and the cache misses of the burst's
// lookups overlap instead of queueing one per packet. The pre-pass keeps
// each key's owner and table hash (the burst cache, matched by key), so
// Forward computes neither again (flowtable.Table4.LookupTouchHashed).
// BenchmarkConntrack measures it at 1M flows per worker: 40 ns a lookup,
// 1.8x the memory-level-parallel limit, against 90 ns and 4.1-4.5x with
// the records of an Index.
//
// # XDP fast path
//
// A VIP with FastPath has its established flows forwarded by the engine's
// XDP program itself (fastpath.go, afxdp.FastTable): once a worker
// forwarded a UDP flow's packet, or an established TCP flow's (a NAT
// flow's reply too), in place, it puts the rewrite it made — Ethernet
// addresses; for NAT, addresses and ports with the RFC 1624 checksum
// deltas; for tunnel DSR, the outer headers it wrote — in its queue's
// table, and the program applies it to the flow's next packets and sends
// them back out (XDP_TX): no copy to the worker, no system call. A tunnel
// entry takes only packets with the TOS and DF bit of the one it was made
// from, and that fit the MTU once encapsulated: the others (which may need
// ICMP "fragmentation needed" or outer fragments) go to the worker. The worker keeps the flow in its
// connection table and still sees what changes it: TCP segments with SYN,
// FIN or RST (a FIN or RST takes the flow out of the table: a closing flow
// ends in the worker), fragments, IPv4 options, packets with partial
// checksums (a Linux sender on a virtual link: the worker completes them,
// and does not install a flow whose packet came that way), and packets
// that land on another queue. Each entry counts packets and bytes and
// stamps its last packet; a worker reads its table back a share at each
// tick (a whole pass in about a second) into the VIP's and backend's
// counters and the flows' idle times, and once more before it would
// expire a flow, so a flow busy in XDP does not time out. A backend that
// goes down has its flows taken out with them; a drained one keeps them.
// A table holds as many keys as the worker's connection table (a NAT flow
// has two), allocated as they come; a full one leaves flows in the worker,
// counted (FastPath).
//
// On veth (containers, the test bed), XDP_TX frames reach the peer only in
// generic XDP mode or when the peer has an XDP program of its own: in
// native mode the kernel queues them for a peer with NAPI but wakes it
// only when the peer has an XDP program (drivers/net/veth.c, veth_xdp_flush).
// A NIC needs nothing.
//
// # Configuration
//
// SetConfig checks a configuration, builds every VIP's Maglev table and
// swaps the snapshot in atomically; on error the running one stays. Maglev
// tables are deterministic for a configuration and Params.Seed, so two
// instances with the same configuration send a flow to the same backend.
// VIP addresses are added to the engine's transparent addresses
// (inet4.Host.AddTransparent, inet6.Host.AddTransparent: the XDP program
// steers them). With VIP.Announce the engine answers ARP (IPv4) or
// Neighbor Solicitations (IPv6) for the VIP as for its own addresses and
// announces it when it appears (inet4.Host.Announce, inet6.Host.Announce);
// otherwise route the VIP to an address of the engine.
//
// # IPv6
//
// An IPv6 VIP has IPv6 backends (one family per VIP: a mixed VIP is
// refused) and forwards in NAT or DSRL2 mode, TCP and UDP, as IPv4 does:
// its flows live in the same connection tables under IPv6 keys, with the
// same timeouts, owner and Maglev tables (the hash of the IPv6 5-tuple, or
// of the client's address); NAT sends from the engine's first IPv6 address
// (Params.SNAT6) with a port of the owning worker's shard, and rewrites
// addresses and ports with RFC 1624 updates of the TCP or UDP checksum
// (IPv6 has no header checksum; the transport's covers the
// pseudo-header), partial checksums completed; DSRL2 sends to the
// backend's MAC found by Neighbor Discovery. Fragments are reassembled by
// the IPv6 layer and forwarded whole through the send path. The IPv4 path
// is unchanged: no IPv4 packet reaches forward6.go.
//
// ICMP errors about VIP flows are matched by the header they quote and go
// to the side that sent that packet, translated (icmp.go). Health checks
// (lb/health) run over the engine's own TCP and UDP; a backend that fails
// them has weight 0 until it passes (healthcheck.go). Counters are per
// worker.
//
// A backend that goes down has its tracked flows forgotten on every worker:
// a UDP flow's next datagram gets a backend from the table (rehash), a TCP
// connection's next segment reaches a backend that does not know it and
// answers RST (reset).
//
// bench.BenchmarkLBForward measures forwarding (NAT, dsr-l2, 64 and 1400
// bytes, 10,000 flows, highest rate at ≤ 0.1% loss) against nftables DNAT
// in a kernel namespace on the same segment.
//
// Drops are counted by reason (DropReason) per VIP and worker.
//
// Not yet: answering ARP for VIPs; for IPv6 VIPs, the tunnel DSR modes,
// the fast path, hashed fragments, health checks at the VIP and the
// forwarding of ICMPv6 errors (Packet Too Big and the others go to the
// engine's own stack); mixed-family VIPs; the fast path out of a second
// interface (XDP_TX sends back out of the one a packet came in on).
package lb
