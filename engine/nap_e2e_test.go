package engine_test

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/xdpengine/engine/engine"
	"github.com/xdpengine/engine/internal/enginetest"
	"github.com/xdpengine/engine/internal/testbed"
)

// TestNap: an adaptive worker with Config.Nap naps between empty polls
// while traffic flows and sleeps until woken once it stops; without Nap it
// never naps. Datagrams sent back to back (each while the worker naps
// after the last one) and datagrams spaced past SpinTime (5 ms here,
// longer than an echo takes under the race detector; each while it
// sleeps) are all echoed by an application on the engine; the worker's
// counters show naps and sleeps, and a burst gives more naps than the
// sleeps that came with it. The worker is an ordinary goroutine, or
// pinned to a CPU (a thread of its own, whose timer slack it sets once).
func TestNap(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  engine.Config
	}{
		{"goroutine", engine.Config{Nap: 20 * time.Microsecond, SpinTime: 5 * time.Millisecond}},
		{"pinned", engine.Config{Nap: 20 * time.Microsecond, SpinTime: 5 * time.Millisecond, CPUs: []int{0}}},
		{"spin", engine.Config{SpinTime: 5 * time.Millisecond}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			naps, sleeps, spacedSleeps := napEchoes(t, tc.cfg)
			switch {
			case tc.cfg.Nap == 0 && naps != 0:
				t.Errorf("no Nap: %d naps", naps)
			case tc.cfg.Nap > 0 && naps <= sleeps:
				t.Errorf("2000 echoes back to back: %d naps, not more than the %d sleeps", naps, sleeps)
			}
			if spacedSleeps < 20 {
				t.Errorf("20 echoes 20 ms apart: %d sleeps, want one before each at least", spacedSleeps)
			}
		})
	}
}

// napEchoes runs the echoes of TestNap on an engine made with cfg and
// returns the naps and sleeps of the back-to-back part and the sleeps of
// the spaced one.
func napEchoes(t *testing.T, cfg engine.Config) (naps, sleeps, spacedSleeps uint64) {
	bed := testbed.New(t, testbed.Config{})
	eng := enginetest.Start(t, bed, cfg)
	enginetest.EchoUDP(t, eng, ":7662")
	enginetest.PeerResolve(t, bed)
	c := enginetest.PeerUDP(t, bed, 7662)
	echo := func(msg []byte) {
		t.Helper()
		if _, err := c.Write(msg); err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 2048)
		n, err := c.Read(buf)
		if err != nil || !bytes.Equal(buf[:n], msg) {
			t.Fatalf("%q: echo %q, %v", msg, buf[:n], err)
		}
	}
	counts := func() (naps, sleeps uint64) {
		st := eng.Stats().Total // published by the workers on request
		return st.Naps, st.Sleeps
	}
	naps0, sleeps0 := counts()
	for i := range 2000 {
		echo(fmt.Appendf(nil, "back to back %d", i))
	}
	naps1, sleeps1 := counts()
	for i := range 20 {
		time.Sleep(20 * time.Millisecond) // past SpinTime: the worker sleeps
		echo(fmt.Appendf(nil, "spaced %d", i))
	}
	_, sleeps2 := counts()
	t.Logf("back to back: %d naps, %d sleeps; spaced: %d sleeps", naps1-naps0, sleeps1-sleeps0, sleeps2-sleeps1)
	return naps1 - naps0, sleeps1 - sleeps0, sleeps2 - sleeps1
}
