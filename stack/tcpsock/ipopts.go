package tcpsock

import (
	"os"
	"sync/atomic"
	"syscall"

	"github.com/xdpengine/engine/stack/sock"
)

// tcpIPOpts are a TCP connection's ip(7) options; the application stores
// them, the worker reads them for every segment it builds.
type tcpIPOpts struct {
	ttl, tos atomic.Int32 // 0: default
	pmtudisc atomic.Int32 // sock.PMTUDisc + 1; 0: sock.PMTUDiscWant (DF set)
}

// SetTTL sets the TTL of the connection's segments (IP_TTL): 1 to 255, or
// -1 for the default (64). Other values: EINVAL.
func (c *Conn) SetTTL(ttl int) error {
	if ttl == -1 {
		ttl = 0
	} else if ttl < 1 || ttl > 255 {
		return c.opErr("set", os.NewSyscallError("setsockopt IP_TTL", syscall.EINVAL))
	}
	c.ipOpts.ttl.Store(int32(ttl))
	return nil
}

// TTL returns the TTL the connection sends with (IP_TTL).
func (c *Conn) TTL() int {
	if t := c.ipOpts.ttl.Load(); t != 0 {
		return int(t)
	}
	return sock.DefaultTTL
}

// SetTOS sets the TOS byte of the connection's segments (IP_TOS). As on a
// Linux TCP socket, the two ECN bits are the stack's, not the
// application's: they are ignored here.
func (c *Conn) SetTOS(tos int) error {
	if tos < 0 || tos > 255 {
		return c.opErr("set", os.NewSyscallError("setsockopt IP_TOS", syscall.EINVAL))
	}
	c.ipOpts.tos.Store(int32(tos &^ 3))
	return nil
}

// TOS returns the TOS byte the connection sends with (IP_TOS).
func (c *Conn) TOS() int { return int(c.ipOpts.tos.Load()) }

// SetMTUDiscover sets the path MTU discovery mode (IP_MTU_DISCOVER). TCP
// segments carry DF unless the mode is sock.PMTUDiscDont.
func (c *Conn) SetMTUDiscover(d sock.PMTUDisc) error {
	if d < sock.PMTUDiscDont || d > sock.PMTUDiscProbe {
		return c.opErr("set", os.NewSyscallError("setsockopt IP_MTU_DISCOVER", syscall.EINVAL))
	}
	c.ipOpts.pmtudisc.Store(int32(d) + 1)
	return nil
}

// MTUDiscover returns the path MTU discovery mode (IP_MTU_DISCOVER).
func (c *Conn) MTUDiscover() sock.PMTUDisc {
	if d := c.ipOpts.pmtudisc.Load(); d != 0 {
		return sock.PMTUDisc(d - 1)
	}
	return sock.PMTUDiscWant
}

// PathMTU returns the path MTU toward the peer (IP_MTU, IPV6_MTU).
func (c *Conn) PathMTU() (int, error) {
	remote := c.key.SrcAddrPort().Addr()
	if remote.Is6() && c.s.host6 != nil {
		return c.s.host6.PathMTU(remote), nil
	}
	return c.s.host.PathMTU(remote), nil
}

// segmentIP returns the TTL, TOS and DF of c's segments (c may be nil: a
// RST or a SYN-ACK with a cookie, sent with the defaults).
func (c *Conn) segmentIP() (ttl, tos uint8, df bool) {
	if c == nil {
		return sock.DefaultTTL, 0, true
	}
	ttl = sock.DefaultTTL
	if t := c.ipOpts.ttl.Load(); t != 0 {
		ttl = uint8(t)
	}
	return ttl, uint8(c.ipOpts.tos.Load()), c.ipOpts.pmtudisc.Load() != int32(sock.PMTUDiscDont)+1
}
