package xdpgen

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/xdpengine/engine/bench/reflector"
	"github.com/xdpengine/engine/header"
)

// A reflecting worker keeps polling for reflectSpin after the last frame
// it received, then sleeps in poll(2) (for at most reflectIdle; a frame
// arriving wakes it), unless Config.BusyPoll keeps it spinning.
const (
	reflectSpin = int64(50 * time.Microsecond)
	reflectIdle = 10 * time.Millisecond
)

// Reflect sends every IPv4 frame the port receives back where it came
// from (package reflector: Ethernet and IPv4 addresses and TCP/UDP ports
// swapped, in place, checksums still valid) and answers ARP for the port's
// address, until ctx ends. A UDP or TCP checksum left partial by a Linux
// sender's transmit offload on a virtual link (the pseudo-header sum
// alone, see header.UDP.ChecksumPartial) is finished before the frame goes
// back: the kernel that receives it from AF_XDP verifies checksums. progress, if set, gets the counters every
// interval (DefaultInterval if 0). It returns the final counters: Reflected
// frames, ARP requests answered, Other (frames that are not IPv4 or do not
// parse, dropped) and Errors (kernel drops, and frames dropped for want of
// transmit ring room).
func (p *Port) Reflect(ctx context.Context, interval time.Duration, progress func(Counters)) (Counters, error) {
	if err := p.acquire(); err != nil {
		return Counters{}, err
	}
	defer p.release()
	if interval <= 0 {
		interval = DefaultInterval
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	for _, w := range p.ws {
		w.resetCounters()
		w.errBase = w.kernelErrors()
		wg.Go(func() { w.reflect(&stop) })
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for done := false; !done; {
		select {
		case <-ctx.Done():
			done = true
		case <-t.C:
			if progress != nil {
				progress(p.Counters())
			}
		}
	}
	stop.Store(true)
	wg.Wait()
	return p.Counters(), nil
}

// reflect is a worker's loop for Reflect.
func (w *worker) reflect(stop *atomic.Bool) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	s := w.s
	var txFull uint64
	var last int64 // when a frame last arrived
	for !stop.Load() {
		k := s.Receive(w.rxd)
		s.Complete()
		now := w.p.Now()
		if k == 0 {
			s.Fill()
			w.tick(now)
			if !w.spin && now-last > reflectSpin {
				w.publish()
				s.Wait(reflectIdle)
				last = w.p.Now()
			}
			continue
		}
		last = now
		n, r := 0, 0 // frames to send back, frames to release
		w.received += uint64(k)
		for i := range k {
			d := w.rxd[i]
			f := s.Frame(d)
			w.receivedBytes += uint64(len(f))
			switch {
			case isARP(f):
				if _, _, ok := w.p.answerARP(s, &w.responder, now, f); ok {
					w.arps++
				}
			case reflector.Reflect(f) == nil:
				finishPartial(f)
				w.txd[n] = d
				n++
				continue
			default:
				w.other++
			}
			w.rxd[r] = d // r <= i: compacting in place
			r++
		}
		if t := s.Transmit(w.txd[:n]); t < n {
			s.Release(w.txd[t:n])
			txFull += uint64(n - t)
			n = t
		}
		w.reflected += uint64(n)
		s.Release(w.rxd[:r])
		s.Fill()
		w.tick(now)
		w.errNow += txFull
		w.publish()
		w.errNow -= txFull
	}
	w.errNow += txFull
	w.publish()
}

// finishPartial computes the full UDP or TCP checksum of an unfragmented
// IPv4 frame whose checksum field holds the pseudo-header sum alone (a
// frame a Linux peer sent with CHECKSUM_PARTIAL over a veth). A full
// checksum that happens to equal the pseudo-header sum is recomputed to
// the same value.
func finishPartial(f []byte) {
	e, err := header.ParseEthernet(f)
	if err != nil || e.Type() != header.EtherTypeIPv4 {
		return
	}
	ip, err := header.ParseIPv4(e.Payload())
	if err != nil || ip.FragmentOffset() != 0 || ip.MoreFragments() {
		return
	}
	src, dst := ip.Src4(), ip.Dst4()
	switch ip.Protocol() {
	case header.ProtocolUDP:
		if u, err := header.ParseUDP(ip.Payload()); err == nil && u.Checksum() != 0 && u.ChecksumPartial(src, dst) {
			u.UpdateChecksum(src, dst)
		}
	case header.ProtocolTCP:
		if t, err := header.ParseTCP(ip.Payload()); err == nil && t.ChecksumPartial(src, dst) {
			t.UpdateChecksum(src, dst)
		}
	}
}
