package tcp

import (
	"bytes"
	"syscall"
	"testing"
)

// wireSize is the IP packet size of a captured segment.
func wireSize(p *pkt) int { return 20 + p.h.Len() + len(p.payload) }

// hop splits segments at a middle hop of MTU mtu: those that pass, and
// those it drops (DF is always set).
func hop(ps []pkt, mtu int) (pass, drop []pkt) {
	for _, p := range ps {
		if wireSize(&p) > mtu {
			drop = append(drop, p)
		} else {
			pass = append(pass, p)
		}
	}
	return pass, drop
}

func payloadSizes(ps []pkt) []int {
	var n []int
	for _, p := range ps {
		n = append(n, len(p.payload))
	}
	return n
}

// TestFragNeededResegments: segments in flight that a smaller path MTU
// dropped are resent at once at the new size, split at new boundaries,
// without a congestion response, while SACKed data is left alone: first
// the path MTU falls to 1400, then (after the peer SACKed the small
// segments) to 1280, which splits the retransmissions again. The peer
// gets the data intact.
func TestFragNeededResegments(t *testing.T) {
	for _, sack := range []bool{true, false} {
		name := "sack"
		if !sack {
			name = "nosack"
		}
		t.Run(name, func(t *testing.T) {
			ca, cb := baseConfig(1000), baseConfig(5000)
			ca.DisableSACK, cb.DisableSACK = !sack, !sack
			a, b, _ := pair(t, ca, cb)
			a.SetNoDelay(true)
			var data []byte
			var flight []pkt
			for i := range 5 { // full segments with small ones between them
				big := bytes.Repeat([]byte{byte('A' + i)}, a.mss())
				small := bytes.Repeat([]byte{byte('a' + i)}, 200)
				for _, chunk := range [][]byte{big, small} {
					a.SendRing().Write(chunk)
					data = append(data, chunk...)
					flight = append(flight, out(t, a, 0)...)
				}
			}
			if got := payloadSizes(flight); len(got) != 10 || got[0] != 1448 || got[1] != 200 {
				t.Fatalf("flight %v", got)
			}
			cwnd := a.Info().Cwnd
			pass, drop := hop(flight, 1400)
			if !a.ICMPFragNeeded(ms/2, Seq(drop[0].h.Seq), 1400) {
				t.Fatal("in-window ICMP refused")
			}
			if a.PathMTU() != 1400 || a.MSS() != 1400-52 {
				t.Fatalf("pmtu %d mss %d, want 1400 and 1348", a.PathMTU(), a.MSS())
			}
			rx1 := out(t, a, ms/2)
			for _, p := range rx1 {
				if len(p.payload) > 1348 {
					t.Fatalf("retransmission of %d bytes above the new MSS", len(p.payload))
				}
			}
			if sack {
				// The five full segments, each as 1348 + 100; not the small ones.
				if got := payloadSizes(rx1); len(got) != 10 || got[0] != 1348 || got[1] != 100 {
					t.Fatalf("retransmissions %v, want 1348,100 five times", got)
				}
			} else if got := payloadSizes(rx1); len(got) == 0 || got[0] != 1348 {
				t.Fatalf("retransmissions %v: go-back-N at 1348 bytes expected", got)
			}
			t.Logf("after 1400: %v", payloadSizes(rx1))
			// The peer gets the small originals and SACKs them before the
			// retransmissions arrive.
			for i := range pass {
				b.Input(ms, pass[i].seg())
			}
			for _, p := range out(t, b, ms) {
				a.Input(ms, p.seg())
			}
			if sack && a.sb.n == 0 {
				t.Fatal("nothing SACKed")
			}
			out(t, a, ms) // nothing new to send
			// A second router: 1280. The 1348-byte retransmissions go again.
			pass2, drop2 := hop(rx1, 1280)
			if len(drop2) == 0 || !a.ICMPFragNeeded(ms+ms/5, Seq(drop2[0].h.Seq), 1280) {
				t.Fatalf("second ICMP refused (dropped %d)", len(drop2))
			}
			rx2 := out(t, a, ms+ms/5)
			if sack {
				if got := payloadSizes(rx2); len(got) != 10 || got[0] != 1228 || got[1] != 120 {
					t.Fatalf("retransmissions %v, want 1228,120 five times", got)
				}
			}
			t.Logf("after 1280: %v", payloadSizes(rx2))
			if err := a.checkInvariants(); err != nil {
				t.Fatal(err)
			}
			// Repeats of the same news change nothing.
			if !a.ICMPFragNeeded(ms+ms/4, Seq(drop2[1].h.Seq), 1280) || len(out(t, a, ms+ms/4)) != 0 {
				t.Fatal("a repeated ICMP sent something")
			}
			now := 2 * ms
			for _, p := range append(pass2, rx2...) {
				b.Input(now, p.seg())
			}
			for range 20 { // as settle, through the 1280-byte hop
				ps, dropped := hop(out(t, a, now), 1280)
				if len(dropped) > 0 {
					t.Fatalf("sent %v over the path MTU", payloadSizes(dropped))
				}
				for i := range ps {
					b.Input(now, ps[i].seg())
				}
				deliver(t, b, a, now)
			}
			got := make([]byte, len(data)+1)
			if n := b.RecvRing().Read(got); !bytes.Equal(got[:n], data) {
				t.Fatalf("peer read %d bytes, not the %d written", n, len(data))
			}
			st := a.Stats()
			if a.Info().Cwnd != cwnd || st.RTOs != 0 || st.FastRetrans != 0 || st.PMTUDecreases != 2 {
				t.Fatalf("cwnd %d (was %d), stats %+v", a.Info().Cwnd, cwnd, st)
			}
			if err := a.checkInvariants(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestICMPOutOfWindow: RFC 5927's check. An ICMP error whose quoted
// sequence number is not in [snd.una, snd.max) is ignored and counted.
// The path MTU never rises from ICMP, and falls no lower than MinPathMTU.
func TestICMPOutOfWindow(t *testing.T) {
	a, _, _ := pair(t, baseConfig(1000), baseConfig(5000))
	a.SendRing().Write(make([]byte, 3000))
	if got := payloadSizes(out(t, a, 0)); len(got) != 2 { // snd.una 1001, snd.max 3897
		t.Fatalf("sent %v", got)
	}
	for _, seq := range []Seq{1000, 3897, 5, 1001 + 1<<31} {
		if a.ICMPFragNeeded(ms, seq, 1280) || a.ICMPError(ms, seq, syscall.EHOSTUNREACH, false) {
			t.Fatalf("seq %d accepted", seq)
		}
	}
	if st := a.Stats(); st.OutOfWindowIcmps != 8 || a.PathMTU() != 1500 || a.softErr != 0 || st.PMTUDecreases != 0 {
		t.Fatalf("pmtu %d soft %v stats %+v", a.PathMTU(), a.softErr, st)
	}
	none(t, a, ms)
	if !a.ICMPFragNeeded(ms, 3896, 1400) || a.PathMTU() != 1400 {
		t.Fatalf("in window: pmtu %d", a.PathMTU())
	}
	if !a.ICMPFragNeeded(ms, 1001, 1450) || a.PathMTU() != 1400 {
		t.Fatalf("raised by ICMP to %d", a.PathMTU())
	}
	if !a.ICMPFragNeeded(ms, 1001, 300) || a.PathMTU() != MinPathMTU || syscall.Errno(a.softErr) != syscall.EMSGSIZE {
		t.Fatalf("below min_pmtu: pmtu %d soft %v", a.PathMTU(), a.softErr)
	}
	if i := a.Info(); i.PMTU != MinPathMTU || i.MSS != MinPathMTU-52 {
		t.Fatalf("info pmtu %d mss %d", i.PMTU, i.MSS)
	}

	// SYN-SENT: only the SYN's sequence number is in window.
	c, _ := Dial(0, baseConfig(7000))
	if c.ICMPError(0, 7000, syscall.ECONNREFUSED, true) {
		t.Fatal("accepted before the SYN went out")
	}
	one(t, c, 0)
	if c.ICMPError(ms, 7001, syscall.ECONNREFUSED, true) || c.State() != SynSent || c.Stats().OutOfWindowIcmps != 2 {
		t.Fatalf("state %v stats %+v", c.State(), c.Stats())
	}
}

// TestICMPUnreachableSynSent: as Linux's tcp_v4_err, an ICMP error
// during the handshake of an active open is hard: the connect fails with
// its errno. A passive SYN-RECEIVED endpoint is dropped silently on a
// fatal one and ignores the rest.
func TestICMPUnreachableSynSent(t *testing.T) {
	for _, tc := range []struct {
		errno syscall.Errno
		fatal bool
	}{{syscall.ECONNREFUSED, true}, {syscall.EHOSTUNREACH, false}, {syscall.ENETUNREACH, false}} {
		a, _ := Dial(0, baseConfig(1000))
		want(t, one(t, a, 0), 1000, 0, FlagSYN)
		if !a.ICMPError(ms, 1000, tc.errno, tc.fatal) {
			t.Fatal("refused")
		}
		if ev := a.TakeEvents(); a.State() != Closed || a.Err() != tc.errno || ev&(EvError|EvClosed) != EvError|EvClosed {
			t.Fatalf("%v: state %v err %v events %b", tc.errno, a.State(), a.Err(), ev)
		}
		none(t, a, ms)
	}

	l, _ := NewListener(ListenerConfig{})
	b, err := l.OnSYN(0, synSeg(77), baseConfig(5000))
	if err != nil {
		t.Fatal(err)
	}
	one(t, b, 0)
	if !b.ICMPError(ms, 5000, syscall.EHOSTUNREACH, false) || b.State() != SynReceived {
		t.Fatalf("non-fatal: state %v", b.State())
	}
	if !b.ICMPError(ms, 5000, syscall.ECONNREFUSED, true) || b.State() != Closed || b.Err() != 0 ||
		b.TakeEvents()&EvError != 0 || l.SYNQueued() != 0 {
		t.Fatalf("fatal: state %v err %v queued %d", b.State(), b.Err(), l.SYNQueued())
	}
}

// TestICMPSoftErrorOnTimeout: in ESTABLISHED an unreachable is a soft
// error. The connection goes on retransmitting, and reports it only when
// it times out (instead of ETIMEDOUT); an ACK in between clears it.
func TestICMPSoftErrorOnTimeout(t *testing.T) {
	run := func(icmp, ack bool) syscall.Errno {
		ca := baseConfig(1000)
		ca.Retries2 = 3
		a, b, _ := pair(t, ca, baseConfig(5000))
		a.SendRing().Write([]byte("data"))
		p := one(t, a, 0)
		if icmp && (!a.ICMPError(ms, 1001, syscall.EHOSTUNREACH, false) || a.State() != Established || a.Err() != 0) {
			t.Fatalf("soft error: state %v err %v", a.State(), a.Err())
		}
		if ack {
			b.Input(2*ms, p.seg())
			deliver(t, b, a, 50*ms) // the delayed ACK
			a.SendRing().Write([]byte("more"))
			one(t, a, 50*ms)
		}
		for a.State() == Established {
			now := a.NextTimer()
			a.OnTimer(now)
			out(t, a, now)
		}
		return a.Err()
	}
	if err := run(false, false); err != syscall.ETIMEDOUT {
		t.Fatalf("without ICMP: %v, want ETIMEDOUT", err)
	}
	if err := run(true, false); err != syscall.EHOSTUNREACH {
		t.Fatalf("after host unreachable: %v, want EHOSTUNREACH", err)
	}
	if err := run(true, true); err != syscall.ETIMEDOUT {
		t.Fatalf("after an ACK cleared it: %v, want ETIMEDOUT", err)
	}
}

// TestICMPRevertsRTOBackoff: RFC 6069. A host unreachable that quotes
// snd.una during backoff undoes one step: the timer is re-armed from the
// last retransmission, or fires at once when that time has passed.
func TestICMPRevertsRTOBackoff(t *testing.T) {
	a, _, _ := pair(t, baseConfig(1000), baseConfig(5000))
	a.SendRing().Write([]byte("data"))
	one(t, a, 0)
	for _, at := range []int64{40, 240, 640} { // TLP, then RTOs (see TestRetransmitBackoffTimeout)
		now := a.NextTimer()
		if now/ms != at {
			t.Fatalf("timer at %d, want %d ms", now/ms, at)
		}
		a.OnTimer(now)
		one(t, a, now)
	}
	if a.NextTimer()/ms != 1440 || a.backoff != 2 {
		t.Fatalf("timer %d ms backoff %d", a.NextTimer()/ms, a.backoff)
	}
	a.ICMPError(700*ms, 1001, syscall.EHOSTUNREACH, true) // fatal codes do not revert
	if a.NextTimer()/ms != 1440 {
		t.Fatalf("fatal unreachable reverted: timer %d ms", a.NextTimer()/ms)
	}
	a.ICMPError(700*ms, 1001, syscall.EHOSTUNREACH, false)
	if a.NextTimer()/ms != 1040 || a.backoff != 1 {
		t.Fatalf("after revert: timer %d ms backoff %d, want 1040 ms and 1", a.NextTimer()/ms, a.backoff)
	}
	none(t, a, 700*ms)
	// Reverting once more puts the timeout at 840 ms, already past.
	a.ICMPError(1100*ms, 1001, syscall.ENETUNREACH, false)
	want(t, one(t, a, 1100*ms), 1001, 5001, FlagACK|FlagPSH)
	if a.NextTimer()/ms != 1500 || a.Stats().RTOReverts != 2 || a.Stats().RTOs != 3 {
		t.Fatalf("timer %d ms stats %+v", a.NextTimer()/ms, a.Stats())
	}
}
