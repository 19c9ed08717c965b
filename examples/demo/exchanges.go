package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/xdpengine/engine/afxdp"
)

// exchanges runs the four IPv4 exchanges from the peer kernel; a failed one is
// reported and the next one still runs.
func (d *demo) exchanges() {
	b := d.bed
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	d.section("1. ping from the peer kernel")
	d.printf("$ ip netns exec %s ping -c 3 -i 0.2 -W 2 %s\n", b.NetnsName, b.EngineAddr)
	out, err := b.Command(ctx, "ping", "-c", "3", "-i", "0.2", "-W", "2", b.EngineAddr.String()).CombinedOutput()
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, "bytes from") || strings.Contains(line, "packets transmitted") || strings.HasPrefix(line, "rtt") {
			d.printf("  %s\n", line)
		}
	}
	if err != nil {
		if errors.Is(err, exec.ErrNotFound) {
			err = fmt.Errorf("%w (install iputils-ping)", err)
		}
		d.fail("ping", fmt.Errorf("%v\n%s", err, out))
	} else {
		if neigh, err := b.Command(ctx, "ip", "neigh", "show", b.EngineAddr.String()).Output(); err == nil {
			d.printf("  the peer kernel learnt the engine's MAC from the engine's ARP reply: %s\n", strings.TrimSpace(string(neigh)))
		}
		d.printf("  ok: the engine answered ICMP echo from userspace\n")
	}

	d.section("2. UDP echo (port 7)")
	if err := d.udpEcho(); err != nil {
		d.fail("UDP echo", err)
	}

	d.section("3. a 60,000-byte UDP datagram: fragmented, reassembled, echoed back fragmented")
	if err := d.bigEcho(); err != nil {
		d.fail("60,000-byte echo", err)
	}

	d.section("4. a datagram to a closed port (9)")
	if err := d.closedPort(); err != nil {
		d.fail("closed port", err)
	}
}

// peerConn opens a UDP socket of the peer kernel connected to the engine.
func (d *demo) peerConn(port uint16) (*net.UDPConn, error) {
	var c *net.UDPConn
	err := d.bed.Do(func() (err error) {
		c, err = net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(d.bed.EngineAddr, port)))
		return err
	})
	return c, err
}

// roundTrip sends msg and reads the answer into buf, with the time taken.
func roundTrip(c *net.UDPConn, msg, buf []byte) (int, time.Duration, error) {
	c.SetReadDeadline(time.Now().Add(3 * time.Second))
	t0 := time.Now()
	if _, err := c.Write(msg); err != nil {
		return 0, 0, fmt.Errorf("send %d bytes: %w", len(msg), err)
	}
	n, err := c.Read(buf)
	rtt := time.Since(t0)
	if err != nil {
		return 0, rtt, fmt.Errorf("no answer to %d bytes: %w", len(msg), err)
	}
	return n, rtt, nil
}

func (d *demo) udpEcho() error {
	c, err := d.peerConn(7)
	if err != nil {
		return err
	}
	defer c.Close()
	msg := []byte("hello from the peer kernel")
	buf := make([]byte, 2048)
	var rtts []time.Duration
	for i := range 5 {
		n, rtt, err := roundTrip(c, msg, buf)
		if err != nil {
			return err
		}
		if !bytes.Equal(buf[:n], msg) {
			return fmt.Errorf("exchange %d: got %q back, want %q", i+1, buf[:n], msg)
		}
		if i == 0 {
			d.printf("  %s -> %s  %q (%d bytes)\n", c.LocalAddr(), c.RemoteAddr(), msg, len(msg))
			d.printf("  %s <- %s  %q, echoed in %v\n", c.LocalAddr(), c.RemoteAddr(), buf[:n], rtt.Round(time.Microsecond))
		}
		rtts = append(rtts, rtt)
	}
	slices.Sort(rtts)
	d.printf("  5 exchanges: rtt min %v, median %v, max %v (through the peer kernel's socket and the veth pair)\n",
		rtts[0].Round(time.Microsecond), rtts[2].Round(time.Microsecond), rtts[4].Round(time.Microsecond))
	d.printf("  ok\n")
	return nil
}

func (d *demo) bigEcho() error {
	c, err := d.peerConn(7)
	if err != nil {
		return err
	}
	defer c.Close()
	msg := make([]byte, 60000)
	for i := range msg {
		msg[i] = byte(i * 7)
	}
	before, err := d.stats()
	if err != nil {
		return fmt.Errorf("engine stats: %w", err)
	}
	perFrag := (d.bed.MTU - 20) &^ 7
	d.printf("  the peer kernel sends %d bytes of UDP payload in %d IPv4 fragments (MTU %d)\n",
		len(msg), (len(msg)+8+perFrag-1)/perFrag, d.bed.MTU)
	buf := make([]byte, 65536)
	n, rtt, err := roundTrip(c, msg, buf)
	if err != nil {
		return err
	}
	if !bytes.Equal(buf[:n], msg) {
		return fmt.Errorf("got %d bytes back, not the %d sent", n, len(msg))
	}
	after, err := d.stats()
	if err != nil {
		return fmt.Errorf("engine stats: %w", err)
	}
	a, bf := &after.Total, &before.Total
	d.printf("  engine: %d fragments received, %d datagram reassembled; %d datagram fragmented into %d fragments\n",
		a.Reasm.ReasmReqds-bf.Reasm.ReasmReqds, a.Reasm.ReasmOKs-bf.Reasm.ReasmOKs,
		a.Frag.FragOKs-bf.Frag.FragOKs, a.Frag.FragCreates-bf.Frag.FragCreates)
	d.printf("  the peer kernel reassembled the answer: %d bytes, byte-for-byte equal, in %v\n", n, rtt.Round(time.Microsecond))
	if a.Reasm.ReasmOKs == bf.Reasm.ReasmOKs || a.Frag.FragOKs == bf.Frag.FragOKs {
		return errors.New("the engine's counters do not show the reassembly and the fragmentation")
	}
	d.printf("  ok\n")
	return nil
}

func (d *demo) closedPort() error {
	c, err := d.peerConn(9)
	if err != nil {
		return err
	}
	defer c.Close()
	d.printf("  %s -> %s  \"anyone?\"\n", c.LocalAddr(), c.RemoteAddr())
	_, rtt, err := roundTrip(c, []byte("anyone?"), make([]byte, 64))
	if err == nil {
		return errors.New("got an answer from a port nobody listens on")
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("want connection refused: %w", err)
	}
	d.printf("  the engine answered ICMP port unreachable; the peer's read returned %q after %v\n",
		syscall.ECONNREFUSED.Error(), rtt.Round(time.Microsecond))
	d.printf("  ok\n")
	return nil
}

// inspect shows the engine's own view: engine stats, engine ss -tua (the
// dual-stack listeners) and a few metrics.
func (d *demo) inspect() {
	for _, args := range [][]string{{"stats", "--ctl", d.ctlPath}, {"ss", "-tua", "--ctl", d.ctlPath}} {
		d.section("engine " + args[0])
		d.printf("$ engine %s\n", strings.Join(args, " "))
		out, err := exec.Command(d.enginePath, args...).CombinedOutput()
		d.out.Write(out)
		if err != nil {
			d.fail("engine "+args[0], err)
		}
	}
	d.section("metrics")
	url := "http://" + d.metricsAddr + "/metrics"
	d.printf("GET %s (a few of the families)\n", url)
	resp, err := http.Get(url)
	if err != nil {
		d.fail("metrics", err)
		return
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(io.LimitReader(resp.Body, 1<<20))
	shown := 0
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "#") && (strings.HasPrefix(line, "engine_rx_packets_total") ||
			strings.Contains(line, `reason="no_socket"`) || strings.HasPrefix(line, "engine_ipv4_reasm_ok_total") ||
			strings.HasPrefix(line, "engine_echo_datagrams_total") || strings.HasPrefix(line, "engine_ipv6_packets_total") ||
			strings.HasPrefix(line, `engine_icmpv6_messages_total{direction="in",queue="0",type="echo"}`)) {
			d.printf("%s\n", line)
			shown++
		}
	}
	if shown == 0 {
		d.fail("metrics", fmt.Errorf("no engine_ series at %s (status %s)", url, resp.Status))
	}
}

// stopEngine sends SIGTERM to the engine and checks that it exits 0 and
// leaves no XDP program behind.
func (d *demo) stopEngine() {
	d.section(fmt.Sprintf("stopping the engine (SIGTERM to pid %d)", d.child.Process.Pid))
	t0 := time.Now()
	if err := d.terminate(); err != nil {
		d.fail("stop the engine", err)
		return
	}
	<-d.logDone
	d.printf("  engine serve exited with status 0 after %v\n", time.Since(t0).Round(time.Millisecond))
	link, err := netlink.LinkByName(d.bed.HostIf)
	switch {
	case err != nil:
		d.fail("check "+d.bed.HostIf, err)
	case link.Attrs().Xdp != nil && link.Attrs().Xdp.Attached:
		d.fail("XDP detach", fmt.Errorf("program %d still attached to %s", link.Attrs().Xdp.ProgId, d.bed.HostIf))
	default:
		d.printf("  no XDP program left on %s (%s detached)\n", d.bed.HostIf, afxdp.ProgramName)
	}
}

// terminate stops the child once: SIGTERM, then SIGKILL after 10 s.
func (d *demo) terminate() error {
	if d.child == nil || d.child.Process == nil {
		return nil
	}
	var err error
	d.stopOnce.Do(func() {
		select {
		case <-d.childDone:
		default:
			d.child.Process.Signal(syscall.SIGTERM)
			select {
			case <-d.childDone:
			case <-time.After(10 * time.Second):
				d.child.Process.Kill()
				<-d.childDone
				err = errors.New("engine serve did not exit within 10s of SIGTERM; killed")
				return
			}
		}
		if d.childErr != nil {
			err = fmt.Errorf("engine serve: %w", d.childErr)
		}
	})
	return err
}
