package testbed

import (
	"errors"
	"strings"
	"testing"

	"github.com/xdpengine/engine/internal/caps"
)

func TestMissingPrivileges(t *testing.T) {
	all := caps.Set(1<<caps.NetAdmin | 1<<caps.NetRaw | 1<<caps.SysAdmin)
	if err := missingPrivileges(all); err != nil {
		t.Errorf("all capabilities: %v", err)
	}
	for _, tc := range []struct {
		eff  caps.Set
		want string
	}{
		{1 << caps.NetRaw, "testbed: missing CAP_NET_ADMIN, CAP_SYS_ADMIN: run as root (sudo)"},
		{1<<caps.NetAdmin | 1<<caps.NetRaw | 1<<caps.BPF, "testbed: missing CAP_SYS_ADMIN: run as root"},
		{0, "testbed: missing CAP_NET_ADMIN, CAP_NET_RAW, CAP_SYS_ADMIN: run as root"},
	} {
		err := missingPrivileges(tc.eff)
		if !errors.Is(err, ErrNotPrivileged) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("missingPrivileges(%#x) = %v, want ErrNotPrivileged saying %q", uint64(tc.eff), err, tc.want)
		}
	}
}
