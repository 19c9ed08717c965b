package main

import (
	"errors"
	"strings"
	"testing"

	"github.com/xdpengine/engine/internal/caps"
)

func TestMissingCaps(t *testing.T) {
	all := caps.Set(1<<caps.NetAdmin | 1<<caps.NetRaw | 1<<caps.BPF)
	if err := missingCaps(all); err != nil {
		t.Errorf("all caps: %v", err)
	}
	if err := missingCaps(1<<caps.NetAdmin | 1<<caps.NetRaw | 1<<caps.SysAdmin); err != nil {
		t.Errorf("CAP_SYS_ADMIN instead of CAP_BPF: %v", err)
	}
	err := missingCaps(1 << caps.NetRaw)
	if !errors.Is(err, ErrNotPrivileged) || !strings.Contains(err.Error(), "missing CAP_NET_ADMIN, CAP_BPF: run as root") {
		t.Errorf("missing caps: %v", err)
	}
	err = missingCaps(0)
	if !errors.Is(err, ErrNotPrivileged) || !strings.Contains(err.Error(), "missing CAP_NET_ADMIN, CAP_NET_RAW, CAP_BPF: run as root") {
		t.Errorf("no caps: %v", err)
	}
}
