package header

import (
	"encoding/binary"
	"errors"
	"time"
)

// MLD message types (RFC 2710 3, RFC 3810 5).
const (
	ICMPv6MulticastListenerQuery    = 130 // every version's query
	ICMPv6MulticastListenerReport   = 131 // MLDv1 report
	ICMPv6MulticastListenerDone     = 132 // MLDv1 done
	ICMPv6MulticastListenerReportV2 = 143
)

// MLDv2 multicast address record types (RFC 3810 5.2.12), with the
// values of IGMPv3's group record types.
const (
	MLDv2ModeIsInclude   = 1
	MLDv2ModeIsExclude   = 2
	MLDv2ChangeToInclude = 3
	MLDv2ChangeToExclude = 4
	MLDv2AllowNewSources = 5
	MLDv2BlockOldSources = 6
)

// MLD lengths.
const (
	MLDv1Len             = 24 // an MLDv1 query, report or done
	MLDv2QueryMinLen     = 28 // an MLDv2 query without sources
	MLDv2ReportHeaderLen = 8  // an MLDv2 report without records
	MLDv2RecordMinLen    = 20 // an address record without sources or auxiliary data
)

// ErrBadMLDLength: a query of 25 to 27 bytes, neither MLDv1 (24) nor MLDv2
// (28 or more); RFC 3810 8.1 says to ignore it. Also a message of another
// MLD type shorter than 24 bytes gives ErrTruncated.
var ErrBadMLDLength = errors.New("header: MLD query of 25 to 27 bytes")

// MLDv2DecodeCode decodes an MLDv2 Maximum Response Code (RFC 3810
// 5.1.3) into milliseconds: a code below 32768 is the value itself; above,
// it is 1|exp(3)|mant(12) worth (mant | 0x1000) << (exp + 3). The QQIC
// has IGMPv3's 8-bit form (IGMPv3DecodeCode).
func MLDv2DecodeCode(c uint16) uint32 {
	if c < 32768 {
		return uint32(c)
	}
	return (uint32(c&0x0fff) | 0x1000) << ((c>>12)&7 + 3)
}

// MLD is a view of an MLD message (the ICMPv6 message). MLDv1 messages
// (RFC 2710 3) and the start of an MLDv2 query (RFC 3810 5.1):
//
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|     Type      |     Code      |           Checksum            |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|    Maximum Response Code      |           Reserved            |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                Multicast Address (16 bytes)                   |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	| Resv  |S| QRV |     QQIC      |     Number of Sources (N)     |  (v2 query)
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                Source Address [1] ... [N]                     |
//
// An MLDv2 report (RFC 3810 5.2) has type 143, a reserved byte, the
// checksum, two reserved bytes and the number of records, each: record
// type, aux data length (words), number of sources, the multicast address,
// the sources, the auxiliary data.
//
// Views come from ParseMLD; the accessors of a kind return zero values on
// a message of another kind.
type MLD []byte

// ParseMLD validates b, an ICMPv6 message of type 130, 131, 132 or 143.
// Errors: ErrTruncated (below 24 bytes, 8 for a v2 report; a v2 query or
// report whose sources or records run past b), ErrBadMLDLength (a query
// of 25 to 27 bytes), ErrNDPCode (another type). The checksum, the hop
// limit (1), the link-local source and the Router Alert option are the
// caller's to check (RFC 3810 5.1.14, 5.2.13); bytes after a v2 query's
// sources are kept and ignored.
func ParseMLD(b []byte) (MLD, error) {
	if len(b) < 1 {
		return nil, ErrTruncated
	}
	switch b[0] {
	case ICMPv6MulticastListenerQuery:
		switch {
		case len(b) < MLDv1Len:
			return nil, ErrTruncated
		case len(b) == MLDv1Len:
		case len(b) < MLDv2QueryMinLen:
			return nil, ErrBadMLDLength
		case len(b) < MLDv2QueryMinLen+16*int(binary.BigEndian.Uint16(b[26:])):
			return nil, ErrTruncated
		}
	case ICMPv6MulticastListenerReport, ICMPv6MulticastListenerDone:
		if len(b) < MLDv1Len {
			return nil, ErrTruncated
		}
	case ICMPv6MulticastListenerReportV2:
		if len(b) < MLDv2ReportHeaderLen {
			return nil, ErrTruncated
		}
		off := MLDv2ReportHeaderLen
		for range binary.BigEndian.Uint16(b[6:]) {
			n := mldRecordLen(b[off:])
			if n == 0 {
				return nil, ErrTruncated
			}
			off += n
		}
	default:
		return nil, ErrNDPCode
	}
	return MLD(b), nil
}

func mldRecordLen(b []byte) int {
	if len(b) < MLDv2RecordMinLen {
		return 0
	}
	n := MLDv2RecordMinLen + 16*int(binary.BigEndian.Uint16(b[2:])) + 4*int(b[1])
	if len(b) < n {
		return 0
	}
	return n
}

// Type returns the message type.
func (m MLD) Type() uint8 { return m[0] }

// QueryVersion returns 1 or 2 for a query (by its length, RFC 3810 8.1),
// 0 for other messages.
func (m MLD) QueryVersion() int {
	switch {
	case m[0] != ICMPv6MulticastListenerQuery:
		return 0
	case len(m) == MLDv1Len:
		return 1
	case len(m) >= MLDv2QueryMinLen:
		return 2
	}
	return 0
}

// MaxResponseCode returns the Maximum Response Code (v2) or Delay (v1,
// in milliseconds) of a query; 0 for a report.
func (m MLD) MaxResponseCode() uint16 {
	if m[0] != ICMPv6MulticastListenerQuery {
		return 0
	}
	return binary.BigEndian.Uint16(m[4:])
}

// MaxResponseDelay returns how long a listener may wait before answering
// a query: the v1 field in milliseconds, the decoded v2 code; 0 for
// other messages.
func (m MLD) MaxResponseDelay() time.Duration {
	switch m.QueryVersion() {
	case 1:
		return time.Duration(m.MaxResponseCode()) * time.Millisecond
	case 2:
		return time.Duration(MLDv2DecodeCode(m.MaxResponseCode())) * time.Millisecond
	}
	return 0
}

// Address returns the multicast address of a query (:: for a general
// query), a v1 report or a done; zero for a v2 report.
func (m MLD) Address() [16]byte {
	if m[0] == ICMPv6MulticastListenerReportV2 {
		return [16]byte{}
	}
	return [16]byte(m[8:24])
}

func (m MLD) isV2Query() bool { return m.QueryVersion() == 2 }

// SuppressRouterProcessing returns a v2 query's S flag.
func (m MLD) SuppressRouterProcessing() bool { return m.isV2Query() && m[24]&0x08 != 0 }

// QRV returns a v2 query's Querier's Robustness Variable (0: default).
func (m MLD) QRV() uint8 {
	if !m.isV2Query() {
		return 0
	}
	return m[24] & 0x07
}

// QQIC returns a v2 query's Querier's Query Interval Code (decode with
// IGMPv3DecodeCode: seconds).
func (m MLD) QQIC() uint8 {
	if !m.isV2Query() {
		return 0
	}
	return m[25]
}

// NumSources returns the number of sources of a v2 query.
func (m MLD) NumSources() int {
	if !m.isV2Query() {
		return 0
	}
	return int(binary.BigEndian.Uint16(m[26:]))
}

// Source returns a v2 query's source i (zero when out of range).
func (m MLD) Source(i int) [16]byte {
	off := MLDv2QueryMinLen + 16*i
	if i < 0 || i >= m.NumSources() || off+16 > len(m) {
		return [16]byte{}
	}
	return [16]byte(m[off : off+16])
}

// NumRecords returns the number of records of a v2 report.
func (m MLD) NumRecords() int {
	if m[0] != ICMPv6MulticastListenerReportV2 {
		return 0
	}
	return int(binary.BigEndian.Uint16(m[6:]))
}

// Records returns an iterator over a v2 report's records (none for other
// messages).
func (m MLD) Records() MLDv2Records {
	if m[0] != ICMPv6MulticastListenerReportV2 {
		return MLDv2Records{}
	}
	return MLDv2Records{b: m[MLDv2ReportHeaderLen:], left: m.NumRecords()}
}

// MLDv2Records walks the records of a v2 report without allocating.
type MLDv2Records struct {
	b    []byte
	left int
}

// Next returns the next record, or false after the last one.
func (r *MLDv2Records) Next() (MLDv2Record, bool) {
	if r.left == 0 {
		return nil, false
	}
	n := mldRecordLen(r.b)
	if n == 0 {
		r.left = 0
		return nil, false
	}
	rec := MLDv2Record(r.b[:n])
	r.b, r.left = r.b[n:], r.left-1
	return rec, true
}

// MLDv2Record is a view of one multicast address record.
type MLDv2Record []byte

// Type returns the record type (MLDv2ModeIsInclude ...).
func (g MLDv2Record) Type() uint8 { return g[0] }

// Address returns the multicast address.
func (g MLDv2Record) Address() [16]byte { return [16]byte(g[4:20]) }

// NumSources returns the number of sources.
func (g MLDv2Record) NumSources() int { return int(binary.BigEndian.Uint16(g[2:])) }

// Source returns source i (zero when out of range).
func (g MLDv2Record) Source(i int) [16]byte {
	off := MLDv2RecordMinLen + 16*i
	if i < 0 || i >= g.NumSources() || off+16 > len(g) {
		return [16]byte{}
	}
	return [16]byte(g[off : off+16])
}

// PutMLDv1 writes an MLDv1 message (ICMPv6MulticastListenerReport or
// ICMPv6MulticastListenerDone; a query with maxDelayMs) for addr and
// returns 24. The checksum is left zero: the caller fills it.
func PutMLDv1(b []byte, typ uint8, maxDelayMs uint16, addr [16]byte) (int, error) {
	if len(b) < MLDv1Len {
		return 0, ErrBufferTooSmall
	}
	b[0], b[1], b[2], b[3] = typ, 0, 0, 0
	binary.BigEndian.PutUint16(b[4:], maxDelayMs)
	b[6], b[7] = 0, 0
	copy(b[8:24], addr[:])
	return MLDv1Len, nil
}

// PutMLDv2Query writes an MLDv2 query and returns its length, 28 plus 16
// per source; the checksum is left zero. Hosts do not query: tests and
// simulated routers do. Errors: ErrTooManySources, ErrBufferTooSmall.
func PutMLDv2Query(b []byte, maxRespCode uint16, addr [16]byte, s bool, qrv, qqic uint8, sources [][16]byte) (int, error) {
	if len(sources) > 0xffff {
		return 0, ErrTooManySources
	}
	n := MLDv2QueryMinLen + 16*len(sources)
	if len(b) < n {
		return 0, ErrBufferTooSmall
	}
	PutMLDv1(b, ICMPv6MulticastListenerQuery, maxRespCode, addr)
	b[24] = qrv & 0x07
	if s {
		b[24] |= 0x08
	}
	b[25] = qqic
	binary.BigEndian.PutUint16(b[26:], uint16(len(sources)))
	for i := range sources {
		copy(b[MLDv2QueryMinLen+16*i:], sources[i][:])
	}
	return n, nil
}

// PutMLDv2ReportHeader writes the 8-byte header of an MLDv2 report of
// records records (written after it with PutMLDv2Record) and returns 8.
// The checksum is left zero: the caller fills it over the whole report.
func PutMLDv2ReportHeader(b []byte, records int) (int, error) {
	if records > 0xffff || records < 0 {
		return 0, ErrTooManySources
	}
	if len(b) < MLDv2ReportHeaderLen {
		return 0, ErrBufferTooSmall
	}
	b[0] = ICMPv6MulticastListenerReportV2
	clear(b[1:6])
	binary.BigEndian.PutUint16(b[6:], uint16(records))
	return MLDv2ReportHeaderLen, nil
}

// PutMLDv2Record writes one address record without auxiliary data and
// returns its length, 20 plus 16 per source. A join is a
// MLDv2ChangeToExclude record with no source (EXCLUDE {}: any source), a
// leave a MLDv2ChangeToInclude with none, an answer to a query about
// such a group a MLDv2ModeIsExclude with none (RFC 3810 6.1, 6.3).
func PutMLDv2Record(b []byte, typ uint8, addr [16]byte, sources [][16]byte) (int, error) {
	if len(sources) > 0xffff {
		return 0, ErrTooManySources
	}
	n := MLDv2RecordMinLen + 16*len(sources)
	if len(b) < n {
		return 0, ErrBufferTooSmall
	}
	b[0], b[1] = typ, 0
	binary.BigEndian.PutUint16(b[2:], uint16(len(sources)))
	copy(b[4:20], addr[:])
	for i := range sources {
		copy(b[MLDv2RecordMinLen+16*i:], sources[i][:])
	}
	return n, nil
}
