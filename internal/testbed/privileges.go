package testbed

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xdpengine/engine/internal/caps"
)

// RequireEnv is the environment variable under which a privileged test that
// would skip fails instead. CI sets it: there, a skip would hide a test that
// never ran.
const RequireEnv = "ENGINE_REQUIRE_PRIVILEGED"

// ErrNotPrivileged is returned (wrapped) when the process lacks a capability
// a bed needs.
var ErrNotPrivileged = errors.New("not privileged")

// needed are the capabilities a bed needs.
var needed = []caps.Cap{
	caps.NetAdmin, // links, addresses, XDP
	caps.NetRaw,   // AF_PACKET sockets
	caps.SysAdmin, // setns, mounting named namespaces
}

func checkPrivileges() error {
	eff, err := caps.Effective()
	if err != nil {
		return fmt.Errorf("testbed: read capabilities: %w", err)
	}
	return missingPrivileges(eff)
}

// missingPrivileges names the capabilities of needed that eff lacks.
func missingPrivileges(eff caps.Set) error {
	var missing []string
	for _, c := range needed {
		if !eff.Has(c) {
			missing = append(missing, c.String())
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("testbed: missing %s: run as root (sudo) or grant the capabilities: %w",
			strings.Join(missing, ", "), ErrNotPrivileged)
	}
	return nil
}

// RequirePrivileged skips tb when the process cannot build a bed, or fails
// it when RequireEnv is set.
func RequirePrivileged(tb testing.TB) {
	tb.Helper()
	err := checkPrivileges()
	if err == nil {
		return
	}
	if os.Getenv(RequireEnv) != "" {
		tb.Fatalf("%v (%s is set, so this privileged test may not skip)", err, RequireEnv)
	}
	tb.Skipf("skipping privileged test: %v", err)
}

// New builds a bed for a test and registers its removal with tb.Cleanup,
// which runs even when the test fails or panics. The cleanup also checks
// that the bed left nothing behind.
func New(tb testing.TB, cfg Config) *Bed {
	tb.Helper()
	RequirePrivileged(tb)
	b, err := Create(cfg)
	if err != nil {
		tb.Fatalf("build test bed: %v", err)
	}
	tb.Cleanup(func() {
		if err := b.Close(); err != nil {
			tb.Errorf("remove test bed: %v", err)
		}
		if left := b.Leftovers(); len(left) > 0 {
			tb.Errorf("test bed left behind: %v", left)
		}
	})
	return b
}

// Leftovers lists what of this bed still exists after Close, its far and
// segment hosts' namespaces included.
func (b *Bed) Leftovers() []string {
	var out []string
	ns := "namespace " + filepath.Join(netnsDir, b.NetnsName)
	for _, l := range Leftovers(os.Getpid()) {
		if strings.Contains(l, b.HostIf) || strings.Contains(l, b.PeerIf) ||
			l == ns || strings.HasPrefix(l, ns+"f") || strings.HasPrefix(l, ns+"s") {
			out = append(out, l)
		}
	}
	return out
}
