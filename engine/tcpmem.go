package engine

import (
	"fmt"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xdpengine/engine/stack/tcpsock"
	"github.com/xdpengine/engine/tcp"
)

// TCPMemLimits are the thresholds of Config.TCPMem, in bytes, like
// net.ipv4.tcp_mem's three values.
type TCPMemLimits struct {
	// Low ends memory pressure when the memory falls below it.
	Low int64
	// Pressure starts memory pressure when the memory exceeds it.
	Pressure int64
	// High: above it, new connections are refused.
	High int64
}

// Defaults of the TCP memory settings (Config.TCPMem has the rule for
// its own defaults, which depend on the machine).
const (
	DefaultTCPBufferMin  = tcp.DefaultBufMin
	DefaultTCPBufferIdle = time.Duration(tcp.DefaultBufIdle)
	DefaultTCPPoolMax    = tcp.DefaultRingPoolMax
)

// DefaultTCPMem returns Linux's tcp_mem for a machine of totalRAM bytes
// (tcp_init_mem): Pressure a sixteenth of it (at least 128 pages), Low
// three quarters of Pressure, High twice Low.
func DefaultTCPMem(totalRAM int64) TCPMemLimits {
	p := max(totalRAM/16, 128*4096)
	return TCPMemLimits{Low: p / 4 * 3, Pressure: p, High: p / 4 * 3 * 2}
}

// totalRAM is this machine's memory (sysinfo(2)); 4 GiB if unknown.
func totalRAM() int64 {
	var si unix.Sysinfo_t
	if err := unix.Sysinfo(&si); err != nil || si.Totalram == 0 {
		return 4 << 30
	}
	return int64(si.Totalram) * int64(si.Unit)
}

func (c *Config) setTCPMemDefaults() {
	d := DefaultTCPMem(totalRAM())
	for _, f := range []struct {
		p *int64
		v int64
	}{{&c.TCPMem.Low, d.Low}, {&c.TCPMem.Pressure, d.Pressure}, {&c.TCPMem.High, d.High}} {
		if *f.p == 0 {
			*f.p = f.v
		}
	}
	if c.TCPMaxOrphans == 0 {
		c.TCPMaxOrphans = max(1, c.TCPMaxConnections/2)
	}
	if c.TCPBufferMin == 0 {
		c.TCPBufferMin = min(DefaultTCPBufferMin, c.TCPSendBuffer, c.TCPRecvBuffer)
	}
	if c.TCPBufferIdle == 0 {
		c.TCPBufferIdle = DefaultTCPBufferIdle
	}
	if c.TCPPoolMax == 0 {
		c.TCPPoolMax = DefaultTCPPoolMax
	}
}

func (c *Config) validateTCPMem() error {
	m := c.TCPMem
	if m.Low <= 0 || m.Low > m.Pressure || m.Pressure > m.High {
		return fmt.Errorf("TCP memory limits low %d, pressure %d, high %d: want 0 < low <= pressure <= high (bytes)", m.Low, m.Pressure, m.High)
	}
	if c.TCPMaxOrphans < 0 {
		return fmt.Errorf("TCP orphans %d: want at least 1", c.TCPMaxOrphans)
	}
	if c.TCPBufferMin > c.TCPSendBuffer || c.TCPBufferMin > c.TCPRecvBuffer {
		return fmt.Errorf("TCP minimum buffer %d is above the send buffer %d or the receive buffer %d", c.TCPBufferMin, c.TCPSendBuffer, c.TCPRecvBuffer)
	}
	if c.TCPBufferIdle < 0 || c.TCPPoolMax < 0 {
		return fmt.Errorf("TCP buffer idle time %v and pool size %d: want them positive", c.TCPBufferIdle, c.TCPPoolMax)
	}
	return nil
}

// tcpMemory is the TCP layer's memory configuration.
func (c *Config) tcpMemory() tcpsock.MemoryConfig {
	return tcpsock.MemoryConfig{
		Low: c.TCPMem.Low, Pressure: c.TCPMem.Pressure, High: c.TCPMem.High,
		MaxOrphans: c.TCPMaxOrphans, BufMin: c.TCPBufferMin, BufIdle: c.TCPBufferIdle, PoolMax: c.TCPPoolMax,
	}
}
