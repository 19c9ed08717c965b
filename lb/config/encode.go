package config

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode"

	"github.com/xdpengine/engine/header"
)

// Marshal writes c in the file format, after checking it with Validate.
// Keys whose value is the default are left out (Parse puts them back), so
// Parse(Marshal(c)) equals c for every valid, complete c. The health check
// is always written, with its type. Comments of a parsed file are not kept.
func Marshal(c *Config) ([]byte, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if len(c.VIPs) == 0 {
		b.WriteString("vips: []\n")
	} else {
		b.WriteString("vips:\n")
	}
	for i := range c.VIPs {
		writeVIP(&b, &c.VIPs[i])
	}
	ct, def := c.Conntrack, DefaultConntrack()
	if ct != def {
		b.WriteString("conntrack:\n")
		if ct.MaxFlows != def.MaxFlows {
			fmt.Fprintf(&b, "  max_flows: %d\n", ct.MaxFlows)
		}
		for _, f := range [...]struct {
			key    string
			v, def time.Duration
		}{
			{"tcp_syn", ct.TCPSyn, def.TCPSyn},
			{"tcp_established", ct.TCPEstablished, def.TCPEstablished},
			{"tcp_closing", ct.TCPClosing, def.TCPClosing},
			{"udp", ct.UDP, def.UDP},
		} {
			if f.v != f.def {
				fmt.Fprintf(&b, "  %s: %s\n", f.key, formatDuration(f.v))
			}
		}
	}
	return b.Bytes(), nil
}

func writeVIP(b *bytes.Buffer, v *VIP) {
	fmt.Fprintf(b, "  - address: %s\n    port: %d\n    protocol: %s\n    forwarding: %s\n", v.Addr, v.Port, v.Proto, v.Forwarding)
	if v.TableSize != DefaultTableSize {
		fmt.Fprintf(b, "    table_size: %d\n", v.TableSize)
	}
	if v.Hash != Hash5Tuple {
		fmt.Fprintf(b, "    hash: %s\n", v.Hash)
	}
	if v.OnBackendDown != DownReset {
		fmt.Fprintf(b, "    on_backend_down: %s\n", v.OnBackendDown)
	}
	if v.Fragments != FragReassemble {
		fmt.Fprintf(b, "    fragments: %s\n", v.Fragments)
	}
	if v.FastPath {
		b.WriteString("    fast_path: true\n")
	}
	if v.Announce {
		b.WriteString("    announce: true\n")
	}
	if v.Forwarding == DSRGUE && v.GUEPort != DefaultGUEPort {
		fmt.Fprintf(b, "    gue_port: %d\n", v.GUEPort)
	}
	if v.Forwarding == DSRVXLAN {
		fmt.Fprintf(b, "    vni: %d\n", v.VNI)
		if v.VXLANPort != DefaultVXLANPort {
			fmt.Fprintf(b, "    vxlan_port: %d\n", v.VXLANPort)
		}
	}
	fmt.Fprintf(b, "    health: {%s}\n", healthFields(&v.Health, v.Port))
	if len(v.Backends) == 0 {
		b.WriteString("    backends: []\n")
		return
	}
	b.WriteString("    backends:\n")
	for _, be := range v.Backends {
		fmt.Fprintf(b, "      - {address: %s", be.Addr)
		if be.Weight != DefaultWeight {
			fmt.Fprintf(b, ", weight: %d", be.Weight)
		}
		if be.Drain {
			b.WriteString(", drain: true")
		}
		if be.MAC != (header.MAC{}) {
			fmt.Fprintf(b, ", mac: %q", be.MAC)
		}
		b.WriteString("}\n")
	}
}

// healthFields returns the inside of the health check's flow mapping.
func healthFields(h *Health, vipPort uint16) string {
	fs := []string{"type: " + h.Type.String()}
	add := func(cond bool, format string, args ...any) {
		if cond {
			fs = append(fs, fmt.Sprintf(format, args...))
		}
	}
	add(h.Port != 0 && h.Port != vipPort, "port: %d", h.Port)
	add(h.Type == HealthHTTP && h.Path != DefaultHTTPPath, "path: %s", quote(h.Path))
	add(h.Type == HealthHTTP && h.Status != DefaultHTTPStatus, "status: %d", h.Status)
	add(h.Send != "", "send: %s", quote(h.Send))
	add(h.Expect != "", "expect: %s", quote(h.Expect))
	add(h.Interval != 0 && h.Interval != DefaultInterval, "interval: %s", formatDuration(h.Interval))
	add(h.Timeout != 0 && h.Timeout != DefaultTimeout, "timeout: %s", formatDuration(h.Timeout))
	add(h.Rise != 0 && h.Rise != DefaultRise, "rise: %d", h.Rise)
	add(h.Fall != 0 && h.Fall != DefaultFall, "fall: %d", h.Fall)
	add(h.AtVIP, "target: vip")
	return strings.Join(fs, ", ")
}

// quote returns s as a YAML scalar: plain for a simple URL path, else
// double-quoted with escapes.
func quote(s string) string {
	plain := strings.HasPrefix(s, "/") && strings.IndexFunc(s, func(r rune) bool {
		return !(r < unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune("/._~%+=?&-", r)))
	}) < 0
	if plain {
		return s
	}
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteString(`\` + string(r))
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		case r > 0xffff && !unicode.IsPrint(r):
			fmt.Fprintf(&b, `\U%08x`, r)
		case r > 0x7f && (!unicode.IsPrint(r) || r == 0xfeff):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// formatDuration writes d in the largest unit that holds it exactly: 1h,
// 90s, 500ms (time.Duration.String would write 1h0m0s).
func formatDuration(d time.Duration) string {
	for _, u := range [...]struct {
		d    time.Duration
		name string
	}{{time.Hour, "h"}, {time.Minute, "m"}, {time.Second, "s"}, {time.Millisecond, "ms"}, {time.Microsecond, "us"}} {
		if d != 0 && d%u.d == 0 {
			return fmt.Sprintf("%d%s", d/u.d, u.name)
		}
	}
	return fmt.Sprintf("%dns", d)
}

// saveMu serializes Saves in this process.
var saveMu sync.Mutex

// beforeRename, when set by a test, runs after the temporary file is
// written and synced, before it replaces the target; an error stops Save
// there, as a crash would.
var beforeRename func(tmp string) error

// Save writes c (see Marshal) to path atomically: it writes a temporary file
// ".NAME.tmp-RANDOM" in the same directory, syncs it, renames it over path
// and syncs the directory. A reader, or a crash at any point, sees the old
// file or the new one, never a mix; a crash may leave the temporary file
// behind, which can be deleted. If path exists its permission bits are kept
// (else 0644) and, if it is a symbolic link, the file it points to is
// replaced. The new file belongs to the user that saves.
//
// Saves in one process are serialized. Processes that save the same file
// concurrently each write a whole file and the last rename wins: a caller
// that reads, modifies and saves (as the control socket does) must hold its
// own lock across the three steps.
func Save(path string, c *Config) error {
	data, err := Marshal(c)
	if err != nil {
		return err
	}
	saveMu.Lock()
	defer saveMu.Unlock()
	if real, err := filepath.EvalSymlinks(path); err == nil {
		path = real
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	mode := fs.FileMode(0o644)
	if fi, err := os.Stat(path); err == nil {
		if !fi.Mode().IsRegular() {
			return &fs.PathError{Op: "save", Path: path, Err: errors.New("not a regular file")}
		}
		mode = fi.Mode().Perm()
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	done := false
	defer func() {
		if !done {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Chmod(mode); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if beforeRename != nil {
		if err := beforeRename(tmp); err != nil {
			return err
		}
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	done = true
	return syncDir(dir)
}

// syncDir makes a rename in dir durable. File systems that cannot sync a
// directory (EINVAL) need not.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if errors.Is(err, syscall.EINVAL) {
		err = nil
	}
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
