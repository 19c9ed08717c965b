package xdpgen_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/net/ipv4"

	"github.com/xdpengine/engine/bench/stream"
	"github.com/xdpengine/engine/bench/xdpgen"
	"github.com/xdpengine/engine/internal/enginetest"
	"github.com/xdpengine/engine/internal/testbed"
)

// echoPort is the UDP port of the peer's echo in these tests.
const echoPort = 7

// openPort opens a Port on the bed's engine side with the engine's address
// and closes it when t ends.
func openPort(t testing.TB, bed *testbed.Bed, cfg xdpgen.Config) *xdpgen.Port {
	t.Helper()
	cfg.Interface = bed.HostIf
	if !cfg.Addr.IsValid() {
		cfg.Addr = netip.PrefixFrom(bed.EngineAddr, bed.Prefix.Bits())
	}
	p, err := xdpgen.Open(cfg)
	if err != nil {
		t.Fatalf("open port: %v", err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("close port: %v", err)
		}
	})
	return p
}

// udpSpec is a 64-byte UDP stream from the port to the peer's echo,
// its MACs resolved by ARP.
func udpSpec(t testing.TB, bed *testbed.Bed, p *xdpgen.Port, size int) stream.Spec {
	t.Helper()
	mac, err := p.Resolve(context.Background(), bed.PeerAddr)
	if err != nil {
		t.Fatalf("resolve the peer: %v", err)
	}
	return stream.Spec{
		Kind: stream.UDP, SrcMAC: p.MAC(), DstMAC: mac,
		Src:     stream.AddrRange{First: p.Addr().Addr()},
		Dst:     stream.AddrRange{First: bed.PeerAddr},
		SrcPort: stream.PortRange{First: 10000}, DstPort: stream.PortRange{First: echoPort},
		Size: stream.Fixed(size), Sign: stream.SignOn,
	}
}

// peerEcho runs a kernel UDP echo on port in the peer namespace, reading
// and writing in batches (recvmmsg, sendmmsg), until t ends.
func peerEcho(t testing.TB, bed *testbed.Bed, port uint16) {
	t.Helper()
	var c *net.UDPConn
	if err := bed.Do(func() (err error) {
		c, err = net.ListenUDP("udp4", &net.UDPAddr{Port: int(port)})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	enginetest.ForceReadBuffer(t, c, 8<<20) // an echo the machine stalls does not drop
	done := make(chan struct{})
	go func() {
		defer close(done)
		pc := ipv4.NewPacketConn(c)
		ms := make([]ipv4.Message, 64)
		for i := range ms {
			ms[i].Buffers = [][]byte{make([]byte, 9000)}
		}
		for {
			n, err := pc.ReadBatch(ms, 0)
			if err != nil {
				return
			}
			for i := range ms[:n] {
				ms[i].Buffers[0] = ms[i].Buffers[0][:ms[i].N]
			}
			for k := 0; k < n; {
				m, err := pc.WriteBatch(ms[k:n], 0)
				if err != nil {
					return
				}
				k += m
			}
			for i := range ms[:n] {
				ms[i].Buffers[0] = ms[i].Buffers[0][:cap(ms[i].Buffers[0])]
			}
		}
	}()
	t.Cleanup(func() { c.Close(); <-done })
}

// peerNft loads an nftables table named "xg" into the peer namespace
// (removed when t ends).
func peerNft(t testing.TB, bed *testbed.Bed, rules string) {
	t.Helper()
	enginetest.NeedTool(t, "nft")
	cmd := bed.Command(context.Background(), "nft", "-f", "-")
	cmd.Stdin = strings.NewReader("table inet xg {\n" + rules + "\n}\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nft: %v\n%s", err, out)
	}
	t.Cleanup(func() { bed.Command(context.Background(), "nft", "delete", "table", "inet", "xg").Run() })
}

// nftCounter returns the packets of the named counter of table xg.
func nftCounter(t testing.TB, bed *testbed.Bed, name string) uint64 {
	t.Helper()
	out, err := bed.Command(context.Background(), "nft", "list", "counter", "inet", "xg", name).CombinedOutput()
	if err != nil {
		t.Fatalf("nft list counter: %v\n%s", err, out)
	}
	f := strings.Fields(string(out))
	for i, w := range f {
		if w == "packets" && i+1 < len(f) {
			n, err := strconv.ParseUint(f[i+1], 10, 64)
			if err == nil {
				return n
			}
		}
	}
	t.Fatalf("no packet count in %q", out)
	return 0
}

// peerRxPackets returns the packets the peer's end of the link received.
func peerRxPackets(t testing.TB, bed *testbed.Bed) uint64 {
	t.Helper()
	var n uint64
	if err := bed.Do(func() error {
		l, err := netlink.LinkByName(bed.PeerIf)
		if err != nil {
			return err
		}
		if l.Attrs().Statistics == nil {
			return errors.New("no link statistics")
		}
		n = l.Attrs().Statistics.RxPackets
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return n
}

// run runs traffic on p and fails t on error.
func run(t testing.TB, p *xdpgen.Port, tr xdpgen.Traffic) *xdpgen.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	r, err := p.Run(ctx, tr)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	return r
}

// peerReflector opens a Port in reflect mode on the peer's end of the
// link, owning the bed's address .5, until t ends.
func peerReflector(t testing.TB, bed *testbed.Bed) *xdpgen.Port {
	t.Helper()
	a := bed.Prefix.Addr().As4()
	a[3] = 5
	var p *xdpgen.Port
	if err := bed.Do(func() (err error) {
		p, err = xdpgen.Open(xdpgen.Config{Interface: bed.PeerIf, Addr: netip.PrefixFrom(netip.AddrFrom4(a), bed.Prefix.Bits())})
		return err
	}); err != nil {
		t.Fatalf("open the reflector: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if _, err := p.Reflect(ctx, 0, nil); err != nil {
			t.Errorf("reflect: %v", err)
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		if err := p.Close(); err != nil {
			t.Errorf("close the reflector: %v", err)
		}
	})
	return p
}
