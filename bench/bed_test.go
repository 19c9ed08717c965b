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
	"BenchmarkTCPLoadVsWrk: the engine's nap (engine.Config.Nap): auto (as engine bench tcp chooses, tcpload.Config.WorkerNap) or a duration (0: spin)")

// napFlag returns the nap the -nap flag gives load, for workers workers.
func napFlag(tb testing.TB, load tcpload.Config, workers int) time.Duration {
	if *napMode == "auto" {
		if pollFlag(tb) != engine.PollAdaptive {
			return 0
		}
		return load.WorkerNap(workers)
	}
	d, err := time.ParseDuration(*napMode)
	if err != nil {
		tb.Fatalf("-nap %q: want auto or a duration", *napMode)
	}
	return d
}
