package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/vishvananda/netlink"
	"github.com/xdpengine/engine/afxdp"
	"github.com/xdpengine/engine/engine"
	"github.com/xdpengine/engine/internal/caps"
	"github.com/xdpengine/engine/internal/ctl"
	"github.com/xdpengine/engine/internal/enginetest"
	"github.com/xdpengine/engine/internal/testbed"
	"golang.org/x/sys/unix"
)

// serveCaps are the capabilities engine serve needs as a user other than
// root, found on Linux 6.18 by dropping one at a time (TestServeWithoutRoot
// does it again on every run). CAP_BPF and CAP_PERFMON are not in it:
// CAP_SYS_ADMIN, needed anyway, stands for both. The systemd unit and the
// container recipe grant exactly these (TestPackagingCapabilities).
var serveCaps = []struct {
	c   caps.Cap
	why string
}{
	{caps.NetAdmin, "rtnetlink changes to the link: removing an engine XDP program an earlier run left attached through netlink (at start and in engine detach); engine serve checks for it"},
	{caps.NetRaw, "AF_XDP sockets, and the packet socket that reads IGMP queries"},
	{caps.SysAdmin, "finding a left-over engine program: the kernel lists BPF links and opens programs by id only for CAP_SYS_ADMIN; it also stands for CAP_BPF and CAP_PERFMON (packet pointer arithmetic in the verifier)"},
	{caps.IPCLock, "the UMEM (28 MiB per queue by default) is pinned and charged to RLIMIT_MEMLOCK (8 MiB on Debian) without it"},
}

// capPerfmon is CAP_PERFMON (linux/capability.h), which the engine does
// not check.
const capPerfmon caps.Cap = 38

const (
	nobodyID   = 65534 // nobody / nogroup on Debian
	strangerID = 65533 // another unprivileged user, who must not reach the socket
	unitPath   = "../../packaging/systemd/engine@.service"
	imagePath  = "../../packaging/container/Containerfile"
)

// capNames returns list's names as linux/capability.h spells them.
func capNames(list []caps.Cap) []string {
	var out []string
	for _, c := range list {
		out = append(out, c.String())
	}
	slices.Sort(out)
	return out
}

func allServeCaps() []caps.Cap {
	var out []caps.Cap
	for _, sc := range serveCaps {
		out = append(out, sc.c)
	}
	return out
}

// TestPackagingCapabilities: the systemd unit and the container recipe
// grant serveCaps, no more, no less; systemd-analyze accepts the unit.
func TestPackagingCapabilities(t *testing.T) {
	want := capNames(allServeCaps())
	unit, err := os.ReadFile(unitPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"AmbientCapabilities", "CapabilityBoundingSet"} {
		m := regexp.MustCompile(`(?m)^`+key+`=(.*)$`).FindAllStringSubmatch(string(unit), -1)
		if len(m) != 1 {
			t.Fatalf("%s: want one %s= line, found %d", unitPath, key, len(m))
		}
		got := strings.Fields(m[0][1])
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("%s: %s=%v, want %v", unitPath, key, got, want)
		}
	}
	image, err := os.ReadFile(imagePath)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`setcap ([a-z_,]+)\+ep `).FindAllStringSubmatch(string(image), -1)
	if len(m) != 1 {
		t.Fatalf("%s: want one setcap line, found %d", imagePath, len(m))
	}
	got := strings.Split(strings.ToUpper(m[0][1]), ",")
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("%s: setcap %v, want %v", imagePath, got, want)
	}
	var add []string // as docker and podman spell them
	for _, n := range want {
		add = append(add, strings.TrimPrefix(n, "CAP_"))
	}
	slices.Sort(add)
	for _, path := range []string{imagePath, "../../README.md"} {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, flag := range regexp.MustCompile(`--cap-add=([A-Z_,]+)`).FindAllStringSubmatch(string(b), -1) {
			got := strings.Split(flag[1], ",")
			slices.Sort(got)
			if !slices.Equal(got, add) {
				t.Errorf("%s: --cap-add=%s, want %s", path, flag[1], strings.Join(add, ","))
			}
		}
	}

	// systemd-analyze verify reports unknown keys and bad values as
	// warnings with exit status 0: any line about the unit fails.
	enginetest.NeedTool(t, "systemd-analyze")
	dir := t.TempDir()
	text := strings.ReplaceAll(string(unit), "/usr/local/bin/engine", engineBinary(t))
	if err := os.WriteFile(filepath.Join(dir, "engine@.service"), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	inst := filepath.Join(dir, "engine@xebunit0.service")
	if err := os.Symlink("engine@.service", inst); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("systemd-analyze", "verify", inst).CombinedOutput()
	var bad []string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, "engine@") {
			bad = append(bad, l)
		}
	}
	if err != nil || len(bad) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, strings.Join(bad, "\n"))
	}
}

// TestServeWithoutRoot runs engine serve as nobody with serveCaps as file
// capabilities, as the container image does, and as ambient capabilities,
// as the systemd unit does: it serves the peer kernel, and a client of the
// same user (with no capabilities) reads its counters through a control
// socket in a directory of its own. Then each capability in turn is left
// out, and engine serve must fail: a capability it does without is an
// error in the list. The memlock limit is Debian's default (8 MiB).
func TestServeWithoutRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv(testbed.RequireEnv) != "" {
			t.Fatalf("needs root to set file capabilities and change user (%s is set)", testbed.RequireEnv)
		}
		t.Skip("needs root to set file capabilities and change user")
	}
	enginetest.NeedTool(t, "ping")
	bed := testbed.New(t, testbed.Config{})
	dir := execDir(t)
	plain := filepath.Join(dir, "engine")
	copyFile(t, engineBinary(t), plain)
	runDir := filepath.Join(dir, "run") // as RuntimeDirectory=engine with User=
	if err := os.Mkdir(runDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(runDir, nobodyID, nobodyID); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(runDir, bed.HostIf+".sock")
	args := []string{"serve", "-i", bed.HostIf, "--addr", netip.PrefixFrom(bed.EngineAddr, 24).String(),
		"--echo", "udp:7", "--queues", "1", "--ctl", sock}
	all := allServeCaps()

	t.Run("file capabilities", func(t *testing.T) {
		bin := capableCopy(t, dir, "engine-caps", all)
		srv := startAs(t, nobodyID, nil, sock, bin, args...)
		srv.waitControl(t, sock)
		checkProcess(t, srv.cmd.Process.Pid, all)
		if out, err := bed.Command(context.Background(), "ping", "-c", "1", "-W", "2", bed.EngineAddr.String()).CombinedOutput(); err != nil {
			t.Fatalf("ping the engine: %v\n%s", err, out)
		}
		echoOnce(t, enginetest.PeerUDP(t, bed, 7), []byte("served by nobody"))

		out, stderr, code := runAs(t, nobodyID, plain, "stats", "--json", "--ctl", sock)
		var st engine.Stats
		if err := json.Unmarshal([]byte(out), &st); code != 0 || err != nil || st.Total.RxPackets < 2 {
			t.Fatalf("engine stats as nobody: exit %d, %v, rx %d: %s", code, err, st.Total.RxPackets, stderr)
		}
		if _, stderr, code := runAs(t, strangerID, plain, "stats", "--ctl", sock); code == 0 || !strings.Contains(stderr, "permission denied") {
			t.Errorf("engine stats as uid %d: exit %d, %q; want permission denied", strangerID, code, stderr)
		}
		srv.stop(t)
	})

	t.Run("ambient capabilities", func(t *testing.T) {
		var ambient []uintptr
		for _, c := range all {
			ambient = append(ambient, uintptr(c))
		}
		srv := startAs(t, nobodyID, ambient, sock, plain, args...)
		srv.waitControl(t, sock)
		checkProcess(t, srv.cmd.Process.Pid, all)
		echoOnce(t, enginetest.PeerUDP(t, bed, 7), []byte("ambient"))
		srv.stop(t)
	})

	type variant struct {
		name, why string
		list      []caps.Cap
	}
	var variants []variant
	for i, sc := range serveCaps {
		less := slices.Delete(slices.Clone(all), i, i+1)
		variants = append(variants, variant{"without " + sc.c.String(), sc.why, less})
		if sc.c == caps.SysAdmin {
			// CAP_BPF and CAP_PERFMON load the program and make the maps,
			// but do not replace it (engine serve's own check lets them).
			variants = append(variants, variant{"CAP_BPF and CAP_PERFMON for CAP_SYS_ADMIN", sc.why,
				append(slices.Clone(less), caps.BPF, capPerfmon)})
		}
	}
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			bin := capableCopy(t, dir, "engine-less", v.list)
			srv := startAs(t, nobodyID, nil, sock, bin, args...)
			if srv.servesOrExits(sock, 20*time.Second) {
				t.Fatalf("engine serve runs with %v: the list in serveCaps, the unit and the image is too long", capNames(v.list))
			}
			t.Logf("%s (%s): %v: %s", v.name, v.why, srv.err, lastLine(srv.stderr.String()))
			if id, name, _ := afxdp.AttachedProgram(bed.HostIf); id != 0 {
				t.Fatalf("program %d %q left attached", id, name)
			}
		})
	}

	// engine detach, as ExecStopPost= runs it: a program of the engine's
	// name left attached through netlink is removed with serveCaps, and
	// not without CAP_NET_ADMIN.
	t.Run("detach", func(t *testing.T) {
		less := slices.DeleteFunc(slices.Clone(all), func(c caps.Cap) bool { return c == caps.NetAdmin })
		attachStale(t, bed)
		_, stderr, code := runAs(t, nobodyID, capableCopy(t, dir, "engine-less", less), "detach", "-i", bed.HostIf)
		if code == 0 {
			t.Errorf("engine detach without CAP_NET_ADMIN removed the program")
		}
		t.Logf("without CAP_NET_ADMIN: %s", lastLine(stderr))
		attachStale(t, bed) // no-op if it is still there
		out, stderr, code := runAs(t, nobodyID, capableCopy(t, dir, "engine-caps", all), "detach", "-i", bed.HostIf)
		if code != 0 || !strings.Contains(out, "via netlink") {
			t.Fatalf("engine detach as nobody: exit %d, %q, %s", code, out, stderr)
		}
		if id, _, _ := afxdp.AttachedProgram(bed.HostIf); id != 0 {
			t.Fatalf("program %d still attached", id)
		}
	})
}

// execDir returns a directory that nobody can traverse, on a file system
// that honours file capabilities (not mounted nosuid).
func execDir(t *testing.T) string {
	t.Helper()
	for _, base := range []string{os.TempDir(), "/var/tmp"} {
		var st unix.Statfs_t
		if unix.Statfs(base, &st) != nil || st.Flags&unix.ST_NOSUID != 0 {
			continue
		}
		dir, err := os.MkdirTemp(base, "engine-nonroot")
		if err != nil {
			continue
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		if err := os.Chmod(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	t.Fatalf("no directory for executables with file capabilities: %s and /var/tmp are mounted nosuid", os.TempDir())
	return ""
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	os.Remove(to)
	out, err := os.OpenFile(to, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// capableCopy copies the engine to dir/name with list as its permitted and
// effective file capabilities, as `setcap LIST+ep` sets them: a
// security.capability attribute, struct vfs_cap_data revision 2
// (linux/capability.h).
func capableCopy(t *testing.T, dir, name string, list []caps.Cap) string {
	t.Helper()
	path := filepath.Join(dir, name)
	copyFile(t, engineBinary(t), path)
	var set uint64
	for _, c := range list {
		set |= 1 << c
	}
	const revision2, effective = 0x02000000, 0x000001
	b := make([]byte, 20) // magic_etc, then {permitted, inheritable} twice
	binary.LittleEndian.PutUint32(b[0:], revision2|effective)
	binary.LittleEndian.PutUint32(b[4:], uint32(set))
	binary.LittleEndian.PutUint32(b[12:], uint32(set>>32))
	if err := unix.Setxattr(path, "security.capability", b, 0); err != nil {
		t.Fatalf("set file capabilities on %s: %v", path, err)
	}
	return path
}

// asUser prepares bin to run as uid (and the same gid, no groups) under
// Debian's default memlock limit, with ambient capabilities if any.
func asUser(uid uint32, ambient []uintptr, bin string, args ...string) *exec.Cmd {
	// dash's ulimit sets the soft and the hard limit; where the hard limit
	// is already lower it fails, and the lower limit stays.
	cmd := exec.Command("/bin/sh", append([]string{"-c", `ulimit -l 8192 2>/dev/null; exec "$0" "$@"`, bin}, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: uid, Groups: []uint32{}},
		AmbientCaps: ambient}
	cmd.Dir = "/"
	return cmd
}

func startAs(t *testing.T, uid uint32, ambient []uintptr, ctlPath, bin string, args ...string) *serveChild {
	t.Helper()
	c := &serveChild{cmd: asUser(uid, ambient, bin, args...), stderr: &syncBuffer{}, done: make(chan struct{})}
	c.cmd.Stdout, c.cmd.Stderr = c.stderr, c.stderr
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { c.err = c.cmd.Wait(); close(c.done) }()
	t.Cleanup(func() {
		select {
		case <-c.done:
		default:
			c.cmd.Process.Kill()
			<-c.done
			os.Remove(ctlPath)
		}
		if t.Failed() {
			t.Logf("engine serve output:\n%s", c.stderr.String())
		}
	})
	return c
}

// stop ends the engine with SIGTERM: it must exit 0 and leave no program.
func (c *serveChild) stop(t *testing.T) {
	t.Helper()
	c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(15 * time.Second):
		t.Fatal("engine serve did not stop on SIGTERM")
	}
	if c.err != nil {
		t.Fatalf("engine serve: %v\n%s", c.err, c.stderr.String())
	}
}

// servesOrExits waits until the engine answers on its control socket (true;
// it is then stopped) or exits (false).
func (c *serveChild) servesOrExits(path string, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case <-c.done:
			return false
		default:
		}
		if cl, err := ctl.Dial(path); err == nil {
			var info serveInfo
			err := cl.Call("config", nil, &info)
			cl.Close()
			if err == nil && info.Running {
				c.cmd.Process.Signal(syscall.SIGTERM)
				<-c.done
				return true
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.cmd.Process.Kill()
	<-c.done
	return false
}

// checkProcess checks that pid runs as nobody with exactly list effective.
func checkProcess(t *testing.T, pid int, list []caps.Cap) {
	t.Helper()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(fmt.Sprintf(`(?m)^Uid:\s+%d\s+%d\s`, nobodyID, nobodyID)).Match(status) {
		t.Errorf("engine serve does not run as uid %d:\n%s", nobodyID, status)
	}
	eff, err := caps.Parse(bytes.NewReader(status))
	if err != nil {
		t.Fatal(err)
	}
	var want caps.Set
	for _, c := range list {
		want |= 1 << c
	}
	if eff != want {
		t.Errorf("effective capabilities %#x, want %#x (%v)", uint64(eff), uint64(want), capNames(list))
	}
}

// runAs runs bin as uid and returns its stdout, stderr and exit status.
func runAs(t *testing.T, uid uint32, bin string, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	cmd := asUser(uid, nil, bin, args...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return out.String(), errb.String(), ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), 0
}

// attachStale attaches a program of the engine's name through netlink, as
// a crashed run that did not use a BPF link leaves it, unless one is.
func attachStale(t *testing.T, bed *testbed.Bed) {
	t.Helper()
	if id, _, _ := afxdp.AttachedProgram(bed.HostIf); id != 0 {
		return
	}
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{Name: afxdp.ProgramName, Type: ebpf.XDP, License: "GPL",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 2), asm.Return()}})
	if err != nil {
		t.Fatal(err)
	}
	defer prog.Close()
	l, err := netlink.LinkByIndex(bed.HostIndex)
	if err != nil {
		t.Fatal(err)
	}
	if err := netlink.LinkSetXdpFdWithFlags(l, prog.FD(), unix.XDP_FLAGS_SKB_MODE); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { afxdp.DetachStale(bed.HostIf) })
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
