// Package ipv4 reassembles IPv4 fragments on receive and fragments
// datagrams on transmit (RFC 791, with the defences of RFC 1858, RFC 3128
// and Linux's post-FragmentSmack rules).
//
// # Reassembly model
//
// A Reassembler is one table per worker, used by that worker only: no locks,
// no atomics. Time is injected: every call takes now, monotonic nanoseconds
// read once per burst. All fragments of a datagram must reach the same
// worker (RSS on addresses, not ports, gives that).
//
// Datagrams are keyed by (source, destination, identification, protocol) in
// an open-addressed hash table of fixed size, keyed with Config.Seed. Each
// incomplete datagram keeps the runs of payload it has received as a sorted
// list of disjoint, coalesced intervals (the dual of RFC 815's hole list):
// a fragment is checked against it with one binary search, so fragments may
// arrive in any order, and the datagram is complete when a single run covers
// [0, end) and both the first (offset 0) and the last (MF clear) fragment
// arrived.
//
// Rules, in the order they are applied to a fragment:
//
//   - Malformed (header outside 20..60 bytes, no payload, a non-last
//     fragment whose length is not a multiple of 8): dropped alone
//     (ErrBadFragment). Linux trims such a fragment to a multiple of 8; we
//     refuse it.
//   - TCP tiny fragments (RFC 1858 3.2, RFC 3128): offset 8, or a first
//     fragment shorter than the 14 bytes that reach the TCP flags: dropped
//     alone (ErrTinyFragment).
//   - An end past 65,535 bytes with the fragment's own header, or with the
//     first fragment's header at completion: the datagram is discarded
//     (ErrTooBig).
//   - More than Config.MaxFragments fragments (default 128, enough for a
//     64 KiB datagram at MTU 576; duplicates count): the datagram is
//     discarded (ErrTooManyFragments). Linux has no such cap; its
//     ipfrag_max_dist (per-source reordering distance, for ID wrap) is not
//     implemented: the per-datagram cap and the timeout bound the work
//     instead. FreeBSD's maxfragsperpacket is the same idea (default 16).
//   - A second last fragment with another end, a last fragment ending
//     before data already received, or data past a known end: the datagram
//     is discarded (ErrConflict), as Linux does.
//   - A fragment overlapping data already received: the datagram is
//     discarded (ErrOverlap, counted in ReasmOverlaps), as Linux does since
//     the FragmentSmack fix and RFC 5722 asks for IPv6. A fragment entirely
//     inside data already received with identical bytes is a duplicate,
//     dropped alone (ErrDuplicate); with different bytes it is an overlap.
//     (Linux drops any fragment inside an existing run as a duplicate
//     without looking at the bytes; comparing them is stricter.)
//
// # Limits, eviction and timeouts
//
// Memory is accounted as what is really pinned: each incomplete datagram's
// buffer (size classes of 2..64 KiB, see below) plus its bookkeeping. A
// fragment that would take the table above Config.HighThresh (default
// 4 MiB, net.ipv4.ipfrag_high_thresh) first evicts the oldest datagrams
// until memory is at or below Config.LowThresh (default 3 MiB); if that is
// still not enough, the fragment is dropped (ErrNoMemory). This is Linux's
// behaviour before 4.17 (the LRU evictor down to ipfrag_low_thresh); since
// 4.17 Linux only drops new fragments above the threshold and lets queues
// time out, which lets a flood of never-completing fragments block all
// reassembly for ipfrag_time. We evict by creation time, not by last
// activity, so trickling fragments into a datagram does not keep it alive.
// A cap on incomplete datagrams (Config.MaxQueues, default 1024) evicts the
// oldest the same way. Evictions count in ReasmFails and ReasmEvictions and
// send no ICMP.
//
// A datagram is discarded Config.Timeout (default 30 s, ipfrag_time) after
// its first fragment arrived; later fragments do not extend it (as in
// Linux). Add expires due datagrams; a worker also calls Expire once per
// poll loop. If the first fragment had arrived, Config.OnTimeExceeded gets
// its header and first 8 payload bytes, the quote of an ICMP time exceeded
// (type 11, code 1) that the caller builds; the table sends nothing.
//
// # Buffers and ownership
//
// Payload is written straight into a pooled buffer that has 60 bytes of
// headroom, where the first fragment's header is placed: the finished
// datagram is one contiguous slice and costs no final copy. A datagram
// starts in the smallest size class holding the highest end seen and moves
// up a class (copying what it holds) when a fragment lands past it. Add
// returns the finished datagram as a Datagram the caller owns until
// Release, which hands the buffer back to the pool (Release is optional,
// idempotent, and must run on the owning worker). In steady state
// reassembly allocates nothing.
//
// The reassembled header is the first fragment's, with total length set,
// MF and offset cleared (DF kept) and the checksum recomputed.
//
// # Fragmentation
//
// Fragmenter.Fragment splits a datagram larger than the MTU into caller
// buffers, without allocating: 8-byte-unit offsets, MF on all but the last
// (and on the last when re-fragmenting a non-final fragment), every option
// in the first fragment and only those with the copy bit in the others,
// header checksums recomputed. With DF set it returns an *MTUError that
// matches errors.Is(err, syscall.EMSGSIZE) and carries the MTU.
//
// IDGenerator picks identifications per (source, destination, protocol)
// from a keyed hash into an array of counters with random jumps after idle
// time, like Linux's ip_idents; it is the one shared, concurrency-safe
// object of the package.
//
// # Counters
//
// Stats carries Linux's /proc/net/snmp Ip: names (ReasmReqds, ReasmOKs,
// ReasmFails, ReasmTimeout, FragOKs, FragCreates, FragFails), ReasmOverlaps
// from IpExt, and our own (duplicates, bad fragments, evictions, memory
// drops, ICMP reports, memory in use, queues).
package ipv4
