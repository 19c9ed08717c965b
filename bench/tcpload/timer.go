package tcpload

import (
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// timer wakes an open-loop connection when its next request is due.
//
// It is a timerfd read through the runtime's netpoller, not time.Sleep:
// when every P is idle the runtime waits for its timers in epoll_wait,
// whose timeout is in whole milliseconds, so time.Sleep(300µs) sleeps a
// millisecond. A timerfd is a kernel hrtimer; its expiry makes the fd
// readable, which ends epoll_wait at once (within the timer slack, 50 µs
// by default). Reading parks the goroutine in the netpoller: no thread
// blocks, nothing is allocated.
type timer struct {
	f   *os.File
	fd  int // f's descriptor, for timerfd_settime (f.Fd would make it blocking)
	buf [8]byte
}

func newTimer() (*timer, error) {
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("tcpload: timerfd_create: %w", err)
	}
	return &timer{f: os.NewFile(uintptr(fd), "timerfd"), fd: fd}, nil
}

// sleep waits d, or until interrupt.
func (t *timer) sleep(d time.Duration) {
	its := unix.ItimerSpec{Value: unix.NsecToTimespec(int64(d))}
	if err := unix.TimerfdSettime(t.fd, 0, &its, nil); err != nil {
		time.Sleep(d)
		return
	}
	t.f.Read(t.buf[:]) // the expiry count; an error is the interrupt
}

// interrupt wakes a sleep for good (the run is stopping).
func (t *timer) interrupt() { t.f.SetReadDeadline(past) }

func (t *timer) close() { t.f.Close() }
