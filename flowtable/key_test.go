package flowtable

import (
	"net/netip"
	"testing"
)

func TestKey(t *testing.T) {
	src := netip.MustParseAddrPort("198.18.0.2:40000")
	dst := netip.MustParseAddrPort("198.18.0.1:80")
	k := KeyFrom(src, dst, 6)
	if k.Family != FamilyIPv4 {
		t.Errorf("family: got %d, want %d", k.Family, FamilyIPv4)
	}
	if got := k.SrcAddrPort(); got != src {
		t.Errorf("src: got %v, want %v", got, src)
	}
	if got := k.DstAddrPort(); got != dst {
		t.Errorf("dst: got %v, want %v", got, dst)
	}
	if raw := KeyFrom4(src.Addr().As4(), dst.Addr().As4(), 40000, 80, 6); raw != k {
		t.Errorf("KeyFrom4 = %v, KeyFrom = %v", raw, k)
	}
	r := k.Reverse()
	if r.SrcAddrPort() != dst || r.DstAddrPort() != src || r.Reverse() != k {
		t.Errorf("Reverse: got %v", r)
	}
	v6 := KeyFrom(netip.MustParseAddrPort("[2001:db8::1]:1"), netip.MustParseAddrPort("[2001:db8::2]:2"), 17)
	if v6.Family != FamilyIPv6 || v6.SrcAddrPort().String() != "[2001:db8::1]:1" {
		t.Errorf("IPv6 key: %v", v6)
	}
	if got, want := k.String(), "proto 6 198.18.0.2:40000 -> 198.18.0.1:80"; got != want {
		t.Errorf("String: got %q, want %q", got, want)
	}
}

// TestSetFrom4 checks SetFrom4 (and so KeyFrom4) against the fields set
// one by one, over a key that held other bytes before.
func TestSetFrom4(t *testing.T) {
	for i, c := range []struct {
		src, dst     [4]byte
		sport, dport uint16
		proto        uint8
	}{
		{[4]byte{198, 18, 0, 2}, [4]byte{198, 18, 0, 1}, 40000, 80, 6},
		{[4]byte{255, 255, 255, 255}, [4]byte{0, 0, 0, 0}, 0xffff, 0, 17},
		{[4]byte{1, 2, 3, 4}, [4]byte{5, 6, 7, 8}, 0x0102, 0x0304, 1},
	} {
		var want Key
		want.Src[10], want.Src[11], want.Dst[10], want.Dst[11] = 0xff, 0xff, 0xff, 0xff
		copy(want.Src[12:], c.src[:])
		copy(want.Dst[12:], c.dst[:])
		want.SrcPort, want.DstPort, want.Proto, want.Family = c.sport, c.dport, c.proto, FamilyIPv4
		k := KeyFrom(netip.MustParseAddrPort("[2001:db8::1]:9"), netip.MustParseAddrPort("[2001:db8::2]:7"), 99)
		k.SetFrom4(c.src, c.dst, c.sport, c.dport, c.proto)
		if k != want || KeyFrom4(c.src, c.dst, c.sport, c.dport, c.proto) != want {
			t.Errorf("case %d: SetFrom4 %v, KeyFrom4 %v; want %v", i, k, KeyFrom4(c.src, c.dst, c.sport, c.dport, c.proto), want)
		}
	}
}

// BenchmarkKeyBuild builds a burst of 64 IPv4 keys and hashes each, as a
// worker does: with KeyFrom4 (a returned copy, read back in words that
// span its stores) and with SetFrom4 (built in place, as the words the
// hash reads). ns/key.
//
//	go test -run '^$' -bench KeyBuild -benchtime 200ms -count 5 ./flowtable
func BenchmarkKeyBuild(b *testing.B) {
	type tuple struct {
		src, dst     [4]byte
		sport, dport uint16
	}
	var tuples [64]tuple
	for i := range tuples {
		tuples[i] = tuple{[4]byte{198, 18, 0, byte(i)}, [4]byte{198, 19, 0, 1}, uint16(40000 + i), 80}
	}
	var keys [64]Key
	for _, c := range []struct {
		name string
		set  func(k *Key, t *tuple)
	}{
		{"KeyFrom4", func(k *Key, t *tuple) { *k = KeyFrom4(t.src, t.dst, t.sport, t.dport, 6) }},
		{"SetFrom4", func(k *Key, t *tuple) { k.SetFrom4(t.src, t.dst, t.sport, t.dport, 6) }},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				for i := range tuples {
					c.set(&keys[i], &tuples[i])
					var w keyWords
					w.set(&keys[i])
					sinkU64 += w.hash(7)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(tuples)), "ns/key")
		})
	}
}
