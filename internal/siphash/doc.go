// Package siphash is SipHash-2-4 with a 64-bit output (Aumasson and
// Bernstein, "SipHash: a fast short-input PRF", 2012): a keyed hash whose
// outputs an attacker cannot predict or steer without the 128-bit key.
// The engine uses it where a hash protects against an adversary: SYN
// cookies and RFC 6528 initial sequence numbers (package tcp/syncookie).
// For flow-table hashing, where speed matters more and a seed suffices, the
// engine uses go-metro.
//
// Sum64 hashes any byte slice. Hash1 ... Hash5 hash 1 to 5 64-bit words and
// give the same result as Sum64 over the words' little-endian bytes, without
// a slice or a loop over bytes: the fast path for fixed-size inputs such as
// a TCP 4-tuple packed into words. Nothing allocates.
//
// The code is written from the paper: the state is initialised from the key
// and the constants "somepseudorandomlygeneratedbytes", each 8-byte
// little-endian word m is absorbed as v3 ^= m, two SipRounds, v0 ^= m; the
// last word holds the 0-7 trailing bytes and the message length mod 256 in
// its top byte; finalisation is v2 ^= 0xff and four SipRounds, and the
// output is v0^v1^v2^v3.
package siphash
