package tcp

import (
	"fmt"
	"testing"
)

// pmtuSim is a one-way transfer of size bytes over a 1 Gbit/s path with a
// 2 ms round trip whose middle hop has an MTU of 1280 (the links' is
// 1500).
func pmtuSim(t *testing.T, size int, sack, ts, icmp bool, probing MTUProbing) *sim {
	return newSim(t, simOpts{seed: 21, bytes: size, sack: sack, ts: ts, delay: ms, bw: 0.125, maxQueue: 10 * ms,
		recvBufMin: 64 << 10, recvBufM: 4 << 20, hopMTU: 1280, hopICMP: icmp, probing: probing})
}

func optName(sack, ts bool) string { return fmt.Sprintf("sack=%v/ts=%v", sack, ts) }

// TestPMTUFragNeededTransfer: the hop answers oversized segments with
// ICMP fragmentation needed. The sender lowers its path MTU to 1280 at
// the first answer, resends what was dropped at the new size at once (no
// RTO, no window reduction), and the data arrives intact.
func TestPMTUFragNeededTransfer(t *testing.T) {
	for _, sack := range []bool{true, false} {
		for _, ts := range []bool{true, false} {
			t.Run(optName(sack, ts), func(t *testing.T) {
				s := pmtuSim(t, 4<<20, sack, ts, true, MTUProbingOff)
				s.run(60_000 * ms)
				s.verify()
				a, l := s.eps[0], s.links[0]
				st := a.Stats()
				wantMSS := 1280 - 40
				if ts {
					wantMSS -= 12
				}
				reno := a.cc.(*testReno)
				t.Logf("%.3f s, hop dropped %d, largest passed %d, retrans %d, stats %+v", float64(s.now)/1e9,
					l.tooBig, l.maxSize, st.Retrans, st)
				if a.PathMTU() != 1280 || a.MSS() != wantMSS || l.maxSize != 1280 {
					t.Fatalf("pmtu %d mss %d largest %d, want 1280 %d 1280", a.PathMTU(), a.MSS(), wantMSS, l.maxSize)
				}
				if l.tooBig == 0 || st.PMTUDecreases != 1 {
					t.Fatalf("hop dropped %d, decreases %d", l.tooBig, st.PMTUDecreases)
				}
				if st.RTOs != 0 || reno.enters != 0 || reno.rtos != 0 {
					t.Fatalf("congestion response: RTOs %d, recoveries %d", st.RTOs, reno.enters)
				}
			})
		}
	}
}

// TestPMTUBlackHole: the hop drops oversized segments silently. Without
// MTU probing the transfer stalls: every full segment is lost and the
// sender backs off until it gives up. With probing on after a black hole
// (Linux's tcp_mtu_probing=1) repeated RTOs lower the MSS to BaseMSS and
// the transfer completes; probes then search upward. With probing always
// on (2) the connection starts at BaseMSS and probes, and a lost probe
// costs no timeout; both searches end just under the hop's MTU.
func TestPMTUBlackHole(t *testing.T) {
	for _, o := range []struct{ sack, ts bool }{{true, true}, {false, false}} {
		t.Run(optName(o.sack, o.ts)+"/off", func(t *testing.T) {
			s := pmtuSim(t, 1<<20, o.sack, o.ts, false, MTUProbingOff)
			err := s.tryRun(30_000 * ms)
			st := s.eps[0].Stats()
			t.Logf("%v; stats %+v", err, st)
			if err == nil || s.recvBytes[1] != 0 || st.RTOs < 6 || st.MTUBlackHoles != 0 || s.eps[0].MSS() < 1400 {
				t.Fatalf("no stall without probing: %v, received %d, RTOs %d, mss %d", err, s.recvBytes[1], st.RTOs, s.eps[0].MSS())
			}
		})
		for _, mode := range []MTUProbing{MTUProbingBlackHole, MTUProbingAlways} {
			t.Run(fmt.Sprintf("%s/probing=%d", optName(o.sack, o.ts), mode), func(t *testing.T) {
				s := pmtuSim(t, 4<<20, o.sack, o.ts, false, mode)
				s.run(30_000 * ms)
				s.verify()
				a, l := s.eps[0], s.links[0]
				st := a.Stats()
				t.Logf("%.3f s, mss %d, search [%d, %d], hop dropped %d, stats %+v", float64(s.now)/1e9, a.MSS(),
					a.mtup.searchLow, a.mtup.searchHigh, l.tooBig, st)
				if a.PathMTU() != 1500 || l.maxSize > 1280 {
					t.Fatalf("pmtu %d largest %d", a.PathMTU(), l.maxSize)
				}
				if st.TCPMTUPSuccess == 0 || st.TCPMTUPFail == 0 || st.MTUProbes != st.TCPMTUPSuccess+st.TCPMTUPFail {
					t.Fatalf("probes %d: %d successes, %d failures", st.MTUProbes, st.TCPMTUPSuccess, st.TCPMTUPFail)
				}
				// The search stops within ProbeThreshold (8) of the hop's MTU.
				if mtu := a.mssToMTU(a.MSS()); mtu > 1280 || mtu < 1280-8 {
					t.Fatalf("settled at a %d-byte MTU (mss %d)", mtu, a.MSS())
				}
				switch mode {
				case MTUProbingBlackHole:
					if st.MTUBlackHoles == 0 || st.RTOs < retries1+1 {
						t.Fatalf("black hole detections %d after %d RTOs", st.MTUBlackHoles, st.RTOs)
					}
				case MTUProbingAlways:
					if st.MTUBlackHoles != 0 || st.RTOs != 0 {
						t.Fatalf("black hole detections %d, RTOs %d", st.MTUBlackHoles, st.RTOs)
					}
				}
			})
		}
	}
}

// TestMTUProbeRaises: on a clean path of the link's MTU a connection
// that starts at BaseMSS probes up to the full MSS.
func TestMTUProbeRaises(t *testing.T) {
	s := newSim(t, simOpts{seed: 4, bytes: 2 << 20, sack: true, ts: true, delay: ms, bw: 0.125, maxQueue: 10 * ms,
		recvBufMin: 64 << 10, recvBufM: 4 << 20, probing: MTUProbingAlways})
	s.run(60_000 * ms)
	s.verify()
	a := s.eps[0]
	st := a.Stats()
	if st.TCPMTUPFail != 0 || st.TCPMTUPSuccess == 0 || a.MSS() < 1448-8 {
		t.Fatalf("mss %d, stats %+v", a.MSS(), st)
	}
}

// TestMTUProbeInterval: a finished search starts again after
// ProbeInterval (Linux's tcp_mtu_check_reprobe).
func TestMTUProbeInterval(t *testing.T) {
	ca := baseConfig(1000)
	ca.MTUProbing, ca.ProbeInterval = MTUProbingAlways, 10*ms
	a, _, _ := pair(t, ca, baseConfig(5000))
	if a.MSS() != DefaultBaseMSS {
		t.Fatalf("mss %d, want BaseMSS", a.MSS())
	}
	a.cc.(*testReno).cwnd = 20 * a.mss()             // probing needs 11 segments
	a.mtup.searchLow, a.mtup.searchHigh = 1200, 1204 // a search that ended
	a.mtuProbeLen(5*ms, 1<<20, 1<<20)
	if a.mtup.searchHigh != 1204 {
		t.Fatal("search restarted before the interval")
	}
	a.mtuProbeLen(11*ms, 1<<20, 1<<20)
	if a.mtup.searchHigh != 1500 || a.mtup.searchLow != a.mssToMTU(a.MSS()) {
		t.Fatalf("search [%d, %d] after the interval", a.mtup.searchLow, a.mtup.searchHigh)
	}
}

// TestPathMTUConfig: Config.PathMTU (the engine's cached value) bounds the
// segments from the start and the MSS our SYN advertises; it is clamped to
// [MinPathMTU, MSS+40].
func TestPathMTUConfig(t *testing.T) {
	for _, tc := range []struct{ in, pmtu, adv int }{{0, 1500, 1460}, {1400, 1400, 1360}, {100, MinPathMTU, MinPathMTU - 40}, {9000, 1500, 1460}} {
		ca := baseConfig(1000)
		ca.PathMTU = tc.in
		a, err := Dial(0, ca)
		if err != nil {
			t.Fatal(err)
		}
		syn := one(t, a, 0)
		if a.PathMTU() != tc.pmtu || int(syn.h.Options.MSS) != tc.adv {
			t.Fatalf("PathMTU %d: pmtu %d advertised %d, want %d %d", tc.in, a.PathMTU(), syn.h.Options.MSS, tc.pmtu, tc.adv)
		}
	}
	ca := baseConfig(1000)
	ca.PathMTU = 1300
	a, _, _ := pair(t, ca, baseConfig(5000))
	a.SendRing().Write(make([]byte, 4000))
	for _, p := range out(t, a, 0) {
		if wireSize(&p) > 1300 {
			t.Fatalf("%d-byte packet over a 1300-byte path", wireSize(&p))
		}
	}
	if i := a.Info(); i.MSS != 1300-52 || i.PMTU != 1300 || i.AdvMSS != 1260 {
		t.Fatalf("info mss %d pmtu %d advmss %d", i.MSS, i.PMTU, i.AdvMSS)
	}
}

// TestPMTUSeedSweep runs a mixed-fault transfer like TestSeedSweep's
// through a 1280-byte hop, with ICMP or silent, MTU probing on after a
// black hole or always, over many seeds and every option combination: the
// invariants (run checks them after every step, the MTU probe's included)
// hold and the data arrives.
func TestPMTUSeedSweep(t *testing.T) {
	seeds := 12
	if testing.Short() {
		seeds = 3
	}
	for seed := 1; seed <= seeds; seed++ {
		for mode := 0; mode < 8; mode++ {
			t.Run(fmt.Sprintf("seed%d/mode%d", seed, mode), func(t *testing.T) {
				o := simOpts{seed: uint64(seed), bytes: 1 << 20, sack: mode&1 != 0, ts: mode&2 != 0,
					loss: 0.05, reorder: 0.05, dup: 0.03, jitter: 3 * ms, delay: ms, bw: 0.05, maxQueue: 5 * ms,
					bidirectional: true, recvBufMin: 16 << 10, recvBufM: 1 << 20,
					hopMTU: 1280, hopICMP: mode&4 != 0, probing: MTUProbing(1 + seed%2)}
				s := newSim(t, o)
				s.run(3_600_000 * ms)
				s.verify()
			})
		}
	}
}

// TestPathMTUIPv6: over IPv6 (Config.IPv6) the headers are 60 bytes: the
// SYN advertises MTU - 60, segments fill the path MTU with 60 bytes of
// headers, and a Packet Too Big lowers the path MTU to no less than 1280
// (without a soft error), resending what no longer fits.
func TestPathMTUIPv6(t *testing.T) {
	ca, cb := baseConfig(1000), baseConfig(5000)
	ca.IPv6, cb.IPv6 = true, true
	ca.MSS, cb.MSS = 1440, 1440
	d, _ := Dial(0, ca)
	if syn := one(t, d, 0); d.PathMTU() != 1500 || syn.h.Options.MSS != 1440 {
		t.Fatalf("pmtu %d, SYN advertises %d: want 1500, 1440", d.PathMTU(), syn.h.Options.MSS)
	}
	a, _, _ := pair(t, ca, cb)
	if a.MSS() != 1440-12 {
		t.Fatalf("MSS %d, want %d", a.MSS(), 1440-12)
	}
	a.SendRing().Write(make([]byte, 6000))
	sent := out(t, a, 0)
	for _, p := range sent {
		if n := wireSize(&p) + 20; n > 1500 {
			t.Fatalf("a %d-byte IPv6 packet over a 1500-byte path", n)
		}
	}
	if !a.ICMPFragNeeded(ms, Seq(sent[0].h.Seq), 1000) || a.PathMTU() != MinPathMTU6 || a.softErr != 0 {
		t.Fatalf("Packet Too Big 1000: pmtu %d soft %v, want 1280 and none", a.PathMTU(), a.softErr)
	}
	if a.MSS() != MinPathMTU6-60-12 {
		t.Fatalf("MSS %d after the Packet Too Big, want %d", a.MSS(), MinPathMTU6-72)
	}
	for _, p := range out(t, a, ms) {
		if n := wireSize(&p) + 20; n > MinPathMTU6 {
			t.Fatalf("resent a %d-byte IPv6 packet over a 1280-byte path", n)
		}
	}
	if err := a.checkInvariants(); err != nil {
		t.Fatal(err)
	}
}
