package tcp

import (
	"testing"
	"unsafe"

	"github.com/xdpengine/engine/header"
)

// inTimeWait returns an endpoint that closed first and reached TIME-WAIT.
func inTimeWait(t *testing.T, ts bool) *Endpoint {
	t.Helper()
	ca, cb := baseConfig(1000), baseConfig(5000)
	ca.DisableTimestamps, cb.DisableTimestamps = !ts, !ts
	a, b, _ := pair(t, ca, cb)
	a.SendRing().Write([]byte("some data first"))
	settle(t, a, b, 0)
	readAll(b)
	a.Close(ms)
	settle(t, a, b, ms)
	b.Close(ms)
	settle(t, a, b, 2*ms)
	if a.State() != TimeWait {
		t.Fatalf("state %v, want TIME-WAIT", a.State())
	}
	return a
}

// TestTimeWaitRecordMatchesEndpoint: the compact TIME-WAIT record
// answers every kind of segment as the endpoint it replaces would: the
// same verdict (stay, reopen, closed by a RST), the same ACK (sequence,
// acknowledgment, window, timestamps) or none, the same deadline after a
// retransmitted FIN. And it is small.
func TestTimeWaitRecordMatchesEndpoint(t *testing.T) {
	if n := unsafe.Sizeof(TimeWaitRecord{}); n > 64 {
		t.Errorf("TimeWaitRecord is %d bytes, want at most 64", n)
	}
	for _, ts := range []bool{true, false} {
		ref := inTimeWait(t, ts)
		nxt, una := ref.rcvNxt, ref.sndMax
		tsv := ref.tsRecent
		segs := map[string]Segment{
			"retransmitted FIN": {Seq: nxt - 1, Ack: una, Flags: FlagFIN | FlagACK},
			"old SYN":           {Seq: nxt - 10, Flags: FlagSYN},
			"new SYN":           {Seq: nxt + 100000, Flags: FlagSYN},
			"RST at rcv.nxt":    {Seq: nxt, Flags: FlagRST},
			"RST in window":     {Seq: nxt + 10, Flags: FlagRST},
			"RST out of window": {Seq: nxt - 100, Flags: FlagRST},
			"ACK above snd.nxt": {Seq: nxt, Ack: una + 1000, Flags: FlagACK},
			"duplicate ACK":     {Seq: nxt, Ack: una, Flags: FlagACK},
			"old data":          {Seq: nxt - 20, Ack: una, Flags: FlagACK, Payload: make([]byte, 10)},
			"SYN-ACK":           {Seq: nxt, Ack: una, Flags: FlagSYN | FlagACK},
		}
		if ts {
			segs["PAWS: older timestamp"] = Segment{Seq: nxt, Ack: una, Flags: FlagACK, Payload: []byte("x"),
				Options: header.TCPOptions{HasTimestamp: true, TSVal: tsv - 5}}
		}
		for name, seg := range segs {
			if ts && !seg.Options.HasTimestamp {
				seg.Options.HasTimestamp, seg.Options.TSVal = true, tsv+7
				if name == "old SYN" {
					seg.Options.TSVal = tsv
				}
			}
			e := inTimeWait(t, ts)
			rec, ok := e.TimeWaitState()
			if !ok {
				t.Fatal("no record in TIME-WAIT")
			}
			now := 5 * ms
			s1, s2 := seg, seg
			res := e.Input(now, &s1)
			pkts := out(t, e, now)
			v, ack := rec.Input(now, &s2, NewChallengeLimiter(DefaultChallengeLimit))
			wantV := TWStay
			switch {
			case res == Reopen:
				wantV = TWReopen
			case e.State() == Closed:
				wantV = TWClose
			}
			if v != wantV || ack != (len(pkts) == 1) || len(pkts) > 1 {
				t.Errorf("ts=%v %s: record says %v, ack %v; the endpoint %v (%v), %d segments", ts, name, v, ack, res, e.State(), len(pkts))
				continue
			}
			if e.State() == TimeWait && rec.Deadline() != e.closeAt {
				t.Errorf("ts=%v %s: deadline %d, the endpoint's %d", ts, name, rec.Deadline(), e.closeAt)
			}
			if ack {
				var h header.TCPFields
				rec.AckHeader(now, &h)
				g := pkts[0].h
				if h.Seq != g.Seq || h.Ack != g.Ack || h.Flags != g.Flags || h.Window != g.Window ||
					h.Options.HasTimestamp != g.Options.HasTimestamp || h.Options.TSVal != g.Options.TSVal || h.Options.TSEcr != g.Options.TSEcr {
					t.Errorf("ts=%v %s: record's ACK %+v, the endpoint's %+v", ts, name, h, g)
				}
			}
			if v == TWReopen && rec.ReopenISN() != e.ReopenISN() {
				t.Errorf("ts=%v: reopen ISN %d, the endpoint's %d", ts, rec.ReopenISN(), e.ReopenISN())
			}
		}
	}
}

// TestEndpointFitsItsSizeClass: the control block stays within Go's
// 1792-byte size class (the next one is 2048: 256 more bytes for every
// connection, idle or not).
func TestEndpointFitsItsSizeClass(t *testing.T) {
	if n := unsafe.Sizeof(Endpoint{}); n > 1792 {
		t.Errorf("Endpoint is %d bytes, want at most 1792", n)
	}
}
