package testbed

import (
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"
)

// TestHostAddr6: with AddHostAddr6 the caller's kernel answers the peer
// kernel over IPv6 on ::3 at once (no DAD), and nothing changes on a bed
// without it.
func TestHostAddr6(t *testing.T) {
	if _, err := New(t, Config{}).AddHostAddr6(); err == nil {
		t.Error("AddHostAddr6 on a bed without Config.IPv6 succeeded")
	}
	bed := New(t, Config{IPv6: true})
	host, err := bed.AddHostAddr6()
	if err != nil {
		t.Fatal(err)
	}
	want := bed.Prefix6.Addr().As16()
	want[15] = 3
	if host != netip.AddrFrom16(want) || !bed.Prefix6.Contains(host) {
		t.Errorf("host address %v, want %v in %v", host, netip.AddrFrom16(want), bed.Prefix6)
	}
	if again, err := bed.AddHostAddr6(); err != nil || again != host {
		t.Errorf("second call: %v, %v", again, err)
	}
	if b, err := os.ReadFile("/proc/sys/net/ipv6/conf/" + bed.HostIf + "/accept_dad"); err != nil || strings.TrimSpace(string(b)) != "0" {
		t.Errorf("accept_dad on %s: %q, %v", bed.HostIf, b, err)
	}
	srv, err := net.ListenUDP("udp6", net.UDPAddrFromAddrPort(netip.AddrPortFrom(host, 7009)))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	go func() {
		buf := make([]byte, 64)
		for {
			n, from, err := srv.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			srv.WriteToUDPAddrPort(buf[:n], from)
		}
	}()
	err = bed.Do(func() error {
		c, err := net.DialUDP("udp6", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(host, 7009)))
		if err != nil {
			return err
		}
		defer c.Close()
		if _, err := c.Write([]byte("ping6")); err != nil {
			return err
		}
		c.SetReadDeadline(time.Now().Add(3 * time.Second))
		buf := make([]byte, 64)
		n, err := c.Read(buf)
		if err == nil && string(buf[:n]) != "ping6" {
			t.Errorf("answer %q", buf[:n])
		}
		return err
	})
	if err != nil {
		t.Fatalf("peer to %v over IPv6: %v", host, err)
	}
}
