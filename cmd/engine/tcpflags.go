package main

import (
	"fmt"
	"github.com/spf13/pflag"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/xdpengine/engine/engine"
)

// tcpMemFlags adds the flags of the TCP memory limits (issue #19) to fs:
// --tcp-mem, --tcp-max-orphans, --tcp-buffer-min, --tcp-buffer-idle,
// --tcp-pool-max and --somaxconn. Unset, each keeps engine.Config's
// default (zero); engine.New checks what the flags cannot (low <= pressure
// <= high, the minimum buffer against the others).
func tcpMemFlags(fs *pflag.FlagSet, c *engine.Config) {
	fs.Func("tcp-mem", "TCP buffer memory limits `LOW,PRESSURE,HIGH` in bytes (K, M, G: powers of 1024), like net.ipv4.tcp_mem: "+
		"above PRESSURE buffers stop growing and idle ones are trimmed until below LOW; above HIGH new connections are refused "+
		"(default: a sixteenth of this machine's memory for PRESSURE, LOW three quarters of it, HIGH twice LOW)", func(v string) error {
		m, err := parseTCPMem(v)
		c.TCPMem = m
		return err
	})
	fs.Func("tcp-max-orphans", "connections the application closed that may still be delivering their FIN, all workers together, "+
		"like net.ipv4.tcp_max_orphans; a close beyond it resets the connection (default half of --tcp-max-connections)", func(v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return fmt.Errorf("%q: want a number of connections, 1 or more", v)
		}
		c.TCPMaxOrphans = n
		return nil
	})
	fs.Func("tcp-buffer-min", "smallest buffer a TCP connection gets, and what it may use under memory pressure, in `bytes` "+
		"(a power of two, K and M accepted), like tcp_rmem[0] and tcp_wmem[0] (default 4K)", func(v string) error {
		n, err := parseBytes(v)
		if err != nil || n&(n-1) != 0 || n > math.MaxInt32 {
			return fmt.Errorf("%q: want a power of two of bytes, e.g. 4096 or 4K", v)
		}
		c.TCPBufferMin = int(n)
		return nil
	})
	fs.Func("tcp-buffer-idle", "a TCP connection through which no data moved for this `duration` gives its empty buffers back "+
		"(default 1s)", func(v string) error {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return fmt.Errorf("%q: want a positive duration, e.g. 1s or 500ms", v)
		}
		c.TCPBufferIdle = d
		return nil
	})
	fs.Func("tcp-pool-max", "TCP buffer memory kept for reuse by later connections, in `bytes` (K, M, G accepted); "+
		"what nobody takes decays by half every second and returns to the OS (default 32M)", func(v string) error {
		n, err := parseBytes(v)
		if err != nil {
			return fmt.Errorf("%q: %w", v, err)
		}
		c.TCPPoolMax = n
		return nil
	})
	fs.Func("somaxconn", "the most a TCP listener's backlog may be, per worker, like net.core.somaxconn: a larger backlog is "+
		"capped, a listener that asks for none gets it (default 4096)", func(v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > engine.MaxTCPSomaxconn {
			return fmt.Errorf("%q: want a number of connections, 1-%d", v, engine.MaxTCPSomaxconn)
		}
		c.TCPSomaxconn = n
		return nil
	})
}

// tcpTuneFlags registers the TCP limits users tune besides the memory's:
// --tcp-sndbuf, --tcp-rcvbuf, --tcp-sndbuf-max, --tcp-max-time-wait and
// --tcp-congestion (engine.Config's TCPSendBuffer, TCPRecvBuffer,
// TCPSendBufferMax, TCPMaxTimeWait, TCPCongestion). Unset, the engine's
// defaults apply; engine.New checks them against each other.
func tcpTuneFlags(fs *pflag.FlagSet, c *engine.Config) {
	pow2 := func(dst *int) func(string) error {
		return func(v string) error {
			n, err := parseBytes(v)
			if err != nil || n&(n-1) != 0 || n > math.MaxInt32 {
				return fmt.Errorf("%q: want a power of two of bytes, e.g. 262144 or 256K", v)
			}
			*dst = int(n)
			return nil
		}
	}
	fs.Func("tcp-sndbuf", "each TCP connection's send buffer, in `bytes` (a power of two, K and M accepted), "+
		"like tcp_wmem[1] (default 256K)", pow2(&c.TCPSendBuffer))
	fs.Func("tcp-sndbuf-max", "the send buffer's auto-tuning ceiling, in `bytes` (a power of two), like tcp_wmem[2] (default 4M)", pow2(&c.TCPSendBufferMax))
	fs.Func("tcp-rcvbuf", "each TCP connection's largest receive buffer (the auto-tuning ceiling), in `bytes` (a power of two), "+
		"like tcp_rmem[2] (default 4M)", pow2(&c.TCPRecvBuffer))
	fs.Func("tcp-max-time-wait", "connections in TIME-WAIT, all workers together, like net.ipv4.tcp_max_tw_buckets; "+
		"past it a connection closes at once (default 262144, or --tcp-max-connections when smaller)", func(v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return fmt.Errorf("%q: want a number of connections, 1 or more", v)
		}
		c.TCPMaxTimeWait = n
		return nil
	})
	fs.Func("tcp-congestion", "TCP congestion control `algorithm`: cubic (default) or reno, like net.ipv4.tcp_congestion_control", func(v string) error {
		switch v {
		case "cubic", "reno":
			c.TCPCongestion = v
			return nil
		}
		return fmt.Errorf("%q: want cubic or reno", v)
	})
}

// parseBytes parses a size in bytes: a whole number, optionally followed
// by K, M or G (powers of 1024; KiB, MiB, GiB too). Zero is refused: a
// flag given means a size.
func parseBytes(s string) (int64, error) {
	num, mult := strings.TrimSpace(s), int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}} {
		if n, ok := strings.CutSuffix(num, u.suffix); ok {
			num, mult = n, u.mult
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n <= 0 || n > math.MaxInt64/mult {
		return 0, fmt.Errorf("want a positive number of bytes, optionally with K, M or G (powers of 1024), e.g. 65536 or 64K")
	}
	return n * mult, nil
}

// parseTCPMem parses --tcp-mem's LOW,PRESSURE,HIGH.
func parseTCPMem(s string) (engine.TCPMemLimits, error) {
	parts := strings.Split(s, ",")
	if len(parts) != 3 {
		return engine.TCPMemLimits{}, fmt.Errorf("%q: want LOW,PRESSURE,HIGH in bytes (K, M, G accepted), e.g. 768M,1G,1536M", s)
	}
	var v [3]int64
	for i, p := range parts {
		n, err := parseBytes(p)
		if err != nil {
			return engine.TCPMemLimits{}, fmt.Errorf("%q: %q: %w", s, p, err)
		}
		v[i] = n
	}
	m := engine.TCPMemLimits{Low: v[0], Pressure: v[1], High: v[2]}
	if m.Low > m.Pressure || m.Pressure > m.High {
		return m, fmt.Errorf("%q: want LOW <= PRESSURE <= HIGH, e.g. 768M,1G,1536M", s)
	}
	return m, nil
}
