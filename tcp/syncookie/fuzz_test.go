package syncookie

import (
	"encoding/binary"
	"sync/atomic"
	"testing"
)

// collisions counts random ACKs FuzzCheck saw accepted although the jar
// never made them: expected at a rate near 2^-22 per input, so a fuzz run
// reports them instead of failing on one.
var collisions, fuzzChecks atomic.Int64

// FuzzCheck feeds arbitrary tuples, sequence numbers and times to Check: it
// must not panic, and whatever it accepts must be a cookie Make produces
// for that tuple and ISN in the current or previous minute with the MSS
// Check reports; anything else is a collision and is counted.
func FuzzCheck(f *testing.F) {
	j := NewFromSecret(testSecret)
	tup := testTuple()
	for i, mss := range MSSTable {
		c, _ := j.Make(tup, uint32(i), mss, int64(i)*Minute)
		f.Add(tup.Src[12:], tup.Dst[12:], tup.SrcPort, tup.DstPort, uint32(i), c+1, int64(i)*Minute)
	}
	f.Add([]byte{}, []byte{1}, uint16(0), uint16(0), uint32(0), uint32(0), int64(-1))
	f.Add([]byte{255, 255, 255, 255}, []byte{0, 0, 0, 0}, uint16(65535), uint16(1), uint32(1<<31), uint32(1), int64(1<<62))
	f.Fuzz(func(t *testing.T, src, dst []byte, sport, dport uint16, peerISN, ack uint32, now int64) {
		var s4, d4 [4]byte
		copy(s4[:], src)
		copy(d4[:], dst)
		tu := Tuple4(s4, d4, sport, dport)
		if now < 0 {
			now = -now // monotonic time is never negative
		}
		fuzzChecks.Add(1)
		mss, ok := j.Check(tu, peerISN, ack, now)
		if !ok {
			return
		}
		for back := int64(0); back < MaxAge; back++ {
			if now < back*Minute {
				break
			}
			c, used := j.Make(tu, peerISN, mss, now-back*Minute)
			if c+1 == ack && used == mss {
				return // a genuine cookie
			}
		}
		n := collisions.Add(1)
		t.Logf("collision %d in %d checks: tuple %+v isn %#x ack %#x now %d (%x)",
			n, fuzzChecks.Load(), tu, peerISN, ack, now, binary.BigEndian.AppendUint32(nil, ack))
	})
}
