// Package inet4 is the engine's IPv4 network layer.
//
// Host holds what the workers share: the engine's addresses and its route
// (on-link prefixes and one gateway), the path MTUs learned from ICMP
// "fragmentation needed" (10 minutes, floor 552, as Linux), the IP ID
// generator, the addresses of IP_TRANSPARENT binds and the UDP ports that
// receive broadcasts (both mirrored into the XDP program), the announced
// addresses (announce.go: ARP answered for them as for the engine's own,
// with gratuitous ARPs from worker 0 when one is added), and IP
// multicast: the IGMPv3 host whose group map the XDP program follows, with
// queries read through a tap and reports sent by worker 0.
//
// Layer is one worker's part, touched by its goroutine only. As the
// worker's datapath.Input it takes every frame: ARP (answered, learned, and
// handed to the other workers so every neighbor table learns it), IPv4 to
// the engine (address check, reassembly, the Hook once per packet), ICMP
// (echo answered in place; errors parsed and given to the transport whose
// packet they quote: one demux for UDP and TCP), and the rest to the
// transport registered for its protocol number (Register; a Transport gets
// Received packets and ICMP errors). As a datapath.Layer it sends the
// datagrams applications queue (Host.Send): next hop, ARP resolution with
// parking, fragmentation at the path MTU, straight into UMEM frames.
//
// With Config.Decap the layer is also the far end of a load balancer's
// tunnel DSR (decap.go): a packet to one of the engine's own addresses in
// IPv4-in-IPv4 or GUE variant 1 is unwrapped before the Hook, and its
// inner packet, moved to just after the Ethernet header of the same frame,
// runs through the layer as if it had come alone (validated, to a local
// address such as a transparent VIP, reassembled if a fragment, hooked,
// forwarded, delivered, steered, answered in place). A tunnel packet that
// arrives in fragments is reassembled first. Tunnels inside tunnels are
// dropped; every tunnel packet is counted (stats.Decap).
//
// A Forwarder (the load balancer) is asked about each packet after the
// Hook, before its transport; one that is a BurstForwarder also gets the
// 5-tuples of every burst the worker receives, before its packets (the
// layer is then a datapath.BurstInput, burst.go), to prefetch what its
// lookups will read.
//
// A transport that finds a packet belongs to a flow another worker owns
// hands it over with Steer; the receiving worker does not parse, check or
// hook it again (the steered item carries what the sender learned).
//
// The worker's IPv6 frames, and the items other workers steer to its IPv6
// layer, go to the Input given to SetIPv6 (the IPv6 network layer, a
// sibling package); without one they are dropped and counted (DropProto).
//
// Addresses are netip.Addr throughout; [4]byte appears only at the wire
// (header views, ARP) so that an IPv6 layer can sit beside this one.
package inet4
