package afxdp

import (
	"io"
	"os"
	"os/signal"
	"syscall"
)

// CloseOnSignal closes every closer (in order: sockets before the program,
// for instance) when the process receives one of sigs (SIGINT and SIGTERM
// if none are given), then re-raises the signal with its default action so
// the process ends as it would have. The returned stop undoes the handler
// without closing anything. A BPF link is detached by the kernel even on
// SIGKILL; this helper is for an orderly exit and for netlink-attached
// programs.
func CloseOnSignal(closers []io.Closer, sigs ...os.Signal) (stop func()) {
	if len(sigs) == 0 {
		sigs = []os.Signal{os.Interrupt, syscall.SIGTERM}
	}
	c := make(chan os.Signal, 1)
	done := make(chan struct{})
	signal.Notify(c, sigs...)
	go func() {
		select {
		case sig := <-c:
			for _, cl := range closers {
				cl.Close()
			}
			signal.Reset(sig)
			if s, ok := sig.(syscall.Signal); ok {
				syscall.Kill(os.Getpid(), s)
			}
		case <-done:
		}
	}()
	return func() {
		signal.Stop(c)
		select {
		case <-done:
		default:
			close(done)
		}
	}
}
