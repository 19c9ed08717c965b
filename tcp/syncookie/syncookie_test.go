package syncookie

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"math/rand/v2"
	"net/netip"
	"testing"
	"testing/iotest"

	"github.com/xdpengine/engine/flowtable"
	"github.com/xdpengine/engine/internal/siphash"
)

var testSecret = [16]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}

func testTuple() Tuple {
	return Tuple4([4]byte{198, 18, 0, 2}, [4]byte{198, 18, 0, 1}, 40000, 80)
}

func randomTuple(r *rand.Rand) Tuple {
	var src, dst [4]byte
	binary.BigEndian.PutUint32(src[:], r.Uint32())
	binary.BigEndian.PutUint32(dst[:], r.Uint32())
	return Tuple4(src, dst, uint16(r.Uint32()), uint16(r.Uint32()))
}

func TestNew(t *testing.T) {
	j, err := New(bytes.NewReader(make([]byte, 48)))
	if err != nil || j == nil {
		t.Fatalf("New: %v", err)
	}
	_, err = New(iotest.ErrReader(errors.New("no entropy")))
	if err == nil {
		t.Fatal("New with a failing reader succeeded")
	}
	if _, err := New(bytes.NewReader(make([]byte, 47))); err == nil {
		t.Fatal("New with 47 bytes of secret succeeded")
	}
}

func TestTupleFromKey(t *testing.T) {
	k := flowtable.KeyFrom(netip.MustParseAddrPort("198.18.0.2:40000"), netip.MustParseAddrPort("198.18.0.1:80"), 6)
	got, ok := TupleFromKey(k)
	if !ok || got != testTuple() {
		t.Fatalf("TupleFromKey: %+v %v, want %+v", got, ok, testTuple())
	}
	k6 := flowtable.KeyFrom(netip.MustParseAddrPort("[2001:db8::2]:1"), netip.MustParseAddrPort("[2001:db8::1]:2"), 6)
	t6, ok := TupleFromKey(k6)
	if !ok || !t6.IPv6 || t6.Src != netip.MustParseAddr("2001:db8::2").As16() || t6.SrcPort != 1 || t6.DstPort != 2 {
		t.Fatalf("TupleFromKey of an IPv6 key: %+v %v", t6, ok)
	}
}

func TestMSSIndex(t *testing.T) {
	for _, tc := range []struct{ mss, want uint16 }{
		{0, 536}, {88, 536}, {536, 536}, {1299, 536}, {1300, 1300}, {1439, 1300},
		{1440, 1440}, {1459, 1440}, {1460, 1460}, {8960, 1460}, {65535, 1460},
	} {
		if got := MSSTable[MSSIndex(tc.mss)]; got != tc.want {
			t.Errorf("MSS %d: table entry %d, want %d", tc.mss, got, tc.want)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	j := NewFromSecret(testSecret)
	r := rand.New(rand.NewPCG(1, 2))
	for _, peerMSS := range []uint16{100, 536, 1000, 1300, 1400, 1440, 1448, 1460, 9000} {
		for range 200 {
			tup := randomTuple(r)
			isn := r.Uint32()
			made := r.Int64N(1 << 50)
			cookie, used := j.Make(tup, isn, peerMSS, made)
			if used != MSSTable[MSSIndex(peerMSS)] {
				t.Fatalf("Make promised MSS %d for %d", used, peerMSS)
			}
			// The ACK arrives within the current or the next minute.
			for _, after := range []int64{0, 1, Minute - made%Minute - 1, 2*Minute - made%Minute - 1} {
				mss, ok := j.Check(tup, isn, cookie+1, made+after)
				if !ok || mss != used {
					t.Fatalf("Check %d ns after Make: mss %d ok %v, want %d", after, mss, ok, used)
				}
			}
		}
	}
}

func TestExpiry(t *testing.T) {
	j := NewFromSecret(testSecret)
	tup := testTuple()
	made := int64(1000)*Minute + 30_000_000_000 // half past minute 1000
	cookie, _ := j.Make(tup, 12345, 1460, made)
	for _, tc := range []struct {
		name string
		at   int64
		ok   bool
	}{
		{"same-minute", made + 29_000_000_000, true},
		{"next-minute", made + 89_000_000_000, true},
		{"two-minutes-on", made + 91_000_000_000, false},
		{"an-hour-on", made + 60*Minute, false},
		{"256-minutes-on", made + 256*Minute, false}, // the top byte wraps: the MAC differs
		{"earlier-minute", made - 31_000_000_000, false},
	} {
		if _, ok := j.Check(tup, 12345, cookie+1, tc.at); ok != tc.ok {
			t.Errorf("%s: ok %v, want %v", tc.name, ok, tc.ok)
		}
	}
}

func TestOtherSecretRejects(t *testing.T) {
	a := NewFromSecret(testSecret)
	s := testSecret
	s[0] ^= 1
	b := NewFromSecret(s)
	r := rand.New(rand.NewPCG(3, 4))
	accepted := 0
	const tries = 100000
	for range tries {
		isn := r.Uint32()
		c, _ := a.Make(testTuple(), isn, 1460, 0)
		if _, ok := b.Check(testTuple(), isn, c+1, 0); ok {
			accepted++
		}
	}
	if limit := forgeryLimit(tries); accepted > limit {
		t.Errorf("a jar with another secret accepted %d of %d cookies (limit %d)", accepted, tries, limit)
	}
}

// forgeryLimit bounds the accepted forgeries in n independent tries: each
// passes with probability at most 2^-22 (the MAC), so the count is about
// Poisson with mean m = n/2^22; allow m + 6*sqrt(m) + 3.
func forgeryLimit(n int) int {
	m := float64(n) / (1 << 22)
	return int(m + 6*math.Sqrt(m) + 3)
}

func TestSingleBitChangesRejected(t *testing.T) {
	j := NewFromSecret(testSecret)
	r := rand.New(rand.NewPCG(5, 6))
	tries := 1_000_000
	if testing.Short() {
		tries = 100_000
	}
	// 4+4+2+2 tuple bytes, the peer ISN and the ACK: 160 bits to flip.
	const fields = 32 + 32 + 16 + 16 + 32 + 32
	accepted := 0
	var perField [6]int
	for range tries {
		tup := randomTuple(r)
		isn := r.Uint32()
		now := r.Int64N(1 << 50)
		mss := MSSTable[r.IntN(4)]
		cookie, _ := j.Make(tup, isn, mss, now)
		ack := cookie + 1
		bit := r.IntN(fields)
		switch {
		case bit < 32:
			tup.Src[12+bit/8] ^= 1 << (bit % 8)
		case bit < 64:
			bit -= 32
			tup.Dst[12+bit/8] ^= 1 << (bit % 8)
		case bit < 80:
			tup.SrcPort ^= 1 << (bit - 64)
		case bit < 96:
			tup.DstPort ^= 1 << (bit - 80)
		case bit < 128:
			isn ^= 1 << (bit - 96)
		default:
			ack ^= 1 << (bit - 128)
		}
		if _, ok := j.Check(tup, isn, ack, now); ok {
			accepted++
			perField[min(bit/32, 5)]++
		}
	}
	t.Logf("%d of %d single-bit forgeries accepted", accepted, tries)
	if limit := forgeryLimit(tries); accepted > limit {
		t.Errorf("%d of %d single-bit forgeries accepted (limit %d): %v", accepted, tries, limit, perField)
	}
}

func TestRandomAcksRejected(t *testing.T) {
	// A blind attacker guessing the ACK for a tuple it sent a SYN from.
	j := NewFromSecret(testSecret)
	r := rand.New(rand.NewPCG(7, 8))
	tries := 1_000_000
	if testing.Short() {
		tries = 100_000
	}
	accepted := 0
	for range tries {
		if _, ok := j.Check(testTuple(), 777, r.Uint32(), 5*Minute); ok {
			accepted++
		}
	}
	// Two minutes of 256 pass the top byte; then the 22-bit MAC.
	if limit := forgeryLimit(tries); accepted > limit {
		t.Errorf("%d of %d random ACKs accepted (limit %d)", accepted, tries, limit)
	}
}

func TestGolden(t *testing.T) {
	// Fixed secret, tuple and times: the encoding must not change silently
	// (cookies made before an upgrade must pass after it).
	j := NewFromSecret(testSecret)
	tup := testTuple()
	for _, tc := range []struct {
		peerISN uint32
		mss     uint16
		now     int64
		cookie  uint32
		isn     uint32
	}{
		{0, 536, 0, 0x391d18df, 0x12968ba9},
		{0x12345678, 1460, 90 * 1_000_000_000, 0x486c5203, 0x13edde49},
		{0xffffffff, 1440, 1 << 40, 0x5a6e0944, 0x22f8d97b},
		{42, 1300, 1 << 62, 0xd93d31c9, 0x8752f627},
	} {
		c, _ := j.Make(tup, tc.peerISN, tc.mss, tc.now)
		isn := j.ISN(tup, tc.now)
		if want := docFormula(j, tup, tc.peerISN, tc.mss, tc.now); c != want {
			t.Errorf("cookie %#08x, the formula of doc.go gives %#08x", c, want)
		}
		if c != tc.cookie || isn != tc.isn {
			t.Errorf("peerISN %#x mss %d now %d: cookie %#08x isn %#08x, want %#08x %#08x",
				tc.peerISN, tc.mss, tc.now, c, isn, tc.cookie, tc.isn)
		}
	}
}

// docFormula computes a cookie as doc.go writes it, hashing explicit byte
// strings with the generic siphash.Sum64: H1 over the 16 bytes
// [dst src](little-endian word) [peerISN dport sport](little-endian word),
// H2 over those and the word count<<2|index.
func docFormula(j *Jar, tup Tuple, peerISN uint32, mss uint16, now int64) uint32 {
	var m [24]byte
	copy(m[0:4], []byte{tup.Dst[15], tup.Dst[14], tup.Dst[13], tup.Dst[12]})
	copy(m[4:8], []byte{tup.Src[15], tup.Src[14], tup.Src[13], tup.Src[12]})
	binary.LittleEndian.PutUint32(m[8:], peerISN)
	binary.LittleEndian.PutUint16(m[12:], tup.DstPort)
	binary.LittleEndian.PutUint16(m[14:], tup.SrcPort)
	n := uint32(now / 60e9)
	i := MSSIndex(mss)
	binary.LittleEndian.PutUint64(m[16:], uint64(n)<<2|uint64(i))
	h1 := uint32(siphash.Sum64(j.h1, m[:16]))
	h2 := uint32(siphash.Sum64(j.h2, m[:24]))
	return h1 + n<<24 + (h2&0xfffffc | uint32(i))
}

func TestISN(t *testing.T) {
	j := NewFromSecret(testSecret)
	tup := testTuple()
	now := int64(123_456_789_000)
	a := j.ISN(tup, now)
	// M: one per 4 microseconds.
	for _, d := range []int64{0, 3999, 4000, 4_000_000, 17_179_869_184_000} {
		want := a + uint32((now+d)/4000-now/4000)
		if got := j.ISN(tup, now+d); got != want {
			t.Errorf("ISN %d ns later: %#x, want %#x", d, got, want)
		}
	}
	// F: another tuple or another secret gives an unrelated ISN.
	other := tup
	other.SrcPort++
	s := testSecret
	s[15] ^= 0x80
	if j.ISN(other, now) == a || NewFromSecret(s).ISN(tup, now) == a {
		t.Error("ISN does not depend on the tuple or the secret")
	}
}

func TestTimestampOptions(t *testing.T) {
	var all []Options
	for w := -1; w <= 15; w++ {
		for _, sack := range []bool{false, true} {
			for _, ecn := range []bool{false, true} {
				o := Options{SACKOK: sack, ECNOK: ecn}
				if w >= 0 {
					o.WScaleOK, o.WScale = true, uint8(w)
				}
				all = append(all, o)
			}
		}
	}
	for _, tsNow := range []uint32{0, 5, 63, 64, 1000, 1<<31 + 7, math.MaxUint32} {
		for _, o := range all {
			ts := MakeTS(o, tsNow)
			if behind := tsNow - ts; behind >= 64 {
				t.Fatalf("MakeTS(%+v, %d) = %d: %d ticks behind", o, tsNow, ts, behind)
			}
			for _, later := range []uint32{0, 1, 1000} {
				got, ok := CheckTS(ts, tsNow+later)
				want := o
				if want.WScale > 14 {
					want.WScale = 14 // RFC 7323: larger shifts are taken as 14
				}
				if !ok || got != want {
					t.Fatalf("CheckTS(MakeTS(%+v, %d)) = %+v %v", o, tsNow, got, ok)
				}
			}
		}
	}
	// Golden bits: wscale 7, SACK, no ECN at clock 1000 (0x3e8): low 6 bits
	// 0b010111 = 0x17, 0x3c0|0x17 = 0x3d7 is later than 0x3e8? no: 983.
	if ts := MakeTS(Options{WScaleOK: true, WScale: 7, SACKOK: true}, 1000); ts != 0x3d7 {
		t.Errorf("MakeTS golden: %#x, want 0x3d7", ts)
	}
	// No window scale, ECN at clock 0x400: bits 0b101111 = 0x2f > 0: moved
	// back by 64 to 0x3ef.
	if ts := MakeTS(Options{ECNOK: true}, 0x400); ts != 0x3ef {
		t.Errorf("MakeTS golden: %#x, want 0x3ef", ts)
	}
	if _, ok := CheckTS(2000, 1000); ok {
		t.Error("CheckTS accepted a TSecr from the future")
	}
}

func TestNoAllocation(t *testing.T) {
	j := NewFromSecret(testSecret)
	tup := testTuple()
	n := testing.AllocsPerRun(100, func() {
		c, _ := j.Make(tup, 1, 1460, 0)
		j.Check(tup, 1, c+1, 0)
		j.ISN(tup, 0)
	})
	if n != 0 {
		t.Errorf("%v allocations", n)
	}
}

// TestIPv6 checks cookies and ISNs over IPv6 tuples: a cookie checks
// for its own tuple and MSSTable6's MSS, and a change to any byte of
// either 16-byte address (the high bytes too, which an IPv4 tuple does
// not have) fails the check and moves the ISN.
func TestIPv6(t *testing.T) {
	j := NewFromSecret(testSecret)
	k := flowtable.KeyFrom(netip.MustParseAddrPort("[2001:2::2]:40000"), netip.MustParseAddrPort("[2001:2::1]:80"), 6)
	tup, _ := TupleFromKey(k)
	now := int64(5 * Minute)
	for _, tc := range []struct{ peer, want uint16 }{{536, 1220}, {1220, 1220}, {1440, 1440}, {1460, 1440}, {9000, 8940}} {
		c, mss := j.Make(tup, 777, tc.peer, now)
		if mss != tc.want {
			t.Errorf("peer MSS %d: cookie promises %d, want %d", tc.peer, mss, tc.want)
		}
		if got, ok := j.Check(tup, 777, c+1, now+Minute); !ok || got != tc.want {
			t.Errorf("peer MSS %d: Check %d %v", tc.peer, got, ok)
		}
		for i := range 32 {
			u := tup
			if i < 16 {
				u.Src[i] ^= 0x80
			} else {
				u.Dst[i-16] ^= 0x80
			}
			if _, ok := j.Check(u, 777, c+1, now); ok {
				t.Errorf("address byte %d changed: the cookie still checks", i)
			}
			if j.ISN(u, now) == j.ISN(tup, now) {
				t.Errorf("address byte %d changed: same ISN", i)
			}
		}
	}
	// The same addresses as IPv4 and IPv6 tuples hash apart.
	v4 := Tuple4([4]byte{198, 18, 0, 2}, [4]byte{198, 18, 0, 1}, 40000, 80)
	v6 := v4
	v6.IPv6 = true
	if j.ISN(v4, now) == j.ISN(v6, now) {
		t.Error("an IPv4 tuple and the IPv6 tuple of its mapped addresses have the same ISN")
	}
	if n := testing.AllocsPerRun(100, func() { j.Make(tup, 1, 1440, now) }); n != 0 {
		t.Errorf("Make over IPv6 allocates %v times", n)
	}
}
