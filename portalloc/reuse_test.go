package portalloc

import (
	"fmt"
	"testing"
)

// TestTCPConnectDoesNotReuseReleasedPortSoon: successive TCP connects to
// one destination, each port released before the next connect (a client
// that opens one connection at a time), take successive ports as Linux's
// __inet_hash_connect does (RFC 6056 Algorithm 4), not a random one: the
// port released last comes back only after the walk has gone round the
// range. Random choice gave a port back within a hundred connects
// (birthday odds over 14,116 ports of one parity), sometimes at once:
// the server that closed first still held the last connection's tuple in
// TIME-WAIT, refused the new SYN, and the connect waited a second for its
// retransmission. Both a destination with few connections (hint walk) and
// a busy one (bitmaps, 40 held open) are checked, on one shard and on 4.
func TestTCPConnectDoesNotReuseReleasedPortSoon(t *testing.T) {
	// Each connect moves the walk on by 2 to 16 offsets (Linux's random
	// step), more where other shards own the ports it passes: 1,000
	// connects stay within one round of the range's 28,232 ports.
	const connects = 1000
	for _, workers := range []int{1, 4} {
		for _, held := range []int{0, 40} {
			t.Run(fmt.Sprintf("shards=%d/held=%d", workers, held), func(t *testing.T) {
				a, err := New(Config{Steering: Metro{Seed: 7, Workers: workers}, NewRand: seeded(9)})
				if err != nil {
					t.Fatal(err)
				}
				k := dest(2, 80)
				for range held {
					if _, _, err := a.Connect(k, 0); err != nil {
						t.Fatal(err)
					}
				}
				seen := map[uint16]int{}
				for i := range connects {
					p, sh, err := a.Connect(k, 0)
					if err != nil {
						t.Fatalf("connect %d: %v", i, err)
					}
					if sh != 0 {
						t.Fatalf("connect %d: shard %d, want the caller's 0", i, sh)
					}
					if j, ok := seen[p]; ok {
						t.Fatalf("connect %d took port %d again, released %d connects before", i, p, i-j)
					}
					if offsetParity(a, p) != 0 {
						t.Fatalf("connect %d: port %d of the odd offsets while even ones are free", i, p)
					}
					seen[p] = i
					r := k
					r.DstPort = p
					a.Release(r)
				}
			})
		}
	}
}
