package engine

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// TestNapValidate: a nap is 0 to MaxNap, and only for adaptive polling.
func TestNapValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		nap  time.Duration
		spin time.Duration
		poll PollMode
		want string
	}{
		{name: "off", nap: 0, poll: PollBusy},
		{name: "adaptive", nap: 10 * time.Microsecond, poll: PollAdaptive},
		{name: "largest", nap: MaxNap, poll: PollAdaptive},
		{name: "negative", nap: -time.Microsecond, poll: PollAdaptive, want: "want 0 (off) to 100µs"},
		{name: "too long", nap: MaxNap + 1, poll: PollAdaptive, want: "want 0 (off) to 100µs"},
		{name: "spin", nap: 50 * time.Microsecond, spin: 50 * time.Microsecond, poll: PollAdaptive, want: "shorter than the spin"},
		{name: "busy", nap: 10 * time.Microsecond, poll: PollBusy, want: "with busy polling leave Nap at 0"},
		{name: "interrupt", nap: 10 * time.Microsecond, poll: PollInterrupt, want: "with interrupt polling"},
	} {
		c := Config{Interface: "x", Addrs: testAddrs, Nap: tc.nap, SpinTime: tc.spin, Poll: tc.poll}
		c.setDefaults()
		err := c.validate()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.want != "" && (!errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: %v, want ErrConfig saying %q", tc.name, err, tc.want)
		}
	}
}
