package header

import (
	"bytes"
	"testing"
	"time"
)

// Golden bytes from scapy 2.5: ICMPv6MLReport2 with a CHANGE_TO_EXCLUDE
// record for ff02::fb and a CHANGE_TO_INCLUDE one for ff05::1:3;
// ICMPv6MLQuery2(mrd=10000, mladdr=ff02::fb, S=1, QRV=2, QQIC=125,
// sources=[2001:2::9]); cksum=0.
const (
	goldenMLDReport = "8f0000000000000204000000ff0200000000000000000000000000fb03000000ff050000000000000000000000010003"
	goldenMLDQuery  = "8200000027100000ff0200000000000000000000000000fb0a7d000120010002000000000000000000000009"
)

var (
	mldGroup  = [16]byte{0xff, 0x02, 15: 0xfb}
	mldGroup2 = [16]byte{0xff, 0x05, 13: 1, 15: 3}
	mldSource = [16]byte{0x20, 0x01, 0, 2, 15: 9}
)

func TestMLDGolden(t *testing.T) {
	b := make([]byte, 128)
	n, _ := PutMLDv2ReportHeader(b, 2)
	k, _ := PutMLDv2Record(b[n:], MLDv2ChangeToExclude, mldGroup, nil)
	n += k
	k, _ = PutMLDv2Record(b[n:], MLDv2ChangeToInclude, mldGroup2, nil)
	n += k
	if !bytes.Equal(b[:n], mustHex(goldenMLDReport)) {
		t.Fatalf("report %x\nwant   %s", b[:n], goldenMLDReport)
	}
	m, err := ParseMLD(b[:n])
	if err != nil || m.NumRecords() != 2 || m.QueryVersion() != 0 || m.Address() != ([16]byte{}) {
		t.Fatalf("parse report: %v", err)
	}
	it := m.Records()
	var got [][16]byte
	for r, ok := it.Next(); ok; r, ok = it.Next() {
		got = append(got, r.Address())
		if r.NumSources() != 0 || r.Source(0) != ([16]byte{}) {
			t.Errorf("record sources %d", r.NumSources())
		}
	}
	if len(got) != 2 || got[0] != mldGroup || got[1] != mldGroup2 {
		t.Errorf("records %x", got)
	}

	n, err = PutMLDv2Query(b, 10000, mldGroup, true, 2, 125, [][16]byte{mldSource})
	if err != nil || !bytes.Equal(b[:n], mustHex(goldenMLDQuery)) {
		t.Fatalf("query %x, %v\nwant  %s", b[:n], err, goldenMLDQuery)
	}
	q, err := ParseMLD(mustHex(goldenMLDQuery))
	if err != nil {
		t.Fatal(err)
	}
	if q.QueryVersion() != 2 || q.MaxResponseDelay() != 10*time.Second || q.Address() != mldGroup ||
		!q.SuppressRouterProcessing() || q.QRV() != 2 || q.QQIC() != 125 || q.NumSources() != 1 ||
		q.Source(0) != mldSource || q.Source(1) != ([16]byte{}) || q.Source(-1) != ([16]byte{}) {
		t.Errorf("query fields: v%d %v %x S=%v %d %d %d", q.QueryVersion(), q.MaxResponseDelay(), q.Address(),
			q.SuppressRouterProcessing(), q.QRV(), q.QQIC(), q.NumSources())
	}
	n, _ = PutMLDv1(b, ICMPv6MulticastListenerQuery, 1500, [16]byte{})
	v1, err := ParseMLD(b[:n])
	if err != nil || v1.QueryVersion() != 1 || v1.MaxResponseDelay() != 1500*time.Millisecond ||
		v1.QRV() != 0 || v1.NumSources() != 0 || v1.Records().left != 0 {
		t.Errorf("v1 query: %v", err)
	}
}

func TestMLDv2DecodeCode(t *testing.T) {
	for _, c := range []struct {
		code uint16
		want uint32
	}{{0, 0}, {10000, 10000}, {32767, 32767}, {0x8000, 0x1000 << 3}, {0x8123, 0x1123 << 3}, {0xffff, 0x1fff << 10}} {
		if got := MLDv2DecodeCode(c.code); got != c.want {
			t.Errorf("code %#x: %d, want %d", c.code, got, c.want)
		}
	}
}

func TestParseMLDErrors(t *testing.T) {
	q := mustHex(goldenMLDQuery)
	r := mustHex(goldenMLDReport)
	for _, c := range []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, ErrTruncated},
		{"short query", q[:23], ErrTruncated},
		{"25-byte query", q[:25], ErrBadMLDLength},
		{"27-byte query", q[:27], ErrBadMLDLength},
		{"query sources past end", q[:43], ErrTruncated},
		{"short v1 report", []byte{131, 0, 0, 0}, ErrTruncated},
		{"short v2 report", r[:7], ErrTruncated},
		{"record past end", r[:len(r)-1], ErrTruncated},
		{"other type", []byte{135, 0, 0, 0, 0, 0, 0, 0}, ErrNDPCode},
	} {
		if _, err := ParseMLD(c.b); err != c.want {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	b := make([]byte, 20)
	if _, err := PutMLDv1(b, 131, 0, mldGroup); err != ErrBufferTooSmall {
		t.Errorf("PutMLDv1 short: %v", err)
	}
	if _, err := PutMLDv2Record(b[:19], 4, mldGroup, nil); err != ErrBufferTooSmall {
		t.Errorf("PutMLDv2Record short: %v", err)
	}
	if _, err := PutMLDv2Query(b, 0, mldGroup, false, 0, 0, nil); err != ErrBufferTooSmall {
		t.Errorf("PutMLDv2Query short: %v", err)
	}
	if _, err := PutMLDv2ReportHeader(b[:7], 1); err != ErrBufferTooSmall {
		t.Errorf("PutMLDv2ReportHeader short: %v", err)
	}
}

func TestMLDNoAllocs(t *testing.T) {
	q := mustHex(goldenMLDQuery)
	b := make([]byte, 128)
	if n := testing.AllocsPerRun(100, func() {
		m, _ := ParseMLD(q)
		_, _, _ = m.MaxResponseDelay(), m.Address(), m.Source(0)
		n, _ := PutMLDv2ReportHeader(b, 1)
		_, _ = PutMLDv2Record(b[n:], MLDv2ModeIsExclude, mldGroup, nil)
	}); n != 0 {
		t.Fatalf("%v allocations", n)
	}
}
