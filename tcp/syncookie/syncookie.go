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

// Tuple is an IPv4 connection as seen by the listener: the peer's address
// and port, then the local ones (the order of an arriving packet, as
// flowtable.Key).
type Tuple struct {
	Src, Dst         [4]byte
	SrcPort, DstPort uint16
}

// TupleFromKey converts a flow-table key of an arriving IPv4 packet; ok is
// false for another family.
func TupleFromKey(k flowtable.Key) (t Tuple, ok bool) {
	if k.Family != flowtable.FamilyIPv4 {
		return Tuple{}, false
	}
	copy(t.Src[:], k.Src[12:])
	copy(t.Dst[:], k.Dst[12:])
	t.SrcPort, t.DstPort = k.SrcPort, k.DstPort
	return t, true
}

// words packs the tuple into the first hash word and the ports into the
// top half of the second.
func (t *Tuple) words() (uint64, uint64) {
	w0 := uint64(binary.BigEndian.Uint32(t.Src[:]))<<32 | uint64(binary.BigEndian.Uint32(t.Dst[:]))
	w1 := uint64(t.SrcPort)<<48 | uint64(t.DstPort)<<32
	return w0, w1
}

// Jar holds the secrets of SYN cookies and ISNs. It is immutable after New.
type Jar struct {
	h1, h2, isn siphash.Key
}

// New makes a Jar with 48 bytes of secrets read from rand (crypto/rand.Reader
// in production).
func New(rand io.Reader) (*Jar, error) {
	var b [48]byte
	if _, err := io.ReadFull(rand, b[:]); err != nil {
		return nil, fmt.Errorf("syncookie: reading secrets: %w", err)
	}
	return &Jar{
		h1:  siphash.KeyFromBytes([16]byte(b[0:16])),
		h2:  siphash.KeyFromBytes([16]byte(b[16:32])),
		isn: siphash.KeyFromBytes([16]byte(b[32:48])),
	}, nil
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
	return &Jar{h1: sub(0), h2: sub(1), isn: sub(2)}
}

// Counter returns the minute counter for a time.
func Counter(now int64) uint32 { return uint32(now / Minute) }

// MSSIndex returns the index of the largest MSSTable entry not above mss
// (0 when mss is below 536).
func MSSIndex(mss uint16) int {
	i := len(MSSTable) - 1
	for i > 0 && mss < MSSTable[i] {
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
// MSSTable entry not above mss.
func (j *Jar) Make(t Tuple, peerISN uint32, mss uint16, now int64) (isn uint32, mssUsed uint16) {
	idx := MSSIndex(mss)
	count := Counter(now)
	w0, w1 := t.words()
	isn = j.hash1(w0, w1, peerISN) + count<<countShift +
		(j.mac(w0, w1, peerISN, count, idx)&macMask | uint32(idx))
	return isn, MSSTable[idx]
}

// Check validates the ACK that completes a cookie handshake: peerISN is the
// ACK's sequence number minus one, ackSeq its acknowledgment number (the
// cookie plus one). It returns the MSS the cookie promised, or ok false
// when the listener did not make this cookie for this tuple and ISN within
// the last MaxAge minutes.
func (j *Jar) Check(t Tuple, peerISN, ackSeq uint32, now int64) (mss uint16, ok bool) {
	w0, w1 := t.words()
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
	return MSSTable[idx], true
}

// ISN returns an RFC 6528 initial sequence number for a connection: the
// 4-microsecond clock M plus a keyed hash of the tuple. The tuple is taken
// in the order of an arriving packet (peer first), for connections opened
// either way.
func (j *Jar) ISN(t Tuple, now int64) uint32 {
	w0, w1 := t.words()
	return uint32(now/4000) + uint32(siphash.Hash2(j.isn, w0, w1))
}
