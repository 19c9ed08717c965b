package datapath

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// netSleep is how a worker that is an ordinary goroutine (not
// Config.OwnThread) sleeps when GOMAXPROCS is 1: parked in the Go
// runtime's netpoller on an epoll instance of its own that watches the
// AF_XDP socket and the worker's eventfd, instead of blocked in poll(2).
//
// A goroutine blocked in a system call keeps its P until the runtime's
// monitor thread takes it back, which it does only at its next look, from
// 20 µs up to 10 ms apart when the program is quiet; and while the only P
// sits in the call, nothing runs the netpoller either (the monitor polls
// it every 10 ms). With GOMAXPROCS 1 an idle engine thus held up every
// other goroutine of the process that waits on the network: a Go server
// beside it (BenchmarkTCPShortConn's kernel side, 64 clients) swung
// between 13k and 19k connections a second from run to run, and did 23k
// in every run once the worker slept in the netpoller. Parked there, the
// worker gives its P back at once, and the runtime wakes it when the epoll
// instance becomes readable (a frame on the socket, a write to the
// eventfd) or at the deadline.
//
// With more Ps the worker keeps poll(2): the other Ps serve the program,
// and poll(2) returns on the frame itself, while a parked goroutine waits
// for a P to poll the network, which a P busy with goroutines that do not
// block does only at the monitor's 10 ms look. (With every such worker in
// the netpoller, the full suite at GOMAXPROCS 2 failed two tests that pass
// with poll(2), send-buffer auto-tuning and Close of held connections; not
// analysed further.)
type netSleep struct {
	f     *os.File        // the epoll instance, registered with the netpoller
	rc    syscall.RawConn // f's
	socks []int           // the AF_XDP sockets
	out   []bool          // socks[i] is watched for EPOLLOUT too
	evs   []unix.EpollEvent
	// ready is the readiness check Read runs, made once (a closure made
	// per wait would allocate on every sleep), n what it found.
	ready func(fd uintptr) bool
	n     int
}

// newNetSleep makes the epoll instance watching socks and efds (readable):
// one worker's socket and eventfd, or those of the workers a loop runs
// (loop.go).
func newNetSleep(socks, efds []int) (*netSleep, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("datapath: epoll_create1: %w", err)
	}
	for _, fd := range append(append([]int(nil), socks...), efds...) {
		ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(fd)}
		if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
			unix.Close(epfd)
			return nil, fmt.Errorf("datapath: epoll_ctl add %d: %w", fd, err)
		}
	}
	// Non-blocking, so that os.NewFile registers it with the netpoller.
	if err := unix.SetNonblock(epfd, true); err != nil {
		unix.Close(epfd)
		return nil, fmt.Errorf("datapath: epoll instance non-blocking: %w", err)
	}
	f := os.NewFile(uintptr(epfd), "datapath-sleep")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("datapath: epoll instance: %w", err)
	}
	s := &netSleep{f: f, rc: rc, socks: socks, out: make([]bool, len(socks)),
		evs: make([]unix.EpollEvent, len(socks)+len(efds))}
	s.ready = s.readyNow
	return s, nil
}

// readyNow asks the epoll instance what is ready, without waiting: true
// (stop waiting) when something is, or on an error other than EINTR.
func (s *netSleep) readyNow(fd uintptr) bool {
	var err error
	s.n, err = unix.EpollWait(int(fd), s.evs, 0)
	return s.n > 0 || err != nil && !errors.Is(err, unix.EINTR)
}

// wait parks the calling goroutine until a socket is readable (or
// writable, for each socks[i] with out[i]: an interrupt-mode worker
// waiting for transmit completions), an eventfd is, or timeout has passed.
// It returns the events ready when it woke (valid until the next wait).
func (s *netSleep) wait(timeout time.Duration, out []bool) []unix.EpollEvent {
	for i, o := range out {
		if o == s.out[i] {
			continue
		}
		ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(s.socks[i])}
		if o {
			ev.Events |= unix.EPOLLOUT
		}
		var err error
		_ = s.rc.Control(func(fd uintptr) {
			err = unix.EpollCtl(int(fd), unix.EPOLL_CTL_MOD, s.socks[i], &ev)
		})
		if err == nil {
			s.out[i] = o
		}
	}
	if err := s.f.SetReadDeadline(time.Now().Add(timeout)); err != nil {
		return nil
	}
	// The instance's own list is level-triggered: epoll_wait with a zero
	// timeout says whether anything is ready now; if not, Read parks the
	// goroutine until the netpoller sees the instance become readable.
	s.n = 0
	_ = s.rc.Read(s.ready)
	return s.evs[:max(s.n, 0)]
}

// close closes the epoll instance (not the descriptors it watches).
func (s *netSleep) close() error { return s.f.Close() }
