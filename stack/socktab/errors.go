package socktab

import (
	"errors"
	"net"
	"net/netip"
	"syscall"
)

// ErrWildcardDenied is returned (inside a *net.OpError) for a wildcard bind
// when Config.DenyWildcard is set. It also matches syscall.EACCES.
var ErrWildcardDenied = errors.New("socktab: wildcard binds are disabled")

// Error is the cause inside the *net.OpError every Table method returns: the
// errno Linux would return, and what to do about it. errors.Is matches the
// errno (and Sentinel, when set).
type Error struct {
	Errno    syscall.Errno
	Hint     string
	Sentinel error
}

func (e *Error) Error() string { return e.Errno.Error() + ": " + e.Hint }

// Unwrap returns the errno and the sentinel.
func (e *Error) Unwrap() []error {
	if e.Sentinel != nil {
		return []error{e.Errno, e.Sentinel}
	}
	return []error{e.Errno}
}

func (s *Socket) netName() string {
	n := "tcp"
	if s.proto == UDP {
		n = "udp"
	}
	if s.family == IPv4 {
		return n + "4"
	}
	return n + "6"
}

func (s *Socket) opErr(op string, addr netip.AddrPort, errno syscall.Errno, hint string) error {
	return s.opErrS(op, addr, errno, hint, nil)
}

func (s *Socket) opErrS(op string, addr netip.AddrPort, errno syscall.Errno, hint string, sentinel error) error {
	var a net.Addr
	if addr.IsValid() {
		if s.proto == UDP {
			a = net.UDPAddrFromAddrPort(addr)
		} else {
			a = net.TCPAddrFromAddrPort(addr)
		}
	}
	return &net.OpError{Op: op, Net: s.netName(), Addr: a, Err: &Error{Errno: errno, Hint: hint, Sentinel: sentinel}}
}
