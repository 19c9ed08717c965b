package enginetest

import (
	"time"

	"golang.org/x/sys/unix"
)

// RetryEINTR runs a blocking system call again when a signal interrupted
// it before it did anything. The Go runtime signals its threads (SIGURG,
// to preempt goroutines), and a socket call with SO_RCVTIMEO or
// SO_SNDTIMEO set is not restarted after one (signal(7)): it fails with
// EINTR, which a test must not take for the peer's answer.
func RetryEINTR(f func() (int, error)) (int, error) {
	for {
		n, err := f()
		if err != unix.EINTR {
			return n, err
		}
	}
}

// ConnectKernel connects the blocking kernel socket fd to sa. A connect
// that a signal interrupts goes on in the kernel (connect(2): EINTR);
// ConnectKernel then waits for it to end, 10 s at most, and returns its
// outcome.
func ConnectKernel(fd int, sa unix.Sockaddr) error {
	err := unix.Connect(fd, sa)
	if err == unix.EINTR {
		err = waitConnected(fd)
	}
	return err
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
