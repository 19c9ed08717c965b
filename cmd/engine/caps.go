package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// ErrNotPrivileged is wrapped by the error engine serve returns when the
// process lacks a capability it needs.
var ErrNotPrivileged = errors.New("not privileged")

// Capability bits (linux/capability.h).
const (
	capNetAdmin = 12
	capNetRaw   = 13
	capSysAdmin = 21
	capBPF      = 39
)

// checkCapabilities reports the capabilities engine serve lacks: it
// attaches an XDP program (CAP_NET_ADMIN), opens AF_XDP sockets
// (CAP_NET_RAW) and loads BPF (CAP_BPF, or CAP_SYS_ADMIN on older kernels).
func checkCapabilities() error {
	eff, err := effectiveCaps()
	if err != nil {
		return fmt.Errorf("read capabilities: %w", err)
	}
	return missingCaps(eff)
}

func missingCaps(eff uint64) error {
	has := func(bit uint) bool { return eff&(1<<bit) != 0 }
	var missing []string
	if !has(capNetAdmin) {
		missing = append(missing, "CAP_NET_ADMIN")
	}
	if !has(capNetRaw) {
		missing = append(missing, "CAP_NET_RAW")
	}
	if !has(capBPF) && !has(capSysAdmin) {
		missing = append(missing, "CAP_BPF")
	}
	if len(missing) == 0 {
		return nil
	}
	return fmt.Errorf("%w: missing %s: run as root (sudo engine serve ...) or grant them "+
		"(setcap cap_net_admin,cap_net_raw,cap_bpf,cap_sys_admin+ep ENGINE_BINARY)", ErrNotPrivileged, strings.Join(missing, ", "))
}

func effectiveCaps() (uint64, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "CapEff:"); ok {
			return strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		}
	}
	return 0, errors.New("no CapEff line in /proc/self/status")
}
