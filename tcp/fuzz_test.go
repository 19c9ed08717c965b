package tcp

import (
	"encoding/binary"
	"syscall"
	"testing"
)

// fuzzEndpoint puts an endpoint in one of the states, talking to a peer.
func fuzzEndpoint(t *testing.T, sel byte) (e, peer *Endpoint) {
	ca, cb := baseConfig(1000), baseConfig(0xfffffff0)
	ca.RecvBufMax, ca.RecvBufMin, ca.OOOLimit = 4096, 4096, 3000
	if sel&8 != 0 {
		ca.DisableSACK, cb.DisableSACK = true, true
	}
	if sel&16 != 0 {
		ca.DisableTimestamps, cb.DisableTimestamps = true, true
	}
	if sel&32 != 0 {
		ca.MTUProbing = MTUProbingAlways
	}
	switch sel % 8 {
	case 0:
		e, _ = Dial(0, ca)
		out(t, e, 0)
		return e, nil
	case 1:
		l, _ := NewListener(ListenerConfig{})
		e, _ = l.OnSYN(0, synSeg(77), ca)
		out(t, e, 0)
		return e, nil
	}
	a, b, _ := pair(t, ca, cb)
	a.SendRing().Write(make([]byte, 5000))
	out(t, a, 0) // in flight, never delivered
	switch sel % 8 {
	case 3:
		a.CloseWrite(0)
		out(t, a, 0)
	case 4:
		a.SendRing().Discard(0)
		c, d, _ := pair(t, ca, cb)
		c.CloseWrite(0)
		settle(t, c, d, 0)
		return c, d
	case 5:
		b.CloseWrite(0)
		settle(t, a, b, 0)
	case 6:
		b.CloseWrite(0)
		settle(t, a, b, 0)
		a.Close(0)
		out(t, a, 0)
	case 7:
		c, d, _ := pair(t, ca, cb)
		c.Close(0)
		settle(t, c, d, 0)
		d.Close(0)
		settle(t, c, d, 0)
		return c, d
	}
	return a, b
}

// FuzzInput feeds segments built from the fuzzer's bytes (near the
// endpoint's sequence space, so that they reach deep into the state
// machine), ICMP errors, timer runs and application calls to an endpoint
// in every state. It must never panic and must keep its invariants.
func FuzzInput(f *testing.F) {
	f.Add([]byte{2, 0x10, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 0, 0, 0})
	f.Add([]byte{3, 0x11, 0, 1, 0, 5, 0, 0, 0, 3, 1, 2, 3, 4, 5})
	f.Add([]byte{0, 0x12, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{1, 0x04, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{10, 0x10, 0, 200, 0, 0, 0, 10, 200, 7, 0, 100, 0, 50, 0x18, 0x10, 0, 0, 0, 0, 0, 10, 255, 1, 2, 3, 4, 5})
	f.Add([]byte{34, 0x0f, 1, 0, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0x0f, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		e, _ := fuzzEndpoint(t, data[0])
		data = data[1:]
		now := int64(1 * ms)
		var sink capture
		for len(data) >= 14 && e.State() != Closed {
			op := data[0]
			flags := data[1]
			seqD := int16(binary.BigEndian.Uint16(data[2:]))
			ackD := int16(binary.BigEndian.Uint16(data[4:]))
			win := binary.BigEndian.Uint16(data[6:])
			plen := int(data[8]) * 8
			optb := data[9]
			s1, s2 := int16(binary.BigEndian.Uint16(data[10:])), int16(binary.BigEndian.Uint16(data[12:]))
			data = data[14:]
			switch op % 16 {
			case 12:
				now += int64(op) * 10 * ms
				if d := e.NextTimer(); d != 0 && op&0x80 != 0 {
					now = max(now, d)
				}
				e.OnTimer(now)
			case 13:
				e.RecvRing().Read(make([]byte, plen))
				e.SendRing().Write(make([]byte, plen))
			case 15:
				seq := e.sndUna + Seq(int32(seqD))
				if flags&1 != 0 {
					e.ICMPFragNeeded(now, seq, int(win))
				} else {
					errnos := [...]syscall.Errno{syscall.EHOSTUNREACH, syscall.ENETUNREACH, syscall.ECONNREFUSED, syscall.EPROTO}
					e.ICMPError(now, seq, errnos[flags>>1&3], flags&8 != 0)
				}
			case 14:
				switch op >> 4 {
				case 0:
					e.CloseWrite(now)
				case 1:
					e.Close(now)
				case 2:
					e.Abort(now)
				default:
					e.SetNoDelay(op&0x40 != 0)
				}
			default:
				seg := Segment{Seq: e.rcvNxt + Seq(int32(seqD)), Ack: e.sndUna + Seq(int32(ackD)), Flags: flags, Window: win}
				if optb&1 != 0 {
					seg.Options.HasTimestamp = true
					seg.Options.TSVal = e.tsRecent + uint32(int32(s1))
					seg.Options.TSEcr = e.tsNow(now) - uint32(s2)
				}
				if optb&2 != 0 {
					n := int(optb>>2)%4 + 1
					seg.Options.NumSACK = n
					for k := 0; k < n; k++ {
						st := e.sndUna + Seq(int32(s1)*int32(k+1))
						seg.Options.SACK[k].Start = uint32(st)
						seg.Options.SACK[k].End = uint32(st + Seq(uint16(s2)%3000))
					}
				}
				if optb&0x40 != 0 {
					seg.Options.HasMSS, seg.Options.MSS = true, uint16(s2)
					seg.Options.HasWScale, seg.Options.WindowScale = true, uint8(s1)
					seg.Options.SACKPermitted = true
				}
				seg.Payload = make([]byte, plen)
				now += int64(op) * 100_000
				e.Input(now, &seg)
			}
			e.Output(now, &sink)
			sink.pkts = sink.pkts[:0]
			e.TakeEvents()
			if err := e.checkInvariants(); err != nil {
				t.Fatalf("state %v: %v", e.State(), err)
			}
		}
	})
}
