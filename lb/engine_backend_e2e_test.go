package lb_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/xdpengine/engine/engine"
	"github.com/xdpengine/engine/header"
	"github.com/xdpengine/engine/internal/enginetest"
	"github.com/xdpengine/engine/internal/testbed"
	"github.com/xdpengine/engine/lb"
)

// engineBackend starts a second engine on a new link of bed's segment
// that terminates dsr-ipip and dsr-gue (engine.Config.Decap) and serves,
// on the VIP (transparent sockets), HTTP on port 80 answering name, and a
// UDP echo on 53 prefixed with name.
func engineBackend(t *testing.T, bed *testbed.Bed, vip netip.Addr, name string) netip.Addr {
	t.Helper()
	link, err := bed.AddSegmentLink()
	if err != nil {
		t.Fatal(err)
	}
	eng, err := engine.New(engine.Config{Interface: link.Ifname, Addrs: []netip.Prefix{netip.PrefixFrom(link.Addr, bed.Prefix.Bits())},
		Logger: enginetest.DiscardLogger(), BindService: true, Decap: engine.DecapConfig{IPIP: true, GUE: true}})
	if err != nil {
		t.Fatal(err)
	}
	if err := eng.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	opts := engine.SocketOptions{Transparent: true}
	ln, err := eng.ListenTCP("tcp4", netip.AddrPortFrom(vip, 80).String(), engine.TCPListenConfig{SocketOptions: opts})
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, name) })}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	uc, err := eng.ListenUDP("udp4", netip.AddrPortFrom(vip, 53).String(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { uc.Close() })
	go func() {
		buf := make([]byte, 65536)
		for {
			n, from, err := uc.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			uc.WriteToUDPAddrPort(append([]byte(name+":"), buf[:n]...), from)
		}
	}()
	return link.Addr
}

// TestTunnelToEngineBackends: through dsr-ipip and dsr-gue VIPs, the
// client's TCP connections and UDP datagrams reach two engines that
// decapsulate them (this kernel has no ipip or fou module) and answer from
// the VIP directly; both backends take connections; a 1472-byte datagram
// whose encapsulation exceeds the MTU goes out in outer fragments.
func TestTunnelToEngineBackends(t *testing.T) {
	for _, mode := range []lb.Mode{lb.DSRIPIP, lb.DSRGUE} {
		t.Run(mode.String(), func(t *testing.T) {
			bed, _, vip := segmentVIP(t, 1)
			var backends []lb.Backend
			for i := range 2 {
				backends = append(backends, lb.Backend{Addr: engineBackend(t, bed, vip, fmt.Sprintf("backend-%d", i)), Weight: 1})
			}
			cfg := &lb.Config{VIPs: []lb.VIP{
				{Addr: vip, Port: 80, Proto: header.ProtocolTCP, Mode: mode, Backends: backends},
				{Addr: vip, Port: 53, Proto: header.ProtocolUDP, Mode: mode, Backends: backends},
			}}
			eng := enginetest.Start(t, bed, engine.Config{LoadBalancer: cfg})
			b := &lbBed{bed: bed, eng: eng, vip: vip}
			const n = 100
			got := b.get(t, n)
			t.Logf("%v: %v", mode, got)
			if got["backend-0"] == 0 || got["backend-1"] == 0 || got["backend-0"]+got["backend-1"] != n {
				t.Errorf("answers by backend %v, want both, %d in all", got, n)
			}
			err := bed.Do(func() error {
				c, err := net.Dial("udp4", netip.AddrPortFrom(vip, 53).String())
				if err != nil {
					return err
				}
				defer c.Close()
				buf := make([]byte, 4096)
				for _, size := range []int{5, 1472} {
					msg := strings.Repeat("d", size)
					var err error
					for range 5 { // the first may wait for ARP
						c.Write([]byte(msg))
						c.SetReadDeadline(time.Now().Add(time.Second))
						var k int
						if k, err = c.Read(buf); err == nil {
							if !strings.HasSuffix(string(buf[:k]), ":"+msg) {
								return fmt.Errorf("%d-byte datagram: answer %q", size, buf[:min(k, 40)])
							}
							break
						}
					}
					if err != nil {
						return fmt.Errorf("%d-byte datagram: %w", size, err)
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if st := eng.Stats().Total; st.Frag.FragCreates == 0 {
				t.Error("no outer fragment sent: the 1472-byte datagram did not exercise it")
			}
		})
	}
}
