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
// attaches an XDP program (CAP_NET_ADMIN), opens AF_XDP sockets
// (CAP_NET_RAW) and loads BPF (CAP_BPF, or CAP_SYS_ADMIN on older kernels).
func checkCapabilities() error {
	eff, err := caps.Effective()
	if err != nil {
		return fmt.Errorf("read capabilities: %w", err)
	}
	return missingCaps(eff)
}

func missingCaps(eff caps.Set) error {
	var missing []string
	for _, c := range []caps.Cap{caps.NetAdmin, caps.NetRaw} {
		if !eff.Has(c) {
			missing = append(missing, c.String())
		}
	}
	if !eff.Has(caps.BPF) && !eff.Has(caps.SysAdmin) {
		missing = append(missing, caps.BPF.String())
	}
	if len(missing) == 0 {
		return nil
	}
	return fmt.Errorf("%w: missing %s: run as root (sudo engine serve ...) or grant them "+
		"(setcap cap_net_admin,cap_net_raw,cap_bpf,cap_sys_admin+ep ENGINE_BINARY)", ErrNotPrivileged, strings.Join(missing, ", "))
}
