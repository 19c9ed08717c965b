package main

import (
	"net"
	"net/netip"
	"testing"

	"github.com/xdpengine/engine/internal/ctl"
	"github.com/xdpengine/engine/internal/testbed"
)

// TestServeEchoDualStack: with an IPv6 address, `engine serve --echo
// udp:PORT` is one dual-stack socket: a kernel peer's IPv6 and IPv4
// datagrams both come back, each from the address it was sent to.
func TestServeEchoDualStack(t *testing.T) {
	bed := testbed.New(t, testbed.Config{IPv6: true})
	sock := ctl.SocketPath(bed.HostIf)
	srv := startServe(t, sock, "-i", bed.HostIf, "--addr", netip.PrefixFrom(bed.EngineAddr, 24).String(),
		"--addr", netip.PrefixFrom(bed.EngineAddr6, 64).String(), "--nodad", "--echo", "udp:7", "--queues", "1")
	srv.waitControl(t, sock)
	for _, to := range []netip.AddrPort{netip.AddrPortFrom(bed.EngineAddr6, 7), netip.AddrPortFrom(bed.EngineAddr, 7)} {
		var c *net.UDPConn
		if err := bed.Do(func() (err error) {
			c, err = net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(to))
			return err
		}); err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		echoOnce(t, c, []byte("dual-stack echo to "+to.String()))
	}
}
