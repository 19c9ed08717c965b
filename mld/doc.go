// Package mld is the listener (host) side of MLDv2 (RFC 3810 6, 8.2) for
// one interface, with MLDv1 compatibility (RFC 2710): the IPv6 sibling of
// package igmp, for the groups the engine's sockets join. It is sans-I/O:
// time is passed in (now, monotonic nanoseconds), randomness is injected
// (Config.Rand), messages come out through Poll's callback, and it starts
// no goroutine.
//
// # Memberships
//
// Join and Leave count any-source memberships per group (a socket's
// IPV6_JOIN_GROUP / IPV6_LEAVE_GROUP): the interface state of a group is
// EXCLUDE {} while it has members, INCLUDE {} (not a member) otherwise.
// ff02::1 and groups of reserved or interface-local scope are members
// but never reported (RFC 3810 6).
//
// # Reports
//
// A group's first Join is reported as a CHANGE_TO_EXCLUDE {} record, its
// last Leave as CHANGE_TO_INCLUDE {}; each change Robustness times (2),
// the first at the next Poll, the others at random delays up to the
// Unsolicited Report Interval (1 s) (6.1). A change made while the
// previous one is still repeated replaces it and restarts the count. A
// left group stays, without members, until its leave has been repeated.
// MLDv2 reports go to ff02::16, several records a message, split to fit
// Config.MTU.
//
// Poll hands out ICMPv6 messages with the checksum left zero. The caller
// writes the IPv6 header (source: the interface's link-local address, or
// :: before it has one; hop limit 1; next header 0), then
// HopByHopRouterAlert (the Router Alert option that RFC 3810 5 requires),
// and fills the checksum with header.ICMPv6Checksum. The caller also
// checks the received messages' checksum, hop limit 1 and Router Alert
// option before Input, which checks the rest.
//
// # Queries
//
// An MLDv2 query is answered after a random delay up to its Maximum
// Response Delay, with the rules of 6.2: one interface timer for general
// queries (a general answer due sooner covers any later query), one timer
// per group for address-specific queries (kept when it is due sooner).
// A general query is answered with IS_EX {} for every reported group; an
// address-specific one with IS_EX {} for that group. An
// address-and-source-specific query is answered like an address-specific
// one, with the group's whole state (Linux does the same; RFC 3810 6.3
// would send IS_IN of the queried sources, which says less). A query's
// QRV and QQIC become the Robustness Variable and Query Interval.
// Queries from a source that is not link-local are ignored (5.1.14).
//
// An MLDv1 query starts the Older Version Querier Present timer
// (Robustness x Query Interval + Query Response Interval, 260 s): until
// it expires the host is in MLDv1 compatibility mode (8.2.1). Pending
// MLDv2 reports are canceled; queries (v2 ones too) are answered per
// group with MLDv1 reports after a random delay, which another host's
// report of the group suppresses; a join is reported twice up to 10 s
// apart, and a leave sends a done to ff02::2 when we sent the last
// report (RFC 2710 4).
//
// # Driving it
//
// Next returns when Poll has something to do (0: nothing). A Host needs
// one caller at a time. Input and Poll do not allocate; Join allocates
// for a new group.
//
// # Not supported
//
// Source filters (INCLUDE mode, blocked sources: MCAST_JOIN_SOURCE_GROUP
// and friends; igmp has them for IPv4) and therefore source-list-change
// records; the router side (querier election, listener timers); more
// than one interface.
package mld
