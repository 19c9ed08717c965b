// Package portalloc chooses local ports the way Linux does, split into
// per-worker shards.
//
// # Model
//
// An Allocator covers one protocol's port space (Config.Proto: TCP and UDP
// each have one; IPv4 and IPv6 share it, as in Linux). It knows:
//
//   - the ephemeral range (default 32768–60999, net.ipv4.ip_local_port_range)
//     and the reserved ports (net.ipv4.ip_local_reserved_ports), which
//     automatic choice skips but an explicit bind may still take. Both can
//     change at run time (SetRange, SetReserved), as the sysctls can: ports
//     already taken outside the new range stay valid until released, and
//     every later choice comes from the new range. A range is refused, as
//     Linux refuses it (EINVAL), when first > last or when first lies below
//     ip_unprivileged_port_start (Config.UnprivilegedPortStart, 1024);
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
// Shard.Connect fails when that shard's share of the range (about 1/N of
// it) is used up toward the destination. Allocator.Connect tries the
// caller's shard first and then the others in turn, and returns the shard
// the port belongs to: the caller makes the connection owned by that
// shard's worker. Since every port steers to exactly one shard, it fails
// only when the whole range is used up, as Linux does.
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
// RFC 6056-style with Linux's orders, which depend on the protocol:
//
//   - TCP connect takes every port whose offset from the range's first port
//     is even before any odd one (__inet_hash_connect: offset &= ~1, port =
//     low + offset); bind(port 0) and listen's automatic bind the opposite,
//     odd offsets first (inet_csk_find_open_port). The parity is relative to
//     the first port: with a range starting at 40001, connect prefers odd
//     port numbers.
//   - TCP connect walks from a hint, as Linux does (RFC 6056 Algorithm 4,
//     double-hash): a keyed hash of the destination (address, port) plus a
//     perturbation kept per hashed destination, which each success moves on
//     past the port taken (by the walk plus a random 2 to 16, Linux's
//     max(i, random(8)*2) + 2). Successive connections to one destination
//     take successive ports, and a port released a moment ago comes back
//     only after the walk has gone round the range: a server that closed
//     first keeps the last connection's tuple in TIME-WAIT, and a new SYN
//     on it with too close a sequence number and timestamp is refused (the
//     SYN is resent a second later). A random choice met that about once
//     every 14,000 connections opened one at a time, once a second at
//     8,000 connections a second.
//   - UDP has no parity rule: connect's autobind and bind(port 0) take a
//     port from a random start (udp_lib_get_port).
//
// The random source is injected (Config.NewRand); it also seeds each
// shard's destination hash. A shard keeps its connections grouped by
// destination, and a connect never scans the range port by port under
// load:
//
//   - A destination with few connections from this shard (fewer than 32):
//     TCP walks from the hint, each port costing one steering hash and a
//     short list check (with N shards about N ports steer elsewhere for
//     each that steers here); UDP probes up to Config.Probes random ports,
//     then walks from a random start, so exhaustion is exact.
//   - A busy destination gets bitmaps: the ports in use toward it, and the
//     ports of the range whose replies from it steer to this shard (computed
//     once, one steering hash per port of the range, and again lazily after
//     SetRange or SetReserved). A choice is then a word-at-a-time walk (from
//     the hint for TCP, a random start for UDP) over mine &^ used &^ held,
//     preferred parity first (TCP), skipping a parity whose free count is
//     zero. Exhaustion is exact.
//
// Where it differs from Linux: Linux scans (high-low+1) &^ 1 ports per call,
// so on an odd-sized range a call can miss the one port left (a later call
// may find it); the allocator always finds it. The parity preference holds
// within a shard: Allocator.Connect uses the caller's shard, both parities,
// before another shard. Linux's bind(port 0) with SO_REUSEADDR searches the
// lower half of the range first; PickBind does not know the socket's
// options and searches the whole range.
//
// # Concurrency
//
// Each Shard has its own mutex, uncontended when one worker owns it; a
// choice loads the range and reserved set once, from an atomic.Pointer that
// SetRange and SetReserved replace under the allocator's mutex, so a choice
// running concurrently with SetRange uses the range it started with. The
// held-port bitmap is read by all shards with atomic loads and written under
// the allocator's mutex. The per-port use counts are atomics written under
// the owning shard's mutex and read by bind(0) and exclusive choice.
// Allocator.Connect takes one shard mutex at a time.
//
// # Errors
//
// Exhaustion errors match ErrExhausted and the errno Linux gives the call:
// a TCP connect syscall.EADDRNOTAVAIL, a UDP connect syscall.EAGAIN
// (inet_autobind), PickBind syscall.EADDRINUSE (bind(2), listen(2)).
// Configuration errors match ErrConfig; range errors also syscall.EINVAL.
package portalloc
