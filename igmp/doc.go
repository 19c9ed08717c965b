// Package igmp is the host side of IGMPv3 (RFC 3376 3, 5 and 7; the host
// parts) for one interface, with IGMPv1 and v2 compatibility (RFC 1112,
// RFC 2236): the engine's UDP sockets join IPv4 multicast groups through
// it, it tells the engine which datagrams each socket wants, and it sends
// the reports that make routers and switches forward the groups to the
// link. It is sans-I/O, modelled on Linux's net/ipv4/igmp.c: time is
// passed in (now, monotonic nanoseconds), randomness is injected
// (Config.Rand), frames come out through a callback, and it starts no
// goroutine.
//
// # Sockets and the interface state
//
// A Socket holds one socket's memberships, like Linux's ip_mc_socklist:
// per group a filter mode and a source list (RFC 3376 3.1). The Host's
// socket calls are the ip(7) options, with Linux's checks, limits and
// errnos:
//
//	Join           IP_ADD_MEMBERSHIP          EXCLUDE {}: any source
//	Leave          IP_DROP_MEMBERSHIP
//	JoinSource     IP_ADD_SOURCE_MEMBERSHIP   INCLUDE {..., S}
//	LeaveSource    IP_DROP_SOURCE_MEMBERSHIP  the last source leaves
//	BlockSource    IP_BLOCK_SOURCE            EXCLUDE {..., S}
//	UnblockSource  IP_UNBLOCK_SOURCE
//	SetFilter      IP_MSFILTER (setsourcefilter(3)); Filter reads it back
//	SetMulticastAll  IP_MULTICAST_ALL (on by default, as on Linux)
//	Drop           the socket closes
//
// A socket is in at most Config.MaxMemberships groups (igmp_max_memberships,
// 20) with at most Config.MaxSources sources per filter (igmp_max_msf, 10):
// beyond, ENOBUFS. Errors are *Error values matching both a sentinel of
// this package and the errno (errors.Is(err, syscall.ENOBUFS)).
//
// The interface's reception state per group merges its sockets' filters
// (RFC 3376 3.2): EXCLUDE if any socket excludes, with the sources every
// excluding socket excludes and no including socket includes; otherwise
// INCLUDE with the union of the included sources.
//
// # Delivery
//
// For a UDP datagram to a multicast group the engine asks Host.Wanted once
// (does the interface receive it: Linux's ip_check_mc_rcu), then
// Socket.Accept for each socket bound to the port (Linux's
// ip_mc_sf_allow: the socket's own filter if it joined the group,
// otherwise IP_MULTICAST_ALL). Both read immutable snapshots through
// atomic pointers, rebuilt by the socket calls, so a worker checks without
// a lock or an allocation. Host.Member says whether the interface has
// reception state for a group: the engine keeps the XDP program's group
// map (afxdp.Program.AddGroup) in step with it.
//
// # Reports
//
// A change of the interface state is reported at once and repeated
// Robustness Variable times in all (igmp_qrv, 2) at random delays up to
// the unsolicited report interval (1 s), as Linux does (RFC 3376 5.1):
// a filter-mode change as TO_IN/TO_EX with the whole list, a source-list
// change as ALLOW/BLOCK of the sources that changed. A change made while
// earlier reports are still being repeated restarts the repetitions and
// merges with what is pending: each source keeps its own count, and while
// a mode change is repeated source changes ride in its TO_IN/TO_EX. A
// group whose last socket left stays, without reception state, until its
// reports are sent. Reports go to 224.0.0.22 from Config.Addr with TTL 1,
// TOS 0xc0, DF and the Router Alert option, split to fit the MTU.
// 224.0.0.1 is never reported; 224.0.0.0/24 is, like Linux's default,
// unless Config.SkipLinkLocal.
//
// # Queries
//
// Input takes every IGMP message the interface receives. An IGMPv3 query
// is answered after a random delay up to its Max Resp Time, with the
// pending-response rules of RFC 3376 5.2: one interface timer for general
// queries (a general answer due sooner covers any later query), one timer
// per group whose source list grows with each group-and-source query and
// is cleared by a group query. A general query answers every group's
// current state (IS_IN/IS_EX); a group-and-source query Q is answered
// with IS_IN(A*Q) in INCLUDE(A) mode and IS_IN(Q-A) in EXCLUDE(A) mode,
// nothing when empty. (Linux answers the latter with the whole IS_EX list;
// both are allowed for a router.) The query's QRV and QQIC become the
// host's Robustness Variable and Query Interval (4.1.6, 4.1.7). General
// queries not sent to 224.0.0.1 are ignored (9.1).
//
// An IGMPv1 or v2 query starts the Older Version Querier Present timer
// (Robustness x Query Interval + Query Response Interval, 260 s by
// default): until it expires the host is in that compatibility mode
// (7.2.1), cancels its pending IGMPv3 reports, answers queries per group
// after a random delay with v1/v2 reports (which another host's report
// suppresses), reports a join twice up to 10 s apart, and in v2 mode
// sends a leave to 224.0.0.2 when it was the last to report.
//
// # Driving it
//
// Host.Next returns when Poll has something to do (0: nothing); Poll(now,
// send) sends it. The socket calls and Input change what is due; Next is
// safe to read without the caller's lock, so a worker can look at it every
// round and take the lock only to Poll. Everything but Wanted, Member,
// Next and Socket.Accept needs one caller at a time.
//
// # Bounds
//
// Per socket MaxMemberships groups of MaxSources sources; per interface
// MaxGroups groups (a leaving group is evicted first when full); a pending
// group-and-source answer remembers MaxQuerySources sources, beyond which
// it answers with the group's whole state. Input and Poll do not allocate
// once their scratch space has grown; the socket calls allocate (they
// rebuild the snapshots).
//
// # Counters
//
// Linux has no IGMP counters in /proc/net/snmp; Stats uses the names of
// FreeBSD's igmpstat (netstat -s -p igmp). Groups lists the groups as
// /proc/net/igmp and /proc/net/mcfilter do, Version the querier version.
//
// # Not supported
//
// One interface per Host and per Socket (the engine has one); IGMP
// proxying and the router side (querier election, group timers); the
// source-specific query answers of IGMPv1/v2 mode (they have none).
package igmp
