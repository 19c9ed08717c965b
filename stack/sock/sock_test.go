package sock

import (
	"errors"
	"net"
	"net/netip"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/xdpengine/engine/ring"
)

func TestResolveAddr(t *testing.T) {
	for _, tc := range []struct {
		proto, network, address string
		want                    netip.AddrPort
	}{
		{"udp", "udp4", ":7", netip.MustParseAddrPort("0.0.0.0:7")},
		{"tcp", "tcp", "198.18.0.1:http", netip.MustParseAddrPort("198.18.0.1:80")},
		{"udp", "udp", "[::ffff:198.18.0.1]:53", netip.MustParseAddrPort("198.18.0.1:53")},
	} {
		got, err := ResolveAddr(tc.proto, tc.network, tc.address)
		if err != nil || got != tc.want {
			t.Errorf("%s %q: %v, %v; want %v", tc.network, tc.address, got, err, tc.want)
		}
	}
	var unknown net.UnknownNetworkError
	if _, err := ResolveAddr("udp", "udp6", ":7"); !errors.As(err, &unknown) {
		t.Errorf("udp6: %v, want an unknown network", err)
	}
	if _, err := ResolveAddr("tcp", "tcp", "[2001:2::1]:80"); !errors.Is(err, syscall.EAFNOSUPPORT) {
		t.Errorf("IPv6: %v, want EAFNOSUPPORT", err)
	}
	if _, err := ResolveAddr("tcp", "tcp", "example.com:80"); err == nil {
		t.Error("a name was resolved")
	}
}

func TestPushWaitsForRoomAndStops(t *testing.T) {
	q, err := ring.NewMPMC[int](2)
	if err != nil {
		t.Fatal(err)
	}
	var wakes atomic.Int32
	wake := func() { wakes.Add(1) }
	never := func() error { return nil }
	for i := range 2 {
		if err := Push(q, i, wake, never); err != nil {
			t.Fatal(err)
		}
	}
	// Full: a consumer makes room after a while.
	go func() {
		time.Sleep(5 * time.Millisecond)
		q.Dequeue()
	}()
	if err := Push(q, 2, wake, never); err != nil {
		t.Fatal(err)
	}
	// Full and nobody consumes: stop's error ends the wait.
	stopErr := errors.New("deadline")
	tries := 0
	err = Push(q, 3, wake, func() error {
		if tries++; tries > 100 {
			return stopErr
		}
		return nil
	})
	if !errors.Is(err, stopErr) {
		t.Errorf("push on a full queue: %v, want the stop error", err)
	}
	if wakes.Load() < 3 {
		t.Errorf("the consumer was woken %d times", wakes.Load())
	}
}

func TestState(t *testing.T) {
	var s State
	if !s.IsNew() || s.Running() || s.Closed() {
		t.Fatal("zero State is not new")
	}
	if !s.Start() || !s.Running() || s.Start() {
		t.Fatal("Start")
	}
	if !s.Close() || !s.Closed() || s.Close() {
		t.Fatal("Close")
	}
}

func TestOptionsTable(t *testing.T) {
	o := Options{Transparent: true, ReusePort: true}
	if tab := o.Table(); !tab.Freebind || !tab.ReusePort || tab.ReuseAddr {
		t.Errorf("%+v", tab)
	}
	if PMTUDiscProbe.String() != "probe" || PMTUDisc(9).String() != "PMTUDisc(9)" {
		t.Error("PMTUDisc names")
	}
}
