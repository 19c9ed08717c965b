package bench

import (
	"flag"
	"testing"

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
