package lb_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/xdpengine/engine/engine"
	"github.com/xdpengine/engine/header"
	"github.com/xdpengine/engine/internal/enginetest"
	"github.com/xdpengine/engine/internal/testbed"
	"github.com/xdpengine/engine/lb"
	"github.com/xdpengine/engine/lb/health"
)

// lbBed is a segment with the engine as the balancer, the peer namespace
// as the client, and kernel backends that answer HTTP with their name.
type lbBed struct {
	bed      *testbed.Bed
	hosts    []*testbed.SegmentHost
	eng      *engine.Engine
	vip      netip.Addr
	backends []lb.Backend
	ports    map[uint16]int // get's client ports, with their connections
}

// portsClient is the peer's HTTP client without keep-alives, recording
// each connection's client port in ports. The kernel may give a client
// port again while the balancer still tracks the flow that had it (ended
// at the client, closing in the table): that connection is that flow, so
// the flows to expect are the distinct ports.
func portsClient(bed *testbed.Bed, ports map[uint16]int) *http.Client {
	client := enginetest.PeerHTTPClient(bed)
	tr := client.Transport.(*http.Transport)
	tr.DisableKeepAlives = true
	dial := tr.DialContext
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err == nil {
			ports[uint16(c.LocalAddr().(*net.TCPAddr).Port)]++
		}
		return c, err
	}
	client.Timeout = 5 * time.Second
	return client
}

// segmentVIP builds a bed with n kernel hosts on the engine's segment and
// a VIP routed to the engine.
func segmentVIP(t *testing.T, n int) (*testbed.Bed, []*testbed.SegmentHost, netip.Addr) {
	t.Helper()
	bed := testbed.New(t, testbed.Config{})
	hosts, err := bed.AddSegmentHosts(n)
	if err != nil {
		t.Fatal(err)
	}
	return bed, hosts, enginetest.RouteVIP(t, bed, 0)
}

// newLBBed builds the bed, starts an HTTP server on port 80 of every
// backend, and routes the VIP (the /24's .100, answered by nobody) through
// the engine's address in the client's namespace.
func newLBBed(t *testing.T, mode lb.Mode, weights []uint32) *lbBed {
	return newLBBedQueues(t, mode, weights, 1)
}

func newLBBedQueues(t *testing.T, mode lb.Mode, weights []uint32, queues int) *lbBed {
	t.Helper()
	bed := testbed.New(t, testbed.Config{Queues: queues})
	hosts, err := bed.AddSegmentHosts(len(weights))
	if err != nil {
		t.Fatal(err)
	}
	b := &lbBed{bed: bed, hosts: hosts, vip: enginetest.RouteVIP(t, bed, 0)}
	for i, h := range hosts {
		b.backends = append(b.backends, lb.Backend{Addr: h.Addr, Weight: weights[i]})
		name := fmt.Sprintf("backend-%d", i)
		if mode == lb.DSRL2 {
			// DSR: the backend owns the VIP on its loopback and answers
			// the client from it.
			out, err := h.Command(context.Background(), "ip", "addr", "add", b.vip.String()+"/32", "dev", "lo").CombinedOutput()
			if err != nil {
				t.Fatalf("VIP on %s's loopback: %v: %s", name, err, out)
			}
		}
		enginetest.ServeName(t, h, name)
	}
	cfg := &lb.Config{VIPs: []lb.VIP{{Addr: b.vip, Port: 80, Proto: header.ProtocolTCP, Mode: mode, Backends: b.backends}}}
	b.eng = enginetest.Start(t, bed, engine.Config{Queues: queues, LoadBalancer: cfg})
	return b
}

// get fetches the VIP n times from the client, each on a new connection,
// and counts the answers by backend name.
func (b *lbBed) get(t *testing.T, n int) map[string]int {
	t.Helper()
	got := map[string]int{}
	if b.ports == nil {
		b.ports = map[uint16]int{}
	}
	client := portsClient(b.bed, b.ports)
	for i := range n {
		resp, err := client.Get("http://" + b.vip.String() + "/")
		if err != nil {
			t.Fatalf("request %d through the VIP: %v", i, err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		got[strings.TrimSpace(string(body))]++
	}
	return got
}

// clientFlows returns the flows n connections from ports make: one a
// distinct client port (logged when the kernel gave a port twice).
func clientFlows(t *testing.T, ports map[uint16]int, n int) int {
	t.Helper()
	if len(ports) != n {
		t.Logf("%d connections from %d client ports: the kernel gave some twice while the balancer still tracked them", n, len(ports))
	}
	return len(ports)
}

// checkShares expects each backend's share of n requests near its weight's
// (within 4.5 standard deviations of the binomial: a failure is a bug, not
// bad luck).
func checkShares(t *testing.T, got map[string]int, weights []uint32, n int) {
	t.Helper()
	sum := 0.0
	for _, w := range weights {
		sum += float64(w)
	}
	for i, w := range weights {
		p := float64(w) / sum
		want := p * float64(n)
		sd := math.Sqrt(float64(n) * p * (1 - p))
		c := got[fmt.Sprintf("backend-%d", i)]
		if float64(c) < want-4.5*sd || float64(c) > want+4.5*sd {
			t.Errorf("backend-%d (weight %d): %d of %d requests, want about %.0f (%v)", i, w, c, n, want, got)
		}
	}
}

// TestNATSpreadsByWeight: through a NAT VIP, HTTP requests from the client
// reach the three kernel backends in proportion to their weights 1:1:2,
// each answer translated back; the counters add up.
func TestNATSpreadsByWeight(t *testing.T) {
	weights := []uint32{1, 1, 2}
	b := newLBBed(t, lb.NAT, weights)
	const n = 400
	got := b.get(t, n)
	t.Logf("NAT: %v", got)
	checkShares(t, got, weights, n)
	st := b.eng.Balancer().Stats()
	flowsWant := clientFlows(t, b.ports, n)
	if len(st) != 1 || st[0].NewFlows != uint64(flowsWant) || st[0].Flows != uint64(flowsWant) {
		t.Errorf("VIP counters: %+v, want %d new flows, all tracked", st, flowsWant)
	}
	// Every connection is still tracked (closing): listed with its NAT
	// port on the engine's address.
	flows := b.eng.Balancer().Flows("", 0, time.Second)
	if len(flows) != flowsWant {
		t.Errorf("%d flows listed, want %d", len(flows), flowsWant)
	}
	for _, f := range flows {
		if f.SNAT.Addr() != b.bed.EngineAddr || f.Client.Addr() != b.bed.PeerAddr || f.VIP != b.vip.String()+":80/tcp" ||
			f.State != "closing" || f.Idle > time.Minute {
			t.Fatalf("flow %+v: want a NAT flow of the VIP, closing (the client closed it), idle a little", f)
		}
	}
}

// TestDSRL2SpreadsByWeight: the same through a dsr-l2 VIP: the backends
// own the VIP and answer the client directly.
func TestDSRL2SpreadsByWeight(t *testing.T) {
	weights := []uint32{2, 1, 1}
	b := newLBBed(t, lb.DSRL2, weights)
	const n = 400
	got := b.get(t, n)
	t.Logf("DSR: %v", got)
	checkShares(t, got, weights, n)
}

// TestDrainKeepsFlows: a backend drained (weight 0) takes no new flows,
// while a connection it already serves goes on.
func TestDrainKeepsFlows(t *testing.T) {
	weights := []uint32{1, 1, 1}
	b := newLBBed(t, lb.NAT, weights)
	// An open connection, kept alive: find its backend.
	client := enginetest.PeerHTTPClient(b.bed)
	client.Timeout = 5 * time.Second
	get := func() string {
		resp, err := client.Get("http://" + b.vip.String() + "/")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return string(body)
	}
	first := get()
	var drained int
	fmt.Sscanf(first, "backend-%d", &drained)
	cfg := b.eng.Balancer().Config()
	cfg.VIPs[0].Backends[drained].Weight = 0
	if err := b.eng.Balancer().SetConfig(cfg); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if got := get(); got != first {
			t.Fatalf("the kept-alive connection moved from %s to %s after the drain", first, got)
		}
	}
	got := b.get(t, 100)
	if got[first] != 0 {
		t.Errorf("the drained %s took %d of 100 new connections", first, got[first])
	}
}

// TestNATTwoWorkers: on two workers, a flow's packets that the NIC hands
// to the worker that does not own it are handed over to create the flow
// and then translated where they land (the owner's table is read
// lock-free), and replies likewise: every request is answered, by the
// backends in proportion.
func TestNATTwoWorkers(t *testing.T) {
	weights := []uint32{1, 1, 2}
	for _, mode := range []lb.Mode{lb.NAT, lb.DSRL2} {
		b := newLBBedQueues(t, mode, weights, 2)
		const n = 400
		got := b.get(t, n)
		st := b.eng.Stats().Total
		t.Logf("%v on two workers: %v; steered %d", mode, got, st.Steered)
		checkShares(t, got, weights, n)
		if st.Steered == 0 {
			t.Errorf("%v: nothing was handed between the workers: the test did not exercise it", mode)
		}
	}
}

// TestLongTransferSurvivesChanges: a 32 MiB download through a NAT VIP
// goes on, byte for byte, while the other backends are removed and a new
// one is added: tracked flows keep their backend.
func TestLongTransferSurvivesChanges(t *testing.T) {
	weights := []uint32{1, 1, 1}
	b := newLBBed(t, lb.NAT, weights)
	const size = 32 << 20
	for _, h := range b.hosts {
		var ln net.Listener
		if err := h.Do(func() (err error) { ln, err = net.Listen("tcp4", ":81"); return err }); err != nil {
			t.Fatal(err)
		}
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go func() {
					defer c.Close()
					buf := make([]byte, 64<<10)
					for sent := 0; sent < size; sent += len(buf) {
						enginetest.Pattern(buf, uint32(sent/len(buf)))
						if _, err := c.Write(buf); err != nil {
							return
						}
					}
				}()
			}
		}()
		t.Cleanup(func() { ln.Close() })
	}
	cfg := b.eng.Balancer().Config()
	cfg.VIPs = append(cfg.VIPs, lb.VIP{Addr: b.vip, Port: 81, Proto: header.ProtocolTCP, Mode: lb.NAT, Backends: b.backends})
	if err := b.eng.Balancer().SetConfig(cfg); err != nil {
		t.Fatal(err)
	}
	var c net.Conn
	if err := b.bed.Do(func() (err error) {
		c, err = net.DialTimeout("tcp4", netip.AddrPortFrom(b.vip, 81).String(), 5*time.Second)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(60 * time.Second))
	got, want := make([]byte, 64<<10), make([]byte, 64<<10)
	changed := false
	for read := 0; read < size; read += len(got) {
		if _, err := io.ReadFull(c, got); err != nil {
			t.Fatalf("after %d bytes: %v", read, err)
		}
		enginetest.Pattern(want, uint32(read/len(got)))
		if string(got) != string(want) {
			t.Fatalf("bytes %d-%d differ", read, read+len(got))
		}
		if !changed && read > size/4 {
			// Mid-transfer: only backend 0 stays, and a fourth one comes.
			changed = true
			extra, err := b.bed.AddSegmentHosts(1)
			if err != nil {
				t.Fatal(err)
			}
			cfg := b.eng.Balancer().Config()
			for i := range cfg.VIPs {
				cfg.VIPs[i].Backends = []lb.Backend{b.backends[0], {Addr: extra[0].Addr, Weight: 1}}
			}
			if err := b.eng.Balancer().SetConfig(cfg); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestUDPVIP: datagrams to a UDP VIP (NAT) reach the backends' echo
// services and the echoes come back from the VIP.
func TestUDPVIP(t *testing.T) {
	bed, hosts, vip := segmentVIP(t, 2)
	var backends []lb.Backend
	for i, h := range hosts {
		backends = append(backends, lb.Backend{Addr: h.Addr, Weight: 1})
		var pc net.PacketConn
		if err := h.Do(func() (err error) { pc, err = net.ListenPacket("udp4", ":53"); return err }); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { pc.Close() })
		go func() {
			buf := make([]byte, 2048)
			for {
				n, from, err := pc.ReadFrom(buf)
				if err != nil {
					return
				}
				pc.WriteTo(append([]byte(fmt.Sprintf("b%d:", i)), buf[:n]...), from)
			}
		}()
	}
	cfg := &lb.Config{VIPs: []lb.VIP{{Addr: vip, Port: 53, Proto: header.ProtocolUDP, Mode: lb.NAT, Backends: backends}}}
	enginetest.Start(t, bed, engine.Config{LoadBalancer: cfg})
	seen := map[string]int{}
	for i := range 60 {
		err := bed.Do(func() error {
			c, err := net.Dial("udp4", netip.AddrPortFrom(vip, 53).String())
			if err != nil {
				return err
			}
			defer c.Close()
			msg := fmt.Sprintf("q%d", i)
			c.Write([]byte(msg))
			c.SetReadDeadline(time.Now().Add(3 * time.Second))
			buf := make([]byte, 2048)
			n, err := c.Read(buf)
			if err != nil {
				return fmt.Errorf("datagram %d: %w", i, err)
			}
			if !strings.HasSuffix(string(buf[:n]), ":"+msg) {
				return fmt.Errorf("datagram %d: answer %q", i, buf[:n])
			}
			seen[string(buf[:2])]++
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if seen["b0"] == 0 || seen["b1"] == 0 {
		t.Errorf("answers by backend: %v, want both", seen)
	}
}

// TestHealthChecks: with HTTP health checks over the engine's own TCP, the
// backends take traffic once they pass; a backend whose service stops
// leaves the table within interval × fall (new connections go to the
// others, none fails) and comes back when it answers again.
func TestHealthChecks(t *testing.T) {
	weights := []uint32{1, 1, 1}
	b := newLBBed(t, lb.NAT, weights)
	// Backend 1 gets a second service on :8080 that the checks use and
	// that the test stops and starts.
	var mu sync.Mutex
	healthy := true
	for i, h := range b.hosts {
		var ln net.Listener
		if err := h.Do(func() (err error) { ln, err = net.Listen("tcp4", ":8080"); return err }); err != nil {
			t.Fatal(err)
		}
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			mu.Lock()
			ok := healthy || i != 1
			mu.Unlock()
			if !ok {
				w.WriteHeader(http.StatusServiceUnavailable)
			}
		})}
		go srv.Serve(ln)
		t.Cleanup(func() { srv.Close() })
	}
	cfg := b.eng.Balancer().Config()
	cfg.VIPs[0].Health = health.Spec{Kind: health.KindHTTP, Path: "/", Status: 200,
		Interval: 100 * time.Millisecond, Timeout: 80 * time.Millisecond, Rise: 2, Fall: 2}
	cfg.VIPs[0].HealthPort = 8080
	if err := b.eng.Balancer().SetConfig(cfg); err != nil {
		t.Fatal(err)
	}
	up := func(want []bool) func() bool {
		return func() bool {
			st := b.eng.Balancer().Stats()
			for i, be := range st[0].Backends {
				if be.Up != want[i] {
					return false
				}
			}
			return true
		}
	}
	enginetest.WaitFor(t, "every backend up", up([]bool{true, true, true}))
	if got := b.get(t, 60); got["backend-1"] == 0 {
		t.Fatalf("backend-1 took no connection while up: %v", got)
	}
	mu.Lock()
	healthy = false
	mu.Unlock()
	tracked := func() int {
		n := 0
		for _, f := range b.eng.Balancer().Flows("", 0, time.Second) {
			if f.Backend.Addr() == b.hosts[1].Addr {
				n++
			}
		}
		return n
	}
	if tracked() == 0 {
		t.Fatal("no tracked flow of backend-1 before it went down")
	}
	start := time.Now()
	enginetest.WaitFor(t, "backend-1 down", up([]bool{true, false, true}))
	t.Logf("backend-1 down after %v", time.Since(start))
	enginetest.WaitFor(t, "backend-1's flows forgotten", func() bool { return tracked() == 0 })
	if got := b.get(t, 60); got["backend-1"] != 0 {
		t.Errorf("backend-1 took %d connections while down: %v", got["backend-1"], got)
	}
	mu.Lock()
	healthy = true
	mu.Unlock()
	enginetest.WaitFor(t, "backend-1 back", up([]bool{true, true, true}))
	if got := b.get(t, 60); got["backend-1"] == 0 {
		t.Errorf("backend-1 took no connection after it came back: %v", got)
	}
}

// TestICMPUnreachableReachesClient: through a NAT UDP VIP whose backends
// have no service on the port, the backend's ICMP port unreachable (sent
// to the engine's address, quoting the translated datagram) is translated
// back: the client's connected socket gets ECONNREFUSED.
func TestICMPUnreachableReachesClient(t *testing.T) {
	bed, hosts, vip := segmentVIP(t, 2)
	var backends []lb.Backend
	for _, h := range hosts {
		backends = append(backends, lb.Backend{Addr: h.Addr, Weight: 1})
	}
	cfg := &lb.Config{VIPs: []lb.VIP{{Addr: vip, Port: 5999, Proto: header.ProtocolUDP, Mode: lb.NAT, Backends: backends}}}
	enginetest.Start(t, bed, engine.Config{LoadBalancer: cfg})
	err := bed.Do(func() error {
		c, err := net.Dial("udp4", netip.AddrPortFrom(vip, 5999).String())
		if err != nil {
			return err
		}
		defer c.Close()
		buf := make([]byte, 64)
		for range 5 { // the first datagram may wait for ARP; the error follows any of them
			c.Write([]byte("anyone?"))
			c.SetReadDeadline(time.Now().Add(time.Second))
			if _, err = c.Read(buf); errors.Is(err, syscall.ECONNREFUSED) {
				return nil
			}
		}
		return fmt.Errorf("read after sending to a closed backend port: %v, want ECONNREFUSED", err)
	})
	if err != nil {
		t.Fatal(err)
	}
}
