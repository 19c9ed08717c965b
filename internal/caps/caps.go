package caps

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// Cap is a capability's number (linux/capability.h).
type Cap uint

// The capabilities the engine checks.
const (
	NetAdmin Cap = 12 // CAP_NET_ADMIN: links, addresses, attaching XDP programs
	NetRaw   Cap = 13 // CAP_NET_RAW: AF_XDP and AF_PACKET sockets
	IPCLock  Cap = 14 // CAP_IPC_LOCK: locking memory beyond RLIMIT_MEMLOCK
	SysAdmin Cap = 21 // CAP_SYS_ADMIN: setns, mounts; BPF on kernels before 5.8
	BPF      Cap = 39 // CAP_BPF: loading BPF programs and maps (Linux 5.8+)
)

// String returns the capability's name as linux/capability.h spells it.
func (c Cap) String() string {
	switch c {
	case NetAdmin:
		return "CAP_NET_ADMIN"
	case NetRaw:
		return "CAP_NET_RAW"
	case IPCLock:
		return "CAP_IPC_LOCK"
	case SysAdmin:
		return "CAP_SYS_ADMIN"
	case BPF:
		return "CAP_BPF"
	}
	return fmt.Sprintf("capability %d", uint(c))
}

// Set is a capability set: bit n stands for capability n.
type Set uint64

// Has reports whether s holds c.
func (s Set) Has(c Cap) bool { return c < 64 && s&(1<<c) != 0 }

// ErrNoCapEff is returned (wrapped) by Parse and Effective when the status
// text has no CapEff line.
var ErrNoCapEff = errors.New("no CapEff line")

// statusPath is where Effective reads.
const statusPath = "/proc/self/status"

// Effective returns the effective capability set of the calling process.
// The error is the one opening /proc/self/status gave, or Parse's, with
// the path in front.
func Effective() (Set, error) {
	f, err := os.Open(statusPath)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	s, err := Parse(f)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", statusPath, err)
	}
	return s, nil
}

// Parse reads text in the format of /proc/PID/status and returns the set
// of its CapEff line. The error wraps ErrNoCapEff when there is no such
// line, strconv's error (strconv.ErrSyntax, strconv.ErrRange) when its
// value is not a 64-bit hex mask, or the reader's.
func Parse(r io.Reader) (Set, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		v, ok := strings.CutPrefix(sc.Text(), "CapEff:")
		if !ok {
			continue
		}
		s, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		if err != nil {
			return 0, fmt.Errorf("CapEff: %w", err)
		}
		return Set(s), nil
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, ErrNoCapEff
}
