package syncookie

import (
	"encoding/binary"
	"fmt"
	"io"

	"github.com/xdpengine/engine/flowtable"
	"github.com/xdpengine/engine/internal/siphash"
)

// MSSTable is the MSS a cookie can promise, indexed by the 2 bits it
// carries (Linux's msstab for IPv4). 536 is the MSS every IPv4 host must
// accept (RFC 9293 3.7.1), so it serves peers announcing less.
var MSSTable = [4]uint16{536, 1300, 1440, 1460}

// MSSTable6 is MSSTable for IPv6 (Linux's msstab of net/ipv6/syncookies.c:
// 1280, 1480, 1500 and 9000 less 60 bytes of headers); 1220 is what every
// IPv6 path carries (RFC 8200 5).
var MSSTable6 = [4]uint16{1220, 1420, 1440, 8940}

const (
	// Minute is the cookie counter's period: the counter is now / Minute.
	Minute = 60_000_000_000
	// MaxAge is how many counter values a cookie is accepted for: the one
	// it was made in and the one before (Linux's MAX_SYNCOOKIE_AGE).
	MaxAge = 2

	countShift = 24
	indexMask  = 3
	macMask    = 0x00fffffc
	fieldMask  = 0x00ffffff
)

// Tuple is a connection as seen by the listener: the peer's address and
// port, then the local ones (the order of an arriving packet, as
// flowtable.Key). Addresses are in 16-byte form, IPv4 ones v4-mapped
// (::ffff:a.b.c.d, as flowtable.Key holds them); IPv6 says which family.
type Tuple struct {
	Src, Dst         [16]byte
	SrcPort, DstPort uint16
	IPv6             bool
}

// Tuple4 returns the tuple of an IPv4 connection.
func Tuple4(src, dst [4]byte, srcPort, dstPort uint16) Tuple {
	t := Tuple{SrcPort: srcPort, DstPort: dstPort}
	t.Src[10], t.Src[11], t.Dst[10], t.Dst[11] = 0xff, 0xff, 0xff, 0xff
	copy(t.Src[12:], src[:])
	copy(t.Dst[12:], dst[:])
	return t
}

// TupleFromKey converts a flow-table key of an arriving packet, IPv4 or
// IPv6; ok is false for a key of neither family.
func TupleFromKey(k flowtable.Key) (t Tuple, ok bool) {
	switch k.Family {
	case flowtable.FamilyIPv4, flowtable.FamilyIPv6:
	default:
		return Tuple{}, false
	}
	return Tuple{Src: k.Src, Dst: k.Dst, SrcPort: k.SrcPort, DstPort: k.DstPort,
		IPv6: k.Family == flowtable.FamilyIPv6}, true
}

// words packs the tuple into two hash words, the ports in the top half of
// the second. IPv4's addresses fill the first word; IPv6's 32 bytes are
// first compressed into it by SipHash under a fourth key (fold), so that
// the cookie and ISN hashes keep their fixed two- and three-word inputs.
func (j *Jar) words(t *Tuple) (uint64, uint64) {
	be := binary.BigEndian
	w1 := uint64(t.SrcPort)<<48 | uint64(t.DstPort)<<32
	if !t.IPv6 {
		return uint64(be.Uint32(t.Src[12:]))<<32 | uint64(be.Uint32(t.Dst[12:])), w1
	}
	w0 := siphash.Hash4(j.fold, be.Uint64(t.Src[:8]), be.Uint64(t.Src[8:]), be.Uint64(t.Dst[:8]), be.Uint64(t.Dst[8:]))
	return w0, w1
}

// mssTable returns the table of t's family.
func mssTable(t *Tuple) *[4]uint16 {
	if t.IPv6 {
		return &MSSTable6
	}
	return &MSSTable
}

// Jar holds the secrets of SYN cookies and ISNs. It is immutable after New.
type Jar struct {
	h1, h2, isn siphash.Key
	fold        siphash.Key // IPv6 addresses into one word (words); derived from isn
}

// withFold derives the IPv6 folding key from the ISN key.
func (j *Jar) withFold() *Jar {
	const label = 0x646c6f6636767069 // "ipv6fold" as a word, little-endian
	j.fold = siphash.Key{K0: siphash.Hash2(j.isn, label, 0), K1: siphash.Hash2(j.isn, label, 1)}
	return j
}

// New makes a Jar with 48 bytes of secrets read from rand (crypto/rand.Reader
// in production).
func New(rand io.Reader) (*Jar, error) {
	var b [48]byte
	if _, err := io.ReadFull(rand, b[:]); err != nil {
		return nil, fmt.Errorf("syncookie: reading secrets: %w", err)
	}
	j := &Jar{
		h1:  siphash.KeyFromBytes([16]byte(b[0:16])),
		h2:  siphash.KeyFromBytes([16]byte(b[16:32])),
		isn: siphash.KeyFromBytes([16]byte(b[32:48])),
	}
	return j.withFold(), nil
}

// NewFromSecret makes a Jar from one 16-byte secret, deriving the three keys
// from it with SipHash (for tests and for listeners that must share
// cookies across restarts or machines).
func NewFromSecret(secret [16]byte) *Jar {
	k := siphash.KeyFromBytes(secret)
	sub := func(i uint64) siphash.Key {
		const label = 0x6b6f6f63636e7973 // "syncook" as a word, little-endian
		return siphash.Key{K0: siphash.Hash2(k, label, 2*i), K1: siphash.Hash2(k, label, 2*i+1)}
	}
	j := &Jar{h1: sub(0), h2: sub(1), isn: sub(2)}
	return j.withFold()
}

// Counter returns the minute counter for a time.
func Counter(now int64) uint32 { return uint32(now / Minute) }

// MSSIndex returns the index of the largest MSSTable entry not above mss
// (0 when mss is below 536).
func MSSIndex(mss uint16) int { return mssIndex(&MSSTable, mss) }

func mssIndex(tab *[4]uint16, mss uint16) int {
	i := len(tab) - 1
	for i > 0 && mss < tab[i] {
		i--
	}
	return i
}

func (j *Jar) hash1(w0, w1 uint64, peerISN uint32) uint32 {
	return uint32(siphash.Hash2(j.h1, w0, w1|uint64(peerISN)))
}

func (j *Jar) mac(w0, w1 uint64, peerISN, count uint32, idx int) uint32 {
	return uint32(siphash.Hash3(j.h2, w0, w1|uint64(peerISN), uint64(count)<<2|uint64(idx)))
}

// Make returns the cookie to send as the SYN-ACK's sequence number for a
// SYN from tuple t with sequence number peerISN announcing mss (536 if the
// SYN had no MSS option), and the MSS the cookie promises: the largest
// entry not above mss of MSSTable (MSSTable6 for an IPv6 tuple).
func (j *Jar) Make(t Tuple, peerISN uint32, mss uint16, now int64) (isn uint32, mssUsed uint16) {
	tab := mssTable(&t)
	idx := mssIndex(tab, mss)
	count := Counter(now)
	w0, w1 := j.words(&t)
	isn = j.hash1(w0, w1, peerISN) + count<<countShift +
		(j.mac(w0, w1, peerISN, count, idx)&macMask | uint32(idx))
	return isn, tab[idx]
}

// Check validates the ACK that completes a cookie handshake: peerISN is the
// ACK's sequence number minus one, ackSeq its acknowledgment number (the
// cookie plus one). It returns the MSS the cookie promised, or ok false
// when the listener did not make this cookie for this tuple and ISN within
// the last MaxAge minutes.
func (j *Jar) Check(t Tuple, peerISN, ackSeq uint32, now int64) (mss uint16, ok bool) {
	w0, w1 := j.words(&t)
	c := ackSeq - 1 - j.hash1(w0, w1, peerISN)
	count := Counter(now)
	diff := (count - c>>countShift) & (1<<(32-countShift) - 1)
	if diff >= MaxAge {
		return 0, false
	}
	idx := int(c & indexMask)
	if c&macMask != j.mac(w0, w1, peerISN, count-diff, idx)&macMask {
		return 0, false
	}
	return mssTable(&t)[idx], true
}

// ISN returns an RFC 6528 initial sequence number for a connection: the
// 4-microsecond clock M plus a keyed hash of the tuple. The tuple is taken
// in the order of an arriving packet (peer first), for connections opened
// either way.
func (j *Jar) ISN(t Tuple, now int64) uint32 {
	w0, w1 := j.words(&t)
	return uint32(now/4000) + uint32(siphash.Hash2(j.isn, w0, w1))
}
