package main

import (
	"context"
	"fmt"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/xdpengine/engine/internal/ctl"
	"github.com/xdpengine/engine/internal/testbed"
)

// TestServeHTTPDualStack: with an IPv6 address, `engine serve --http PORT`
// listens dual-stack: curl -g 'http://[2001:2:...::1]:PORT/' and curl to
// the IPv4 address, from the kernel peer, both get the page (HTTP over the
// engine's own TCP, over IPv6 and IPv4).
func TestServeHTTPDualStack(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl not installed")
	}
	bed := testbed.New(t, testbed.Config{IPv6: true})
	sock := ctl.SocketPath(bed.HostIf)
	srv := startServe(t, sock, "-i", bed.HostIf, "--addr", netip.PrefixFrom(bed.EngineAddr, 24).String(),
		"--addr", netip.PrefixFrom(bed.EngineAddr6, 64).String(), "--nodad", "--http", "8080", "--queues", "1")
	srv.waitControl(t, sock)
	for _, url := range []string{
		fmt.Sprintf("http://[%s]:8080/", bed.EngineAddr6),
		fmt.Sprintf("http://%s:8080/", bed.EngineAddr),
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		out, err := bed.Command(ctx, "curl", "-g", "-sS", "--max-time", "10", url).CombinedOutput()
		cancel()
		if err != nil || !strings.Contains(string(out), "engine") {
			t.Errorf("curl %s: %v: %s", url, err, out)
		}
	}
}
