package engine_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xdpengine/engine/internal/enginetest"
	"github.com/xdpengine/engine/internal/testbed"
)

// The peer's connections live in child processes in the peer namespace
// (this test binary re-executed with childEnv=peerconns), each holding
// childConns(n) of them: a child raises its descriptor limit to what it
// needs, up to the hard limit it inherits (past it with CAP_SYS_RESOURCE,
// up to fs.nr_open, 1,048,576 by default; this machine's sessions have a
// hard limit of 20,000 and no CAP_SYS_RESOURCE, so a million take 56
// children). They are plain blocking
// descriptors with 10 s timeouts. Connection k binds source address
// srcs[k % len(srcs)] and port base + k / len(srcs) itself: the
// kernel's own choice of an ephemeral port slows down to a crawl as a
// range fills (it probes the ports in use one by one). The engine's
// process then holds the engine's side only, and the kernel's side is the
// peer's sockets. A child also runs the peer's side of the rate and
// allocation measurements (peerrates_e2e_test.go): a connect loop, a
// server.
const childEnv = "ENGINE_TEST_CHILD"

// childConns is how many of n connections one child holds: 16,000, or a
// sixteenth of n when that is more (the children open theirs at the same
// time, one connect after another each), within the descriptors a child
// may have.
func childConns(n int) int {
	per := max(16000, (n+15)/16)
	var lim unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_NOFILE, &lim) == nil && lim.Max > 4096 && !hasSysResource() {
		per = min(per, int(lim.Max)-2048)
	}
	return per
}

// hasSysResource reports whether this process has CAP_SYS_RESOURCE in
// its effective set (it may then raise its hard descriptor limit).
func hasSysResource() bool {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "CapEff:"); ok {
			eff, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return err == nil && eff&(1<<unix.CAP_SYS_RESOURCE) != 0
		}
	}
	return false
}

// peerCmd is one command to a child: open N connections to To from Srcs,
// connections First to First+N-1 from port Base on, exchange Msg on every
// one, or close N more; rate and serve are peerrates_e2e_test.go's.
type peerCmd struct {
	Op             string
	To             string
	Srcs           []string
	Base, First, N int
	Msg            []byte
	Ms             int    // rate: duration (ms)
	Mode           string // serve: "close" or "echo"
}

// peerReply is a child's answer to one command: Err empty when it
// succeeded, N a count (rate).
type peerReply struct {
	Err string `json:",omitempty"`
	N   int    `json:",omitempty"`
}

// peerClients is the parent's handle on the children.
type peerClients struct {
	procs []*peerProc
	open  []int // connections open, by child
}

type peerProc struct {
	in  io.WriteCloser
	out *bufio.Scanner
	pid int
}

// startPeerClients opens n connections from the peer to to, from srcs in
// turn and ports from base on, spread over as many children as it takes
// (they open theirs at the same time); they close when t ends.
func startPeerClients(t *testing.T, bed *testbed.Bed, to netip.AddrPort, srcs []netip.Addr, base, n int) *peerClients {
	t.Helper()
	pc := &peerClients{}
	per := childConns(n)
	for left := n; left > 0; left -= per {
		pc.procs = append(pc.procs, startPeerChild(t, bed))
	}
	ss := addrStrings(srcs)
	cmds := make([]peerCmd, len(pc.procs))
	for i := range cmds {
		cmds[i] = peerCmd{Op: "open", To: to.String(), Srcs: ss, Base: base, First: i * per, N: min(per, n-i*per)}
		pc.open = append(pc.open, cmds[i].N)
	}
	if err := pc.all(cmds); err != nil {
		t.Fatal(err)
	}
	return pc
}

// startPeerChild starts a child in the peer namespace; it exits (closing
// what it holds) when t ends.
func startPeerChild(t testing.TB, bed *testbed.Bed) *peerProc {
	t.Helper()
	cmd := bed.Command(context.Background(), os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=peerconns")
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Its stdin's end makes it close its connections and exit; one
		// stuck in a command (a test that failed midway) is killed.
		in.Close()
		done := make(chan struct{})
		go func() {
			cmd.Wait()
			close(done)
		}()
		select {
		case <-done:
		case <-time.After(time.Minute):
			cmd.Process.Kill()
			<-done
		}
	})
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	return &peerProc{in: in, out: sc, pid: cmd.Process.Pid}
}

// ask sends c to the child and waits for its answer.
func (p *peerProc) ask(c peerCmd) (peerReply, error) {
	b, _ := json.Marshal(c)
	if _, err := p.in.Write(append(b, '\n')); err != nil {
		return peerReply{}, err
	}
	if !p.out.Scan() {
		return peerReply{}, fmt.Errorf("peer child exited: %v", p.out.Err())
	}
	var r peerReply
	if err := json.Unmarshal(p.out.Bytes(), &r); err != nil {
		return r, fmt.Errorf("peer child answered %q: %w", p.out.Text(), err)
	}
	if r.Err != "" {
		return r, errors.New(r.Err)
	}
	return r, nil
}

func addrStrings(as []netip.Addr) []string {
	var ss []string
	for _, a := range as {
		ss = append(ss, a.String())
	}
	return ss
}

// exchange sends msg on every connection and reads it back.
func (pc *peerClients) exchange(msg []byte) error {
	cmds := make([]peerCmd, len(pc.procs))
	for i := range cmds {
		cmds[i] = peerCmd{Op: "exchange", Msg: msg}
	}
	return pc.all(cmds)
}

// close closes every connection, step at a time (all children
// together), calling settle(open) after each step with the number still
// open: the caller waits for the engine to catch up. A burst of closes
// overflows the engine's receive ring (several thousand FINs a
// millisecond) and the peer's backlog (the engine's burst of FINs in
// answer: net.core.netdev_max_backlog, 1000), and the peer kernel's
// orphans past tcp_max_orphans (the whole machine's) are reset, their
// RSTs lost with the rest, which leaves engine connections waiting for a
// FIN that never comes.
func (pc *peerClients) close(step int, settle func(open int)) error {
	per := max(1, step/len(pc.procs))
	for {
		cmds := make([]peerCmd, len(pc.procs))
		open := 0
		for i := range cmds {
			k := min(per, pc.open[i])
			cmds[i] = peerCmd{Op: "close", N: k}
			pc.open[i] -= k
			open += pc.open[i]
		}
		if err := pc.all(cmds); err != nil {
			return err
		}
		settle(open)
		if open == 0 {
			return nil
		}
	}
}

// all sends cmds[i] to child i, all at once, and waits for every answer.
func (pc *peerClients) all(cmds []peerCmd) error {
	errs := make(chan error, len(pc.procs))
	for i, p := range pc.procs {
		go func() {
			_, err := p.ask(cmds[i])
			errs <- err
		}()
	}
	var first error
	for range pc.procs {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}

// peerConnsChild is a child's loop: commands on in, one line of answer
// each on out (a peerReply).
func peerConnsChild(in io.Reader, out io.Writer) int {
	var fds []int
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var c peerCmd
		var r peerReply
		err := json.Unmarshal(sc.Bytes(), &c)
		if err == nil {
			switch c.Op {
			case "open":
				if err = raiseNoFile(len(fds) + c.N + 1024); err == nil {
					fds, err = openAll(c)
				}
			case "rate":
				r.N, err = connectLoop(c)
			case "serve":
				err = serve(c)
			case "exchange":
				err = exchangeAll(fds, c.Msg, 4)
			case "close":
				k := min(c.N, len(fds))
				closeAll(fds[:k])
				fds = fds[k:]
			default:
				err = fmt.Errorf("unknown command %q", c.Op)
			}
		}
		if err != nil {
			r.Err = err.Error()
		}
		b, _ := json.Marshal(r)
		fmt.Fprintf(out, "%s\n", b)
	}
	closeAll(fds)
	return 0
}

func openAll(c peerCmd) ([]int, error) {
	to, err := netip.ParseAddrPort(c.To)
	if err != nil {
		return nil, err
	}
	var srcs []netip.Addr
	for _, s := range c.Srcs {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, err
		}
		srcs = append(srcs, a)
	}
	fds := make([]int, 0, c.N)
	for k := c.First; k < c.First+c.N; k++ {
		src, port := srcs[k%len(srcs)], c.Base+k/len(srcs)
		fd, err := dialRaw(to, src, port)
		if errors.Is(err, unix.ETIMEDOUT) || errors.Is(err, unix.EAGAIN) {
			// Every SYN lost (a burst of a hundred thousand overflows
			// receive rings): once more before giving up on the whole
			// open.
			fd, err = dialRaw(to, src, port)
		}
		if err != nil {
			closeAll(fds)
			return nil, fmt.Errorf("connection %d: %w", k, err)
		}
		fds = append(fds, fd)
	}
	return fds, nil
}

func dialRaw(to netip.AddrPort, src netip.Addr, port int) (int, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	// The port may have been ours a moment ago (a rate loop's, reset).
	unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
	tv := unix.Timeval{Sec: 10}
	unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_SNDTIMEO, &tv)
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: src.As4(), Port: port}); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("bind %v:%d: %w", src, port, err)
	}
	if err := enginetest.ConnectKernel(fd, &unix.SockaddrInet4{Addr: to.Addr().As4(), Port: int(to.Port())}); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

// raiseNoFile raises this process's descriptor limit to at least n:
// the soft limit up to the hard one, the hard one too with
// CAP_SYS_RESOURCE (up to fs.nr_open).
func raiseNoFile(n int) error {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		return err
	}
	if lim.Cur >= uint64(n) {
		return nil
	}
	lim.Cur, lim.Max = uint64(n), max(lim.Max, uint64(n))
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("raise the descriptor limit to %d (past the hard limit needs CAP_SYS_RESOURCE; fs.nr_open bounds it): %w", n, err)
	}
	return nil
}

func closeAll(fds []int) {
	for i, fd := range fds {
		if fd >= 0 {
			unix.Close(fd)
			fds[i] = -1
		}
	}
}

// exchangeAll sends msg on every descriptor and reads it back, over
// `parallel` goroutines; it returns the first failure.
func exchangeAll(fds []int, msg []byte, parallel int) error {
	var wg sync.WaitGroup
	errs := make(chan error, parallel)
	per := (len(fds) + parallel - 1) / parallel
	for p := range parallel {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, len(msg))
			for i := p * per; i < min(len(fds), (p+1)*per); i++ {
				if _, err := enginetest.RetryEINTR(func() (int, error) { return unix.Write(fds[i], msg) }); err != nil {
					errs <- fmt.Errorf("connection %d: write: %w", i, err)
					return
				}
				for got := 0; got < len(msg); {
					n, err := enginetest.RetryEINTR(func() (int, error) { return unix.Read(fds[i], buf[got:]) })
					if err != nil || n <= 0 {
						errs <- fmt.Errorf("connection %d: read %d of %d bytes: %v", i, got, len(msg), err)
						return
					}
					got += n
				}
				if !bytes.Equal(buf, msg) {
					errs <- fmt.Errorf("connection %d: echo differs", i)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}
