package enginetest

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/netip"
	"testing"

	"github.com/xdpengine/engine/internal/testbed"
)

// RouteVIP picks a virtual address on the bed's /24 (.100 + n, owned by
// no host) and routes it through the engine in the peer namespace (the
// load balancer's client), as a network routes a VIP to its balancer.
func RouteVIP(tb testing.TB, bed *testbed.Bed, n int) netip.Addr {
	tb.Helper()
	a := bed.Prefix.Addr().As4()
	a[3] = byte(100 + n)
	vip := netip.AddrFrom4(a)
	out, err := bed.Command(context.Background(), "ip", "route", "add", vip.String()+"/32", "via", bed.EngineAddr.String()).CombinedOutput()
	if err != nil {
		tb.Fatalf("route %v via the engine: %v: %s", vip, err, out)
	}
	return vip
}

// ServeName runs an HTTP server on port 80 of segment host h that answers
// every request with name, until the test ends.
func ServeName(tb testing.TB, h *testbed.SegmentHost, name string) {
	tb.Helper()
	var ln net.Listener
	if err := h.Do(func() (err error) {
		ln, err = net.Listen("tcp4", ":80")
		return err
	}); err != nil {
		tb.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, name)
	})}
	go srv.Serve(ln)
	tb.Cleanup(func() { srv.Close() })
}
