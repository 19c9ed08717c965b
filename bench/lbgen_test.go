package bench

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"runtime"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/xdpengine/engine/header"
	"github.com/xdpengine/engine/internal/testbed"
)

// The load generator of BenchmarkLBForward: a process of its own (the test
// binary re-executed, see TestMain) in the bed's peer namespace, the
// client, pinned to one CPU. It sends whole UDP frames with an AF_PACKET
// socket (sendmmsg, PACKET_QDISC_BYPASS, as internal/pktgen does) at a
// fixed offered rate, cycling over many flows (source ports), with
// timestamped probe frames interleaved. internal/pktgen sends one fixed
// batch per call; this one needs a window that moves over thousands of
// frames and a pacer, hence its own sender. The pacer sends a burst per
// lbBurstDuration and sleeps in between (nanosleep, timer slack off), so
// that its CPU time follows the rate and the CPU it shares with the
// receive side of the link is not hidden by spinning; when held up for
// more than lbMaxBehind it skips the frames it missed (genResult.Skipped)
// instead of sending them in one burst.
//
// The protocol on its standard input and output is one JSON genTrial per
// line, answered by one JSON genResult per line.

// Ports of the generated flows: data to lbDataPort (dropped and counted at
// the backends' ingress), probes to lbProbePort (read by a socket there,
// with its kernel receive timestamp).
const (
	lbDataPort      = 9
	lbProbePort     = 7
	lbDataSrcPort   = 10000 // data flow i comes from port lbDataSrcPort+i
	lbProbeSrcPort  = 40000 // probe flow j from lbProbeSrcPort+j
	lbProbeFlows    = 64
	lbMaxBatch      = 64                     // frames per sendmmsg
	lbBurstDuration = 100 * time.Microsecond // paced: a batch per this time
	lbMaxBehind     = 500 * time.Microsecond // paced: what the generator catches up at most
)

// genDst is where a flow's frames go: the next hop's MAC and the IPv4
// destination.
type genDst struct {
	MAC  net.HardwareAddr
	Addr netip.Addr
}

// genTrial is one trial: the frames (rebuilt only when they change) and the
// offered load.
type genTrial struct {
	Ifname   string // the link to send on, in the generator's namespace
	SrcMAC   net.HardwareAddr
	Src      netip.Addr
	Dsts     []genDst // data flow i and probe flow j go to Dsts[i%len(Dsts)]
	FrameLen int      // Ethernet frame without FCS
	Flows    int
	CPU      int // pin the sending thread to this CPU (-1: do not)

	ID        uint32        // tags the probes
	Rate      float64       // frames per second; 0: as fast as the link takes them
	Duration  time.Duration // how long to send
	ProbeRate float64       // probes per second (0: none)
}

// genResult is a trial's outcome. Attempted counts every frame the pacer
// offered; the ones the kernel did not take at the first link (its queue
// or the receiver's ring full) are lost like any other.
type genResult struct {
	Attempted, Taken, Probes uint64
	Elapsed                  time.Duration
	Skipped                  uint64 // frames not offered: the generator was late
	Err                      string `json:",omitempty"`
}

// sameFrames reports whether t needs the frames of u.
func (t *genTrial) sameFrames(u *genTrial) bool {
	if t.Ifname != u.Ifname || t.SrcMAC.String() != u.SrcMAC.String() || t.Src != u.Src ||
		t.FrameLen != u.FrameLen || t.Flows != u.Flows || len(t.Dsts) != len(u.Dsts) {
		return false
	}
	for i := range t.Dsts {
		if t.Dsts[i].MAC.String() != u.Dsts[i].MAC.String() || t.Dsts[i].Addr != u.Dsts[i].Addr {
			return false
		}
	}
	return true
}

type mmsghdr struct {
	hdr unix.Msghdr
	n   uint32
	_   [4]byte
}

// lbSender holds a socket and the frames of one genTrial.
type lbSender struct {
	cfg    genTrial
	fd     int
	data   []byte // Flows frames of FrameLen, back to back
	msgs   []mmsghdr
	iovs   []unix.Iovec
	probes [][]byte
	pmsg   []mmsghdr
	piov   []unix.Iovec
	next   int // the data frame the next batch starts with
	seq    uint32
}

// putUDPFrame writes an Ethernet + IPv4 + UDP frame of len(b) bytes with a
// full UDP checksum.
func putUDPFrame(b []byte, srcMAC, dstMAC net.HardwareAddr, src, dst netip.Addr, sport, dport uint16) {
	eth := header.Ethernet(b)
	eth.SetDst(header.MAC(dstMAC))
	eth.SetSrc(header.MAC(srcMAC))
	binary.BigEndian.PutUint16(b[12:], header.EtherTypeIPv4)
	f := header.IPv4Fields{TotalLength: uint16(len(b) - header.EthernetHeaderLen), ID: sport, TTL: 64,
		Protocol: header.ProtocolUDP, Src: src, Dst: dst}
	ip := b[header.EthernetHeaderLen:]
	hl, err := f.Put(ip)
	if err != nil {
		panic(err) // the caller's sizes and addresses are fixed
	}
	u := header.UDP(ip[hl:])
	(&header.UDPFields{SrcPort: sport, DstPort: dport, Length: uint16(len(u))}).Put(u)
	u.UpdateChecksum(src.As4(), dst.As4())
}

// udpOf returns the UDP header and payload of a frame putUDPFrame wrote.
func udpOf(frame []byte) header.UDP {
	return header.UDP(frame[header.EthernetHeaderLen+header.IPv4MinHeaderLen:])
}

func newLBSender(cfg genTrial) (*lbSender, error) {
	if cfg.FrameLen < header.EthernetHeaderLen+header.IPv4MinHeaderLen+header.UDPHeaderLen+16 || cfg.Flows < 1 || len(cfg.Dsts) == 0 {
		return nil, fmt.Errorf("lbgen: bad frames: %d bytes, %d flows, %d destinations", cfg.FrameLen, cfg.Flows, len(cfg.Dsts))
	}
	ifi, err := net.InterfaceByName(cfg.Ifname)
	if err != nil {
		return nil, fmt.Errorf("lbgen: %s: %w", cfg.Ifname, err)
	}
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0) // protocol 0: send only
	if err != nil {
		return nil, fmt.Errorf("lbgen: AF_PACKET socket: %w", err)
	}
	s := &lbSender{cfg: cfg, fd: fd}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Ifindex: ifi.Index}); err != nil {
		s.close()
		return nil, fmt.Errorf("lbgen: bind to %s: %w", cfg.Ifname, err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_QDISC_BYPASS, 1); err != nil {
		s.close()
		return nil, fmt.Errorf("lbgen: PACKET_QDISC_BYPASS: %w", err)
	}
	unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, 4<<20)
	n, fl := cfg.Flows, cfg.FrameLen
	s.data = make([]byte, n*fl)
	s.msgs, s.iovs = make([]mmsghdr, n), make([]unix.Iovec, n)
	for i := range n {
		d := cfg.Dsts[i%len(cfg.Dsts)]
		b := s.data[i*fl : (i+1)*fl]
		putUDPFrame(b, cfg.SrcMAC, d.MAC, cfg.Src, d.Addr, uint16(lbDataSrcPort+i), lbDataPort)
		s.iovs[i].Base = &b[0]
		s.iovs[i].SetLen(fl)
		s.msgs[i].hdr.Iov = &s.iovs[i]
		s.msgs[i].hdr.Iovlen = 1
	}
	s.probes = make([][]byte, lbProbeFlows)
	s.pmsg, s.piov = make([]mmsghdr, lbProbeFlows), make([]unix.Iovec, lbProbeFlows)
	for j := range s.probes {
		d := cfg.Dsts[j%len(cfg.Dsts)]
		b := make([]byte, fl)
		putUDPFrame(b, cfg.SrcMAC, d.MAC, cfg.Src, d.Addr, uint16(lbProbeSrcPort+j), lbProbePort)
		s.probes[j] = b
		s.piov[j].Base = &b[0]
		s.piov[j].SetLen(fl)
		s.pmsg[j].hdr.Iov = &s.piov[j]
		s.pmsg[j].hdr.Iovlen = 1
	}
	return s, nil
}

func (s *lbSender) close() { unix.Close(s.fd) }

// sendmmsg sends msgs and returns how many the kernel took; a full queue
// at the first link (ENOBUFS) or a signal takes none.
func (s *lbSender) sendmmsg(msgs []mmsghdr) (int, error) {
	n, _, e := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(s.fd), uintptr(unsafe.Pointer(&msgs[0])), uintptr(len(msgs)), 0, 0, 0)
	switch e {
	case 0:
		return int(n), nil
	case unix.ENOBUFS, unix.EAGAIN, unix.EINTR:
		return 0, nil
	}
	return 0, fmt.Errorf("lbgen: sendmmsg: %w", e)
}

// probe stamps probe frame j (trial id, sequence number, the wall clock
// in ns: the backends' kernel receive timestamps are CLOCK_REALTIME too)
// and sends it on its own.
func (s *lbSender) probe(id uint32) error {
	j := int(s.seq % lbProbeFlows)
	b := s.probes[j]
	u := udpOf(b)
	p := u.Payload()
	binary.BigEndian.PutUint32(p[0:], id)
	binary.BigEndian.PutUint32(p[4:], s.seq)
	binary.BigEndian.PutUint64(p[8:], uint64(time.Now().UnixNano()))
	ip := header.IPv4(b[header.EthernetHeaderLen:])
	u.SetChecksum(0)
	u.UpdateChecksum(ip.Src4(), ip.Dst4())
	s.seq++
	_, err := s.sendmmsg(s.pmsg[j : j+1])
	return err
}

// run offers t's load. Frames the kernel refuses are not sent again.
func (s *lbSender) run(t *genTrial) (genResult, error) {
	var r genResult
	batch := lbMaxBatch
	if t.Rate > 0 {
		batch = min(max(int(t.Rate*lbBurstDuration.Seconds()), 1), lbMaxBatch)
	}
	maxBehind := int64(max(2*batch, int(t.Rate*lbMaxBehind.Seconds())))
	var probeEvery time.Duration
	if t.ProbeRate > 0 {
		probeEvery = time.Duration(float64(time.Second) / t.ProbeRate)
	}
	start := time.Now()
	nextProbe := start
	for {
		now := time.Now()
		el := now.Sub(start)
		if el >= t.Duration {
			break
		}
		if probeEvery > 0 && !now.Before(nextProbe) {
			if err := s.probe(t.ID); err != nil {
				return r, err
			}
			r.Probes++
			if nextProbe = nextProbe.Add(probeEvery); now.Sub(nextProbe) > 10*time.Millisecond {
				nextProbe = now // far behind: do not burst probes to catch up
			}
		}
		k := batch
		if t.Rate > 0 {
			due := int64(t.Rate*el.Seconds()) - int64(r.Attempted+r.Skipped)
			if due > maxBehind {
				// The generator was held up (the host, its CPU's other
				// work): skip what it missed rather than burst it out,
				// which would test the path's buffers, not its rate.
				r.Skipped += uint64(due - maxBehind)
				due = maxBehind
			}
			if due < int64(batch) {
				wait := time.Duration(float64(int64(batch)-due) / t.Rate * float64(time.Second))
				if probeEvery > 0 {
					wait = min(wait, time.Until(nextProbe))
				}
				wait = min(wait, t.Duration-el)
				if wait > 0 {
					ts := unix.NsecToTimespec(wait.Nanoseconds())
					unix.Nanosleep(&ts, nil)
				}
				continue
			}
			k = int(min(due, lbMaxBatch))
		}
		k = min(k, len(s.msgs)-s.next)
		n, err := s.sendmmsg(s.msgs[s.next : s.next+k])
		if err != nil {
			return r, err
		}
		r.Attempted += uint64(k)
		r.Taken += uint64(n)
		if s.next += k; s.next == len(s.msgs) {
			s.next = 0
		}
	}
	r.Elapsed = time.Since(start)
	return r, nil
}

// lbGenChild is the generator's main: one genTrial per input line, one
// genResult per output line.
func lbGenChild(in io.Reader, out io.Writer) int {
	// The sending thread is pinned and sleeps with nanosleep: timer slack
	// off, so short waits keep the pace.
	runtime.LockOSThread()
	unix.Prctl(unix.PR_SET_TIMERSLACK, 1, 0, 0, 0)

	var s *lbSender
	defer func() {
		if s != nil {
			s.close()
		}
	}()
	sc := bufio.NewScanner(in)
	enc := json.NewEncoder(out)
	pinned := -1
	for sc.Scan() {
		var t genTrial
		r, err := func() (genResult, error) {
			if err := json.Unmarshal(sc.Bytes(), &t); err != nil {
				return genResult{}, err
			}
			if t.CPU >= 0 && t.CPU != pinned {
				var set unix.CPUSet
				set.Set(t.CPU)
				if err := unix.SchedSetaffinity(0, &set); err != nil {
					return genResult{}, fmt.Errorf("lbgen: pin to CPU %d: %w", t.CPU, err)
				}
				pinned = t.CPU
			}
			if s == nil || !s.cfg.sameFrames(&t) {
				if s != nil {
					s.close()
					s = nil
				}
				var err error
				if s, err = newLBSender(t); err != nil {
					return genResult{}, err
				}
			}
			return s.run(&t)
		}()
		if err != nil {
			r.Err = err.Error()
		}
		if err := enc.Encode(r); err != nil {
			return 1
		}
	}
	return 0
}

// lbGen is the parent's handle on a generator process.
type lbGen struct {
	in  io.WriteCloser
	out *bufio.Scanner
	enc *json.Encoder
}

// startLBGen starts a generator in bed's peer namespace; it ends with tb.
func startLBGen(tb testing.TB, bed *testbed.Bed) *lbGen {
	ctx, cancel := context.WithCancel(context.Background())
	cmd := bed.Command(ctx, os.Args[0])
	cmd.Env = append(os.Environ(), childEnv+"=lbgen")
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		in.Close()
		if err := cmd.Wait(); err != nil {
			tb.Errorf("load generator: %v", err)
		}
		cancel()
	})
	return &lbGen{in: in, out: bufio.NewScanner(out), enc: json.NewEncoder(in)}
}

// run has the generator run one trial and waits for its result.
func (g *lbGen) run(t *genTrial) (genResult, error) {
	if err := g.enc.Encode(t); err != nil {
		return genResult{}, err
	}
	if !g.out.Scan() {
		return genResult{}, fmt.Errorf("load generator exited: %v", g.out.Err())
	}
	var r genResult
	if err := json.Unmarshal(g.out.Bytes(), &r); err != nil {
		return r, fmt.Errorf("load generator: %q: %w", g.out.Text(), err)
	}
	if r.Err != "" {
		return r, fmt.Errorf("load generator: %s", r.Err)
	}
	return r, nil
}
