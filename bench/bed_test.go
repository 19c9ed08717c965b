package bench

import (
	"flag"
	"io"
	"log/slog"
	"net/netip"
	"testing"

	"github.com/xdpengine/engine/engine"
	"github.com/xdpengine/engine/internal/testbed"
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

// engineBed builds a test bed whose host side also has a kernel address
// (.3, the baseline every comparison uses) and starts an engine owning .1
// with cfg (Interface, Addrs and Logger are filled in). Both are torn down
// when b ends.
func engineBed(b testing.TB, cfg engine.Config) (*testbed.Bed, *engine.Engine) {
	b.Helper()
	bed := testbed.New(b, testbed.Config{HostKernelAddr: true})
	cfg.Interface = bed.HostIf
	cfg.Addrs = []netip.Prefix{netip.PrefixFrom(bed.EngineAddr, 24)}
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	eng, err := engine.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	if err := eng.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { eng.Close() })
	return bed, eng
}
