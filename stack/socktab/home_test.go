package socktab

import (
	"errors"
	"fmt"
	"syscall"
	"testing"

	"github.com/xdpengine/engine/flowtable"
	"github.com/xdpengine/engine/portalloc"
)

// workers is a table configuration with 64 workers (portalloc shards).
var workers = Config{Ports: portalloc.Config{Steering: portalloc.Metro{Workers: 64}}}

// setHome is SetHome that must succeed.
func setHome(t testing.TB, tab *Table, s *Socket, w int) {
	t.Helper()
	if err := tab.SetHome(s, w); err != nil {
		t.Fatal(err)
	}
}

// flows returns n UDP or TCP keys from distinct peers to dst.
func flows(n int, dst string, p Proto) []flowtable.Key {
	ks := make([]flowtable.Key, n)
	for i := range ks {
		ks[i] = key4(fmt.Sprintf("198.18.%d.%d:%d", 1+i/250, 1+i%250, 1024+i), dst, p)
	}
	return ks
}

func TestLookupOnPrefersHomedMembers(t *testing.T) {
	for _, p := range []Proto{UDP, TCP} {
		t.Run(map[Proto]string{UDP: "udp", TCP: "tcp"}[p], func(t *testing.T) {
			tab, _ := newTable(t, workers)
			var g []*Socket
			for i := range 4 {
				s := mustOpen(t, tab, p, IPv4, Options{ReusePort: true}, i)
				if err := tab.Bind(s, ap("0.0.0.0:7000")); err != nil {
					t.Fatal(err)
				}
				if p == TCP {
					if err := tab.Listen(s); err != nil {
						t.Fatal(err)
					}
				}
				g = append(g, s)
			}
			setHome(t, tab, g[0], 0)
			setHome(t, tab, g[1], 0)
			setHome(t, tab, g[2], 1)
			if tab.Home(g[2]) != 1 || tab.Home(g[3]) != -1 {
				t.Fatalf("Home = %d, %d", tab.Home(g[2]), tab.Home(g[3]))
			}
			ks := flows(1000, "198.18.0.1:7000", p)
			count := func(worker int) map[int]int {
				c := map[int]int{}
				for i := range ks {
					s, m := tab.LookupOn(&ks[i], worker)
					if m != MatchWildcard {
						t.Fatalf("match %v", m)
					}
					if again, _ := tab.LookupOn(&ks[i], worker); again != s {
						t.Fatal("the same flow got another socket")
					}
					c[s.Endpoint().(int)]++
				}
				return c
			}
			if c := count(0); len(c) != 2 || c[0] < 400 || c[1] < 400 {
				t.Errorf("worker 0: %v, want flows spread over members 0 and 1", c)
			}
			if c := count(1); len(c) != 1 || c[2] != 1000 {
				t.Errorf("worker 1: %v, want every flow on member 2", c)
			}
			for _, w := range []int{2, 63, -1} {
				if c := count(w); len(c) != 4 || c[3] < 200 {
					t.Errorf("worker %d (no homed member): %v, want all four members", w, c)
				}
			}
			for i := range ks {
				a, _ := tab.LookupOn(&ks[i], 7)
				b, _ := tab.Lookup(&ks[i])
				if a != b {
					t.Fatal("LookupOn on a worker without homed members differs from Lookup")
				}
			}
			// A home taken back, and a homed member closed.
			setHome(t, tab, g[2], -1)
			if c := count(1); len(c) != 4 {
				t.Errorf("worker 1 after SetHome(-1): %v", c)
			}
			if err := tab.Close(g[0]); err != nil {
				t.Fatal(err)
			}
			if c := count(0); len(c) != 1 || c[1] != 1000 {
				t.Errorf("worker 0 after closing member 0: %v", c)
			}
		})
	}
}

func TestHomeOutsideAGroup(t *testing.T) {
	tab, _ := newTable(t, workers)
	s := mustOpen(t, tab, UDP, IPv4, Options{}, 0)
	setHome(t, tab, s, 3) // before bind: kept
	if err := tab.Bind(s, ap("198.18.0.1:7001")); err != nil {
		t.Fatal(err)
	}
	k := key4("198.18.0.2:9", "198.18.0.1:7001", UDP)
	for _, w := range []int{0, 3, 9} {
		if got, m := tab.LookupOn(&k, w); got != s || m != MatchSpecific {
			t.Errorf("worker %d: %v %v", w, got, m)
		}
	}
	if tab.Home(s) != 3 {
		t.Errorf("Home = %d", tab.Home(s))
	}
	if err := tab.SetHome(s, 64); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("SetHome past the last worker: %v", err)
	}
	tab.Close(s)
	if err := tab.SetHome(s, 1); !errors.Is(err, syscall.EBADF) {
		t.Errorf("SetHome on a closed socket: %v", err)
	}
}

func TestLookupOnDoesNotAllocate(t *testing.T) {
	tab, _ := newTable(t, workers)
	for i := range 4 {
		s := mustOpen(t, tab, UDP, IPv4, Options{ReusePort: true}, i)
		if err := tab.Bind(s, ap("0.0.0.0:7000")); err != nil {
			t.Fatal(err)
		}
		setHome(t, tab, s, i%2)
	}
	k := key4("198.18.0.2:9", "198.18.0.1:7000", UDP)
	if n := testing.AllocsPerRun(100, func() { tab.LookupOn(&k, 1) }); n != 0 {
		t.Fatalf("%v allocations", n)
	}
}
