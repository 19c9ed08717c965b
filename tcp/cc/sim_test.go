package cc

import "testing"

// fluidFlow is one sender in the fluid simulation.
type fluidFlow struct {
	alg       Algorithm
	start     int64
	acks      []fluidAck // bytes leaving the bottleneck, due back at the sender
	unacked   float64    // acknowledged bytes not yet passed on as a full-MSS ACK
	lossAt    int64      // when a drop will be detected; 0 = none pending
	recovery  int64      // recovery ends at this time; 0 = not in recovery
	delivered float64    // bytes through the bottleneck in the measured window
}

type fluidAck struct {
	at    int64
	bytes float64
}

type fluidResult struct {
	share []float64 // throughput of each flow over the measured window, B/s
	util  float64   // bottleneck utilisation over the measured window
}

// fluid runs flows through one drop-tail bottleneck of rate bytes/s with
// a queue of queueCap bytes and a base RTT, in steps of 1 ms for dur.
// Each flow sends cwnd bytes per RTT (base RTT plus queueing delay); the
// bottleneck serves the flows in proportion to their arrivals; served
// bytes are acknowledged one base RTT later, one ACK per MSS; a flow whose
// bytes were dropped detects the loss one RTT later and is in recovery for
// one RTT. Throughput is measured from measureFrom to dur.
func fluid(algs []Algorithm, starts []int64, rate float64, base int64, queueCap float64, mss int, dur, measureFrom int64) fluidResult {
	const dt = ms
	flows := make([]*fluidFlow, len(algs))
	for i, a := range algs {
		flows[i] = &fluidFlow{alg: a, start: starts[i]}
	}
	var q float64
	arrive := make([]float64, len(flows))
	for now := int64(0); now < dur; now += dt {
		rtt := base + int64(q/rate*1e9)
		var total float64
		for i, f := range flows {
			arrive[i] = 0
			if now == f.start {
				f.alg.Init(mss, now)
			}
			if now >= f.start {
				arrive[i] = float64(f.alg.Cwnd()) * float64(dt) / float64(rtt)
				total += arrive[i]
			}
		}
		served := min(q+total, rate*float64(dt)/1e9)
		q += total - served
		drop := max(q-queueCap, 0)
		q -= drop
		for i, f := range flows {
			if now < f.start || total == 0 {
				continue
			}
			frac := arrive[i] / total
			f.acks = append(f.acks, fluidAck{now + base, served * frac})
			if now >= measureFrom {
				f.delivered += served * frac
			}
			if drop*frac > 0 && f.lossAt == 0 && f.recovery == 0 {
				f.lossAt = now + rtt
			}
			for len(f.acks) > 0 && f.acks[0].at <= now {
				f.unacked += f.acks[0].bytes
				f.acks = f.acks[1:]
			}
			for f.unacked >= float64(mss) {
				f.unacked -= float64(mss)
				f.alg.OnAck(Ack{Acked: mss, Inflight: f.alg.Cwnd(), RTT: rtt, MinRTT: base, Now: now})
			}
			switch {
			case f.recovery != 0 && now >= f.recovery:
				f.alg.ExitRecovery(now)
				f.recovery = 0
			case f.lossAt != 0 && now >= f.lossAt:
				f.alg.EnterRecovery(f.alg.Cwnd(), now)
				f.lossAt, f.recovery = 0, now+rtt
			}
		}
	}
	var res fluidResult
	secs := float64(dur-measureFrom) / 1e9
	var sum float64
	for _, f := range flows {
		res.share = append(res.share, f.delivered/secs)
		sum += f.delivered
	}
	res.util = sum / secs / rate
	return res
}

func TestFluidConvergence(t *testing.T) {
	const (
		mss  = 1448
		rate = 12.5e6 // 100 Mbit/s
		base = 20 * ms
		bdp  = rate * 0.020
	)
	for _, tc := range []struct {
		a, b     string
		maxRatio float64 // of the larger share to the smaller
	}{
		{"cubic", "cubic", 1.25},
		{"reno", "reno", 1.25},
		// CUBIC takes more than Reno where its curve outgrows W_est
		// (RFC 9438 5: friendliness is only promised in the Reno-friendly
		// region), but both must keep a working share.
		{"cubic", "reno", 3},
	} {
		t.Run(tc.a+"-"+tc.b, func(t *testing.T) {
			a, _ := New(tc.a)
			b, _ := New(tc.b)
			// The second flow joins once the first owns the link.
			r := fluid([]Algorithm{a, b}, []int64{0, 5 * sec}, rate, base, bdp, mss, 120*sec, 60*sec)
			ratio := max(r.share[0], r.share[1]) / min(r.share[0], r.share[1])
			t.Logf("%s %.2f Mbit/s, %s %.2f Mbit/s, ratio %.2f, utilisation %.2f",
				tc.a, r.share[0]*8/1e6, tc.b, r.share[1]*8/1e6, ratio, r.util)
			if ratio > tc.maxRatio {
				t.Errorf("shares %.0f and %.0f B/s: ratio %.2f over %.2f", r.share[0], r.share[1], ratio, tc.maxRatio)
			}
			if r.util < 0.9 {
				t.Errorf("bottleneck utilisation %.2f", r.util)
			}
		})
	}
}

func TestFluidSingleFlow(t *testing.T) {
	// One flow alone fills the link: the window oscillates between the
	// reduced window and BDP plus queue.
	for _, name := range Names() {
		a, _ := New(name)
		r := fluid([]Algorithm{a}, []int64{0}, 12.5e6, 20*ms, 250e3, 1448, 60*sec, 10*sec)
		if r.util < 0.95 {
			t.Errorf("%s alone: utilisation %.3f", name, r.util)
		}
	}
}

func TestFluidHighBDP(t *testing.T) {
	// 1 Gbit/s, 50 ms: a 4300-segment BDP. Reno needs thousands of round
	// trips to regrow after a loss; CUBIC's curve regrows in seconds
	// (RFC 9438 1), so it takes the larger share, and two CUBIC flows
	// still converge to each other.
	if testing.Short() {
		t.Skip("long simulation")
	}
	const rate = 125e6
	run := func(x, y string) (float64, float64) {
		a, _ := New(x)
		b, _ := New(y)
		r := fluid([]Algorithm{a, b}, []int64{0, 5 * sec}, rate, 50*ms, rate*0.05, 1448, 120*sec, 60*sec)
		t.Logf("%s/%s: share ratio %.2f, utilisation %.3f", x, y, r.share[0]/r.share[1], r.util)
		return r.share[0] / r.share[1], r.util
	}
	if ratio, util := run("cubic", "cubic"); ratio > 1.5 || ratio < 1/1.5 || util < 0.9 {
		t.Errorf("cubic/cubic: share ratio %.2f, utilisation %.3f", ratio, util)
	}
	if ratio, _ := run("cubic", "reno"); ratio < 2 {
		t.Errorf("cubic/reno share ratio %.2f: CUBIC does not outgrow Reno at a large BDP", ratio)
	}
}
