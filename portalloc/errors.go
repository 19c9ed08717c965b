package portalloc

import (
	"errors"
	"syscall"
)

// ErrConfig reports a configuration the allocator cannot use. Range errors
// also match syscall.EINVAL, as Linux's sysctl write refuses them.
var ErrConfig = errors.New("portalloc: invalid configuration")

// ErrExhausted is returned when no port is left: a connect of a TCP
// allocator (it matches syscall.EADDRNOTAVAIL, as connect(2) reports it).
// The other exhaustion errors match it too, with the errno Linux gives
// each call:
//
//   - a connect of a UDP allocator matches syscall.EAGAIN (inet_autobind
//     turns udp_lib_get_port's failure into -EAGAIN for connect and sendto);
//   - PickBind, bind(port 0) and listen's automatic bind, matches
//     syscall.EADDRINUSE (__inet_bind and inet_csk_listen_start).
//
// Use errors.Is(err, ErrExhausted) to test for any of them.
var ErrExhausted error = &exhaustedError{
	errno: syscall.EADDRNOTAVAIL,
	msg: "portalloc: no free local port toward this destination (EADDRNOTAVAIL): widen the ephemeral range, " +
		"add a local address, or close connections to this destination",
}

var errExhaustedUDP error = &exhaustedError{
	errno: syscall.EAGAIN,
	msg: "portalloc: no free local port for a UDP socket (EAGAIN): every port of the ephemeral range is in use; " +
		"widen the range or close sockets",
}

var errExhaustedBind error = &exhaustedError{
	errno: syscall.EADDRINUSE,
	msg: "portalloc: no free port in the ephemeral range for bind(port 0) (EADDRINUSE): widen the range, " +
		"bind an explicit port, or close sockets",
}

type exhaustedError struct {
	errno syscall.Errno
	msg   string
}

func (e *exhaustedError) Error() string { return e.msg }

// Is matches ErrExhausted and the error's errno.
func (e *exhaustedError) Is(target error) bool { return target == ErrExhausted || target == e.errno }

// ErrTupleInUse is returned by Reserve when the 4-tuple is already taken. It
// matches syscall.EADDRNOTAVAIL, as connect(2) from a bound port does.
var ErrTupleInUse = &tupleInUseError{}

type tupleInUseError struct{}

func (*tupleInUseError) Error() string {
	return "portalloc: this local address:port is already connected to that destination " +
		"(EADDRNOTAVAIL): bind another port or let connect choose one"
}
func (*tupleInUseError) Is(target error) bool { return target == syscall.EADDRNOTAVAIL }
