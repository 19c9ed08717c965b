package tcp

import "testing"

// TestSetRecvBuffer: SO_RCVBUF semantics. After SetRecvBuffer(8192) the
// advertised window never exceeds 8 KiB once the window advertised before
// is used up, auto-tuning stays off however fast the application reads,
// and the data arrives whole.
func TestSetRecvBuffer(t *testing.T) {
	a, b, _ := pair(t, baseConfig(1000), baseConfig(5000))
	if got := b.SetRecvBuffer(8192); got != 8192 {
		t.Fatalf("SetRecvBuffer(8192) = %d", got)
	}
	if got := b.SetRecvBuffer(1); got != MinRecvBuffer {
		t.Fatalf("SetRecvBuffer(1) = %d, want the floor %d", got, MinRecvBuffer)
	}
	if got := b.SetRecvBuffer(1 << 30); got != b.cfg.RecvBufMax {
		t.Fatalf("SetRecvBuffer(1 GiB) = %d, want RecvBufMax %d", got, b.cfg.RecvBufMax)
	}
	b.SetRecvBuffer(8192)
	const total = 1 << 20
	data := make([]byte, total)
	for i := range data {
		data[i] = byte(i * 7)
	}
	var got []byte
	sent := 0
	now := int64(ms)
	maxWin, early := 0, true
	for step := 0; len(got) < total && step < 100000; step++ {
		sent += a.SendRing().Write(data[sent:])
		deliver(t, a, b, now)
		var buf [4096]byte
		for {
			n := b.RecvRing().Read(buf[:])
			if n == 0 {
				break
			}
			got = append(got, buf[:n]...)
		}
		for _, p := range deliver(t, b, a, now) {
			win := int(p.h.Window) << b.rcvShift
			if early && p.h.Ack >= 1000+1+65535 {
				early = false // the window advertised before the call is used up
			}
			if !early {
				maxWin = max(maxWin, win)
			}
		}
		now += ms
	}
	if len(got) != total || string(got) != string(data) {
		t.Fatalf("received %d of %d bytes, intact %v", len(got), total, string(got) == string(data[:len(got)]))
	}
	if early || maxWin > 8192 || maxWin == 0 {
		t.Fatalf("largest window advertised after the first 64 KiB: %d (want (0, 8192])", maxWin)
	}
	if i := b.Info(); i.RcvBuf != 8192 || i.Stats.RcvBufGrow != 0 {
		t.Fatalf("receive limit %d after the transfer (want 8192), auto-tuning steps %d (want 0)", i.RcvBuf, i.Stats.RcvBufGrow)
	}
}
