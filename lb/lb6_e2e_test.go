package lb_test

import (
	"context"
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

// lb6Bed is lbBed over IPv6: the engine owns the bed's IPv4 address and
// EngineAddr6/64 (without DAD), the kernel backends on the segment have
// IPv6 addresses of Prefix6 (testbed.AddSegmentIPv6), and the client in
// the peer namespace routes the IPv6 VIP through EngineAddr6.
type lb6Bed struct {
	queues   int
	bed      *testbed.Bed
	hosts    []*testbed.SegmentHost
	addrs    []netip.Addr // the hosts' IPv6 addresses
	eng      *engine.Engine
	vip      netip.Addr
	backends []lb.Backend
	ports    map[uint16]int // get's client ports (portsClient)
}

// routeVIP6 routes Prefix6's ::100, which nobody owns, through the
// engine's IPv6 address in the client's namespace.
func routeVIP6(t *testing.T, bed *testbed.Bed) netip.Addr {
	t.Helper()
	a := bed.Prefix6.Addr().As16()
	a[14], a[15] = 0x01, 0x00
	vip := netip.AddrFrom16(a)
	out, err := bed.Command(context.Background(), "ip", "-6", "route", "add", vip.String()+"/128", "via", bed.EngineAddr6.String()).CombinedOutput()
	if err != nil {
		t.Fatalf("route %v via the engine: %v: %s", vip, err, out)
	}
	return vip
}

// segment6 builds an IPv6 bed with n segment hosts and the VIP routed to
// the engine; with dsr, each host owns the VIP on its loopback.
func segment6(t *testing.T, n int, dsr bool) *lb6Bed { return segment6Queues(t, n, dsr, 1) }

func segment6Queues(t *testing.T, n int, dsr bool, queues int) *lb6Bed {
	t.Helper()
	bed := testbed.New(t, testbed.Config{IPv6: true, Queues: queues})
	hosts, err := bed.AddSegmentHosts(n)
	if err != nil {
		t.Fatal(err)
	}
	addrs, err := bed.AddSegmentIPv6(hosts)
	if err != nil {
		t.Fatal(err)
	}
	b := &lb6Bed{queues: queues, bed: bed, hosts: hosts, addrs: addrs, vip: routeVIP6(t, bed)}
	for i, h := range hosts {
		if dsr {
			out, err := h.Command(context.Background(), "ip", "-6", "addr", "add", b.vip.String()+"/128", "dev", "lo", "nodad").CombinedOutput()
			if err != nil {
				t.Fatalf("VIP on host %d's loopback: %v: %s", i, err, out)
			}
		}
	}
	return b
}

// start runs the engine with cfg's VIPs.
func (b *lb6Bed) start(t *testing.T, cfg *lb.Config) {
	t.Helper()
	b.eng = enginetest.Start(t, b.bed, engine.Config{Queues: b.queues, IPv6NoDAD: true, LoadBalancer: cfg, Addrs: []netip.Prefix{
		netip.PrefixFrom(b.bed.EngineAddr, b.bed.Prefix.Bits()), netip.PrefixFrom(b.bed.EngineAddr6, 64)}})
}

// bigSize is what a backend's /big answers: enginetest.Pattern blocks.
const bigSize = 8 << 20

// serveName6 runs an HTTP server on port 80 of h's IPv6 addresses that
// answers / with name and /big with bigSize bytes of enginetest.Pattern,
// until the test ends (enginetest.ServeName over IPv6).
func serveName6(t *testing.T, h *testbed.SegmentHost, name string) {
	t.Helper()
	var ln net.Listener
	if err := h.Do(func() (err error) {
		ln, err = net.Listen("tcp6", "[::]:80")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, name) })
	mux.HandleFunc("/big", func(w http.ResponseWriter, _ *http.Request) {
		buf := make([]byte, 64<<10)
		for sent := 0; sent < bigSize; sent += len(buf) {
			enginetest.Pattern(buf, uint32(sent/len(buf)))
			if _, err := w.Write(buf); err != nil {
				return
			}
		}
	})
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
}

// newLB6Bed builds the bed with HTTP backends of the given weights behind
// one TCP VIP on port 80 in mode.
func newLB6Bed(t *testing.T, mode lb.Mode, weights []uint32) *lb6Bed {
	return newLB6BedQueues(t, mode, weights, 1)
}

func newLB6BedQueues(t *testing.T, mode lb.Mode, weights []uint32, queues int) *lb6Bed {
	t.Helper()
	b := segment6Queues(t, len(weights), mode == lb.DSRL2, queues)
	for i, h := range b.hosts {
		b.backends = append(b.backends, lb.Backend{Addr: b.addrs[i], Weight: weights[i]})
		serveName6(t, h, fmt.Sprintf("backend-%d", i))
	}
	b.start(t, &lb.Config{VIPs: []lb.VIP{{Addr: b.vip, Port: 80, Proto: header.ProtocolTCP, Mode: mode, Backends: b.backends}}})
	return b
}

func (b *lb6Bed) url(path string) string {
	return "http://" + netip.AddrPortFrom(b.vip, 80).String() + path
}

// get6 fetches the VIP n times from the client, each on a new connection,
// and counts the answers by backend name.
func (b *lb6Bed) get(t *testing.T, n int) map[string]int {
	t.Helper()
	got := map[string]int{}
	if b.ports == nil {
		b.ports = map[uint16]int{}
	}
	client := portsClient(b.bed, b.ports)
	for i := range n {
		resp, err := client.Get(b.url("/"))
		if err != nil {
			t.Fatalf("request %d through the VIP %v: %v (engine IPv6 counters %+v)", i, b.vip, err, b.eng.Stats().Total.IPv6)
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

// TestNAT6SpreadsByWeight: through an IPv6 NAT VIP, HTTP requests from the
// client reach the three kernel backends in proportion to their weights
// 1:1:2, each answer translated back; the counters add up, and the flows
// are listed with the client's address and the engine's IPv6 address as
// their source.
func TestNAT6SpreadsByWeight(t *testing.T) {
	weights := []uint32{1, 1, 2}
	b := newLB6Bed(t, lb.NAT, weights)
	const n = 400
	got := b.get(t, n)
	t.Logf("NAT over IPv6: %v", got)
	checkShares(t, got, weights, n)
	st := b.eng.Balancer().Stats()
	key := netip.AddrPortFrom(b.vip, 80).String() + "/tcp"
	flowsWant := clientFlows(t, b.ports, n)
	if len(st) != 1 || st[0].VIP != key || st[0].NewFlows != uint64(flowsWant) {
		t.Errorf("VIP counters: %+v, want %d new flows of %s", st, flowsWant, key)
	} else {
		var sum uint64
		for _, be := range st[0].Backends {
			sum += be.NewFlows
			if !be.Addr.Is6() {
				t.Errorf("backend %v in the counters: want an IPv6 address", be.Addr)
			}
		}
		if sum != uint64(flowsWant) {
			t.Errorf("backends' new flows add up to %d, want %d", sum, flowsWant)
		}
	}
	flows := b.eng.Balancer().Flows("", 0, time.Second)
	if len(flows) != flowsWant {
		t.Errorf("%d flows listed, want %d", len(flows), flowsWant)
	}
	for _, f := range flows {
		if f.SNAT.Addr() != b.bed.EngineAddr6 || f.Client.Addr() != b.bed.PeerAddr6 || f.VIP != key || f.State != "closing" {
			t.Fatalf("flow %+v: want a NAT flow of %s from %v through %v, closing", f, key, b.bed.PeerAddr6, b.bed.EngineAddr6)
		}
	}
	// The CLI's lookup: a client's flow goes where Lookup says.
	be, err := b.eng.Balancer().Lookup(netip.AddrPortFrom(b.vip, 80), header.ProtocolTCP, netip.AddrPortFrom(b.bed.PeerAddr6, 40000))
	if err != nil || !be.Is6() {
		t.Errorf("Lookup = %v, %v; want an IPv6 backend", be, err)
	}
}

// TestDSRL2v6SpreadsByWeight: the same through an IPv6 dsr-l2 VIP: the
// backends own the VIP on their loopback and answer the client directly.
func TestDSRL2v6SpreadsByWeight(t *testing.T) {
	weights := []uint32{2, 1, 1}
	b := newLB6Bed(t, lb.DSRL2, weights)
	const n = 400
	got := b.get(t, n)
	t.Logf("dsr-l2 over IPv6: %v", got)
	checkShares(t, got, weights, n)
	if st, want := b.eng.Balancer().Stats(), clientFlows(t, b.ports, n); len(st) != 1 || st[0].NewFlows != uint64(want) {
		t.Errorf("VIP counters: %+v, want %d new flows", st, want)
	}
}

// TestLB6TwoWorkers: on two workers, IPv6 flows whose packets land on
// the worker that does not own them are handed over (inet6's
// SteerForward) or translated where they land, in both modes: every
// request is answered, by the backends in proportion.
func TestLB6TwoWorkers(t *testing.T) {
	weights := []uint32{1, 1, 2}
	for _, mode := range []lb.Mode{lb.NAT, lb.DSRL2} {
		b := newLB6BedQueues(t, mode, weights, 2)
		const n = 400
		got := b.get(t, n)
		st := b.eng.Stats().Total
		t.Logf("%v over IPv6 on two workers: %v; steered %d", mode, got, st.Steered)
		checkShares(t, got, weights, n)
		if st.Steered == 0 {
			t.Errorf("%v: nothing was handed between the workers: the test did not exercise it", mode)
		}
	}
}

// TestNAT6Transfer: an 8 MiB download through an IPv6 NAT VIP arrives
// byte for byte (segments larger than a frame's worth of data: the
// backends' partial checksums completed, every rewrite's checksum right,
// or the client's kernel would drop them).
func TestNAT6Transfer(t *testing.T) {
	b := newLB6Bed(t, lb.NAT, []uint32{1, 1})
	client := enginetest.PeerHTTPClient(b.bed)
	client.Timeout = 60 * time.Second
	for range 2 {
		resp, err := client.Get(b.url("/big"))
		if err != nil {
			t.Fatal(err)
		}
		got, want := make([]byte, 64<<10), make([]byte, 64<<10)
		for read := 0; read < bigSize; read += len(got) {
			if _, err := io.ReadFull(resp.Body, got); err != nil {
				t.Fatalf("after %d bytes: %v", read, err)
			}
			enginetest.Pattern(want, uint32(read/len(got)))
			if string(got) != string(want) {
				t.Fatalf("bytes %d-%d differ", read, read+len(got))
			}
		}
		if n, _ := io.Copy(io.Discard, resp.Body); n != 0 {
			t.Errorf("%d bytes past the end", n)
		}
		resp.Body.Close()
	}
	if st := b.eng.Balancer().Stats(); len(st) != 1 || st[0].Bytes < 2*bigSize {
		t.Errorf("VIP counters %+v: want at least %d bytes through the balancer", st, 2*bigSize)
	}
}

// TestUDP6VIP: datagrams to an IPv6 UDP VIP (NAT) reach the backends'
// echo services and the echoes come back from the VIP.
func TestUDP6VIP(t *testing.T) {
	b := segment6(t, 2, false)
	for i, h := range b.hosts {
		b.backends = append(b.backends, lb.Backend{Addr: b.addrs[i], Weight: 1})
		var pc net.PacketConn
		if err := h.Do(func() (err error) { pc, err = net.ListenPacket("udp6", "[::]:53"); return err }); err != nil {
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
	b.start(t, &lb.Config{VIPs: []lb.VIP{{Addr: b.vip, Port: 53, Proto: header.ProtocolUDP, Mode: lb.NAT, Backends: b.backends}}})
	seen := map[string]int{}
	for i := range 60 {
		err := b.bed.Do(func() error {
			c, err := net.Dial("udp6", netip.AddrPortFrom(b.vip, 53).String())
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
			t.Fatalf("%v (engine IPv6 counters %+v)", err, b.eng.Stats().Total.IPv6)
		}
	}
	if seen["b0"] == 0 || seen["b1"] == 0 {
		t.Errorf("answers by backend: %v, want both", seen)
	}
}

// TestMixedFamilyVIPRefused: an IPv6 VIP with an IPv4 backend is refused
// with a clear error, and the running configuration stays.
func TestMixedFamilyVIPRefused(t *testing.T) {
	b := segment6(t, 1, false)
	b.start(t, &lb.Config{})
	err := b.eng.Balancer().SetConfig(lb.Config{VIPs: []lb.VIP{{Addr: b.vip, Port: 80, Proto: header.ProtocolTCP, Mode: lb.NAT,
		Backends: []lb.Backend{{Addr: b.hosts[0].Addr, Weight: 1}}}}})
	if err == nil || !strings.Contains(err.Error(), "not supported yet") {
		t.Errorf("SetConfig(IPv6 VIP, IPv4 backend) = %v, want a not-supported error", err)
	}
}
