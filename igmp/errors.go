package igmp

import (
	"errors"
	"syscall"
)

// Sentinel errors. The socket calls (Join, Leave, ...) return an *Error
// that matches both its sentinel and the errno Linux gives for the same
// call, so errors.Is(err, igmp.ErrTooManyMemberships) and
// errors.Is(err, syscall.ENOBUFS) both hold. They are package-level
// values: returning one allocates nothing.
var (
	// ErrNotMulticast: the group is not an IPv4 multicast address (EINVAL).
	ErrNotMulticast = errors.New("igmp: not an IPv4 multicast group address (224.0.0.0/4)")
	// ErrBadSource: a source address that is not IPv4 (EINVAL).
	ErrBadSource = errors.New("igmp: source address is not IPv4")
	// ErrBadMode: a filter mode other than Include or Exclude (EINVAL).
	ErrBadMode = errors.New("igmp: filter mode must be Include or Exclude")
	// ErrAlreadyJoined: the socket is already a member of the group
	// (EADDRINUSE); leave it first, or change its filter with SetFilter.
	ErrAlreadyJoined = errors.New("igmp: socket already joined the group")
	// ErrNotJoined: the socket is not a member of the group
	// (EADDRNOTAVAIL for Leave and Filter).
	ErrNotJoined = errors.New("igmp: socket has not joined the group")
	// ErrNoPriorJoin: a source-filter call on a group the socket has not
	// joined (EINVAL, as Linux: "must have a prior join").
	ErrNoPriorJoin = errors.New("igmp: socket has not joined the group (join it before changing its source filter)")
	// ErrModeMismatch: a source-specific call in the other filter mode
	// (EINVAL): JoinSource/LeaveSource need an include-mode membership,
	// BlockSource/UnblockSource an exclude-mode one. Leave the group, or
	// use SetFilter, to change modes.
	ErrModeMismatch = errors.New("igmp: the membership's source filter is in the other mode (leave the group or use SetFilter)")
	// ErrSourceExists: the source is already in the filter (EADDRNOTAVAIL).
	ErrSourceExists = errors.New("igmp: source already in the membership's filter")
	// ErrNoSource: the source is not in the filter (EADDRNOTAVAIL).
	ErrNoSource = errors.New("igmp: source not in the membership's filter")
	// ErrTooManyMemberships: the socket is in Config.MaxMemberships groups
	// (Linux's net.ipv4.igmp_max_memberships, 20) (ENOBUFS). Leave one, or
	// raise the limit.
	ErrTooManyMemberships = errors.New("igmp: socket is in igmp_max_memberships groups (leave one or raise Config.MaxMemberships)")
	// ErrTooManySources: a filter would hold more than Config.MaxSources
	// sources (Linux's net.ipv4.igmp_max_msf, 10) (ENOBUFS).
	ErrTooManySources = errors.New("igmp: source filter would exceed igmp_max_msf sources (raise Config.MaxSources)")
	// ErrTableFull: the interface already has Config.MaxGroups groups
	// (ENOBUFS). Raise the limit.
	ErrTableFull = errors.New("igmp: interface is in Config.MaxGroups groups (raise the limit)")
	// ErrBadQuery: a query Input ignored: a general query not sent to
	// 224.0.0.1 (RFC 3376 9.1) or one that lists sources, or a query
	// about a group that is not multicast. Counted in RcvBadQueries.
	ErrBadQuery = errors.New("igmp: malformed query ignored")
	// ErrConfig: an invalid Config.
	ErrConfig = errors.New("igmp: invalid configuration")
)

// Error is the error of a socket call: a sentinel that says what is
// wrong and what to do, and the errno Linux returns for the same call.
type Error struct {
	Err   error
	Errno syscall.Errno
}

func (e *Error) Error() string { return e.Err.Error() + ": " + e.Errno.Error() }

// Unwrap returns the sentinel and the errno.
func (e *Error) Unwrap() []error { return []error{e.Err, e.Errno} }

var (
	errNotMulticast  = &Error{ErrNotMulticast, syscall.EINVAL}
	errBadSource     = &Error{ErrBadSource, syscall.EINVAL}
	errBadMode       = &Error{ErrBadMode, syscall.EINVAL}
	errAlreadyJoined = &Error{ErrAlreadyJoined, syscall.EADDRINUSE}
	errNotJoined     = &Error{ErrNotJoined, syscall.EADDRNOTAVAIL}
	errNoPriorJoin   = &Error{ErrNoPriorJoin, syscall.EINVAL}
	errModeMismatch  = &Error{ErrModeMismatch, syscall.EINVAL}
	errSourceExists  = &Error{ErrSourceExists, syscall.EADDRNOTAVAIL}
	errNoSource      = &Error{ErrNoSource, syscall.EADDRNOTAVAIL}
	errTooManyGroups = &Error{ErrTooManyMemberships, syscall.ENOBUFS}
	errTooManySrcs   = &Error{ErrTooManySources, syscall.ENOBUFS}
	errTableFull     = &Error{ErrTableFull, syscall.ENOBUFS}
)
