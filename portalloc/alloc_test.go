package portalloc

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/xdpengine/engine/flowtable"
)

func seeded(seed uint64) func(int) rand.Source {
	return func(i int) rand.Source { return rand.NewPCG(seed, uint64(i+1)) }
}

// dest is the arriving-packet key of a connection from 198.18.0.1 to
// 198.18.0.2:port (its DstPort, the local port, is filled by the allocator).
func dest(last byte, port uint16) flowtable.Key {
	return flowtable.KeyFrom4([4]byte{198, 18, 0, last}, [4]byte{198, 18, 0, 1}, port, 0, 6)
}

func steerings(t testing.TB, workers int) map[string]Steering {
	tz, err := NewToeplitz(MicrosoftKey[:], DefaultIndirection(workers), workers)
	if err != nil {
		t.Fatal(err)
	}
	return map[string]Steering{"metro": Metro{Seed: 42, Workers: workers}, "toeplitz": tz}
}

func TestDefaults(t *testing.T) {
	a, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	if a.Range() != (Range{32768, 60999}) || a.Shards() != 1 {
		t.Fatalf("defaults: range %v shards %d", a.Range(), a.Shards())
	}
	for _, bad := range []Config{
		{Range: Range{0, 10}}, {Range: Range{2000, 1999}}, {Reserved: []Range{{5, 4}}},
		{Range: Range{500, 600}}, {Range: Range{1023, 2000}}, {Proto: 1},
		{Range: Range{1000, 2000}, UnprivilegedPortStart: 1001},
	} {
		if _, err := New(bad); !errors.Is(err, ErrConfig) {
			t.Errorf("New(%+v) = %v, want ErrConfig", bad, err)
		}
	}
	// Linux's limits (net.ipv4.ip_local_port_range): the first port not
	// below ip_unprivileged_port_start, first <= last; EINVAL otherwise.
	for _, good := range []Config{
		{Range: Range{1024, 2000}}, {Range: Range{2000, 2000}},
		{Range: Range{500, 600}, UnprivilegedPortStart: -1}, {Range: Range{1, 65535}, UnprivilegedPortStart: -1},
	} {
		if _, err := New(good); err != nil {
			t.Errorf("New(%+v) = %v", good, err)
		}
	}
	_, err = New(Config{Range: Range{500, 600}})
	if !errors.Is(err, syscall.EINVAL) || !strings.Contains(err.Error(), "start it at 1024 or above") {
		t.Errorf("range below 1024: %v, want EINVAL saying what to do", err)
	}
}

// Every port a shard hands out steers the reply to that shard, for both
// steering functions, and lies in the range.
func TestChosenPortSteersToItsShard(t *testing.T) {
	for name, st := range steerings(t, 4) {
		t.Run(name, func(t *testing.T) {
			a, err := New(Config{Steering: st, NewRand: seeded(1)})
			if err != nil {
				t.Fatal(err)
			}
			for i := range 2000 {
				sh := i % 4
				k := dest(byte(2+i%7), uint16(1000+i%13))
				p, err := a.Shard(sh).Connect(k)
				if err != nil {
					t.Fatal(err)
				}
				if p < 32768 || p > 60999 {
					t.Fatalf("port %d outside the range", p)
				}
				k.DstPort = p
				if got := st.Steer(k); got != sh {
					t.Fatalf("shard %d chose port %d whose reply %v steers to %d", sh, p, k, got)
				}
			}
		})
	}
}

// Many goroutines on all shards connecting to a few destinations never get
// the same tuple twice.
func TestConcurrentConnectsUnique(t *testing.T) {
	for name, st := range steerings(t, 4) {
		t.Run(name, func(t *testing.T) {
			a, err := New(Config{Range: Range{40000, 40999}, Steering: st, NewRand: seeded(2)})
			if err != nil {
				t.Fatal(err)
			}
			var mu sync.Mutex
			seen := map[flowtable.Key]int{}
			var wg sync.WaitGroup
			for g := range 8 {
				wg.Go(func() {
					sh := a.Shard(g % 4)
					for i := range 400 {
						k := dest(byte(2+i%3), 80)
						p, err := sh.Connect(k)
						if errors.Is(err, syscall.EADDRNOTAVAIL) {
							continue
						}
						if err != nil {
							t.Error(err)
							return
						}
						k.DstPort = p
						mu.Lock()
						seen[k]++
						mu.Unlock()
					}
				})
			}
			wg.Wait()
			for k, n := range seen {
				if n != 1 {
					t.Errorf("tuple %v handed out %d times", k, n)
				}
			}
			if got := a.Connections(); got != len(seen) {
				t.Errorf("allocator records %d tuples, test saw %d", got, len(seen))
			}
		})
	}
}

// Exhaustion is reported exactly when the shard's share for the destination
// is used up: Available counts the share by brute force, that many connects
// succeed, the next fails with EADDRNOTAVAIL, and a release makes one more
// succeed.
func TestExhaustionExact(t *testing.T) {
	for name, st := range steerings(t, 3) {
		t.Run(name, func(t *testing.T) {
			a, err := New(Config{
				Range: Range{50000, 50499}, Reserved: []Range{{50010, 50019}},
				Steering: st, NewRand: seeded(3), Probes: 8,
			})
			if err != nil {
				t.Fatal(err)
			}
			a.Hold(50100)
			for sh := range 3 {
				k := dest(9, 443)
				share := a.Shard(sh).Available(k)
				if share < 100 {
					t.Fatalf("shard %d: share %d of 500 ports is implausibly small", sh, share)
				}
				var got []uint16
				for range share {
					p, err := a.Shard(sh).Connect(k)
					if err != nil {
						t.Fatalf("shard %d: connect %d of %d: %v", sh, len(got)+1, share, err)
					}
					if a.Reserved(p) || p == 50100 {
						t.Fatalf("shard %d chose reserved or held port %d", sh, p)
					}
					got = append(got, p)
				}
				_, err := a.Shard(sh).Connect(k)
				if !errors.Is(err, syscall.EADDRNOTAVAIL) || !errors.Is(err, ErrExhausted) {
					t.Fatalf("shard %d: after %d connects: err %v, want EADDRNOTAVAIL", sh, share, err)
				}
				// Another destination still has the whole share (4-tuple sharing).
				if _, err := a.Shard(sh).Connect(dest(10, 443)); err != nil {
					t.Fatalf("shard %d: other destination: %v", sh, err)
				}
				rel := k
				rel.DstPort = got[len(got)/2]
				a.Release(rel)
				p, err := a.Shard(sh).Connect(k)
				if err != nil || p != rel.DstPort {
					t.Fatalf("shard %d: after release of %d: port %d err %v", sh, rel.DstPort, p, err)
				}
			}
		})
	}
}

func TestHeldAndReservedPorts(t *testing.T) {
	a, err := New(Config{Range: Range{2000, 2003}, Reserved: []Range{{2001, 2001}}, NewRand: seeded(5)})
	if err != nil {
		t.Fatal(err)
	}
	a.Hold(2000)
	a.Hold(2000)
	a.Unhold(2000)
	k := dest(2, 80)
	var ports []uint16
	for {
		p, err := a.Shard(0).Connect(k)
		if err != nil {
			break
		}
		ports = append(ports, p)
	}
	if fmt.Sprint(ports) != "[2002 2003]" {
		t.Fatalf("ports %v, want 2002 then 2003 (2000 held, 2001 reserved; even offsets first)", ports)
	}
	a.Unhold(2000)
	if p, err := a.Shard(0).Connect(k); err != nil || p != 2000 {
		t.Fatalf("after Unhold: %d %v, want 2000", p, err)
	}
	// Reserve: explicit tuples, EADDRNOTAVAIL when taken.
	k.DstPort = 2001
	if _, err := a.Reserve(k); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Reserve(k); !errors.Is(err, syscall.EADDRNOTAVAIL) {
		t.Fatalf("second Reserve: %v, want EADDRNOTAVAIL", err)
	}
	// Exclusive choice: every port is used by some tuple now.
	if _, err := a.Shard(0).ConnectExclusive(dest(3, 80)); !errors.Is(err, ErrExhausted) {
		t.Fatalf("exclusive: %v, want ErrExhausted", err)
	}
	if _, err := a.PickBind(func(uint16) bool { return false }); !errors.Is(err, syscall.EADDRINUSE) || !errors.Is(err, ErrExhausted) {
		t.Fatalf("PickBind with nothing free: %v, want EADDRINUSE (bind(2)'s errno)", err)
	}
}
