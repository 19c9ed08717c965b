// Package maglev is Maglev consistent hashing (Eisenbud et al., "Maglev: A
// Fast and Reliable Software Network Load Balancer", NSDI 2016, section
// 3.4) with exact weights: a lookup table of M entries, M prime, each
// holding a backend index, which maps a flow's hash to a backend so that
// every balancer built from the same configuration picks the same backend,
// the backends share the table in proportion to their weights, and a change
// of the backend set moves few flows.
//
// Build makes a Table from the backends (a stable Key and a Weight each),
// the size M and a hash seed; Lookup(hash) returns the index of the
// backend for a flow hash, into the list Backends returns (the backends
// sorted by Key), or -1 when no backend has a weight. A Table is immutable
// and safe for concurrent use: a balancer builds a new one off the hot path
// when its backends change and swaps the pointer. The table should serve new
// flows only; established flows keep their backend through connection
// tracking, as in the paper.
//
// # Permutations
//
// Backend i has offset = h1(key) mod M and skip = h2(key) mod (M-1) + 1,
// where h1 and h2 are SipHash-2-4 (package internal/siphash) of the Key's
// bytes under the 128-bit keys (seed, "maglev.1") and (seed, "maglev.2"),
// the second halves being those eight ASCII bytes as a big-endian word. Its
// permutation is (offset + j*skip) mod M, j = 0 ... M-1, which visits every
// entry once because M is prime. It depends on the Key, the seed and M
// only, never on the other backends; it is walked on the fly (no M*N
// permutation table).
//
// # Population
//
// Backends take turns; at its turn a backend walks its permutation from
// where it stopped to the first free entry and takes it, the paper's loop
// (pseudocode 1). The paper's turns are a round robin over the backends;
// here backend i's k-th turn (k = 0, 1, ...) is at time (2k+1)/(2*w_i):
// the turns run in time order, ties to the heavier weight, then to the
// lower index, and a backend stops when it holds its quota of entries
// (below). So each backend's turns come at the rate of its weight, evenly
// spread, at times that do not depend on the other backends, and the
// population ends when the table is full. With equal weights the order is
// the paper's round robin in index order, and the table is exactly the
// paper's (a test checks it against the pseudocode written out plainly).
// Backends of one weight share their turn times and run as one class;
// the classes run from a calendar queue in exact time order, so the cost
// stays close to the round robin's whatever the weights.
//
// # Weights
//
// With W the sum of the weights and s_i = M*w_i/W backend i's exact share,
// every backend of weight 0 gets no entry (it drains), and every other
// backend gets floor(s_i) or ceil(s_i) entries and at least one: the
// floors leave R = M - sum(floor(s_i)) entries, which go first to the
// backends whose share is below one entry, then by largest remainder
// (M*w_i mod W, ties to the lower index). The counts sum to M. The only
// exception is a weight so small next to the others that more backends
// have a share below one entry than R: no assignment can then meet both
// rules, and each of them still gets one entry, taken one at a time from
// the backend with the most entries (ties to the lower index). Integer
// arithmetic only; Counts reports the result. Weights do not need to sum to
// anything (unlike Katran's, which must sum to the ring size).
//
// # Determinism
//
// The table is a function of the set of (Key, Weight) pairs, M and the
// seed: Build sorts the backends by Key (byte order) first, the hashes are
// fixed (SipHash-2-4, little-endian) and every step is integer arithmetic,
// so two instances, on any machine and given the backends in any order,
// build identical tables. Tests pin the digests of two tables, so a change
// of the algorithm shows as a failing test rather than as flows moving
// between balancers of different versions.
//
// # Lookup
//
// The entry of a hash is hash mod M, one 64-bit division (about 3 ns with
// the default table, 128 KiB of uint16 indices, in cache): it uses every
// bit of the hash, so a 32-bit NIC hash works as well as a 64-bit one
// (a multiply-shift reduction would need the hash's width). Lookup
// allocates nothing.
//
// # Limits
//
// M is a prime in [2, MaxSize] (MaxSize = 2^24: 32 MiB) and at least the
// number of backends; 0 selects DefaultSize, 65537. A non-prime size fails
// with ErrSize naming the next prime (NextPrime computes it). Entries are
// uint16: at most MaxBackends (65536) backends a table. Keys must be
// unique (ErrDuplicateKey).
//
// # Quality, measured
//
// Equal weights: the most loaded backend has at most one entry above the
// mean (max/mean 1.0010 for 100 backends in 65537 entries, 1.0071 for 1000).
//
// Disruption, as the paper measures it: the fraction of entries whose
// backend changes when one of N backends is removed; at least its own share,
// 1/N, plus the entries the other backends trade among themselves (adding a
// backend is the same pair of tables the other way). The extra grows with
// N^2/M (means over removals, equal weights):
//
//	N      M        N^2/M   moved
//	10     65537    0.0015  1.02/N
//	30     65537    0.014   1.12/N
//	50     65537    0.038   1.21/N
//	100    65537    0.15    1.56/N
//	1000   65537    15      6.8/N
//	100    655373   0.015   1.14/N
//	300    4500007  0.020   1.18/N
//	1000   655373   1.5     4.3/N
//
// So moves stay within 1.2/N where M >= 50*N^2: up to about 36 backends
// with the default size, 114 with 655373. This is the paper's population
// (it is exactly the paper's table), not a property of the weights: with
// weights 1 to 4 over 10 backends, removing one moves at most 1.04 times
// its share. Adding a backend of weight 0 moves nothing.
//
// # Cost of Build
//
// Filling walks about M*ln(M) permutation steps over a bitmap of filled
// entries (8 KiB for 65537, in L1). On the 2-core development VM
// (BenchmarkBuild, medians): 65537 entries for 100 backends take 1.4 ms
// with equal weights, 1.6 ms with weights 1 to 4, 3.1 ms with 100 distinct
// weights (1000 backends: 1.6, 1.9, 3.6 ms); 655373 entries take 16 to
// 39 ms. Build makes a few allocations, O(M) bytes in all.
package maglev
