// Command demo builds a self-contained test bed (a veth pair with its peer
// end in a fresh network namespace), shows it, and removes it. `make demo`
// runs it. As the engine grows, the demo starts `engine serve` on the engine
// side and drives it from the peer kernel.
package main

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/xdpengine/engine/internal/testbed"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run() error {
	bed, err := testbed.Create(testbed.Config{})
	if err != nil {
		return err
	}
	defer func() {
		if err := bed.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "demo: cleanup:", err)
		}
		if left := bed.Leftovers(); len(left) > 0 {
			fmt.Fprintln(os.Stderr, "demo: left behind:", left)
		} else {
			fmt.Println("\nbed removed; nothing left behind")
		}
	}()
	// A Ctrl-C still removes the bed.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sig
		bed.Close()
		os.Exit(130)
	}()

	fmt.Printf("test bed %s\n", bed.NetnsName)
	fmt.Printf("  engine side: %-16s mac %s  engine address %s (served in userspace)\n",
		bed.HostIf, bed.HostMAC, bed.EngineAddr)
	fmt.Printf("  peer side:   %-16s mac %s  kernel address %s in namespace %s\n",
		bed.PeerIf, bed.PeerMAC, bed.PeerAddr, bed.NetnsName)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	fmt.Printf("\n$ ip netns exec %s ip -br addr\n", bed.NetnsName)
	out, err := bed.Command(ctx, "ip", "-br", "addr").CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip -br addr in the peer: %v: %s", err, out)
	}
	os.Stdout.Write(out)

	// Show a datagram crossing the bed: the peer kernel sends, the engine
	// side sees the frame.
	if err := bed.SetPeerNeighbor(bed.EngineAddr, bed.HostMAC); err != nil {
		return err
	}
	pc, err := testbed.ListenPacket(bed.HostIf)
	if err != nil {
		return err
	}
	defer pc.Close()
	err = bed.Do(func() error {
		c, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(bed.EngineAddr, 7)))
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = c.Write([]byte("hello"))
		return err
	})
	if err != nil {
		return fmt.Errorf("send from the peer kernel: %w", err)
	}
	buf := make([]byte, 2048)
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		n, _, err := pc.Recv(buf, time.Until(deadline))
		if err != nil {
			return fmt.Errorf("waiting for the peer's datagram on %s: %w", bed.HostIf, err)
		}
		if n >= 42 && buf[12] == 0x08 && buf[13] == 0x00 && buf[23] == 17 {
			fmt.Printf("\npeer kernel -> %s: %d-byte UDP frame to %s:7 seen on the engine side\n",
				bed.HostIf, n, bed.EngineAddr)
			fmt.Println("(the engine's userspace stack does not answer yet: `engine serve` comes with the engine runtime)")
			return nil
		}
	}
	return fmt.Errorf("the peer's datagram never reached %s", bed.HostIf)
}
