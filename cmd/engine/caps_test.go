package main

import (
	"errors"
	"strings"
	"testing"

	"github.com/xdpengine/engine/internal/caps"
)

func TestMissingCaps(t *testing.T) {
	all := caps.Set(1<<caps.NetAdmin | 1<<caps.NetRaw | 1<<caps.SysAdmin)
	if err := missingCaps(all); err != nil {
		t.Errorf("all caps: %v", err)
	}
	// CAP_BPF does not list BPF links: the engine could not find a program
	// left on the interface.
	err := missingCaps(1<<caps.NetAdmin | 1<<caps.NetRaw | 1<<caps.BPF)
	if !errors.Is(err, ErrNotPrivileged) || !strings.Contains(err.Error(), "missing CAP_SYS_ADMIN: run as root") {
		t.Errorf("CAP_BPF instead of CAP_SYS_ADMIN: %v", err)
	}
	err = missingCaps(1 << caps.NetRaw)
	if !errors.Is(err, ErrNotPrivileged) || !strings.Contains(err.Error(), "missing CAP_NET_ADMIN, CAP_SYS_ADMIN: run as root") {
		t.Errorf("missing caps: %v", err)
	}
	err = missingCaps(0)
	if !errors.Is(err, ErrNotPrivileged) || !strings.Contains(err.Error(), "missing CAP_NET_ADMIN, CAP_NET_RAW, CAP_SYS_ADMIN: run as root") ||
		!strings.Contains(err.Error(), "cap_ipc_lock") {
		t.Errorf("no caps: %v", err)
	}
}
