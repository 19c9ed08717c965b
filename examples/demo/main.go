package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/xdpengine/engine/engine"
	"github.com/xdpengine/engine/internal/ctl"
	"github.com/xdpengine/engine/internal/testbed"
)

func main() {
	enginePath := flag.String("engine", "", "engine binary to run (default: build ./cmd/engine into a temporary directory)")
	queues := flag.Int("queues", 1, "queues of the bed's veth pair, all served by the engine")
	flag.Parse()
	if flag.NArg() > 0 || *queues < 1 {
		flag.Usage()
		os.Exit(2)
	}
	d := &demo{out: &lockedWriter{w: os.Stdout}, enginePath: *enginePath, queues: *queues}
	os.Exit(d.run())
}

// lockedWriter serialises the narration and the engine's log lines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

type demo struct {
	out        io.Writer
	enginePath string
	queues     int

	bed         *testbed.Bed
	tmpDir      string
	ctlPath     string
	metricsAddr string

	child     *exec.Cmd
	childDone chan struct{} // closed when the child has exited
	childErr  error         // its Wait error, once childDone is closed
	stopOnce  sync.Once
	cleanOnce sync.Once
	logDone   chan struct{} // closed when the child's output is drained

	mu       sync.Mutex // guards failures: the signal handler's cleanup may add one
	failures []string
}

func (d *demo) printf(format string, a ...any) { fmt.Fprintf(d.out, format, a...) }

func (d *demo) section(title string) { d.printf("\n== %s\n", title) }

func (d *demo) fail(what string, err error) {
	d.printf("  FAILED: %s: %v\n", what, err)
	d.mu.Lock()
	d.failures = append(d.failures, what)
	d.mu.Unlock()
}

// run returns the exit status: 0 when every exchange worked, 1 otherwise,
// 130 after Ctrl-C.
func (d *demo) run() (code int) {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		s := <-sig
		d.printf("\n%v: stopping the engine and removing the test bed\n", s)
		d.cleanup()
		os.Exit(130)
	}()
	defer d.cleanup()

	if err := d.setup(); err != nil {
		d.fail("setup", err)
	} else {
		d.exchanges()
		d.exchanges6()
		d.inspect()
		d.stopEngine()
	}
	d.cleanup()
	d.mu.Lock()
	failures := slices.Clone(d.failures)
	d.mu.Unlock()
	if len(failures) > 0 {
		d.printf("\ndemo: FAILED: %s\n", strings.Join(failures, ", "))
		return 1
	}
	d.printf("\ndemo: all 7 exchanges succeeded\n")
	return 0
}

func (d *demo) setup() error {
	var err error
	d.tmpDir, err = os.MkdirTemp("", "engine-demo")
	if err != nil {
		return err
	}
	d.section("test bed")
	d.bed, err = testbed.Create(testbed.Config{Queues: d.queues, IPv6: true})
	if err != nil {
		return err
	}
	b := d.bed
	d.printf("  engine side: %-14s mac %s, no kernel address; the engine owns %s and %s (in userspace)\n",
		b.HostIf, b.HostMAC, b.EngineAddr, b.EngineAddr6)
	d.printf("  peer side:   %-14s mac %s, kernel addresses %s and %s, in namespace %s\n",
		b.PeerIf, b.PeerMAC, b.PeerAddr, b.PeerAddr6, b.NetnsName)

	if d.enginePath == "" {
		d.enginePath = filepath.Join(d.tmpDir, "engine")
		d.section("building the engine")
		d.printf("$ go build -o %s ./cmd/engine\n", d.enginePath)
		t0 := time.Now()
		if err := buildEngine(d.enginePath); err != nil {
			return err
		}
		d.printf("  built in %v\n", time.Since(t0).Round(time.Millisecond))
	}

	d.section("starting the engine")
	d.ctlPath = filepath.Join(d.tmpDir, "engine.sock")
	args := []string{"serve", "-i", b.HostIf, "--addr", netip.PrefixFrom(b.EngineAddr, b.Prefix.Bits()).String(),
		"--addr", netip.PrefixFrom(b.EngineAddr6, 64).String(), "--nodad",
		"--echo", "udp:7", "--echo", "tcp:7", "--metrics", "127.0.0.1:0", "--ctl", d.ctlPath}
	d.printf("$ engine %s\n", strings.Join(args, " "))
	t0 := time.Now()
	if err := d.startEngine(args); err != nil {
		return err
	}
	info, err := d.waitControl(15 * time.Second)
	if err != nil {
		return err
	}
	d.printf("  the engine runs (pid %d), %v after its start; metrics on %s\n",
		d.child.Process.Pid, time.Since(t0).Round(time.Millisecond), info.Metrics)
	d.metricsAddr = info.Metrics
	return nil
}

// buildEngine builds ./cmd/engine of the module the demo runs in.
func buildEngine(out string) error {
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return fmt.Errorf("find the module (is the go command installed?): %w", err)
	}
	cmd := exec.Command("go", "build", "-o", out, "./cmd/engine")
	cmd.Dir = filepath.Dir(strings.TrimSpace(string(gomod)))
	if msg, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/engine: %w\n%s", err, msg)
	}
	return nil
}

// startEngine starts the child from a goroutine locked to its OS thread for
// the child's whole life: Pdeathsig fires when the thread that forked the
// child exits, so the child gets SIGTERM if the demo dies, and never because
// the Go runtime retired a thread.
func (d *demo) startEngine(args []string) error {
	d.child = exec.Command(d.enginePath, args...)
	d.child.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	d.child.Stdout, d.child.Stderr = w, w
	d.childDone, d.logDone = make(chan struct{}), make(chan struct{})
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		err := d.child.Start()
		w.Close()
		started <- err
		if err != nil {
			r.Close()
			close(d.childDone)
			close(d.logDone)
			return
		}
		d.childErr = d.child.Wait()
		close(d.childDone)
	}()
	go func() {
		defer close(d.logDone)
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			d.printf("  [engine] %s\n", stripTime(sc.Text()))
		}
		r.Close()
	}()
	if err := <-started; err != nil {
		return fmt.Errorf("start %s: %w", d.enginePath, err)
	}
	return nil
}

// stripTime drops slog's time= field, which only makes the lines longer.
func stripTime(line string) string {
	if rest, ok := strings.CutPrefix(line, "time="); ok {
		if i := strings.IndexByte(rest, ' '); i >= 0 {
			return rest[i+1:]
		}
	}
	return line
}

// serveInfo is the part of engine serve's "config" answer the demo uses.
type serveInfo struct {
	Running bool   `json:"running"`
	Pid     int    `json:"pid"`
	Metrics string `json:"metrics"`
}

func (d *demo) waitControl(timeout time.Duration) (serveInfo, error) {
	deadline := time.Now().Add(timeout)
	for {
		select {
		case <-d.childDone:
			<-d.logDone
			return serveInfo{}, fmt.Errorf("engine serve exited before it served: %v", d.childErr)
		default:
		}
		if c, err := ctl.Dial(d.ctlPath); err == nil {
			var info serveInfo
			err := c.Call("config", nil, &info)
			c.Close()
			if err == nil && info.Running {
				return info, nil
			}
		}
		if time.Now().After(deadline) {
			return serveInfo{}, fmt.Errorf("the engine's control socket %s did not answer within %v", d.ctlPath, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stats asks the running engine for its counters.
func (d *demo) stats() (engine.Stats, error) {
	var st engine.Stats
	c, err := ctl.Dial(d.ctlPath)
	if err != nil {
		return st, err
	}
	defer c.Close()
	return st, c.Call("stats", nil, &st)
}

// cleanup stops the engine if it still runs and removes the bed and the
// temporary directory. It runs once, from the normal exit path or from the
// signal handler, whichever comes first; the other waits for it.
func (d *demo) cleanup() {
	d.cleanOnce.Do(func() {
		if d.child != nil && d.child.Process != nil {
			select {
			case <-d.childDone:
			default:
				if err := d.terminate(); err != nil {
					d.printf("  %v\n", err)
				}
			}
		}
		if d.bed != nil {
			d.section("removing the test bed")
			if err := d.bed.Close(); err != nil {
				d.printf("  cleanup: %v\n", err)
			}
			if left := d.bed.Leftovers(); len(left) > 0 {
				d.fail("cleanup", fmt.Errorf("left behind: %v", left))
			} else {
				d.printf("  veth pair and namespace %s removed; nothing left behind\n", d.bed.NetnsName)
			}
		}
		if d.tmpDir != "" {
			os.RemoveAll(d.tmpDir)
		}
	})
}
