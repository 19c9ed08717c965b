// Package portalloc chooses local ports the way Linux does, split into
// per-worker shards.
//
// # Model
//
// An Allocator covers one protocol's port space (TCP and UDP each have one;
// IPv4 and IPv6 share it, as in Linux). It knows:
//
//   - the ephemeral range (default 32768–60999, net.ipv4.ip_local_port_range)
//     and the reserved ports (net.ipv4.ip_local_reserved_ports), which
//     automatic choice skips but an explicit bind may still take;
//   - which ports are held by a bind() (Hold/Unhold): automatic choice for a
//     connect never shares such a port, as Linux's __inet_hash_connect skips a
//     bind bucket created by bind();
//   - which 4-tuples are in use. A connection is its whole tuple, so an
//     outgoing connection may reuse a local port already used toward another
//     destination (the IP_BIND_ADDRESS_NO_PORT behaviour); a port is "in use"
//     for a destination only if that exact tuple exists or the port is held.
//
// # Shards and steering
//
// Each worker owns a Shard. The ports a shard hands out are the ones whose
// return traffic the Steering function sends to that worker: for a connect
// from L to R:r, port p belongs to shard Steer(R:r -> L:p). Because the
// tuple decides the shard, two shards never hand out the same tuple, and the
// shard that owns a tuple is the only place its uniqueness is checked (an
// explicit-port connect, Reserve, goes to the owning shard too).
//
// Two steering functions are provided: Metro (software steering, go-metro
// over the arriving packet's key with a seed, modulo the worker count) and
// Toeplitz (the NIC's RSS hash as Microsoft's RSS specification defines it,
// with the NIC's key and indirection table, the way mTCP, F-Stack and
// Seastar pick source ports). Toeplitz is linear in its input, so the hash of
// a reply with local port p is base ^ T(p); the shard precomputes base once
// per connect and each probe costs two table reads.
//
// # Choosing a port
//
// RFC 6056-style with Linux's parity rule: connect prefers even ports first
// (then odd), bind(port 0) prefers odd ports first. The random source is
// injected (Config.NewRand). A shard keeps its connections grouped by
// destination, and a connect never scans the range port by port under load:
//
//   - A destination with few connections from this shard (fewer than 32) is
//     served by random probing: up to Config.Probes random ports (the first
//     sixteenth even only), each costing one steering hash and a short list
//     check; then a linear walk from a random start, even then odd, so the
//     answer is exact.
//   - A busy destination gets bitmaps: the ports in use toward it, and the
//     ports whose replies from it steer to this shard (computed once, one
//     steering hash per port of the range). A choice is then a word-at-a-time
//     walk from a random start over mine &^ used &^ held, even then odd,
//     skipping a parity whose free count is zero. Exhaustion is exact.
//
// # Concurrency
//
// Each Shard has its own mutex, uncontended when one worker owns it; the
// held-port bitmap is read by all shards with atomic loads and written under
// the allocator's mutex. The per-port use counts are atomics written under
// the owning shard's mutex and read by bind(0) and exclusive choice.
//
// # Errors
//
// Exhaustion returns ErrExhausted, which matches syscall.EADDRNOTAVAIL with
// errors.Is, as connect(2) reports it on Linux.
package portalloc
