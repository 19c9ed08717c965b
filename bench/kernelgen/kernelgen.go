package kernelgen

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
	"golang.org/x/net/ipv4"
	"golang.org/x/sys/unix"

	"github.com/xdpengine/engine/bench/measure"
	"github.com/xdpengine/engine/bench/pacer"
	"github.com/xdpengine/engine/bench/signature"
	"github.com/xdpengine/engine/bench/stream"
)

// ErrConfig reports a Config that Run cannot use.
var ErrConfig = errors.New("kernelgen: bad configuration")

// Limits and defaults.
const (
	MaxFlows        = 16
	DefaultBatch    = 64
	DefaultDrain    = time.Second
	DefaultCatchUp  = 20 * time.Millisecond
	DefaultInterval = time.Second
	headersLen      = 14 + 20 + 8 // Ethernet, IPv4, UDP: what the kernel adds
)

// Config is one run through kernel sockets.
type Config struct {
	// Interface binds the sockets to a link (SO_BINDTODEVICE); "" lets
	// routing choose.
	Interface string
	// Local is the source address, one of the kernel's; FirstPort the
	// first source port (0: ephemeral ports).
	Local     netip.Addr
	FirstPort uint16
	// Target is where the datagrams go: a UDP echo, for round trips.
	Target netip.AddrPort
	// Size is the distribution of Ethernet frame sizes, FCS included, as
	// in package stream: a 64-byte frame carries 18 bytes of UDP data.
	Size stream.Sizes
	// Flows is the number of sockets (source ports), 1 to MaxFlows; the
	// sender writes to them in turn, a batch at a time.
	Flows int
	// Rate is datagrams per second (0: as fast as the sender goes);
	// CatchUp the sending time a stall may be made up for
	// (DefaultCatchUp; negative: none, evenly spaced).
	Rate    float64
	CatchUp time.Duration
	// Duration and Count bound the run (one is required); Drain is the
	// wait for datagrams in flight afterwards (DefaultDrain; negative:
	// none), cut short when every one is back.
	Duration time.Duration
	Count    uint64
	Drain    time.Duration
	// Batch is the number of datagrams per sendmmsg and recvmmsg
	// (DefaultBatch).
	Batch int
	// Progress, if set, is called every Interval (DefaultInterval).
	Interval time.Duration
	Progress func(Interval)
}

// Interval is what one report period saw: frames sent and received, and
// the latency of those received.
type Interval struct {
	Elapsed, Length          time.Duration
	Sent, Received           uint64
	TotalSent, TotalReceived uint64
	Latency                  measure.Latency
}

// Result is a run's outcome, in the terms of bench/xdpgen's.
type Result struct {
	Duration              time.Duration // first to last datagram sent
	Sent, Received, Lost  uint64
	Duplicates, Reordered uint64
	SendErrors            uint64 // datagrams the kernel refused (counted as lost)
	Latency               measure.Latency
	Histogram             *hdrhistogram.Histogram
	Intervals             []Interval
	// CPU is the process's CPU time during the run (user and system,
	// every thread: sender, receivers, the runtime).
	CPU time.Duration
}

// SentPPS returns the average send rate.
func (r *Result) SentPPS() float64 { return perSecond(r.Sent, r.Duration) }

// ReceivedPPS returns datagrams received per second of sending time.
func (r *Result) ReceivedPPS() float64 { return perSecond(r.Received, r.Duration) }

// Loss returns Lost/Sent.
func (r *Result) Loss() float64 {
	if r.Sent == 0 {
		return 0
	}
	return float64(r.Lost) / float64(r.Sent)
}

func perSecond(n uint64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

func (c *Config) setDefaults() error {
	switch {
	case !c.Local.Is4() || !c.Target.Addr().Is4() || c.Target.Port() == 0:
		return fmt.Errorf("%w: local %v, target %v (IPv4 and a port)", ErrConfig, c.Local, c.Target)
	case c.Flows < 0 || c.Flows > MaxFlows:
		return fmt.Errorf("%w: %d flows (1 to %d)", ErrConfig, c.Flows, MaxFlows)
	case c.Duration <= 0 && c.Count == 0:
		return fmt.Errorf("%w: neither a duration nor a count", ErrConfig)
	case c.Rate < 0 || math.IsNaN(c.Rate) || math.IsInf(c.Rate, 0):
		return fmt.Errorf("%w: rate %v", ErrConfig, c.Rate)
	}
	if c.Flows == 0 {
		c.Flows = 1
	}
	if c.Batch <= 0 {
		c.Batch = DefaultBatch
	}
	if c.Drain == 0 {
		c.Drain = DefaultDrain
	}
	if c.CatchUp == 0 {
		c.CatchUp = DefaultCatchUp
	}
	if c.Interval <= 0 {
		c.Interval = DefaultInterval
	}
	return nil
}

// run is one Run's shared state.
type run struct {
	cfg      Config
	epoch    time.Time
	start    int64
	conns    []*net.UDPConn
	sent     atomic.Uint64
	received atomic.Uint64
	sendDone atomic.Bool
	stop     atomic.Bool
	lastTx   int64 // the sender's; read after it ends
	sendErrs uint64
	trackers []*measure.Tracker
	hists    []*hdrhistogram.Histogram
	// The receivers' latencies of the current interval: each records a
	// batch's under its mutex, watch takes them at the interval's end.
	ivMu      []sync.Mutex
	ivHists   []*hdrhistogram.Histogram
	senderErr error
}

func (r *run) now() int64 { return int64(time.Since(r.epoch)) }

// Run sends cfg's datagrams through kernel UDP sockets (sendmmsg) and
// measures the ones that come back (recvmmsg) with the same signatures and
// trackers as the AF_XDP generator. Ending ctx stops the sending early;
// Run then returns the result so far with ctx's error.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	r := &run{cfg: cfg, epoch: time.Now()}
	defer func() {
		for _, c := range r.conns {
			c.Close()
		}
	}()
	for i := range cfg.Flows {
		c, err := r.dial(i)
		if err != nil {
			return nil, err
		}
		r.conns = append(r.conns, c)
		t, err := measure.New(measure.Config{Streams: 1})
		if err != nil {
			return nil, err
		}
		r.trackers = append(r.trackers, t)
		r.hists = append(r.hists, hdrhistogram.New(1, int64(measure.DefaultMaxLatency), 3))
		r.ivHists = append(r.ivHists, hdrhistogram.New(1, int64(measure.DefaultMaxLatency), 3))
	}
	r.ivMu = make([]sync.Mutex, len(r.conns))
	st, err := stream.New(stream.Spec{
		Kind: stream.UDP, Src: stream.AddrRange{First: cfg.Local}, Dst: stream.AddrRange{First: cfg.Target.Addr()},
		SrcPort: stream.PortRange{First: max(cfg.FirstPort, 1)}, DstPort: stream.PortRange{First: cfg.Target.Port()},
		Size: cfg.Size, Sign: stream.SignOn,
	})
	if err != nil {
		return nil, err
	}
	cpu0 := processCPU()
	r.start = r.now()
	var wg sync.WaitGroup
	for i := range r.conns {
		wg.Go(func() { r.receive(i) })
	}
	sendDone := make(chan struct{})
	go func() { defer close(sendDone); r.send(st) }()
	var ctxErr error
	ivs := r.watch(ctx, sendDone, &ctxErr)
	r.stop.Store(true)
	<-sendDone
	for _, c := range r.conns {
		c.SetReadDeadline(time.Now()) // unblocks the receivers
	}
	wg.Wait()
	res := &Result{Intervals: ivs, CPU: processCPU() - cpu0, Sent: st.Count(), SendErrors: r.sendErrs}
	if r.lastTx > r.start {
		res.Duration = time.Duration(r.lastTx - r.start)
	}
	all, h := r.trackers[0], r.hists[0]
	for i := 1; i < len(r.trackers); i++ {
		_ = all.Merge(r.trackers[i])
		h.Merge(r.hists[i])
	}
	mr := all.Result(0, res.Sent)
	res.Received, res.Lost, res.Duplicates, res.Reordered = mr.Received, mr.Lost, mr.Duplicates, mr.Reordered
	res.Latency, res.Histogram = all.Latency(), h
	if r.senderErr != nil {
		return res, r.senderErr
	}
	return res, ctxErr
}

// dial opens flow i's socket, bound to the interface and connected.
func (r *run) dial(i int) (*net.UDPConn, error) {
	cfg := &r.cfg
	local := netip.AddrPortFrom(cfg.Local, 0)
	if cfg.FirstPort != 0 {
		local = netip.AddrPortFrom(cfg.Local, cfg.FirstPort+uint16(i))
	}
	d := net.Dialer{LocalAddr: net.UDPAddrFromAddrPort(local), Control: func(_, _ string, rc syscall.RawConn) error {
		var err error
		if e := rc.Control(func(fd uintptr) {
			if cfg.Interface != "" {
				err = unix.BindToDevice(int(fd), cfg.Interface)
			}
			if err == nil {
				_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 8<<20)
				_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, 8<<20)
			}
		}); e != nil {
			return e
		}
		return err
	}}
	c, err := d.Dial("udp4", cfg.Target.String())
	if err != nil {
		return nil, fmt.Errorf("kernelgen: socket %d: %w", i, err)
	}
	return c.(*net.UDPConn), nil
}

// send is the sender: it paces with a token bucket read once per round,
// writes a batch of datagrams with sendmmsg to the sockets in turn, and
// sleeps (nanosleep, 1 µs timer slack) until the next is due.
func (r *run) send(st *stream.Stream) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	defer r.sendDone.Store(true)
	cfg := &r.cfg
	slack, _ := unix.PrctlRetInt(unix.PR_GET_TIMERSLACK, 0, 0, 0, 0)
	_ = unix.Prctl(unix.PR_SET_TIMERSLACK, 1000, 0, 0, 0)
	defer unix.Prctl(unix.PR_SET_TIMERSLACK, uintptr(slack), 0, 0, 0)
	pcs := make([]*ipv4.PacketConn, len(r.conns))
	for i, c := range r.conns {
		pcs[i] = ipv4.NewPacketConn(c)
	}
	frames := make([][]byte, cfg.Batch)
	ms := make([]ipv4.Message, cfg.Batch)
	for i := range ms {
		frames[i] = make([]byte, st.MaxLen())
		ms[i].Buffers = make([][]byte, 1)
	}
	var bucket *pacer.Bucket
	if cfg.Rate > 0 {
		rate := uint64(math.Round(cfg.Rate))
		burst := pacer.DefaultBurst(rate, 1)
		if cfg.CatchUp > 0 {
			burst = uint64(cfg.Rate*cfg.CatchUp.Seconds()) + 1
		}
		var err error
		if bucket, err = pacer.NewBucket(rate, burst, r.start); err != nil {
			r.senderErr = fmt.Errorf("%w: %w", ErrConfig, err)
			return
		}
	}
	end := int64(math.MaxInt64)
	if cfg.Duration > 0 {
		end = r.start + int64(cfg.Duration)
	}
	var ts unix.Timespec
	for flow := 0; !r.stop.Load(); {
		now := r.now()
		if now >= end || cfg.Count > 0 && st.Count() >= cfg.Count {
			return
		}
		n := cfg.Batch
		if cfg.Count > 0 {
			n = int(min(uint64(n), cfg.Count-st.Count()))
		}
		if bucket != nil {
			if n = bucket.TakeN(now, 1, n); n == 0 {
				d := min(bucket.Wait(now, 1), time.Millisecond)
				ts = unix.NsecToTimespec(int64(d))
				_ = unix.Nanosleep(&ts, nil)
				continue
			}
		}
		for i := range n {
			l := st.Next(frames[i], now)
			ms[i].Buffers[0] = frames[i][headersLen:l]
		}
		for k := 0; k < n; {
			w, err := pcs[flow].WriteBatch(ms[k:n], 0)
			if err != nil {
				r.sendErrs += uint64(n - k) // generated, never sent: lost
				break
			}
			k += w
		}
		r.sent.Store(st.Count())
		r.lastTx = now
		if flow++; flow == len(pcs) {
			flow = 0
		}
	}
}

// receive reads socket i's datagrams with recvmmsg and tracks their
// signatures, until the run stops.
func (r *run) receive(i int) {
	pc := ipv4.NewPacketConn(r.conns[i])
	t, h := r.trackers[i], r.hists[i]
	ms := make([]ipv4.Message, r.cfg.Batch)
	for j := range ms {
		ms[j].Buffers = [][]byte{make([]byte, 65536)}
	}
	var sig signature.Signature
	lats := make([]int64, 0, len(ms))
	for {
		n, err := pc.ReadBatch(ms, 0)
		if err != nil {
			if r.stop.Load() || errors.Is(err, net.ErrClosed) {
				return
			}
			continue // a transient error (an ICMP unreachable reported on the socket)
		}
		now := r.now()
		lats = lats[:0]
		for _, m := range ms[:n] {
			if !signature.Decode(m.Buffers[0][:m.N], &sig) || sig.Stream != 0 || sig.TxNs < r.start {
				continue
			}
			t.Observe(sig, now)
			if lat := now - sig.TxNs; lat >= 0 {
				lat = min(max(lat, 1), int64(measure.DefaultMaxLatency))
				_ = h.RecordValue(lat)
				lats = append(lats, lat)
			}
			r.received.Add(1)
		}
		r.ivMu[i].Lock()
		for _, lat := range lats {
			_ = r.ivHists[i].RecordValue(lat)
		}
		r.ivMu[i].Unlock()
	}
}

// watch reports intervals while the run goes on and returns them when the
// sending is over and the drain ended.
func (r *run) watch(ctx context.Context, sendDone <-chan struct{}, ctxErr *error) []Interval {
	var ivs []Interval
	var prevS, prevR uint64
	prevAt := r.start
	var drainEnd int64
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	next := r.start + int64(r.cfg.Interval)
	ivh := hdrhistogram.New(1, int64(measure.DefaultMaxLatency), 3)
	for {
		select {
		case <-ctx.Done():
			if *ctxErr == nil {
				*ctxErr = ctx.Err()
				r.stop.Store(true)
			}
		case <-tick.C:
		}
		now := r.now()
		s, rc := r.sent.Load(), r.received.Load()
		if now >= next {
			ivh.Reset()
			for i := range r.ivHists {
				r.ivMu[i].Lock()
				ivh.Merge(r.ivHists[i])
				r.ivHists[i].Reset()
				r.ivMu[i].Unlock()
			}
			iv := Interval{Elapsed: time.Duration(now - r.start), Length: time.Duration(now - prevAt),
				Sent: s - prevS, Received: rc - prevR, TotalSent: s, TotalReceived: rc, Latency: measure.Summarize(ivh)}
			ivs = append(ivs, iv)
			if r.cfg.Progress != nil {
				r.cfg.Progress(iv)
			}
			prevS, prevR, prevAt = s, rc, now
			next += int64(r.cfg.Interval)
		}
		if drainEnd == 0 && r.sendDone.Load() {
			<-sendDone
			drainEnd = now + max(int64(r.cfg.Drain), 0)
		}
		if drainEnd != 0 && (rc >= s || now >= drainEnd) {
			return ivs
		}
	}
}

// processCPU returns the process's CPU time so far.
func processCPU() time.Duration {
	var ru unix.Rusage
	if unix.Getrusage(unix.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
