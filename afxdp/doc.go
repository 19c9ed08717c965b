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
// # The XDP program
//
// AttachProgram loads a program (written in cilium/ebpf asm, so building
// needs no clang) that redirects to the XSKMAP entry of the receiving queue
// only the engine's traffic: IPv4 packets whose destination is in the
// owned-address map and ARP packets whose target is, untagged or with one
// 802.1Q tag. Everything else gets XDP_PASS, so the host keeps using the
// interface. It attaches through a BPF link (the kernel detaches it when the
// process dies) in native mode, falling back to generic mode (Program.Mode
// says which). An engine program (by name, ProgramName) left by an earlier
// run, through netlink or a pinned link, is replaced; DetachStale removes
// one (engine detach -i IF). CloseOnSignal closes sockets and program on
// SIGINT/SIGTERM.
//
// # Queues
//
// QueueCount discovers an interface's queues (ethtool ETHTOOL_GCHANNELS,
// falling back to /sys/class/net/IF/queues/rx-*); OpenAll opens one socket
// per queue.
//
// # Errors
//
// Errors wrap an exported sentinel (ErrPermission, ErrNoInterface,
// ErrQueueRange, ErrZeroCopyUnsupported, ErrMemlock, ErrNoHugePages,
// ErrNotSupported, ErrConfig) and the kernel's errno, so both
// errors.Is(err, afxdp.ErrPermission) and errors.Is(err, unix.EPERM) work.
package afxdp
