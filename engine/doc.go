// Package engine is the runtime that joins the building blocks into a
// userspace network stack on AF_XDP: poll-mode workers, the packet pipeline
// and the socket API.
//
// # Use
//
//	eng, err := engine.New(engine.Config{
//		Interface: "eth1",
//		Addrs:     []netip.Prefix{netip.MustParsePrefix("198.18.0.1/24")},
//	})
//	c, err := eng.ListenUDP("udp", ":7", engine.SocketOptions{}) // before or after Start
//	go func() {
//		n, from, err := c.ReadFromUDPAddrPort(buf)
//		_, err = c.WriteToUDPAddrPort(buf[:n], from)
//	}()
//	err = eng.Run(ctx)         // start, serve until ctx is done or a worker fails, close
//
// or, step by step:
//
//	err = eng.Start()          // attach the XDP program, open the sockets, start the workers
//	<-eng.Done()               // a worker failed (eng.Err() says which and why), or Close
//	st := eng.Stats()          // per-queue counters (JSON: snake_case names)
//	err = eng.Close()          // close sockets, stop workers, detach
//
// # Sockets API
//
// The entry points are net's, on the engine: Listen, ListenPacket, Dial
// and DialContext take a network name and a "host:port" string and
// return net's interfaces (net.Listener, net.PacketConn, net.Conn), whose
// concrete types are the engine's (*TCPListener, *UDPConn, *TCPConn)
// for a type assertion; ListenTCP, ListenUDP, DialTCP and DialUDP return
// the concrete types, with socket options; their AddrPort variants
// (ListenTCPAddrPort, ListenUDPAddrPort, DialTCPAddrPort,
// DialUDPAddrPort) take netip.AddrPort values and parse nothing. The
// network picks the protocol as in net.Dial: "tcp", "tcp4" and "tcp6" are
// TCP, "udp", "udp4" and "udp6" UDP; an unknown name is a
// net.UnknownNetworkError. Both follow Go's net over a dual-stack kernel
// (UDP is described here; TCP's listeners likewise): "udp" on the wildcard (":7", "[::]:7") is
// one IPv6 socket that takes IPv4 too when the engine has IPv6 addresses
// (IPv4 peers named ::ffff:a.b.c.d, answered over IPv4), "udp6" is IPv6
// only (IPV6_V6ONLY), an IPv4 address or "udp4" makes an IPv4 socket, and
// a dial makes a socket of the peer's family. Errors are
// *net.OpError wrapping the kernel's errno, as the kernel's sockets
// give them.
//
// A Dialer adds what net.Dialer has: a local address, a timeout, socket
// options, and a Resolver for host names (any type with net.Resolver's
// LookupNetIP: net.DefaultResolver asks the system's resolver, over the
// kernel's stack). Without one, names are refused (ErrNoResolver): the
// engine sends no DNS query of its own. The addresses of a name are tried
// in order until one connects (IPv4 ones only, for now), sharing the
// dial's deadline as net.Dialer does. Its DialContext fits
// http.Transport.DialContext.
//
// # Ping
//
// Ping sends one ICMP or ICMPv6 echo request (PingOptions: size,
// TTL/hop limit, identifier, sequence number) through a worker's send
// path, as any datagram of an application, and waits for the reply until
// its context ends (ErrNoEchoReply). Outstanding requests wait in a small
// per-engine registry keyed by (source, identifier, sequence number); the
// workers' ICMP and ICMPv6 receive paths hand it every echo reply
// (inet4.Config.EchoReply, inet6.Config.EchoReply), which costs one atomic
// load while no ping waits. Repeating (ping -c) is the caller's.
//
// # Lifecycle and failures
//
// Start returns once the workers run; Run starts (unless Start did),
// waits for its context or a failure, and closes. A worker fails when
// its AF_XDP socket reports an error (read at every 100 ms tick: ENETDOWN
// once the interface went away) or when its loop panics (in a Hook, or in
// the engine: the panic is recovered, logged with its stack at level
// error, and wraps ErrWorkerPanic). Its queue is not served any more; the
// other workers go on. The failed worker drains as a stopped one does: its
// connections end (their calls return errors), dials waiting on it return
// net.ErrClosed. A failed Start is final: the engine is closed, and a new
// one is how to try again. Done, closed then (or by Close), is a channel to
// select on, and Err a *WorkerError naming the queue and the cause (or
// ErrClosed after Close), as a context's Done and Err.
//
// # Workers
//
// Start opens one AF_XDP socket per queue (Config.Queues, default all) and
// runs one worker per socket on a goroutine (locked to an OS thread of its
// own when busy-polling or pinned to Config.CPUs[i]). The loop is
// package datapath's (datapath.Worker: receive, steering rings, transmit
// batching, sleep, counters); the engine plugs its stack into it as the
// worker's datapath.Input (frames) and a datapath.Layer (per-round work,
// timers, drain). A worker owns its socket, its UMEM frames, its
// reassembler, neighbor table and ICMP limiter: none of them is locked.
// Each round it:
//
//  1. receives a burst and handles each frame: ARP (answered, learned, and
//     handed to the other workers so every neighbor table learns it), IPv4
//     to the engine's addresses (reassembled if fragmented, then shown to
//     the Hook once), ICMP echo (answered in the same frame), UDP and TCP
//     (checksum, trusting a partial one on a virtual link by
//     Config.RxChecksum; socket or connection lookup, delivery, or ICMP
//     port unreachable and RST); IPv6 to the engine's IPv6 addresses
//     (stack/inet6: Neighbor Discovery, echo in place, reassembly, ICMPv6
//     errors; UDP as over IPv4, the checksum required; no TCP over IPv6
//     yet);
//  2. takes frames other workers steered to it (flows it owns);
//  3. takes the datagrams applications queued for it, resolves their next
//     hop (parking them while ARP resolves), fragments them into UMEM frames
//     when they exceed the path MTU;
//  4. transmits what the round produced in one batch and reaps completions.
//
// The clock is read once per round; the timers (reassembly, ARP) and the
// publication of counters run every 100 ms. Counters are plain fields that
// only the worker writes; Stats reads the copy the worker published.
//
// Polling: PollBusy never sleeps; PollAdaptive (the default) spins for
// Config.SpinTime after the last work, yielding the core between empty
// polls, and then sleeps in poll(2) on the socket and an eventfd that
// applications write when they queue work for a sleeping worker;
// PollInterrupt sleeps whenever a round found nothing. With Config.Nap the
// adaptive spin is a series of timed sleeps (naps) instead: nothing wakes a
// napping worker, which then handles what arrived in bursts (less CPU
// per request when many are in flight, up to Nap more latency per wait).
//
// Wakeups (datapath.Waker). A goroutine readied from a P that keeps spinning
// waits ~120 µs for another P to steal it, so a worker collects its
// round's wakeups and, at the round's end, either sends them and yields
// its P, so that the woken goroutines run at once on the worker's own
// thread (run to completion: the default), or, when it keeps a thread of
// its own (pinned, or busy-polling), hands them to its waker goroutine, parked in the
// netpoller on an eventfd. Run to completion wants one P per worker for
// small packets (PreferredProcs): with idle Ps the runtime wakes a thread
// for them at every round's wakeups, and the worker and its goroutines
// move between threads; bulk transfers gain from more (the application's
// copies run beside the worker). engine serve sets one per worker (two
// when pinned or busy-polling); an embedding program chooses its own,
// before Start. With fewer Ps than workers (and workers that need no
// thread of their own), Start runs them in as many goroutines as there
// are Ps, each taking its share of the workers a round of each in turn
// (Loops, stack/datapath's RunLoop).
//
// # Sockets and ownership
//
// Binds, connects and closes go through the socket table (package socktab),
// which applies Linux's rules under a mutex; workers look sockets up in its
// lock-free snapshot. A connected socket's local port is chosen from the
// port shard of the worker its replies will be steered to, so the worker
// that receives a reply is usually the one that owns the flow; when the NIC
// delivers it elsewhere, the receiving worker copies the frame into the
// owner's SPSC inbox (one ring per pair of workers, no locks). Fragments
// carry no ports and so land on any queue: a TCP segment reassembled on a
// worker that does not own its connection is handed over the same way.
//
// Applications never block a worker. A datagram for a socket is copied into
// a buffer from a pool (sync.Pool: per-P caches, nothing shared on the fast
// path) and queued on the socket's ring; a full receive buffer drops and
// counts (DropRecvBuffer), as SO_RCVBUF does. Sending builds the whole
// IPv4/UDP (or IPv6/UDP) datagram on the application's goroutine and queues it to the
// owning worker's tx queue; a full queue waits within the write deadline,
// as a blocking send waits for room in a full socket buffer (it never
// returns ENOBUFS for a send).
//
// # Socket options
//
// ip(7) and socket(7) options come in two shapes, as in Go's net: those a
// program sets before bind or connect are a SocketOptions value given to
// ListenUDP, TCPListenConfig or a Dialer (SO_REUSEADDR, SO_REUSEPORT,
// IPV6_V6ONLY, IP_FREEBIND, IP_TRANSPARENT, IP_BIND_ADDRESS_NO_PORT,
// SO_BROADCAST);
// those that change later are methods of the connections (SetTTL, SetTOS,
// SetMTUDiscover, PathMTU for IP_MTU, SetBroadcast, SetRecvErr/ReadError
// for IP_RECVERR's error queue, SetControlMessage/ReadMsg/WriteMsg for
// IP_RECVTTL, IP_RECVTOS and IP_PKTINFO, as golang.org/x/net/ipv4 shapes
// them; on an IPv6 socket their ipv6(7) counterparts: SetHopLimit for
// IPV6_UNICAST_HOPS, SetTrafficClass for IPV6_TCLASS, SetMulticastHopLimit,
// the same SetMTUDiscover modes, SetDontFragment for IPV6_DONTFRAG, and
// the control flags for IPV6_RECVHOPLIMIT, IPV6_RECVTCLASS and
// IPV6_RECVPKTINFO). Options are atomics a sender or a worker reads per datagram or
// segment, never a lock. Errnos are the kernel's: EACCES for a broadcast
// without SO_BROADCAST, ENETUNREACH for a TCP connect to a broadcast or
// multicast address, EMSGSIZE past the path MTU under IP_PMTUDISC_DO or
// the link MTU under IP_PMTUDISC_PROBE, ENOTCONN for IP_MTU unconnected.
// A transparent bind adds its address to the XDP program's map (and to the
// addresses workers accept) until the engine closes, as a TPROXY rule
// delivers it.
//
// # Multicast and broadcast
//
// Group memberships (JoinGroup and the source-specific calls) go through
// one igmp.Host per engine under a mutex; the XDP program's group map
// follows the groups the host wants, and worker 0 sends the IGMPv3 reports
// and reads queries from an AF_PACKET tap at its ticks (stack/inet4). A
// datagram to a group or a broadcast address goes to every socket the
// socket table matches (LookupAll) whose own filter accepts it, as Linux's
// __udp4_lib_mcast_deliver; a datagram the engine sends to a group it has
// joined is looped back to its own members (IP_MULTICAST_LOOP).
//
// # Ports held by connections
//
// The connections a listener accepted are registered in the socket table
// when the listener closes, before its own entry goes (while it is open it
// dominates every bind conflict its children could take part in, so
// nothing is done per connection), and a connection in TIME-WAIT is marked
// so, so that bind and listen see them as Linux's bind buckets do;
// an active connection in TIME-WAIT releases only its tuple after 1 s
// (tw_reuse), keeping its port against bind until it is CLOSED.
//
// # TCP
//
// eng.Listen / ListenTCP and eng.DialTCP / DialContext run package tcp's
// sans-I/O endpoints inside the workers. A connection belongs to the worker
// its 5-tuple steers to (the same hash socktab.Connect uses to pick a
// connect's port), kept in that worker's connection table (a
// flowtable.Index, bounded by Config.TCPMaxConnections) with its deadline in the
// worker's timer heap. A segment is checksummed, looked up in the receiving
// worker's table, handed to the owning worker if another owns it, then matched
// against the listeners (one tcp.Listener per worker, SYN cookies when its
// SYN queue is full), and otherwise answered with a RST. Endpoints emit
// segments straight into UMEM frames, an established connection once per
// received burst (one ACK for a burst of a bulk transfer, as a kernel
// receiver with GRO), with UDP and TCP checksums left to the transmit
// offload where Config.TxChecksum finds one. Applications read and write the
// endpoints' SPSC byte rings and poke the owning worker through its command
// queue; the worker wakes them on endpoint events (readable, writable,
// established, closed, error).
//
// Buffers grow with use, as Linux's socket buffers do: a connection holds
// no ring memory until data moves. The first Write gives the send ring
// what it needs (up to TCPSendBuffer); the receive ring grows as data
// arrives, to hold whatever the window it advertised admits (the window
// is its auto-tuned limit, up to TCPRecvBuffer, less the unread data).
// Send-buffer auto-tuning: the worker publishes the endpoint's
// SendBufWant with each writable event; a Write that finds the ring full
// and smaller than that, than TCPSendBuffer, or than its SetWriteBuffer
// size asks the worker for a larger ring (cmdGrowSend, at most
// TCPSendBufferMax) and waits: while growReq and growDone differ the ring
// is the worker's alone, which copies the content into the new memory. A
// connection through which no data moved for TCPBufferIdle gives its empty
// rings back. TCPMem bounds the whole (tcp_mem: pressure, then a high
// threshold above which no buffer grows past TCPBufferMin and new
// connections are refused), TCPMaxOrphans the connections closed but
// still delivering their FIN; the counters are in TCPStats (Mem*,
// PoolBytes, CurrOrphans, AbortOnMemory). TCPSomaxconn caps every
// listener's backlog, as net.core.somaxconn. TCPConn.WaitReadable waits
// for data without a buffer, so a server with many idle connections lends
// a buffer only to those with data (as cmd/engine's echo service does).
//
// The rings' memory comes from a per-engine pool (tcp.RingPool: per
// power-of-two size, at most TCPPoolMax bytes, of which what nobody took
// for a second halves every second and goes back to the operating
// system) and is not cleared between connections: rings never read a byte
// they did not write. Each TCPConn counts two owners of that memory, the
// worker (until it frees the CLOSED endpoint) and the application (until
// Close, or until the listener discards a connection nobody accepted, or
// a Dial fails); the last one gives the rings and the endpoint
// (tcp.Endpoint, recycled through an endpoint pool) back. After Close
// every call returns net.ErrClosed without touching a ring. A connection
// that enters TIME-WAIT becomes a record of about 200 bytes that answers
// the peer (as Linux's timewait sock); the endpoint and its rings go back
// then; at most Config.TCPMaxTimeWait connections wait in TIME-WAIT.
//
// # Extension point
//
// Config.Hook sees every IPv4 packet to the engine once, parsed, before
// transport dispatch (a fragmented datagram once, reassembled, unless
// Config.HookFragments shows it each fragment), on the worker that
// received it, and may pass, drop or transmit it rewritten: the place where
// the L4 load balancer and the traffic harness plug in without
// terminating packets. Protocols with work of their own plug into the
// workers' loop as datapath layers (stack/datapath).
//
// # Load balancer
//
// Config.LoadBalancer makes the engine an L4 load balancer (package lb):
// each worker forwards the traffic of the VIPs itself, after the Hook, by
// Maglev with connection tracking, in NAT or dsr-l2 mode; health checks
// run over the engine's own sockets; Engine.Balancer changes the VIPs while
// the engine runs. `engine serve --lb FILE` reads them from a YAML file
// (lb/config).
//
// # Tunnel DSR backend
//
// Config.Decap makes the engine the far end of a balancer's dsr-ipip and
// dsr-gue tunnels (Katran's formats, and package lb's): the workers unwrap
// packets to the engine's own addresses that carry a client's packet to a
// VIP, the application's transparent sockets on the VIP receive it, and
// replies go from the VIP straight to the client (stack/inet4's decap.go;
// counters in WorkerStats.Decap).
//
// # Fault injection (testing only)
//
// The engine's tests give it a fault injector (internal/faultinject,
// through a hook that only tests compile): every worker then drops,
// duplicates and reorders IPv4 frames on its receive path (after the rx
// ring, before the stack) and on its transmit path (before the tx ring),
// with seeded per-frame probabilities. Stats count every injected fault
// (WorkerStats.Faults), so tests can show that the faults happened.
// Without one a worker pays one nil check per burst.
//
// # Shutdown
//
// Close marks every socket closed (blocked calls return net.ErrClosed),
// stops the workers after they publish their last counters, closes the
// AF_XDP sockets and detaches the XDP program (a BPF link, so a crashed
// process leaves nothing attached either). Done closes then, and Err is
// ErrClosed unless a worker had failed before.
package engine
