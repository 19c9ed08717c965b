package socktab

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/xdpengine/engine/flowtable"
	"github.com/xdpengine/engine/portalloc"
)

var fuzzAddrs = []netip.Addr{
	netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("198.18.0.10"), netip.IPv4Unspecified(),
	netip.IPv6Unspecified(), netip.MustParseAddr("::ffff:198.18.0.1"), netip.MustParseAddr("2001:db8::1"),
	netip.MustParseAddr("::ffff:0.0.0.0"), netip.MustParseAddr("255.255.255.255"), netip.MustParseAddr("198.18.0.255"),
	netip.MustParseAddr("239.1.2.3"), netip.MustParseAddr("::ffff:198.18.0.255"),
}

var fuzzPeers = []netip.AddrPort{
	netip.MustParseAddrPort("198.18.0.2:80"), netip.MustParseAddrPort("198.18.0.3:80"),
	netip.MustParseAddrPort("[::ffff:198.18.0.2]:80"),
}

// refAccepts is the reference model of which receiver takes a packet to
// dst: 2 for a match on its own address, 1 for a wildcard match, 0 none.
func refAccepts(s *Socket, k *flowtable.Key) int {
	if !s.receiver() || Proto(k.Proto) != s.proto || s.local.Port() != k.DstPort {
		return 0
	}
	dst := netip.AddrFrom16(k.Dst)
	a := s.local.Addr()
	if k.Family == flowtable.FamilyIPv4 {
		dst = dst.Unmap()
		switch {
		case s.family == IPv4 && a == dst, s.family == IPv6 && a.Is4In6() && a.Unmap() == dst:
			return 2
		case a.IsUnspecified() && !a.Is4In6() && (s.family == IPv4 || !s.opts.V6Only):
			return 1
		case s.family == IPv6 && a == netip.MustParseAddr("::ffff:0.0.0.0"):
			return 1
		}
		return 0
	}
	switch {
	case s.family == IPv6 && a == dst:
		return 2
	case s.family == IPv6 && a == netip.IPv6Unspecified():
		return 1
	}
	return 0
}

func FuzzBindConnectClose(f *testing.F) {
	f.Add([]byte{0, 0, 1, 0, 2, 3, 0, 1, 1, 2, 0, 4, 0, 0, 3, 1})
	f.Add([]byte{0, 17, 0, 1, 2, 1, 0, 17, 0, 1, 3, 1, 5, 0, 0, 4, 1, 0, 6})
	f.Fuzz(func(t *testing.T, ops []byte) {
		tab, _ := newTable(t, Config{Ports: portalloc.Config{Range: portalloc.Range{First: 40000, Last: 40007}}})
		var socks []*Socket
		next := func(i *int) byte {
			if *i >= len(ops) {
				return 0
			}
			*i++
			return ops[*i-1]
		}
		for i := 0; i < len(ops); {
			op := next(&i) % 9
			arg := next(&i)
			var s *Socket
			if len(socks) > 0 {
				s = socks[int(arg)%len(socks)]
			}
			switch op {
			case 0:
				proto := TCP
				if arg&1 != 0 {
					proto = UDP
				}
				fam := IPv4
				if arg&2 != 0 {
					fam = IPv6
				}
				o := Options{ReuseAddr: arg&4 != 0, ReusePort: arg&8 != 0, V6Only: arg&16 != 0, BindAddressNoPort: arg&32 != 0, Owner: uint32(arg >> 6 & 1)}
				ns, err := tab.Open(proto, fam, o, len(socks))
				if err != nil {
					t.Fatal(err)
				}
				socks = append(socks, ns)
			case 1:
				if s != nil {
					port := []uint16{0, 1000, 1001}[int(arg>>4)%3]
					_ = tab.Bind(s, netip.AddrPortFrom(fuzzAddrs[int(arg)%len(fuzzAddrs)], port))
				}
			case 2:
				if s != nil {
					_ = tab.Listen(s)
				}
			case 3:
				if s != nil {
					_, _ = tab.Connect(s, 0, fuzzPeers[int(arg>>4)%len(fuzzPeers)])
				}
			case 4:
				if s != nil {
					_ = tab.Close(s)
				}
			case 5: // an accepted connection on s, if it listens
				if s != nil {
					la := tab.Local(s)
					a := la.Addr().Unmap()
					if isWildcard(la.Addr()) {
						a = netip.MustParseAddr("198.18.0.1")
					}
					peer := fuzzPeers[int(arg>>4)%2]
					k := flowtable.KeyFrom(netip.AddrPortFrom(peer.Addr(), peer.Port()+uint16(arg&15)), netip.AddrPortFrom(a, la.Port()), uint8(TCP))
					if c, err := tab.Accept(s, k, len(socks)); err == nil {
						socks = append(socks, c)
					}
				}
			case 6:
				if s != nil {
					tab.SetState(s, StateTimeWait)
				}
			case 7:
				if s != nil {
					tab.ReleaseTuple(s)
				}
			case 8:
				if s != nil {
					_ = tab.SetHome(s, int(arg>>4)%2-1) // none, or worker 0 of 1
				}
			}
			checkInvariants(t, tab, socks)
		}
	})
}

// refFanout is the reference model of __udp_is_mcast_sock: whether s
// takes a copy of the broadcast or multicast datagram k.
func refFanout(s *Socket, k *flowtable.Key) bool {
	if s.closed || s.proto != UDP || s.local.Port() != k.DstPort || s.family == IPv6 && s.opts.V6Only {
		return false
	}
	dst, src := k.DstAddrPort().Addr(), k.SrcAddrPort()
	a := s.local.Addr()
	switch {
	case s.family == IPv4:
	case a == netip.IPv6Unspecified():
		a = netip.IPv4Unspecified()
	case a.Is4In6():
		a = a.Unmap()
	default:
		return false
	}
	if !a.IsUnspecified() && a != dst {
		return false
	}
	return !s.remote.IsValid() || s.remote.Addr().Unmap() == src.Addr() && s.remote.Port() == src.Port()
}

func checkInvariants(t *testing.T, tab *Table, socks []*Socket) {
	tab.mu.Lock()
	defer tab.mu.Unlock()
	for k, b := range tab.buckets {
		for i, s := range b {
			if int(s.bucketIdx) != i || s.closed || s.proto != k.proto || s.local.Port() != k.port {
				t.Fatalf("bucket %v[%d] holds socket %d (index %d, closed %v, local %v)", k, i, s.id, s.bucketIdx, s.closed, s.local)
			}
		}
	}
	tuples := map[flowtable.Key]*Socket{}
	for _, s := range socks {
		if s.closed != (s.bucketIdx < 0) && (s.held || s.hasTuple) {
			t.Fatalf("socket %d (closed %v) bucket index %d", s.id, s.closed, s.bucketIdx)
		}
		if s.closed || !s.hasTuple {
			continue
		}
		if o := tuples[s.tuple]; o != nil {
			t.Fatalf("sockets %d and %d share the 5-tuple %v", o.id, s.id, s.tuple)
		}
		tuples[s.tuple] = s
		if got, m := tab.Lookup(&s.tuple); got != s || m != MatchExact {
			t.Fatalf("connected socket %d: lookup %v/%v", s.id, got, m)
		}
	}
	for _, dst := range []netip.AddrPort{
		netip.MustParseAddrPort("198.18.0.1:1000"), netip.MustParseAddrPort("198.18.0.10:1001"),
		netip.MustParseAddrPort("[2001:db8::1]:1000"), netip.MustParseAddrPort("[2001:db8::2]:1001"),
	} {
		for _, proto := range []Proto{TCP, UDP} {
			src := netip.MustParseAddrPort("198.18.0.2:7")
			if dst.Addr().Is6() {
				src = netip.MustParseAddrPort("[2001:db8::9]:7")
			}
			k := flowtable.KeyFrom(src, dst, uint8(proto))
			best := 0
			for _, s := range socks {
				best = max(best, refAccepts(s, &k))
			}
			got, m := tab.Lookup(&k)
			if on, m2 := tab.LookupOn(&k, 0); m2 != m || on != got && on.home != 1 {
				t.Fatalf("lookup on worker 0 %v: socket %v (home %d) match %v; Lookup: %v %v", k, on, on.home-1, m2, got, m)
			}
			if tuples[k] != nil {
				continue
			}
			want := map[int]Match{0: MatchNone, 1: MatchWildcard, 2: MatchSpecific}[best]
			if m != want || (got != nil && refAccepts(got, &k) != best) {
				t.Fatalf("lookup %v: got socket %v match %v, reference says %v", k, got, m, want)
			}
		}
	}
	for _, dst := range []string{"255.255.255.255:1000", "198.18.0.255:1001", "239.1.2.3:1000", "224.0.0.1:1001"} {
		for _, src := range fuzzPeers[:2] {
			k := flowtable.KeyFrom(src, netip.MustParseAddrPort(dst), uint8(UDP))
			got, ok := tab.LookupAll(&k, nil)
			var want []*Socket
			for _, s := range socks {
				if refFanout(s, &k) {
					want = append(want, s)
				}
			}
			if !ok || len(got) != len(want) {
				t.Fatalf("LookupAll %v: %d sockets (%v), reference %d", k, len(got), ok, len(want))
			}
			for _, s := range want {
				if !slices.Contains(got, s) {
					t.Fatalf("LookupAll %v misses socket %d", k, s.id)
				}
			}
		}
	}
}
