package lb_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
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

// vxlanVNI is the test backends' VXLAN network.
const vxlanVNI = 4242

// newVXLANBed builds a bed whose kernel backends terminate dsr-vxlan: each
// has a VXLAN device (VNI vxlanVNI, port 4789, a MAC of its own), owns the
// VIP on its loopback and answers HTTP on 80, an upload sink on 81 and a
// UDP echo on 53 with its name. The VIP's three services go through the
// engine in dsr-vxlan.
func newVXLANBed(t *testing.T, weights []uint32, hashFragments bool) *lbBed {
	t.Helper()
	bed, hosts, vip := segmentVIP(t, len(weights))
	b := &lbBed{bed: bed, hosts: hosts, vip: vip}
	for i, h := range hosts {
		mac := header.MAC{2, 0, 0x5e, 0x10, 0, byte(i + 1)}
		name := fmt.Sprintf("backend-%d", i)
		// rp_filter off: the client's packets arrive on the tunnel while
		// the route back to the client is the segment, as on every DSR
		// tunnel backend (Katran's and GLB's guides say the same).
		run(t, h, "ip", "link", "add", "vx0", "address", mac.String(), "type", "vxlan", "id", fmt.Sprint(vxlanVNI),
			"dstport", "4789", "local", h.Addr.String(), "dev", h.Ifname)
		run(t, h, "ip", "link", "set", "vx0", "up")
		run(t, h, "ip", "addr", "add", vip.String()+"/32", "dev", "lo")
		run(t, h, "sysctl", "-qw", "net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.vx0.rp_filter=0")
		enginetest.ServeName(t, h, name)
		serveUpload(t, h, 81, name)
		serveUDPName(t, h, netip.AddrPortFrom(vip, 53), name)
		b.backends = append(b.backends, lb.Backend{Addr: h.Addr, Weight: weights[i], MAC: mac})
	}
	var vips []lb.VIP
	for _, s := range []struct {
		port  uint16
		proto uint8
	}{{80, header.ProtocolTCP}, {81, header.ProtocolTCP}, {53, header.ProtocolUDP}} {
		vips = append(vips, lb.VIP{Addr: vip, Port: s.port, Proto: s.proto, Mode: lb.DSRVXLAN, VNI: vxlanVNI, Backends: b.backends,
			HashFragments: hashFragments && s.proto == header.ProtocolUDP})
	}
	b.eng = enginetest.Start(t, bed, engine.Config{LoadBalancer: &lb.Config{VIPs: vips}})
	return b
}

func run(t *testing.T, h *testbed.SegmentHost, name string, args ...string) {
	t.Helper()
	if out, err := h.Command(context.Background(), name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %s %s: %v: %s", h.NetnsName, name, strings.Join(args, " "), err, out)
	}
}

// serveUpload accepts TCP connections on port of h; each reads everything
// until the client's FIN and answers "NAME N" (N the bytes read).
func serveUpload(t *testing.T, h *testbed.SegmentHost, port int, name string) {
	t.Helper()
	var ln net.Listener
	if err := h.Do(func() (err error) { ln, err = net.Listen("tcp4", fmt.Sprintf(":%d", port)); return err }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				n, _ := io.Copy(io.Discard, c)
				fmt.Fprintf(c, "%s %d", name, n)
			}()
		}
	}()
}

// serveUDPName answers every datagram to addr on h with "NAME:" and the
// datagram. A DSR backend binds the VIP: an unbound UDP socket would
// answer from the backend's own address, which the client's connected
// socket does not take.
func serveUDPName(t *testing.T, h *testbed.SegmentHost, addr netip.AddrPort, name string) {
	t.Helper()
	var pc net.PacketConn
	if err := h.Do(func() (err error) { pc, err = net.ListenPacket("udp4", addr.String()); return err }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 65536)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			pc.WriteTo(append([]byte(name+":"), buf[:n]...), from)
		}
	}()
}

// TestVXLANSpreadsByWeight: through a dsr-vxlan VIP, HTTP requests reach
// kernel VXLAN backends in proportion to their weights 1:2:1, and their
// answers come straight back to the client from the VIP.
func TestVXLANSpreadsByWeight(t *testing.T) {
	weights := []uint32{1, 2, 1}
	b := newVXLANBed(t, weights, false)
	const n = 400
	got := b.get(t, n)
	t.Logf("dsr-vxlan: %v", got)
	checkShares(t, got, weights, n)
}

// TestVXLANPathMTU: a TCP upload through the dsr-vxlan VIP in full-sized
// segments (DF set, 1500 bytes: 1550 once encapsulated, over the link's
// MTU) gets ICMP "fragmentation needed" from the balancer with 1450; the
// client's kernel lowers its segments and the upload arrives whole. A UDP
// datagram of 1472 bytes is answered too: once the client's kernel knows
// the path MTU it fragments it, the balancer reassembles, encapsulates and
// sends the outer packet in fragments, which the backend reassembles.
func TestVXLANPathMTU(t *testing.T) {
	b := newVXLANBed(t, []uint32{1, 1, 1}, false)
	const size = 1 << 20
	err := b.bed.Do(func() error {
		c, err := net.DialTimeout("tcp4", netip.AddrPortFrom(b.vip, 81).String(), 5*time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(30 * time.Second))
		if _, err := c.Write(make([]byte, size)); err != nil {
			return fmt.Errorf("upload: %w", err)
		}
		c.(*net.TCPConn).CloseWrite()
		reply, err := io.ReadAll(c)
		if err != nil {
			return fmt.Errorf("reply: %w", err)
		}
		if !strings.HasSuffix(string(reply), fmt.Sprintf(" %d", size)) {
			return fmt.Errorf("the backend got %q, want %d bytes", reply, size)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	tooBig := uint64(0)
	for _, v := range b.eng.Balancer().Stats() {
		tooBig += v.DropsBy[lb.DropTooBig]
	}
	if tooBig == 0 {
		t.Error("no packet was too big to encapsulate: the test did not exercise path MTU")
	}
	err = b.bed.Do(func() error {
		c, err := net.Dial("udp4", netip.AddrPortFrom(b.vip, 53).String())
		if err != nil {
			return err
		}
		defer c.Close()
		msg := bytes.Repeat([]byte("u"), 1472)
		buf := make([]byte, 4096)
		for range 5 { // the first one may be the one the balancer answers with ICMP
			c.Write(msg)
			c.SetReadDeadline(time.Now().Add(time.Second))
			n, err := c.Read(buf)
			if err == nil {
				if !bytes.HasSuffix(buf[:n], msg) {
					return fmt.Errorf("answer of %d bytes does not end with the datagram", n)
				}
				return nil
			}
		}
		return fmt.Errorf("no answer to a 1472-byte datagram through dsr-vxlan")
	})
	if err != nil {
		t.Fatal(err)
	}
	if st := b.eng.Stats().Total; st.Reasm.ReasmOKs == 0 || st.Frag.FragCreates == 0 {
		t.Errorf("reassembled %d datagrams, sent %d outer fragments: want both, the test did not exercise them", st.Reasm.ReasmOKs, st.Frag.FragCreates)
	}
}

// TestHashedFragments: a UDP VIP with hashed fragments (fragments: hash3)
// sends each fragment of a datagram, unreassembled, to the backend of the
// hash of its addresses and protocol: datagrams of 4000 bytes, which the
// client's kernel fragments, are answered whole, the engine reassembled
// none of them, and one backend got them all (one client, one VIP). A
// second UDP VIP on the same address that reassembles is refused.
func TestHashedFragments(t *testing.T) {
	b := newVXLANBed(t, []uint32{1, 1, 1}, true)
	err := b.bed.Do(func() error {
		c, err := net.Dial("udp4", netip.AddrPortFrom(b.vip, 53).String())
		if err != nil {
			return err
		}
		defer c.Close()
		buf := make([]byte, 8192)
		answered := 0
		for i := range 20 {
			msg := bytes.Repeat([]byte{byte('a' + i)}, 4000)
			c.Write(msg)
			c.SetReadDeadline(time.Now().Add(time.Second))
			n, err := c.Read(buf)
			if err != nil {
				continue // the first may wait for ARP
			}
			if !bytes.HasSuffix(buf[:n], msg) {
				return fmt.Errorf("answer %d of %d bytes does not end with the datagram", i, n)
			}
			answered++
		}
		if answered < 15 {
			return fmt.Errorf("%d of 20 datagrams of 4000 bytes answered", answered)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	st := b.eng.Stats().Total
	if st.Reasm.ReasmReqds != 0 {
		t.Errorf("the engine reassembled %d fragments: want none", st.Reasm.ReasmReqds)
	}
	for _, v := range b.eng.Balancer().Stats() {
		if !strings.HasSuffix(v.VIP, "/udp") {
			continue
		}
		if v.Packets < 3*15 {
			t.Errorf("%s forwarded %d packets, want every fragment (3 a datagram)", v.VIP, v.Packets)
		}
		busy := 0
		for _, be := range v.Backends {
			if be.Packets > 0 {
				busy++
			}
		}
		if busy != 1 {
			t.Errorf("fragments of one client reached %d backends, want 1: %+v", busy, v.Backends)
		}
	}
	cfg := b.eng.Balancer().Config()
	cfg.VIPs = append(cfg.VIPs, lb.VIP{Addr: b.vip, Port: 54, Proto: header.ProtocolUDP, Mode: lb.DSRVXLAN, VNI: vxlanVNI, Backends: b.backends})
	if err := b.eng.Balancer().SetConfig(cfg); err == nil || !strings.Contains(err.Error(), "must all hash them or all reassemble") {
		t.Errorf("a reassembling UDP VIP beside a hashing one: %v, want refused", err)
	}
}
