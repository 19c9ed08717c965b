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
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xdpengine/engine/internal/testbed"
)

// The peer's connections live in child processes in the peer namespace
// (this test binary re-executed with childEnv=peerconns), each holding at
// most connsPerChild of them: a process here may have 20,000 descriptors,
// and raising that needs CAP_SYS_RESOURCE. They are plain blocking
// descriptors with 10 s timeouts. Connection k binds source address
// srcs[k % len(srcs)] and port base + k / len(srcs) itself: the
// kernel's own choice of an ephemeral port slows down to a crawl as a
// range fills (it probes the ports in use one by one). The engine's
// process then holds the engine's side only, and the kernel's side is the
// peer's sockets.
const (
	childEnv      = "ENGINE_TEST_CHILD"
	connsPerChild = 16000
)

// peerCmd is one command to a child: open N connections to To from Srcs,
// connections First to First+N-1 from port Base on, exchange Msg on every
// one, or close N more.
type peerCmd struct {
	Op             string
	To             string
	Srcs           []string
	Base, First, N int
	Msg            []byte
}

// peerClients is the parent's handle on the children.
type peerClients struct {
	procs []*peerProc
	open  []int // connections open, by child
}

type peerProc struct {
	in  io.WriteCloser
	out *bufio.Scanner
}

// startPeerClients opens n connections from the peer to to, from srcs in
// turn and ports from base on, spread over as many children as it takes
// (they open theirs at the same time); they close when t ends.
func startPeerClients(t *testing.T, bed *testbed.Bed, to netip.AddrPort, srcs []netip.Addr, base, n int) *peerClients {
	t.Helper()
	pc := &peerClients{}
	for left := n; left > 0; left -= connsPerChild {
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
			in.Close()
			cmd.Wait()
		})
		pc.procs = append(pc.procs, &peerProc{in: in, out: bufio.NewScanner(out)})
	}
	var ss []string
	for _, a := range srcs {
		ss = append(ss, a.String())
	}
	cmds := make([]peerCmd, len(pc.procs))
	for i := range cmds {
		cmds[i] = peerCmd{Op: "open", To: to.String(), Srcs: ss, Base: base, First: i * connsPerChild, N: min(connsPerChild, n-i*connsPerChild)}
		pc.open = append(pc.open, cmds[i].N)
	}
	if err := pc.all(cmds); err != nil {
		t.Fatal(err)
	}
	return pc
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
			b, _ := json.Marshal(cmds[i])
			if _, err := p.in.Write(append(b, '\n')); err != nil {
				errs <- err
				return
			}
			if !p.out.Scan() {
				errs <- fmt.Errorf("peer child exited: %v", p.out.Err())
				return
			}
			if msg := p.out.Text(); msg != "" {
				errs <- errors.New(msg)
				return
			}
			errs <- nil
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
// each on out (empty: done).
func peerConnsChild(in io.Reader, out io.Writer) int {
	var fds []int
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var c peerCmd
		err := json.Unmarshal(sc.Bytes(), &c)
		if err == nil {
			switch c.Op {
			case "open":
				fds, err = openAll(c)
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
		msg := ""
		if err != nil {
			msg = strings.ReplaceAll(err.Error(), "\n", " ")
		}
		fmt.Fprintln(out, msg)
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
		fd, err := dialRaw(to, srcs[k%len(srcs)], c.Base+k/len(srcs))
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
	tv := unix.Timeval{Sec: 10}
	unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_SNDTIMEO, &tv)
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: src.As4(), Port: port}); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("bind %v:%d: %w", src, port, err)
	}
	err = unix.Connect(fd, &unix.SockaddrInet4{Addr: to.Addr().As4(), Port: int(to.Port())})
	if err == unix.EINTR {
		// A signal (the Go runtime's preemption) interrupted the wait;
		// the handshake goes on: wait for it to end.
		err = waitConnected(fd)
	}
	if err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

// waitConnected waits for the connect in progress on fd (10 s at most).
func waitConnected(fd int) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}
		n, err := unix.Poll(pfd, int(time.Until(deadline)/time.Millisecond))
		switch {
		case err == unix.EINTR:
			continue
		case err != nil:
			return err
		case n == 0:
			return unix.ETIMEDOUT
		}
		soerr, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR)
		if err != nil {
			return err
		}
		if soerr != 0 {
			return unix.Errno(soerr)
		}
		return nil
	}
}

// retryEINTR runs a blocking system call again when a signal interrupted
// it before it did anything.
func retryEINTR(f func() (int, error)) (int, error) {
	for {
		n, err := f()
		if err != unix.EINTR {
			return n, err
		}
	}
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
				if _, err := retryEINTR(func() (int, error) { return unix.Write(fds[i], msg) }); err != nil {
					errs <- fmt.Errorf("connection %d: write: %w", i, err)
					return
				}
				for got := 0; got < len(msg); {
					n, err := retryEINTR(func() (int, error) { return unix.Read(fds[i], buf[got:]) })
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
