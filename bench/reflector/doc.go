// Package reflector turns frames around, in place, for `engine bench
// reflect`: a second engine that sends every frame it receives back where
// it came from, so that the generator measures loss and latency through a
// device under test and back without a second measuring host.
//
// Reflect swaps the Ethernet addresses, the IPv4 addresses and, for UDP
// and TCP (the first fragment, which holds the header), the ports. VLAN
// tags, TTL, payload and signature are left as they are. No checksum
// changes: a one's complement sum does not depend on the order of the
// words it adds (RFC 1071), so swapping two 16- or 32-bit fields at even
// offsets inside the same sum leaves the IPv4 header checksum, the
// pseudo-header and the TCP or UDP checksum valid (and a partial checksum
// from a sender's offload partial). ICMP echo requests are reflected as
// they are, not answered: the generator reads the signature of either.
//
// Reflect allocates nothing and returns the header package's sentinel
// errors, or ErrNotIPv4 for a frame it leaves untouched.
//
// AttachXDP does the same in an XDP program (XDP_TX) for the UDP and TCP
// frames to one address, without IPv4 options (`engine bench reflect
// --xdp`): no thread of its own, so a generator on the same veth measures
// its own latency; the kernel keeps ARP and the rest. Its tests run it in
// the kernel (BPF_PROG_TEST_RUN) against Reflect.
package reflector
