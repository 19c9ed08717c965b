package engine_test

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/xdpengine/engine/engine"
	"github.com/xdpengine/engine/internal/enginetest"
	"github.com/xdpengine/engine/internal/testbed"
)

// TestOneP: with GOMAXPROCS 1 an idle worker sleeps parked in the Go
// netpoller (stack/datapath's netsleep.go), not in poll(2). Datagrams
// spaced well past the adaptive spin (so that the worker is asleep when
// each arrives) are all echoed by an application on the engine: the
// socket's readiness wakes the worker, and the application's reply wakes
// it again through its eventfd. A kernel UDP echo served by another
// goroutine of this process answers the peer in between. (This checks
// that the netpoller sleep wakes; what it is for, the other goroutines'
// P, is a matter of time, shown by BenchmarkTCPShortConn's kernel side.)
func TestOneP(t *testing.T) {
	prev := runtime.GOMAXPROCS(1)
	t.Cleanup(func() { runtime.GOMAXPROCS(prev) })
	bed := testbed.New(t, testbed.Config{HostKernelAddr: true})
	eng := enginetest.Start(t, bed, engine.Config{})
	ec, err := eng.ListenUDP("udp4", ":7660", engine.SocketOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ec.Close() })
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := ec.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			ec.WriteToUDPAddrPort(buf[:n], from)
		}
	}()
	kc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: bed.HostAddr.AsSlice(), Port: 7661})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { kc.Close() })
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := kc.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			kc.WriteToUDPAddrPort(buf[:n], from)
		}
	}()
	enginetest.PeerResolve(t, bed)
	toEngine := enginetest.PeerUDP(t, bed, 7660)
	toKernel := enginetest.PeerDialUDP(t, bed, netip.AddrPortFrom(bed.HostAddr, 7661))
	for i := range 40 {
		for _, c := range []*net.UDPConn{toEngine, toKernel} {
			msg := fmt.Appendf(nil, "datagram %d to %v", i, c.RemoteAddr())
			if _, err := c.Write(msg); err != nil {
				t.Fatal(err)
			}
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			buf := make([]byte, 2048)
			n, err := c.Read(buf)
			if err != nil || !bytes.Equal(buf[:n], msg) {
				t.Fatalf("%q: echo %q, %v", msg, buf[:n], err)
			}
		}
		time.Sleep(5 * time.Millisecond) // past the 200 µs spin: the worker sleeps
	}
	if runtime.GOMAXPROCS(0) != 1 {
		t.Fatal("GOMAXPROCS changed under the test")
	}
}
