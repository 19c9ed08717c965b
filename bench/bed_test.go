package bench

import (
	"flag"
	"testing"
	"time"

	"github.com/xdpengine/engine/bench/tcpload"
	"github.com/xdpengine/engine/engine"
)

var pollMode = flag.String("poll", "adaptive",
	"worker poll mode (adaptive, busy, interrupt) for the benchmarks that do not compare modes themselves")

// pollFlag returns the -poll flag's mode.
func pollFlag(tb testing.TB) engine.PollMode {
	m, err := engine.ParsePollMode(*pollMode)
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

var napMode = flag.String("nap", "auto",
	"the engine's naps (engine.Config.Nap) where it polls adaptively: auto (none, except in BenchmarkTCPLoadVsWrk: "+
		"as engine bench tcp chooses, tcpload.Config.WorkerNap) or a duration for the side-by-side benchmarks "+
		"(those on startScaled's beds: UDP echo, TCP short connections, dial, bulk, load against wrk; and the LB's)")

// napFlag returns the -nap flag's duration; auto is false when it is one.
func napFlag(tb testing.TB) (nap time.Duration, auto bool) {
	if *napMode == "auto" {
		return 0, true
	}
	d, err := time.ParseDuration(*napMode)
	if err != nil {
		tb.Fatalf("-nap %q: want auto or a duration", *napMode)
	}
	return d, false
}

// withNap gives cfg the -nap flag's duration when it is one and cfg polls
// adaptively.
func withNap(tb testing.TB, cfg *engine.Config) {
	if d, auto := napFlag(tb); !auto && cfg.Poll == engine.PollAdaptive {
		cfg.Nap = d
	}
}

// loadNap is the nap of an engine that runs load on workers workers:
// engine bench tcp's choice (tcpload.Config.WorkerNap) unless -nap says.
func loadNap(tb testing.TB, load tcpload.Config, workers int) time.Duration {
	d, auto := napFlag(tb)
	switch {
	case pollFlag(tb) != engine.PollAdaptive:
		return 0
	case auto:
		return load.WorkerNap(workers)
	}
	return d
}

var txChecksumMode = flag.String("tx-checksum", "auto",
	"the engine's transmit checksum policy (engine.Config.TxChecksum: auto or software) on startScaled's beds")

// txChecksumFlag returns the -tx-checksum flag's policy.
func txChecksumFlag(tb testing.TB) engine.TxChecksum {
	p, err := engine.ParseTxChecksum(*txChecksumMode)
	if err != nil {
		tb.Fatal(err)
	}
	return p
}
