// Package udp is the engine's UDP socket layer: Conn (a net.PacketConn and,
// connected, a net.Conn) with ip(7)'s options, IP_RECVERR's error queue,
// multicast memberships and control messages, and one worker part per
// queue that is the inet4.Transport of protocol 17.
//
// Receiving: a worker checks the checksum (trusting a partial one on a
// virtual link), looks the datagram up in the socket table (exact 5-tuple,
// specific bind, wildcard; every matching socket for a multicast or
// broadcast), hands a connected socket's datagram to the worker that owns
// its flow, and copies the payload into a pool buffer on the socket's
// receive ring; a full receive buffer drops and counts. No socket: ICMP
// port unreachable (rate-limited by inet4).
//
// Sending: the application's goroutine builds the whole IPv4/UDP datagram
// (checksums included) and queues it to the worker that receives the
// peer's answers (inet4.Host.Send), waiting for room within the write
// deadline as a blocking send does.
package udp
