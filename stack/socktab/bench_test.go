package socktab

import (
	"fmt"
	"testing"

	"github.com/xdpengine/engine/flowtable"
)

// BenchmarkLookup measures the packet-path lookup for each outcome, with
// 1000 connected sockets and 100 listeners in the table.
func BenchmarkLookup(b *testing.B) {
	tab, _ := newTable(b, Config{})
	for i := range 100 {
		s := mustOpen(b, tab, TCP, IPv4, Options{}, nil)
		if err := tab.Bind(s, ap(fmt.Sprintf("198.18.0.1:%d", 2000+i))); err != nil {
			b.Fatal(err)
		}
		if err := tab.Listen(s); err != nil {
			b.Fatal(err)
		}
	}
	w := mustOpen(b, tab, TCP, IPv4, Options{}, nil)
	if err := tab.Bind(w, ap("0.0.0.0:8080")); err != nil || tab.Listen(w) != nil {
		b.Fatal(err)
	}
	var conn flowtable.Key
	for i := range 1000 {
		s := mustOpen(b, tab, TCP, IPv4, Options{}, nil)
		l, err := tab.Connect(s, 0, ap(fmt.Sprintf("198.18.0.%d:443", 2+i%200)))
		if err != nil {
			b.Fatal(err)
		}
		if i == 500 {
			conn = flowtable.KeyFrom(ap(fmt.Sprintf("198.18.0.%d:443", 2+i%200)), l, uint8(TCP))
		}
	}
	for _, c := range []struct {
		name string
		k    flowtable.Key
		want Match
	}{
		{"exact", conn, MatchExact},
		{"listener", key4("198.18.0.2:5000", "198.18.0.1:2050", TCP), MatchSpecific},
		{"wildcard", key4("198.18.0.2:5000", "198.18.0.1:8080", TCP), MatchWildcard},
		{"miss", key4("198.18.0.2:5000", "198.18.0.1:9999", TCP), MatchNone},
	} {
		b.Run(c.name, func(b *testing.B) {
			k := c.k
			if _, m := tab.Lookup(&k); m != c.want {
				b.Fatalf("match %v, want %v", m, c.want)
			}
			b.ReportAllocs()
			for b.Loop() {
				tab.Lookup(&k)
			}
		})
	}
}

// BenchmarkConnectClose measures a connect and a close (the control-plane
// cost of one short connection made by the engine) with n connected
// sockets already in the table, as a traffic harness holds in TIME-WAIT.
func BenchmarkConnectClose(b *testing.B) {
	for _, n := range []int{1000, 100000} {
		b.Run(fmt.Sprintf("conns=%d", n), func(b *testing.B) {
			tab, _ := newTable(b, Config{})
			for i := range n {
				s := mustOpen(b, tab, TCP, IPv4, Options{}, nil)
				if _, err := tab.Connect(s, 0, ap(fmt.Sprintf("198.18.%d.%d:443", 1+i/200%200, 2+i%200))); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			for b.Loop() {
				s := mustOpen(b, tab, TCP, IPv4, Options{}, nil)
				if _, err := tab.Connect(s, 0, ap("198.18.250.9:443")); err != nil {
					b.Fatal(err)
				}
				tab.Close(s)
			}
		})
	}
}

// BenchmarkAcceptClose measures registering an accepted connection and
// closing it, with n connections already accepted on the same listener
// port (one bucket holds them all: removal must not walk it).
func BenchmarkAcceptClose(b *testing.B) {
	for _, n := range []int{1000, 100000} {
		b.Run(fmt.Sprintf("conns=%d", n), func(b *testing.B) {
			tab, _ := newTable(b, Config{})
			ln := mustOpen(b, tab, TCP, IPv4, Options{}, nil)
			if err := tab.Bind(ln, ap("198.18.0.1:80")); err != nil || tab.Listen(ln) != nil {
				b.Fatal(err)
			}
			for i := range n {
				k := flowtable.KeyFrom4([4]byte{198, 18, byte(1 + i>>16), byte(i >> 8)}, [4]byte{198, 18, 0, 1}, uint16(i), 80, uint8(TCP))
				if _, err := tab.Accept(ln, k, nil); err != nil {
					b.Fatal(err)
				}
			}
			k := key4("198.18.250.9:443", "198.18.0.1:80", TCP)
			b.ReportAllocs()
			for b.Loop() {
				c, err := tab.Accept(ln, k, nil)
				if err != nil {
					b.Fatal(err)
				}
				tab.Close(c)
			}
		})
	}
}

// BenchmarkLookupAll measures the fan-out lookup of a subnet broadcast
// delivered to n sockets (a SO_REUSEPORT group on the wildcard).
func BenchmarkLookupAll(b *testing.B) {
	for _, n := range []int{1, 8, 64} {
		b.Run(fmt.Sprintf("sockets=%d", n), func(b *testing.B) {
			tab, _ := newTable(b, Config{})
			for range n {
				s := mustOpen(b, tab, UDP, IPv4, Options{ReuseAddr: true, ReusePort: true}, nil)
				if err := tab.Bind(s, ap("0.0.0.0:5000")); err != nil {
					b.Fatal(err)
				}
			}
			k := key4("198.18.0.2:9", "198.18.0.255:5000", UDP)
			out := make([]*Socket, 0, tab.MaxFanout())
			b.ReportAllocs()
			for b.Loop() {
				out, _ = tab.LookupAll(&k, out[:0])
			}
			if len(out) != n {
				b.Fatalf("%d sockets, want %d", len(out), n)
			}
		})
	}
}

// BenchmarkLookupOn measures the SO_REUSEPORT pick of 8 members, half of
// them homed on worker 1, from worker 1 and from a worker with none.
func BenchmarkLookupOn(b *testing.B) {
	tab, _ := newTable(b, workers)
	for i := range 8 {
		s := mustOpen(b, tab, UDP, IPv4, Options{ReusePort: true}, nil)
		if err := tab.Bind(s, ap("0.0.0.0:5000")); err != nil {
			b.Fatal(err)
		}
		if i%2 == 1 {
			setHome(b, tab, s, 1)
		}
	}
	k := key4("198.18.0.2:9", "198.18.0.1:5000", UDP)
	for _, w := range []int{1, 0} {
		b.Run(fmt.Sprintf("worker=%d", w), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				tab.LookupOn(&k, w)
			}
		})
	}
}
