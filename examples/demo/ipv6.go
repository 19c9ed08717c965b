package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os/exec"
	"strings"
	"time"
)

// exchanges6 runs the IPv6 exchanges, and the engine's own pings of both
// families; a failed one is reported and the next one still runs.
func (d *demo) exchanges6() {
	b := d.bed
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	d.section("5. ping6 from the peer kernel")
	d.printf("$ ip netns exec %s ping -6 -c 3 -i 0.2 -W 2 %s\n", b.NetnsName, b.EngineAddr6)
	out, err := b.Command(ctx, "ping", "-6", "-c", "3", "-i", "0.2", "-W", "2", b.EngineAddr6.String()).CombinedOutput()
	d.printPing(out)
	if err != nil {
		d.fail("ping6", fmt.Errorf("%v\n%s", err, out))
	} else {
		if neigh, err := b.Command(ctx, "ip", "-6", "neigh", "show", b.EngineAddr6.String()).Output(); err == nil {
			d.printf("  the peer kernel learnt the engine's MAC from the engine's neighbor advertisement: %s\n", strings.TrimSpace(string(neigh)))
		}
		d.printf("  ok: the engine answered ICMPv6 echo from userspace\n")
	}

	d.section("6. the engine pings the peer kernel (engine ping, IPv4 and IPv6)")
	for _, dst := range []netip.Addr{b.PeerAddr, b.PeerAddr6} {
		args := []string{"ping", "--ctl", d.ctlPath, "-c", "3", "--interval", "200ms", dst.String()}
		d.printf("$ engine %s\n", strings.Join(args, " "))
		out, err := exec.CommandContext(ctx, d.enginePath, args...).CombinedOutput()
		d.printPing(out)
		if err != nil {
			d.fail("engine ping "+dst.String(), fmt.Errorf("%v\n%s", err, out))
		}
	}
	d.printf("  ok: echo requests built by the engine, replies matched by identifier and sequence number\n")

	d.section("7. UDP and TCP echo over IPv6 (port 7, dual-stack listeners)")
	if err := d.echo6(); err != nil {
		d.fail("IPv6 echo", err)
	}
}

// printPing prints the reply and summary lines of ping(8) or engine ping.
func (d *demo) printPing(out []byte) {
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, "bytes from") || strings.Contains(line, "packets transmitted") ||
			strings.HasPrefix(line, "rtt") || strings.HasPrefix(line, "no reply") {
			d.printf("  %s\n", line)
		}
	}
}

// echo6 exchanges a message with the engine's UDP echo and one with its
// TCP echo, from the peer kernel's IPv6 sockets.
func (d *demo) echo6() error {
	to := netip.AddrPortFrom(d.bed.EngineAddr6, 7)
	for _, network := range []string{"udp6", "tcp6"} {
		var c net.Conn
		if err := d.bed.Do(func() (err error) {
			c, err = net.DialTimeout(network, to.String(), 3*time.Second)
			return err
		}); err != nil {
			return fmt.Errorf("%s: %w", network, err)
		}
		defer c.Close()
		msg := []byte("hello over IPv6 (" + network + ")")
		c.SetDeadline(time.Now().Add(3 * time.Second))
		t0 := time.Now()
		if _, err := c.Write(msg); err != nil {
			return fmt.Errorf("%s: send: %w", network, err)
		}
		buf := make([]byte, 256)
		var n int
		var err error
		if network == "tcp6" {
			n, err = io.ReadFull(c, buf[:len(msg)])
		} else {
			n, err = c.Read(buf)
		}
		rtt := time.Since(t0)
		if err != nil {
			return fmt.Errorf("%s: no answer: %w", network, err)
		}
		if !bytes.Equal(buf[:n], msg) {
			return fmt.Errorf("%s: got %q back, want %q", network, buf[:n], msg)
		}
		d.printf("  %s %s -> %s  %q, echoed in %v\n", strings.ToUpper(network[:3]), c.LocalAddr(), c.RemoteAddr(), msg, rtt.Round(time.Microsecond))
	}
	d.printf("  ok\n")
	return nil
}
