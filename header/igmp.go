package header

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"time"
)

// ProtocolIGMP is IGMP's IP protocol number.
const ProtocolIGMP = 2

// IGMP message types (RFC 1112, RFC 2236, RFC 3376 4).
const (
	IGMPMembershipQuery    = 0x11 // every version's query
	IGMPv1MembershipReport = 0x12
	IGMPv2MembershipReport = 0x16
	IGMPv2LeaveGroup       = 0x17
	IGMPv3MembershipReport = 0x22
)

// IGMPv3 group record types (RFC 3376 4.2.12): current-state records
// answer queries, filter-mode-change and source-list-change records report
// a change of the interface's reception state.
const (
	IGMPv3ModeIsInclude   = 1 // MODE_IS_INCLUDE
	IGMPv3ModeIsExclude   = 2 // MODE_IS_EXCLUDE
	IGMPv3ChangeToInclude = 3 // CHANGE_TO_INCLUDE_MODE
	IGMPv3ChangeToExclude = 4 // CHANGE_TO_EXCLUDE_MODE
	IGMPv3AllowNewSources = 5 // ALLOW_NEW_SOURCES
	IGMPv3BlockOldSources = 6 // BLOCK_OLD_SOURCES
)

// IGMP lengths.
const (
	IGMPHeaderLen           = 8  // an IGMPv1/v2 message; the fixed part of a v3 report
	IGMPv3QueryMinLen       = 12 // a v3 query without sources
	IGMPv3GroupRecordMinLen = 8  // a group record without sources or auxiliary data
)

// IPv4OptionRouterAlert is the Router Alert option (RFC 2113) that IGMPv2
// and IGMPv3 messages carry (RFC 2236 2, RFC 3376 4): type 148, length 4,
// value 0 ("examine the packet"). Linux puts it on every IGMP message it
// sends.
var IPv4OptionRouterAlert = [4]byte{0x94, 0x04, 0x00, 0x00}

// IGMP errors. Like the package's other sentinels they are returned
// unwrapped.
var (
	// ErrBadIGMPQueryLength: a query of 9 to 11 bytes, which is neither
	// IGMPv1/v2 (8) nor IGMPv3 (12 or more); RFC 3376 7.1 says to ignore it.
	ErrBadIGMPQueryLength = errors.New("header: IGMP query of 9 to 11 bytes")
	// ErrIGMPType: a Fields.Parse was given another message type than its own.
	ErrIGMPType = errors.New("header: not the IGMP message type asked for")
	// ErrTooManySources: a query or group record to emit has more than
	// 65535 sources, or auxiliary data of more than 255 words.
	ErrTooManySources = errors.New("header: IGMP source list or auxiliary data too long")
)

// MulticastMAC returns the Ethernet address an IPv4 multicast group maps
// to (RFC 1112 6.4): 01:00:5e followed by the group's low 23 bits.
func MulticastMAC(group [4]byte) MAC {
	return MAC{0x01, 0x00, 0x5e, group[1] & 0x7f, group[2], group[3]}
}

// IGMPv3DecodeCode decodes a Max Resp Code or a QQIC (RFC 3376 4.1.1,
// 4.1.7): a code below 128 is the value itself; above, it is a floating
// point number 1|exp(3)|mant(4) worth (mant | 0x10) << (exp + 3), up to
// 31744.
func IGMPv3DecodeCode(c uint8) uint32 {
	if c < 128 {
		return uint32(c)
	}
	return (uint32(c&0x0f) | 0x10) << ((c>>4)&7 + 3)
}

// IGMPv3EncodeCode returns the code for v: v itself below 128, else the
// largest floating point code whose value does not exceed v (a querier
// rounds down, so hosts never wait longer than asked); 31744 and above
// give 0xff.
func IGMPv3EncodeCode(v uint32) uint8 {
	if v < 128 {
		return uint8(v)
	}
	if v >= 31744 {
		return 0xff
	}
	exp := uint8(0)
	for v>>(exp+3) > 0x1f {
		exp++
	}
	return 0x80 | exp<<4 | uint8(v>>(exp+3))&0x0f
}

// IGMP is a view of an IGMP message (the IP payload). IGMPv1 and v2
// messages (RFC 1112, RFC 2236) are 8 bytes:
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|      Type     | Max Resp Time |           Checksum            |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                         Group Address                         |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// An IGMPv3 query (RFC 3376 4.1) continues after the group address:
//
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	| Resv  |S| QRV |     QQIC      |     Number of Sources (N)     |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                  Source Address [1] ... [N]                   |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// An IGMPv3 report (RFC 3376 4.2) has type 0x22, a reserved byte, the
// checksum, two reserved bytes and the number of group records, each
//
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|  Record Type  |  Aux Data Len |     Number of Sources (N)     |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                       Multicast Address                       |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|  Source Address [1] ... [N]; Auxiliary Data (Aux Data Len words)
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// The checksum covers the whole message. A query's version is told by
// its length and code (RFC 3376 7.1): 8 bytes and code 0 is IGMPv1, 8
// bytes and a non-zero code IGMPv2, 12 bytes or more IGMPv3.
//
// Views come from ParseIGMP; see the package's parse contract. The v3
// accessors return zero values on a message of another kind.
type IGMP []byte

// ParseIGMP validates b (the IP payload) as an IGMP message. Errors, in
// this order: ErrTruncated below 8 bytes, ErrBadChecksum, then by type:
// for a query ErrBadIGMPQueryLength (9 to 11 bytes) and ErrTruncated (a v3
// query shorter than its sources); for a v3 report ErrTruncated when the
// group records run past b. Other types need only the 8 bytes. Bytes
// after a v3 query's sources are kept and ignored (RFC 3376 4.1.10).
func ParseIGMP(b []byte) (IGMP, error) {
	if len(b) < IGMPHeaderLen {
		return nil, ErrTruncated
	}
	if Checksum(b, 0) != 0xffff {
		return nil, ErrBadChecksum
	}
	switch b[0] {
	case IGMPMembershipQuery:
		switch {
		case len(b) == IGMPHeaderLen:
		case len(b) < IGMPv3QueryMinLen:
			return nil, ErrBadIGMPQueryLength
		case len(b) < IGMPv3QueryMinLen+4*int(binary.BigEndian.Uint16(b[10:])):
			return nil, ErrTruncated
		}
	case IGMPv3MembershipReport:
		off := IGMPHeaderLen
		for range binary.BigEndian.Uint16(b[6:]) {
			n := recordLen(b[off:])
			if n == 0 {
				return nil, ErrTruncated
			}
			off += n
		}
	}
	return IGMP(b), nil
}

// recordLen returns the length of the group record at the start of b, 0
// when b is too short for it.
func recordLen(b []byte) int {
	if len(b) < IGMPv3GroupRecordMinLen {
		return 0
	}
	n := IGMPv3GroupRecordMinLen + 4*int(binary.BigEndian.Uint16(b[2:])) + 4*int(b[1])
	if len(b) < n {
		return 0
	}
	return n
}

// Type returns the message type.
func (m IGMP) Type() uint8 { return m[0] }

// Code returns the second byte: the Max Resp Code of an IGMPv2 or v3
// query, 0 (unused) in IGMPv1 and in reports.
func (m IGMP) Code() uint8 { return m[1] }

// Checksum returns the checksum field.
func (m IGMP) Checksum() uint16 { return binary.BigEndian.Uint16(m[2:]) }

// Group4 returns the group address: the group a v1/v2 report or leave is
// about, the group a query asks about (0.0.0.0 for a general query). A v3
// report has none (zero).
func (m IGMP) Group4() [4]byte {
	if m[0] == IGMPv3MembershipReport {
		return [4]byte{}
	}
	return [4]byte(m[4:8])
}

// Group returns Group4 as a netip.Addr.
func (m IGMP) Group() netip.Addr { return netip.AddrFrom4(m.Group4()) }

// QueryVersion returns the version of a query (RFC 3376 7.1): 1, 2 or 3;
// 0 for other messages.
func (m IGMP) QueryVersion() int {
	switch {
	case m[0] != IGMPMembershipQuery:
		return 0
	case len(m) >= IGMPv3QueryMinLen:
		return 3
	case len(m) == IGMPHeaderLen && m[1] == 0:
		return 1
	case len(m) == IGMPHeaderLen:
		return 2
	}
	return 0
}

// MaxRespTime returns the longest a host may wait before answering a
// query: 10 s for IGMPv1 (which has no field; RFC 2236 4), the code in
// tenths of a second for IGMPv2, the decoded code (IGMPv3DecodeCode) in
// tenths of a second for IGMPv3; 0 for other messages.
func (m IGMP) MaxRespTime() time.Duration {
	switch m.QueryVersion() {
	case 1:
		return 10 * time.Second
	case 2:
		return time.Duration(m[1]) * 100 * time.Millisecond
	case 3:
		return time.Duration(IGMPv3DecodeCode(m[1])) * 100 * time.Millisecond
	}
	return 0
}

func (m IGMP) isV3Query() bool { return m[0] == IGMPMembershipQuery && len(m) >= IGMPv3QueryMinLen }

// SuppressRouterProcessing returns a v3 query's S flag.
func (m IGMP) SuppressRouterProcessing() bool { return m.isV3Query() && m[8]&0x08 != 0 }

// QRV returns a v3 query's Querier's Robustness Variable (0: use the
// default).
func (m IGMP) QRV() uint8 {
	if !m.isV3Query() {
		return 0
	}
	return m[8] & 0x07
}

// QQIC returns a v3 query's Querier's Query Interval Code.
func (m IGMP) QQIC() uint8 {
	if !m.isV3Query() {
		return 0
	}
	return m[9]
}

// QueryInterval returns the decoded QQIC in seconds (0: use the default).
func (m IGMP) QueryInterval() time.Duration {
	return time.Duration(IGMPv3DecodeCode(m.QQIC())) * time.Second
}

// NumSources returns the number of sources of a v3 query.
func (m IGMP) NumSources() int {
	if !m.isV3Query() {
		return 0
	}
	return int(binary.BigEndian.Uint16(m[10:]))
}

// Source4 returns a v3 query's source i (zero when i is out of range).
func (m IGMP) Source4(i int) [4]byte {
	off := IGMPv3QueryMinLen + 4*i
	if i < 0 || i >= m.NumSources() || off+4 > len(m) {
		return [4]byte{}
	}
	return [4]byte(m[off : off+4])
}

// NumRecords returns the number of group records of a v3 report.
func (m IGMP) NumRecords() int {
	if m[0] != IGMPv3MembershipReport {
		return 0
	}
	return int(binary.BigEndian.Uint16(m[6:]))
}

// Records returns an iterator over a v3 report's group records.
func (m IGMP) Records() IGMPv3Records {
	r := IGMPv3Records{left: m.NumRecords()}
	if r.left > 0 {
		r.b = m[IGMPHeaderLen:]
	}
	return r
}

// SetChecksum sets the checksum field.
func (m IGMP) SetChecksum(v uint16) { binary.BigEndian.PutUint16(m[2:], v) }

// UpdateChecksum recomputes and stores the checksum over the whole view.
func (m IGMP) UpdateChecksum() {
	m[2], m[3] = 0, 0
	m.SetChecksum(^Checksum(m, 0))
}

// IGMPv3Records walks the group records of a v3 report.
type IGMPv3Records struct {
	b    []byte
	left int
}

// Next returns the next record, or false after the last one (or at a
// record that does not fit, which ParseIGMP rules out).
func (r *IGMPv3Records) Next() (IGMPv3GroupRecord, bool) {
	if r.left == 0 {
		return nil, false
	}
	n := recordLen(r.b)
	if n == 0 {
		r.left = 0
		return nil, false
	}
	rec := IGMPv3GroupRecord(r.b[:n])
	r.b, r.left = r.b[n:], r.left-1
	return rec, true
}

// IGMPv3GroupRecord is a view of one group record of a v3 report, as
// IGMPv3Records.Next returns it (its length is checked).
type IGMPv3GroupRecord []byte

// Type returns the record type (IGMPv3ModeIsInclude ... IGMPv3BlockOldSources).
func (g IGMPv3GroupRecord) Type() uint8 { return g[0] }

// Group4 returns the multicast address.
func (g IGMPv3GroupRecord) Group4() [4]byte { return [4]byte(g[4:8]) }

// Group returns the multicast address as a netip.Addr.
func (g IGMPv3GroupRecord) Group() netip.Addr { return netip.AddrFrom4(g.Group4()) }

// NumSources returns the number of sources.
func (g IGMPv3GroupRecord) NumSources() int { return int(binary.BigEndian.Uint16(g[2:])) }

// Source4 returns source i (zero when i is out of range).
func (g IGMPv3GroupRecord) Source4(i int) [4]byte {
	off := IGMPv3GroupRecordMinLen + 4*i
	if i < 0 || i >= g.NumSources() || off+4 > len(g) {
		return [4]byte{}
	}
	return [4]byte(g[off : off+4])
}

// AuxData returns the auxiliary data (empty in RFC 3376 reports).
func (g IGMPv3GroupRecord) AuxData() []byte {
	off := IGMPv3GroupRecordMinLen + 4*g.NumSources()
	if off > len(g) {
		return nil
	}
	return g[off:]
}

func put4(b []byte, a netip.Addr) bool {
	if !a.Is4() {
		return false
	}
	v := a.As4()
	copy(b, v[:])
	return true
}

func appendSources(dst []netip.Addr, b []byte, n int) []netip.Addr {
	dst = dst[:0]
	for i := range n {
		dst = append(dst, netip.AddrFrom4([4]byte(b[4*i:4*i+4])))
	}
	return dst
}

// IGMPFields is the plain form of an 8-byte IGMPv1/v2 message: a v1 or v2
// query, a v1 or v2 report, a leave.
type IGMPFields struct {
	Type        uint8
	MaxRespCode uint8  // a v2 query's Max Resp Time in tenths of a second; 0 otherwise
	Checksum    uint16 // filled by Parse; Put computes its own
	Group       netip.Addr
}

// Parse validates b as ParseIGMP does and fills f from its first 8 bytes.
// A v3 query or report gives ErrIGMPType.
func (f *IGMPFields) Parse(b []byte) error {
	m, err := ParseIGMP(b)
	if err != nil {
		return err
	}
	if m.Type() == IGMPv3MembershipReport || m.QueryVersion() == 3 {
		return ErrIGMPType
	}
	*f = IGMPFields{Type: m.Type(), MaxRespCode: m.Code(), Checksum: m.Checksum(), Group: m.Group()}
	return nil
}

// Len returns IGMPHeaderLen.
func (f *IGMPFields) Len() int { return IGMPHeaderLen }

// Put writes the message and its checksum into b and returns 8. Errors:
// ErrBadAddress when Group is not IPv4, ErrBufferTooSmall.
func (f *IGMPFields) Put(b []byte) (int, error) {
	if len(b) < IGMPHeaderLen {
		return 0, ErrBufferTooSmall
	}
	if !put4(b[4:], f.Group) {
		return 0, ErrBadAddress
	}
	b[0], b[1], b[2], b[3] = f.Type, f.MaxRespCode, 0, 0
	IGMP(b[:IGMPHeaderLen]).UpdateChecksum()
	return IGMPHeaderLen, nil
}

// IGMPv3QueryFields is the plain form of an IGMPv3 query.
type IGMPv3QueryFields struct {
	MaxRespCode              uint8  // see IGMPv3DecodeCode; tenths of a second
	Checksum                 uint16 // filled by Parse; Put computes its own
	Group                    netip.Addr
	SuppressRouterProcessing bool  // S
	QRV                      uint8 // 0 to 7
	QQIC                     uint8 // see IGMPv3DecodeCode; seconds
	// Sources: Parse appends into the slice's existing capacity, so a
	// caller that reuses its fields allocates only when a query has more
	// sources than it has seen before.
	Sources []netip.Addr
}

// Parse validates b as ParseIGMP does and fills f; a message other than a
// v3 query gives ErrIGMPType.
func (f *IGMPv3QueryFields) Parse(b []byte) error {
	m, err := ParseIGMP(b)
	if err != nil {
		return err
	}
	if m.QueryVersion() != 3 {
		return ErrIGMPType
	}
	f.MaxRespCode, f.Checksum, f.Group = m.Code(), m.Checksum(), m.Group()
	f.SuppressRouterProcessing, f.QRV, f.QQIC = m.SuppressRouterProcessing(), m.QRV(), m.QQIC()
	f.Sources = appendSources(f.Sources, m[IGMPv3QueryMinLen:], m.NumSources())
	return nil
}

// Len returns 12 plus 4 bytes per source.
func (f *IGMPv3QueryFields) Len() int { return IGMPv3QueryMinLen + 4*len(f.Sources) }

// Put writes the query with its checksum into b and returns its length.
// Errors: ErrTooManySources, ErrBadAddress (a group or source that is not
// IPv4; use 0.0.0.0 for a general query), ErrBufferTooSmall.
func (f *IGMPv3QueryFields) Put(b []byte) (int, error) {
	if len(f.Sources) > 0xffff {
		return 0, ErrTooManySources
	}
	n := f.Len()
	if len(b) < n {
		return 0, ErrBufferTooSmall
	}
	if !put4(b[4:], f.Group) {
		return 0, ErrBadAddress
	}
	for i, s := range f.Sources {
		if !put4(b[IGMPv3QueryMinLen+4*i:], s) {
			return 0, ErrBadAddress
		}
	}
	b[0], b[1] = IGMPMembershipQuery, f.MaxRespCode
	b[8] = f.QRV & 0x07
	if f.SuppressRouterProcessing {
		b[8] |= 0x08
	}
	b[9] = f.QQIC
	binary.BigEndian.PutUint16(b[10:], uint16(len(f.Sources)))
	IGMP(b[:n]).UpdateChecksum()
	return n, nil
}

// IGMPv3GroupRecordFields is the plain form of a group record.
type IGMPv3GroupRecordFields struct {
	Type    uint8 // IGMPv3ModeIsInclude ... IGMPv3BlockOldSources
	Group   netip.Addr
	Sources []netip.Addr
	// AuxData follows the sources; Put pads it with zeros to a multiple of
	// 4. RFC 3376 senders send none. After Parse it aliases the parsed bytes.
	AuxData []byte
}

// Len returns 8 plus 4 bytes per source plus the padded auxiliary data.
func (f *IGMPv3GroupRecordFields) Len() int {
	return IGMPv3GroupRecordMinLen + 4*len(f.Sources) + (len(f.AuxData)+3)&^3
}

// Put writes the record into b and returns its length. Errors:
// ErrTooManySources, ErrBadAddress, ErrBufferTooSmall.
func (f *IGMPv3GroupRecordFields) Put(b []byte) (int, error) {
	aux := (len(f.AuxData) + 3) / 4
	if len(f.Sources) > 0xffff || aux > 0xff {
		return 0, ErrTooManySources
	}
	n := f.Len()
	if len(b) < n {
		return 0, ErrBufferTooSmall
	}
	if !put4(b[4:], f.Group) {
		return 0, ErrBadAddress
	}
	for i, s := range f.Sources {
		if !put4(b[IGMPv3GroupRecordMinLen+4*i:], s) {
			return 0, ErrBadAddress
		}
	}
	b[0], b[1] = f.Type, uint8(aux)
	binary.BigEndian.PutUint16(b[2:], uint16(len(f.Sources)))
	off := IGMPv3GroupRecordMinLen + 4*len(f.Sources)
	k := copy(b[off:n], f.AuxData)
	clear(b[off+k : n])
	return n, nil
}

// IGMPv3ReportFields is the plain form of an IGMPv3 report.
type IGMPv3ReportFields struct {
	Checksum uint16 // filled by Parse; Put computes its own
	// Records: Parse reuses the slice's capacity and that of each
	// record's Sources, as IGMPv3QueryFields.Parse does.
	Records []IGMPv3GroupRecordFields
}

// Parse validates b as ParseIGMP does and fills f; a message other than a
// v3 report gives ErrIGMPType.
func (f *IGMPv3ReportFields) Parse(b []byte) error {
	m, err := ParseIGMP(b)
	if err != nil {
		return err
	}
	if m.Type() != IGMPv3MembershipReport {
		return ErrIGMPType
	}
	f.Checksum = m.Checksum()
	recs := f.Records[:0]
	it := m.Records()
	for g, ok := it.Next(); ok; g, ok = it.Next() {
		if len(recs) < cap(recs) {
			recs = recs[:len(recs)+1]
		} else {
			recs = append(recs, IGMPv3GroupRecordFields{})
		}
		r := &recs[len(recs)-1]
		r.Type, r.Group, r.AuxData = g.Type(), g.Group(), g.AuxData()
		r.Sources = appendSources(r.Sources, g[IGMPv3GroupRecordMinLen:], g.NumSources())
	}
	f.Records = recs
	return nil
}

// Len returns 8 plus the length of every record.
func (f *IGMPv3ReportFields) Len() int {
	n := IGMPHeaderLen
	for i := range f.Records {
		n += f.Records[i].Len()
	}
	return n
}

// Put writes the report with its checksum into b and returns its length.
// Errors: those of IGMPv3GroupRecordFields.Put, ErrTooManySources beyond
// 65535 records, ErrBufferTooSmall.
func (f *IGMPv3ReportFields) Put(b []byte) (int, error) {
	if len(f.Records) > 0xffff {
		return 0, ErrTooManySources
	}
	n := f.Len()
	if len(b) < n {
		return 0, ErrBufferTooSmall
	}
	off := IGMPHeaderLen
	for i := range f.Records {
		k, err := f.Records[i].Put(b[off:])
		if err != nil {
			return 0, err
		}
		off += k
	}
	b[0], b[1], b[4], b[5] = IGMPv3MembershipReport, 0, 0, 0
	binary.BigEndian.PutUint16(b[6:], uint16(len(f.Records)))
	IGMP(b[:n]).UpdateChecksum()
	return n, nil
}
