package bench

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/xdpengine/engine/bench/cputime"
	"github.com/xdpengine/engine/internal/testbed"
)

// lbCPU is the machine's CPU time at one moment: each CPU's time not
// spent working (idle and waiting for I/O, and time the hypervisor took,
// steal) since boot. Busy time is the wall time minus that. Where the
// cpuidle driver reports its residencies (µs), idle time is exact; busy
// time counted from /proc/stat's ticks is not: with tickless idle, the
// short bursts of softirq work between idle periods that a forwarding
// kernel does are mostly missed by the tick, so that a kernel path would
// look cheaper than a polling one.
type lbCPU struct {
	at   time.Time
	idle []time.Duration // by CPU number
}

func sampleCPU() (lbCPU, error) {
	c := lbCPU{at: time.Now()}
	var err error
	c.idle, err = cputime.IdleByCPU()
	return c, err
}

// busySince returns the CPU time every CPU worked since a, and each CPU's
// share of the wall time (0 to 1).
func (c lbCPU) busySince(a lbCPU) (time.Duration, []float64) {
	wall := c.at.Sub(a.at)
	var total time.Duration
	share := make([]float64, len(c.idle))
	for i := range c.idle {
		if i >= len(a.idle) {
			continue
		}
		busy := min(max(wall-(c.idle[i]-a.idle[i]), 0), wall)
		total += busy
		share[i] = busy.Seconds() / wall.Seconds()
	}
	return total, share
}

// probeSinks read the probes at the backends: a UDP socket on lbProbePort
// in each, with the kernel's receive timestamp, read by a goroutine that
// does not allocate (raw recvmsg into buffers of its own), so that the
// engine process's allocation count is the engine's.
type probeSinks struct {
	fds  []int
	stop atomic.Bool
	wg   sync.WaitGroup

	mu  sync.Mutex
	id  uint32  // the trial whose probes count
	lat []int64 // their one-way latencies (ns); capacity fixed
}

func (s *probeSinks) add(h *testbed.SegmentHost) error {
	var fd int
	err := h.Do(func() (err error) {
		if fd, err = unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0); err != nil {
			return err
		}
		tv := unix.NsecToTimeval((100 * time.Millisecond).Nanoseconds())
		if err := errors.Join(
			unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1),
			unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 1<<20),
			unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv),
			unix.Bind(fd, &unix.SockaddrInet4{Port: lbProbePort})); err != nil {
			unix.Close(fd)
			return err
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("probe socket on %v: %w", h.Addr, err)
	}
	s.fds = append(s.fds, fd)
	s.wg.Add(1)
	go s.read(fd)
	return nil
}

// read receives probes on fd until close: payload trial id (4 bytes),
// sequence number (4), sending time (8, ns of CLOCK_REALTIME).
func (s *probeSinks) read(fd int) {
	defer s.wg.Done()
	buf, oob := make([]byte, 2048), make([]byte, 128)
	iov := &unix.Iovec{Base: &buf[0]}
	iov.SetLen(len(buf))
	msg := &unix.Msghdr{Iov: iov, Iovlen: 1, Control: &oob[0]}
	for !s.stop.Load() {
		msg.SetControllen(len(oob))
		n, _, e := unix.Syscall(unix.SYS_RECVMSG, uintptr(fd), uintptr(unsafe.Pointer(msg)), 0)
		if e != 0 || n < 16 {
			continue // the receive timeout, to look at stop
		}
		rx := rxTimestamp(oob[:msg.Controllen])
		if rx == 0 {
			rx = time.Now().UnixNano()
		}
		id, sent := binary.BigEndian.Uint32(buf[0:]), int64(binary.BigEndian.Uint64(buf[8:]))
		s.mu.Lock()
		if id == s.id && len(s.lat) < cap(s.lat) {
			s.lat = append(s.lat, rx-sent)
		}
		s.mu.Unlock()
	}
}

// rxTimestamp finds SCM_TIMESTAMPNS in a control message buffer.
func rxTimestamp(oob []byte) int64 {
	const align = int(unsafe.Sizeof(uintptr(0)))
	for len(oob) >= unix.SizeofCmsghdr {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
		n := int(h.Len)
		if n < unix.SizeofCmsghdr || n > len(oob) {
			return 0
		}
		if h.Level == unix.SOL_SOCKET && h.Type == unix.SO_TIMESTAMPNS && n >= unix.SizeofCmsghdr+16 {
			d := oob[unix.SizeofCmsghdr:]
			return int64(binary.NativeEndian.Uint64(d))*1e9 + int64(binary.NativeEndian.Uint64(d[8:]))
		}
		oob = oob[min((n+align-1)&^(align-1), len(oob)):]
	}
	return 0
}

// begin starts counting the probes of trial id.
func (s *probeSinks) begin(id uint32) {
	s.mu.Lock()
	s.id, s.lat = id, s.lat[:0]
	s.mu.Unlock()
}

// end returns the latencies counted since begin, sorted.
func (s *probeSinks) end() []int64 {
	s.mu.Lock()
	lat := slices.Clone(s.lat)
	s.id = 0
	s.mu.Unlock()
	slices.Sort(lat)
	return lat
}

func (s *probeSinks) close() {
	s.stop.Store(true)
	s.wg.Wait()
	for _, fd := range s.fds {
		unix.Close(fd)
	}
}
