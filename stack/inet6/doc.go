// Package inet6 is the engine's IPv6 network layer, the sibling of inet4.
//
// Host holds what the workers share: the engine's IPv6 addresses (those
// configured, and those Duplicate Address Detection found unique: the only
// ones used), the route (on-link prefixes, link-local destinations, one
// gateway, Config.Gateway, which may be link-local, else the default
// router learned from Router Advertisements), the path MTUs learned
// from Packet Too Big (10 minutes, never below 1280, RFC 8201), the
// fragment identifications (random, ipv6.IDGenerator) and the MLDv2 host of
// the groups joined (JoinGroup, LeaveGroup: the XDP program steers a
// joined group to the engine).
//
// Layer is one worker's part, touched by its goroutine only. inet4's Layer
// is the worker's datapath.Input and hands it the worker's IPv6 frames
// (inet4.Layer.SetIPv6) and the items other workers steer with a kind from
// inet4.SteerIPv6 up; the Layer is also a datapath.Layer of the worker
// (its datagram queue and timers). Receive, in order:
//
//   - header.ParseIPv6 (truncated: InTruncatedPkts; else InHdrErrors), a
//     multicast source refused, then the destination: a usable address, a
//     configured one still tentative (Neighbor Discovery only), ff02::1,
//     the solicited-node group of a configured or announced address
//     (Host.Announce), or a joined group;
//     anything else is InAddrErrors.
//   - The extension header walk (header.ParseIPv6Ext): an error that calls
//     for it is answered with a parameter problem (code and pointer from
//     the walk), rate-limited.
//   - Fragments go to the worker's ipv6.Reassembler (time exceeded code 1
//     for a packet whose first fragment came but not the rest, within 60 s;
//     parameter problems for bad fragment lengths); the packet is then
//     handled whole, without a frame.
//   - ICMPv6: the checksum verified, Neighbor Discovery (below), MLD (a
//     query to a joined group, hop limit 1 and Router Alert required),
//     echo (answered in place when the request came alone in its frame
//     without extension headers, else through the send path, which
//     fragments), errors (the path MTU from a Packet Too Big; the quoted
//     packet, one of ours, given to the transport of its protocol: one
//     demux for every transport, with the errno Linux reports).
//   - Otherwise the transport registered for the next header (Register; a
//     Transport gets Received packets and ICMPError values). With none,
//     as Linux: UDP with a valid checksum gets a port unreachable, TCP is
//     counted and dropped (the engine always registers its TCP, which
//     answers a segment for no socket with a RST), No Next Header is
//     consumed, anything else gets a parameter problem code 1
//     pointing at the Next Header that named it (InUnknownProtos).
//
// Neighbor Discovery (package ndp) runs per worker: a neighbor cache with
// the NUD states of RFC 4861, a responder that answers solicitations for
// the usable addresses (and from :: to ff02::1), and learns from
// solicitations, advertisements and the source link-layer option of a
// Router Advertisement; every message validated as RFC 4861 asks (hop limit
// 255, code 0, options), and each one a worker receives from the link is
// handed to the other workers (steered), which learn from it without
// answering, so every cache learns what any queue received. A flood of
// solicitations from made-up sources cannot fill a cache (half of it at most
// is learned from messages; LearnRefused counts the rest). Sending resolves
// the next hop through the cache: a datagram waits while the entry is
// INCOMPLETE, 256 at most per worker (101 per neighbor), more are dropped
// and counted (OutDiscards, DropNeighbor).
//
// Duplicate Address Detection (RFC 4862, RFC 7527 nonces) runs on worker
// 0 at Start: one probe per address, from :: to its solicited-node group,
// at once (no random initial delay: one interface, one engine), then one
// RetransTimer (1 s). An advertisement for the address, or another node's
// probe for it, makes it a duplicate: logged as an error, counted
// (DADDuplicate), removed from the XDP program (given back to the host) and
// never used. WaitDAD returns when every address is decided; Config.NoDAD
// assigns them at once (`ip addr add ... nodad`). A tentative address
// receives Neighbor Discovery only.
//
// Send: Host.TrySend/Send queue a complete IPv6 packet (a Datagram) to a
// worker, which routes it (Route: the usable address of the destination's
// prefix as source, else the first; on-link or the gateway), resolves the
// next hop (parking), fragments it at the path MTU with ipv6.Fragmenter
// unless the Datagram says DontFrag (the source fragments in IPv6), and
// builds the frames straight into UMEM frames. ICMPv6 errors (SendICMPError)
// quote as much of the invoking packet as fits in 1280 bytes, follow RFC
// 4443 2.4(e) (none about an ICMPv6 error, none to a multicast or
// unspecified source, none for a multicast destination but Packet Too Big
// and an unrecognised option) and Linux's rate limits (icmp.Limiter: a
// burst of 6 then one a second per destination, 1000 a second in all;
// Packet Too Big exempt).
//
// Router Advertisements and MLD general queries go to ff02::1, which the
// XDP program leaves to the host kernel (XDP cannot copy a frame): worker
// 0 reads a copy of them at its ticks from an AF_PACKET tap
// (afxdp.ICMPv6Tap, opened by Attach; as inet4 reads IGMP queries), while
// the kernel handles them too. An advertisement (hop limit 255, a
// link-local source, checksum and ParseNDP) goes to the host's
// ndp.RouterList and teaches every worker's neighbor cache the router's
// link-layer address; Route then sends what is off the link, when
// Config.Gateway is not set, to the default router (the first unexpired;
// a router lifetime of 0 withdraws it), treats the advertised on-link
// prefixes as on the link, and an MTU option below the link MTU lowers it
// (MTU, PathMTU; never below 1280). An advertisement unicast to one of
// the engine's addresses (a router's answer to a solicitation) comes
// through the XDP program, not the tap, and is learned alike by the worker
// that received it. NDP.RouterAdverts and RouterAdvertsUsed count them;
// invalid ones count in NDP.InErrors. A query goes to the MLD host, which
// answers it for the groups joined.
//
// Router Solicitations (RFC 4861 6.3.7, as Linux's router_solicitations,
// router_solicitation_interval and router_solicitation_delay): when
// Config.Gateway is not set, worker 0, once DAD ended with a usable
// address (at once with NoDAD), waits a random delay up to 1 s (the
// engine's DAD has none of its own), then sends up to 3 solicitations 4 s
// apart to ff02::2 from its first usable address, with the source
// link-layer option and hop limit 255, at its ticks; the first valid
// advertisement heard (tap or unicast, before or after) stops them for
// good, as Linux's IF_RA_RCVD does. Config.RouterSolicitation changes the
// count, interval and delay (engine.Config.IPv6RouterSolicitation);
// ICMP.OutRouterSolicits counts them. Linux doubles the interval after
// each one (RFC 7559's backoff, rtr_solicit_max_interval); the engine
// keeps RFC 4861's fixed interval.
//
// MLD: reports leave worker 0 from the interface's link-local address
// (the host kernel's, derived from the MAC: the kernel answers Neighbor
// Discovery for it), hop limit 1, behind a Router Alert. Group-specific
// queries to a joined group reach the engine through the XDP program;
// general queries through the tap.
//
// Forwarder (forward.go, as inet4's): a protocol that forwards instead of
// terminating (the load balancer) sees every unicast packet to the engine
// that passed the checks above, before ICMPv6 and transport dispatch (a
// fragmented packet once, reassembled, without its frame), and decides:
// Pass to the engine's stack, Drop, Transmit in place, or Route through
// the send path (Packet.Via names the next hop of a DSR packet).
// Host.AddTransparent makes the XDP program steer an address the engine
// does not own (a VIP) and the layer take its packets; the engine does not
// send from it, and answers Neighbor Discovery for it only once
// Host.Announce announced it (announce.go: solicitations for it answered
// as for the engine's own addresses, its solicited-node group taken,
// unsolicited advertisements from worker 0 when added). SteerForward hands
// a frame to the Forwarder of the worker that owns its flow.
//
// Not supported: router preferences and route information options,
// address autoconfiguration, Redirects (validated and ignored), the routing header
// (segments left 0 is skipped, anything else refused), jumbograms,
// IPsec, source-specific MLD, routing (packets not to the engine). UDP (stack/udp) and TCP
// (stack/tcpsock) register on every worker; a next header nothing registered for is answered as a
// host without sockets would. A registered transport calls back NoSocket
// for a datagram no socket takes (counted, port unreachable) and sends
// with SendUntil, which waits within a socket's deadline.
//
// Counters are stats.IPv6 (snmp6's names), published with the worker's.
// Nothing on the receive path allocates: an echo answered in place, a
// datagram to a closed port, a solicitation answered (bench_test.go).
package inet6
