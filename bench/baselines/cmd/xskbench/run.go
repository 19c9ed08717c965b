package main

import (
	"fmt"
	"net/netip"
	"runtime"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/vishvananda/netlink"
	"github.com/xdpengine/engine/internal/pktgen"
	"github.com/xdpengine/engine/internal/testbed"
	"github.com/xdpengine/engine/internal/udpframe"
	"golang.org/x/sys/unix"
)

// frameLen is the length of the generated frames without the FCS: 64 bytes
// on the wire.
const frameLen = 60

const payloadLen = frameLen - udpframe.HeaderLen

// worker is one implementation's loop for one case. run loops until stop is
// set and returns the packets it processed.
type worker interface {
	run(stop *atomic.Bool) uint64
	// busy returns the wall time run spent processing non-empty receive
	// batches (rxdrop cases of the AF_XDP workers; 0 elsewhere).
	busy() time.Duration
	mode() string
	// xskDrops returns the kernel's drop counters for the AF_XDP socket:
	// rx_dropped + rx_ring_full, and rx_fill_ring_empty_descs (ok false
	// where there is no AF_XDP socket).
	xskDrops() (drops, fillEmpty uint64, ok bool)
	close()
}

type setupFunc func(bed *testbed.Bed, o *options, c string) (worker, error)

var setups = map[string]setupFunc{
	"afxdp":  setupOurs,
	"asavie": setupAsavie,
	"kernel": setupKernel,
}

func runCase(bed *testbed.Bed, o *options, impl, c string) (r Result) {
	r = Result{Impl: impl, Case: c, Seconds: o.duration.Seconds()}
	setup, ok := setups[impl]
	if !ok || (c != "rxdrop" && c != "rxdrop-nap" && c != "txonly" && c != "l2fwd") {
		r.Err = fmt.Sprintf("unknown implementation %q or case %q", impl, c)
		return r
	}
	w, err := setup(bed, o, c)
	if err != nil {
		r.Err = err.Error()
		return r
	}
	defer w.close()
	r.Mode = w.mode()
	peer0, err := peerStats(bed)
	if err != nil {
		r.Err = err.Error()
		return r
	}

	var stop atomic.Bool
	type out struct {
		n         uint64
		user, sys time.Duration
		err       error
	}
	res := make(chan out, 1)
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	started := make(chan struct{})
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := pin(o.workCPU); err != nil {
			close(started)
			res <- out{err: err}
			return
		}
		defer unpin()
		u0, s0 := threadCPU()
		close(started)
		n := w.run(&stop)
		u1, s1 := threadCPU()
		res <- out{n: n, user: u1 - u0, sys: s1 - s0}
	}()
	<-started

	dst, dstMAC := bed.EngineAddr, bed.HostMAC
	if impl == "kernel" && (c == "rxdrop" || c == "rxdrop-nap") {
		dst = bed.HostAddr // to the host kernel's UDP socket
	}
	var offered uint64
	if c == "txonly" {
		time.Sleep(o.duration)
	} else {
		offered, err = generate(bed, o, dst, dstMAC)
	}
	// Let the queues drain, then stop the worker.
	time.Sleep(200 * time.Millisecond)
	stop.Store(true)
	wo := <-res
	runtime.ReadMemStats(&ms1)
	if err == nil {
		err = wo.err
	}
	if err != nil {
		r.Err = err.Error()
		return r
	}
	peer1, err := peerStats(bed)
	if err != nil {
		r.Err = err.Error()
		return r
	}
	r.Offered, r.Processed, r.PeerRx = offered, wo.n, peer1.rx-peer0.rx
	r.VethDrops = peer1.txDropped - peer0.txDropped
	if d, f, ok := w.xskDrops(); ok {
		r.XSKDrops, r.XSKFillEmpty = &d, &f
	}
	secs := o.duration.Seconds()
	switch c {
	case "rxdrop", "rxdrop-nap":
		r.PPS = float64(r.Processed) / secs
		r.Loss = lossOf(r.Offered, r.Processed)
	case "txonly":
		r.PPS = float64(r.PeerRx) / secs
		r.Loss = lossOf(r.Processed, r.PeerRx)
	case "l2fwd":
		r.PPS = float64(r.PeerRx) / secs
		r.Loss = lossOf(r.Offered, r.PeerRx)
	}
	if r.Processed > 0 {
		r.CPUNsPerPkt = float64((wo.user + wo.sys).Nanoseconds()) / float64(r.Processed)
		r.UserNsPerPkt = float64(wo.user.Nanoseconds()) / float64(r.Processed)
		r.RingNsPerPkt = float64(w.busy().Nanoseconds()) / float64(r.Processed)
		r.AllocsPkt = float64(ms1.Mallocs-ms0.Mallocs) / float64(r.Processed)
	}
	r.CPUUtil = (wo.user + wo.sys).Seconds() / (secs + 0.2)
	return r
}

func lossOf(sent, got uint64) float64 {
	if sent == 0 || got >= sent {
		return 0
	}
	return float64(sent-got) / float64(sent)
}

// generate sends 64-byte UDP frames from the peer for o.duration and
// returns how many it sent.
func generate(bed *testbed.Bed, o *options, dst netip.Addr, dstMAC []byte) (uint64, error) {
	spec := udpframe.Spec{SrcMAC: bed.PeerMAC, DstMAC: dstMAC, Src: bed.PeerAddr, Dst: dst,
		SrcPort: 1000, DstPort: 2000}
	frame := make([]byte, frameLen)
	spec.Put(frame, make([]byte, payloadLen))
	var sent uint64
	err := bed.Do(func() error {
		if err := pin(o.genCPU); err != nil {
			return err
		}
		defer unpin()
		g, err := pktgen.New(bed.PeerIf, [][]byte{frame}, o.batch)
		if err != nil {
			return err
		}
		defer g.Close()
		end := time.Now().Add(o.duration)
		for i := 0; ; i++ {
			if i&63 == 0 && time.Now().After(end) {
				break
			}
			if _, err := g.Send(); err != nil {
				return err
			}
		}
		sent = g.Sent()
		return nil
	})
	return sent, err
}

type peerCounters struct{ rx, txDropped uint64 }

// peerStats reads the peer interface's received-packets counter and its
// transmit drops (veth counts there the frames the host end's receive
// queue refused).
func peerStats(bed *testbed.Bed) (peerCounters, error) {
	var c peerCounters
	err := bed.Do(func() error {
		l, err := netlink.LinkByName(bed.PeerIf)
		if err != nil {
			return err
		}
		c.rx, c.txDropped = l.Attrs().Statistics.RxPackets, l.Attrs().Statistics.TxDropped
		return nil
	})
	return c, err
}

var allCPUs unix.CPUSet

func init() { unix.SchedGetaffinity(0, &allCPUs) }

// pin binds the calling (locked) thread to cpu; -1 leaves it free.
func pin(cpu int) error {
	if cpu < 0 {
		return nil
	}
	var s unix.CPUSet
	s.Set(cpu)
	if err := unix.SchedSetaffinity(0, &s); err != nil {
		return fmt.Errorf("pin to CPU %d: %w", cpu, err)
	}
	return nil
}

func unpin() { unix.SchedSetaffinity(0, &allCPUs) }

// napTime is how long an rxdrop-nap worker sleeps when its ring is empty,
// instead of blocking in poll(2): the wakeup is then shared by the packets
// that arrived meanwhile (on veth, a poll(2) sleeper is woken for almost
// every packet, and that wakeup costs more than the packet).
const napTime = 100 * time.Microsecond

var napTS = unix.NsecToTimespec(int64(napTime))

// nap sleeps napTime with a raw nanosleep (no allocation, no Go timer).
func nap() {
	ts := napTS
	unix.Syscall(unix.SYS_NANOSLEEP, uintptr(unsafe.Pointer(&ts)), 0, 0)
}

// threadCPU returns the calling thread's user and system CPU time.
func threadCPU() (user, sys time.Duration) {
	var ru unix.Rusage
	unix.Getrusage(unix.RUSAGE_THREAD, &ru)
	return time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano())
}
