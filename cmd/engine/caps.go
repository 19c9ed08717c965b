package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/xdpengine/engine/internal/caps"
)

// ErrNotPrivileged is wrapped by the error engine serve returns when the
// process lacks a capability it needs.
var ErrNotPrivileged = errors.New("not privileged")

// checkCapabilities reports the capabilities engine serve lacks: it
// attaches and removes XDP programs (CAP_NET_ADMIN), opens AF_XDP sockets
// (CAP_NET_RAW), and loads BPF and lists the BPF links on the interface
// to find a program left behind (CAP_SYS_ADMIN: CAP_BPF does not allow
// the listing). CAP_IPC_LOCK, which lets the UMEM exceed RLIMIT_MEMLOCK,
// is not checked: a high enough limit does without it
// (packaging/systemd/engine@.service sets both).
func checkCapabilities() error {
	eff, err := caps.Effective()
	if err != nil {
		return fmt.Errorf("read capabilities: %w", err)
	}
	return missingCaps(eff)
}

func missingCaps(eff caps.Set) error {
	var missing []string
	for _, c := range []caps.Cap{caps.NetAdmin, caps.NetRaw, caps.SysAdmin} {
		if !eff.Has(c) {
			missing = append(missing, c.String())
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return fmt.Errorf("%w: missing %s: run as root (sudo engine serve ...) or grant them "+
		"(setcap cap_net_admin,cap_net_raw,cap_sys_admin,cap_ipc_lock+ep ENGINE_BINARY; README: Running without root)", ErrNotPrivileged, strings.Join(missing, ", "))
}
