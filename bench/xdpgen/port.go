package xdpgen

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/xdpengine/engine/afxdp"
	"github.com/xdpengine/engine/header"
)

// Errors. Those of the afxdp package (ErrPermission, ErrZeroCopyUnsupported,
// ...) come through Open wrapped, with the kernel's errno.
var (
	// ErrConfig: a Config or Traffic that cannot be used (wrapped with what
	// is wrong).
	ErrConfig = errors.New("xdpgen: bad configuration")
	// ErrBusy: Run, Reflect or Resolve called while another one runs.
	ErrBusy = errors.New("xdpgen: port busy")
	// ErrNoARPReply: the target did not answer ARP in time.
	ErrNoARPReply = errors.New("xdpgen: no ARP reply")
	// ErrNotOnLink: an address to resolve is outside the port's subnet.
	ErrNotOnLink = errors.New("xdpgen: address not on the link")
	// ErrClosed: the port was closed.
	ErrClosed = errors.New("xdpgen: port closed")
)

// Defaults.
const (
	DefaultRingSize  = 2048
	DefaultFrameSize = 4096
	DefaultBatch     = 256
)

// Config describes a Port.
type Config struct {
	// Interface is the link to drive.
	Interface string
	// Addr is the port's IPv4 address and subnet: the XDP program steers
	// IPv4 to the address and ARP for it to the port, which answers ARP
	// for it; targets inside the subnet are resolved by ARP.
	Addr netip.Prefix
	// Queues is the number of queues to drive, from queue 0: one worker
	// each. 0 means every queue of the interface; fewer leaves the frames
	// that arrive on the others to the kernel.
	Queues int
	// Mode is the AF_XDP bind mode: afxdp.ModeAuto (zero-copy where the
	// driver allows, copy mode otherwise), ModeZeroCopy or ModeCopy.
	Mode afxdp.Mode
	// XDPMode is the XDP attach mode (afxdp.XDPAuto: native, else generic).
	XDPMode afxdp.XDPMode
	// RingSize is the size of each AF_XDP ring (DefaultRingSize).
	RingSize int
	// FrameSize is the UMEM frame size, 2048 or 4096 (DefaultFrameSize):
	// the largest frame the port sends or receives.
	FrameSize int
	// Batch is the burst a worker receives or generates per round
	// (DefaultBatch).
	Batch int
	// BusyPoll keeps the workers spinning. By default a sending worker
	// whose pacer has nothing due for a while sleeps in ppoll(2) until
	// shortly before the next frame (or until a frame arrives), and a
	// reflecting worker sleeps in poll(2) 50 µs after the last frame it
	// received, which leaves the CPU to others at low rates.
	BusyPoll bool
	// Live sends in the kernel's live-frame mode (live.go: BPF_PROG_RUN,
	// Linux 5.18), not through the AF_XDP transmit ring: several times
	// the rate per core, for untagged IPv4 UDP streams of one size with
	// one source and destination address (a source port range may
	// increment). On veth the peer end needs NAPI (an XDP program or GRO).
	Live bool
}

func (c *Config) setDefaults() error {
	if c.Interface == "" {
		return fmt.Errorf("%w: no interface", ErrConfig)
	}
	if !c.Addr.IsValid() || !c.Addr.Addr().Is4() {
		return fmt.Errorf("%w: address %v is not IPv4", ErrConfig, c.Addr)
	}
	if c.RingSize == 0 {
		c.RingSize = DefaultRingSize
	}
	if c.FrameSize == 0 {
		c.FrameSize = DefaultFrameSize
	}
	if c.Batch == 0 {
		c.Batch = DefaultBatch
	}
	if c.Batch < 1 || c.Batch > c.RingSize {
		return fmt.Errorf("%w: batch %d (1 to the ring size %d)", ErrConfig, c.Batch, c.RingSize)
	}
	if c.Queues < 0 {
		return fmt.Errorf("%w: %d queues", ErrConfig, c.Queues)
	}
	return nil
}

// Port drives one interface with AF_XDP: one socket per queue, each served
// by one worker goroutine on a locked OS thread while Run or Reflect
// runs. Its methods may be called from any goroutine, one at a time
// (ErrBusy otherwise); Counters may be read at any time.
type Port struct {
	cfg   Config
	mac   header.MAC
	prog  *afxdp.Program
	live  *liveSender // Config.Live
	socks []*afxdp.Socket
	epoch time.Time
	busy  atomic.Bool
	ws    []*worker // one per socket, reused by every run

	closed atomic.Bool
}

// Open attaches the steering XDP program to cfg.Interface and opens one
// AF_XDP socket per queue. Close undoes both.
func Open(cfg Config) (_ *Port, err error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	ifi, err := net.InterfaceByName(cfg.Interface)
	if err != nil {
		return nil, fmt.Errorf("%w: %q: %w", afxdp.ErrNoInterface, cfg.Interface, err)
	}
	if len(ifi.HardwareAddr) != 6 {
		return nil, fmt.Errorf("%w: %s has no Ethernet address", ErrConfig, cfg.Interface)
	}
	n, err := afxdp.QueueCount(cfg.Interface)
	if err != nil {
		return nil, err
	}
	if cfg.Queues == 0 {
		cfg.Queues = n
	}
	if cfg.Queues > n {
		return nil, fmt.Errorf("%w: %d queues, %s has %d", ErrConfig, cfg.Queues, cfg.Interface, n)
	}
	p := &Port{cfg: cfg, mac: header.MAC(ifi.HardwareAddr), epoch: time.Now()}
	defer func() {
		if err != nil {
			p.Close()
		}
	}()
	pcfg := afxdp.ProgramConfig{Mode: cfg.XDPMode, Addrs: []netip.Addr{cfg.Addr.Addr()}}
	if cfg.Live {
		if p.live, err = newLiveSender(ifi.Index); err != nil {
			return nil, err
		}
		pcfg.Prelude, pcfg.PreludeMaps = livePrelude(), map[string]*ebpf.Map{"xdpgen_live": p.live.states}
	}
	p.prog, err = afxdp.AttachProgram(cfg.Interface, pcfg)
	if err != nil {
		return nil, err
	}
	r := cfg.RingSize
	for q := range cfg.Queues {
		s, err := afxdp.OpenIndex(ifi.Index, afxdp.Config{
			Queue: q, Mode: cfg.Mode, RxSize: r, TxSize: r, FillSize: r, CompSize: r,
			UMEMConfig: afxdp.UMEMConfig{FrameSize: cfg.FrameSize, Frames: 2*r + 4*cfg.Batch},
		})
		if err != nil {
			return nil, fmt.Errorf("queue %d: %w", q, err)
		}
		p.socks = append(p.socks, s)
		if !s.ZeroCopy() {
			// Copy mode transmits inside sendto, 32 frames a call by
			// default: let one call take several rounds' worth
			// (XDP_MAX_TX_SKB_BUDGET, Linux 6.17; older kernels refuse
			// the option and keep 32).
			_ = unix.SetsockoptInt(s.FD(), unix.SOL_XDP, unix.XDP_MAX_TX_SKB_BUDGET, min(r, 4*cfg.Batch))
		}
		if err := p.prog.Register(s); err != nil {
			return nil, fmt.Errorf("queue %d: %w", q, err)
		}
		s.Fill()
		w := newWorker(p, s, q)
		if p.live != nil {
			w.initLive()
		}
		p.ws = append(p.ws, w)
	}
	return p, nil
}

// Close detaches the XDP program and closes the sockets. Close it only
// when no Run or Reflect runs.
func (p *Port) Close() error {
	if p.closed.Swap(true) {
		return nil
	}
	var errs []error
	for _, s := range p.socks {
		errs = append(errs, s.Close())
	}
	if p.prog != nil {
		errs = append(errs, p.prog.Close())
	}
	if p.live != nil {
		errs = append(errs, p.live.close())
	}
	return errors.Join(errs...)
}

// MAC returns the interface's Ethernet address.
func (p *Port) MAC() header.MAC { return p.mac }

// Addr returns the port's address and subnet.
func (p *Port) Addr() netip.Prefix { return p.cfg.Addr }

// Queues returns the number of queues (and workers).
func (p *Port) Queues() int { return len(p.socks) }

// Mode describes how the port runs: the XDP attach mode and the AF_XDP
// bind mode ("native, copy").
func (p *Port) Mode() string {
	if len(p.socks) == 0 {
		return "closed"
	}
	return p.prog.Mode().String() + ", " + p.socks[0].BindMode()
}

// ZeroCopy reports whether the sockets bound in zero-copy mode.
func (p *Port) ZeroCopy() bool { return len(p.socks) > 0 && p.socks[0].ZeroCopy() }

// Now returns the port's clock: monotonic nanoseconds since Open. The
// signatures' transmit times and the arrival times are read from it.
func (p *Port) Now() int64 { return int64(time.Since(p.epoch)) }

// acquire marks the port busy for one Run, Reflect or Resolve.
func (p *Port) acquire() error {
	if p.closed.Load() {
		return ErrClosed
	}
	if !p.busy.CompareAndSwap(false, true) {
		return ErrBusy
	}
	return nil
}

func (p *Port) release() { p.busy.Store(false) }
