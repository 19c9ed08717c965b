// Package afxdp is the engine's packet I/O layer: AF_XDP sockets, their
// UMEM, and the XDP program that steers the engine's traffic to them. It is
// written on golang.org/x/sys/unix and github.com/cilium/ebpf.
//
// # Model
//
// A UMEM is an mmap'd area of fixed-size frames (2048 or 4096 bytes,
// optionally on huge pages) registered with the kernel. A Socket is bound
// to one (interface, queue) and owns four single-producer single-consumer
// rings shared with the kernel: fill (frames we give the kernel to receive
// into), rx (received packets), tx (packets to send) and completion (sent
// frames coming back). Several sockets may share a UMEM (XDP_SHARED_UMEM);
// each then has its own range of frames and its own fill and completion
// rings.
//
// # Frame ownership
//
// Every frame is in exactly one stage: free (in the socket's pool), app
// (held by the caller after Alloc or Receive), fill (the kernel's, for rx)
// or tx (the kernel's until completion). Each hand-over checks the stage, so
// the pool never hands out a frame the kernel or the caller still owns; a
// wrong return (double release, a foreign address, a descriptor delivered
// twice) is refused and counted (FrameCounts.Refused). Allocation and
// release are O(1): a stack of free frames and a state byte per frame.
//
// # Rings
//
// Ring indexes are free-running uint32 values masked on access. The user
// side keeps cached copies of the kernel's indexes as libxdp does and
// touches the shared ones only when the cache runs out; every shared access
// is an atomic whose comment names the kernel operation it pairs with
// (see ring.go). The data path (Fill, Receive, Transmit, Complete, Release,
// Alloc) does not allocate.
//
// # Syscalls
//
// With XDP_USE_NEED_WAKEUP (the default) the socket makes a syscall only
// when the kernel sets the NEED_WAKEUP flag on the fill ring (recvfrom) or
// the tx ring (sendto). In copy mode the kernel transmits only inside
// sendto, a bounded batch per call, so Complete keeps kicking while frames
// are in flight. Wait blocks in poll(2) for an idle worker. BusyPoll sets
// SO_PREFER_BUSY_POLL, SO_BUSY_POLL and SO_BUSY_POLL_BUDGET.
//
// # Modes
//
// ModeAuto binds zero-copy and falls back to copy mode; Socket.BindMode
// says which the kernel chose. ModeZeroCopy fails with
// ErrZeroCopyUnsupported where the driver cannot (veth), ModeCopy forces
// copy mode.
//
// # Transmit metadata
//
// A UMEM registered with UMEMConfig.TxMetadata (Linux 6.11 and later)
// keeps TxMetadataLen bytes in front of every transmitted packet for a
// struct xsk_tx_metadata; Alloc then returns addresses that far into
// their frames. Socket.RequestTxChecksum asks for a UDP or TCP checksum
// to be finished on transmission: in zero-copy mode by the NIC where its
// driver reports the tx-checksum xsk feature (XskFeatures, from the
// netdev netlink family); in copy mode on a veth by the kernel (the skb
// leaves as CHECKSUM_PARTIAL, which the peer takes as its own stack's);
// Socket.TxChecksumOffload says whether it works. In zero-copy mode
// Transmit zeroes the metadata of a descriptor that asks nothing (the
// drivers read it whatever the descriptor's options).
//
// # The XDP program
//
// AttachProgram loads a program (written in cilium/ebpf asm, so building
// needs no clang) that redirects to the XSKMAP entry of the receiving queue
// only the engine's traffic: IPv4 packets whose destination is in the
// owned-address map, ARP packets whose target is, UDP datagrams to a
// multicast group in the group map, and UDP broadcasts to a broadcast port
// (below); IPv6 packets to an owned IPv6 address, to its solicited-node
// group (the Neighbor Solicitations for it) or to a joined IPv6 group, and
// Neighbor Advertisements to all nodes whose target is owned (DAD; see
// program6.go). Everything else gets XDP_PASS, so the host keeps using the
// interface. Only untagged frames are steered by default: the engine's
// stack has no VLAN sub-interfaces and drops tagged frames, while the
// host kernel may have one, so a frame with an 802.1Q tag is passed.
// ProgramConfig.VLAN steers frames with one 802.1Q tag too, for a
// receiver that handles the tag; the program is then built with a second
// path for them (without the flag it has none). It attaches through a
// BPF link (the kernel detaches it when the process dies) in native mode,
// falling back to generic mode (Program.Mode says which). An engine
// program (by name, ProgramName) left by an earlier run, through netlink
// or a pinned link, is replaced; DetachStale removes one (engine detach -i
// IF). CloseOnSignal closes sockets and program on SIGINT/SIGTERM.
//
// With ProgramConfig.FastPath the program first looks an untagged IPv4
// TCP or UDP packet up in its queue's fast path table (fastpath.go,
// FastTable: 5-tuple → rewrite): a hit is rewritten (Ethernet addresses,
// and addresses, ports and checksums by precomputed RFC 1624 deltas) or
// put behind outer headers (IPIP, GUE, VXLAN: bpf_xdp_adjust_head, the
// lengths and the outer checksum set per packet), counted, time-stamped
// and sent back out (XDP_TX). Fragments, IPv4
// options, TCP segments with SYN, FIN or RST, and packets whose checksum
// is only the pseudo-header's sum (partial) always take the steering path.
//
// # Multicast
//
// Program.AddGroup puts an IPv4 multicast group in the program's group map
// (ProgramConfig.MaxGroups, 1024; an IPv6 group goes to the IPv6 address
// map, and everything to it is steered): UDP datagrams to it, from any source,
// untagged (or tagged, as above), fragments included, go to the socket of
// the receiving queue; the engine filters sources per socket itself. The
// group's MAC address is added to the interface (PACKET_ADD_MEMBERSHIP on
// an AF_PACKET socket the program holds), since a NIC drops multicast it
// was not told about before XDP runs; the kernel counts it per address and
// drops it when the program is closed or the process dies. RemoveGroup
// gives the group back. While the engine has a group, the host kernel
// does not receive UDP to it on this interface, even for its own sockets:
// an XDP program can pass a frame or redirect it, not both. Link-local
// groups (224.0.0.0/24: mDNS, ...) are best left to the host.
//
// IGMP is never redirected. The host kernel keeps its own memberships on
// the interface and must hear the queries for them, and XDP cannot copy a
// frame to both. The options were: pass IGMP and let the engine read a
// copy through an AF_PACKET socket; redirect queries only while the host
// has no membership (racy: the host joins 224.0.0.251 and others on its
// own, and would miss queries); or redirect them and have the engine
// answer for the host too (the engine would have to track the kernel's
// memberships and speak for them). The first keeps the host exactly as it
// was and costs the engine one socket reading a few messages a minute, so
// that is what this package does: the program passes every IGMP message,
// to any group, and IGMPTap (OpenIGMPTap) receives a copy of the queries
// and IGMPv1/v2 reports the interface receives, selected by a classic BPF
// filter attached before the socket is bound, without the frames the host
// sends. The host kernel and the engine then answer each for their own
// groups, from their own addresses, as two hosts on the link would.
// ICMPv6Tap (OpenICMPv6Tap) does the same for what IPv6 leaves to the host
// on ff02::1: Router Advertisements and MLD queries (behind the 8-byte
// Router Alert hop-by-hop header MLD carries), untagged.
//
// # Broadcast
//
// A UDP broadcast goes to the engine only on the ports it registered
// (Program.AddBroadcastPort): a datagram to 255.255.255.255, or to a
// directed broadcast address registered with AddBroadcastAddr
// (ProgramConfig.Broadcasts; DirectedBroadcast computes it from an owned
// prefix), whose destination port has its bit in the port map (one array
// entry, a bit per port: it never fills up). Every other broadcast stays
// the host's: DHCP, NetBIOS and the like keep working for the host unless
// the engine registers their port, and then the host no longer gets them
// on this interface (XDP cannot copy a frame). Registrations are counted
// by the Program, so each engine socket that may receive broadcasts (UDP
// bound to the wildcard or to a broadcast address) adds its port when it
// binds and removes it when it closes. A fragmented broadcast stays with
// the host (a later fragment carries no port), and so do ARP for a
// directed broadcast address and anything but UDP to one. Directed
// broadcast addresses share the owned-address map (its value says which
// kind; an address of both kinds is owned).
//
// # Queues
//
// QueueCount discovers an interface's queues (ethtool ETHTOOL_GCHANNELS,
// falling back to /sys/class/net/IF/queues/rx-*); OpenAll opens one socket
// per queue.
//
// # RSS
//
// RSS reads a NIC's RSS key, indirection table and hash function
// (ethtool ETHTOOL_GRSSH), which portalloc.NewToeplitz turns into steering
// that predicts the NIC's queue for a flow. veth and most virtual links
// report none (ErrNoRSS); a NIC hashing with anything but plain Toeplitz
// gives ErrNotToeplitz. Either way the engine steers in software.
//
// # Errors
//
// Errors wrap an exported sentinel (ErrPermission, ErrNoInterface,
// ErrQueueRange, ErrZeroCopyUnsupported, ErrMemlock, ErrNoHugePages,
// ErrNotSupported, ErrConfig, ErrTooManyGroups, ErrNoRSS,
// ErrNotToeplitz) and the kernel's errno, so both
// errors.Is(err, afxdp.ErrPermission) and errors.Is(err, unix.EPERM) work.
package afxdp
