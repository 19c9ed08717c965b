// Package tcpsock is the engine's TCP socket layer: Conn (a net.Conn),
// Listener (a net.Listener), Dial, and one worker part per queue that runs
// package tcp's sans-I/O endpoints (the inet4.Transport of protocol 6, the
// inet6.Transport of next header 6, and a datapath.Layer).
//
// Ownership and demux. A connection belongs to the worker its 5-tuple
// steers to (the hash socktab.Connect chooses ports with: the NIC's RSS
// Toeplitz hash, or go-metro), for active and passive opens alike, so any
// worker finds the owner of any segment without shared state. Each worker
// keeps its connections in a flowtable.Index (bounded by
// Config.MaxConnections, lock-free reads, go-metro seeded per table); a
// segment that misses it on a worker that is not the owner is handed to
// the owner. Only then is the socket table consulted, for a listener (SYN,
// SYN-cookie ACK) or for nothing (RST).
//
// Servicing. After a segment the worker runs the endpoint's Output and
// publishes its events (serviceTCP); for a connection established before
// and after the segment that waits until the round's burst is done
// (worker.deferred, serviceDeferred at the start of the layer's Round),
// so a burst of a bulk transfer gets one ACK and one wakeup, as a kernel
// receiver with GRO acknowledges a merged segment once. The endpoint still
// owes one duplicate ACK per out-of-order segment of the burst.
//
// IPv6 (demux6.go, sink6.go, family.go). With Config.Host6 each worker is
// also the transport of next header 6 on its inet6.Layer (worker6): IPv6
// segments are checked with the IPv6 pseudo-header (a partial checksum
// trusted where inet6.Host.TrustPartial says so), looked up by their IPv6
// 5-tuple in the same flowtable.Index, handed to the owning worker with
// inet6.Layer.Steer, and answered with a RST when no socket takes them.
// The sink writes a 40-byte IPv6 header (hop limit and traffic class from
// IP_TTL and IP_TOS; the flow label of the 4-tuple, a keyed hash, as
// Linux's auto_flowlabels) toward the next hop inet6.Layer.NextHop
// resolved, or parks the segment behind Neighbor Discovery
// (inet6.Layer.SendDatagram) as the IPv4 path parks behind ARP. The MSS is
// the IPv6 MTU less 60 (tcp.Config.IPv6); ICMPv6 Packet Too Big lowers the
// path MTU (never below 1280), other ICMPv6 errors are hard or soft as
// Linux's tcp_v6_err makes them (fatal6). SYN cookies and ISNs hash the
// 16-byte addresses (syncookie.Tuple, MSSTable6).
//
// Families follow Go's net (sockFamily): "tcp4" and "tcp6" (IPV6_V6ONLY)
// sockets, and "tcp", whose wildcard listener is one dual-stack IPv6
// socket on [::] when the engine has IPv6 addresses. Its IPv4 connections
// are IPv4 on the wire and in the tables, and show v4-mapped addresses
// (::ffff:a.b.c.d) to the application (Listener.adopt) and in listings;
// the socket table gives an IPv4 SYN to an IPv4 listener of the port
// first.
//
// Timers: a binary min-heap of connections keyed by Endpoint.NextTimer,
// run every round with the round's clock; the worker's sleep ends by the
// earliest deadline.
//
// Applications and workers share only the endpoints' SPSC byte rings and
// atomics. Write and Read copy into and out of the rings and poke the
// owning worker through its command queue (one command in flight per
// connection); the worker wakes them on endpoint events. Ring memory and
// control blocks come from pools (tcp.RingPool, tcp.EndpointFreeList) and
// go back when both owners, the worker and the application, are done with
// them; ring memory also goes back while the connection lives, once it is
// idle (package tcp's ringmem.go).
//
// Memory limits (memory.go, Config.Memory): the rings of every connection
// are charged to one tcp.Memory with Linux's tcp_mem thresholds. Under
// pressure buffers stop growing and each worker trims its idle
// connections once a second; above the high threshold new connections
// are refused (SYNs dropped, dials fail with ENOBUFS: MemRefused) and a
// close that would leave an orphan resets instead (AbortOnMemory), as
// does one past MaxOrphans. The ring pool keeps at most PoolMax bytes and
// lets half of what nobody took go every second (worker 0); a goroutine
// then has the Go runtime return it to the operating system
// (debug.FreeOSMemory, at most every 10 s, once 16 MiB were let go of).
// Worker 0 publishes these engine-wide figures in its TCP counters. Each
// worker's connections share one tcp.Totals, which also holds their SRTT
// histogram (one observation per RTT sample); the worker publishes it as
// stats.Histograms.TCPRTT.
//
// TIME-WAIT (timewait.go): a connection that enters it becomes a record
// of about 200 bytes (tcp.TimeWaitRecord, its 4-tuple and the socket-table
// entry that holds its port) in a table of its own per worker, with a
// FIFO of deadlines; the Conn, its endpoint and its rings are freed (an
// application that still holds the Conn reads what is left, then EOF).
//
// Accepted connections join the socket table when their listener closes
// (while it is open, it dominates every bind conflict they could take
// part in), so that their port stays held as a Linux child socket's does,
// at no cost per connection (TIME-WAIT records of a listener's children
// likewise); TIME-WAIT is bounded (Config.MaxTimeWait) and releases an
// active open's tuple after 1 s (tw_reuse).
package tcpsock
