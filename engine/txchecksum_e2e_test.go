package engine_test

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xdpengine/engine/engine"
	"github.com/xdpengine/engine/internal/enginetest"
	"github.com/xdpengine/engine/internal/testbed"
)

// TestTxChecksumOffload: under the default transmit policy the workers
// leave UDP and TCP checksums to the kernel's AF_XDP transmit path (copy
// mode on veth), which hands the peer the packet as the kernel's own
// stack would. Every answer must arrive intact and the peer kernel must
// count no checksum error, in three beds:
//   - default offloads: the peer takes the unfinished checksum as its own
//     stack's (CHECKSUM_PARTIAL on a veth);
//   - final checksums (FullChecksums: transmit offload off on both ends,
//     on purpose): the kernel finishes what the engine left and the peer
//     verifies every checksum, as after a wire; a wrong pseudo-header sum
//     would be dropped and counted here;
//   - the software policy, on final checksums: nothing is offloaded.
//
// The traffic: UDP echoes over IPv4 and IPv6 of sizes up to the MTU and
// beyond it (fragments, whose checksum the worker finishes before it
// fragments), and TCP transfers both ways over both families.
func TestTxChecksumOffload(t *testing.T) {
	for _, tc := range []struct {
		name    string
		full    bool
		policy  engine.TxChecksum
		offload bool
	}{
		{"default offloads", false, engine.TxChecksumAuto, true},
		{"final checksums", true, engine.TxChecksumAuto, true},
		{"software", true, engine.TxChecksumSoftware, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bed := testbed.New(t, testbed.Config{IPv6: true, FullChecksums: tc.full})
			eng := enginetest.Start(t, bed, engine.Config{IPv6NoDAD: true, TxChecksum: tc.policy, Addrs: []netip.Prefix{
				netip.PrefixFrom(bed.EngineAddr, bed.Prefix.Bits()), netip.PrefixFrom(bed.EngineAddr6, 64)}})
			if got := eng.TxChecksumOffload(); got != tc.offload {
				t.Fatalf("TxChecksumOffload %v, want %v (policy %v, driver %s)", got, tc.offload, tc.policy, eng.Driver())
			}
			before := peerCsumErrors(t, bed)
			echo, err := eng.ListenUDP("udp", ":7007", engine.SocketOptions{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { echo.Close() })
			go enginetest.ServeUDPEcho(echo)
			enginetest.PeerResolve(t, bed)
			for _, to := range []netip.AddrPort{netip.AddrPortFrom(bed.EngineAddr, 7007), netip.AddrPortFrom(bed.EngineAddr6, 7007)} {
				c := peerListenUDP(t, bed, "udp", nil)
				for _, size := range []int{1, 64, 1400, 1452, 1472, 3000, 9000} {
					udpEchoOnce(t, c, to, size)
				}
			}
			ln, err := eng.ListenTCP("tcp", ":7009", engine.TCPListenConfig{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { ln.Close() })
			go echoOn(ln)
			for _, to := range []netip.AddrPort{netip.AddrPortFrom(bed.EngineAddr, 7009), netip.AddrPortFrom(bed.EngineAddr6, 7009)} {
				network := "tcp4"
				if to.Addr().Is6() {
					network = "tcp6"
				}
				c, err := peerDial(t, bed, network, to)
				if err != nil {
					t.Fatalf("connect to %v: %v", to, err)
				}
				tcpEchoBulk(t, c, 4<<20)
				c.Close()
			}
			after := peerCsumErrors(t, bed)
			for k, v := range after {
				if v != before[k] {
					t.Errorf("peer kernel %s went from %d to %d", k, before[k], v)
				}
			}
			st := eng.Stats().Total
			t.Logf("tx checksum offload %d of %d packets sent", st.TxCsumOffload, st.TxPackets)
			if tc.offload && st.TxCsumOffload < 1000 || !tc.offload && st.TxCsumOffload != 0 {
				t.Errorf("tx checksum offload %d (of %d packets): want %v", st.TxCsumOffload, st.TxPackets, map[bool]string{true: "most", false: "none"}[tc.offload])
			}
		})
	}
}

// udpEchoOnce sends a datagram of size bytes from c to to and waits for
// the same bytes back (retrying twice: UDP).
func udpEchoOnce(t *testing.T, c *net.UDPConn, to netip.AddrPort, size int) {
	t.Helper()
	msg := make([]byte, size)
	enginetest.Pattern(msg, uint32(size))
	buf := make([]byte, 65536)
	for try := 0; ; try++ {
		if _, err := c.WriteToUDPAddrPort(msg, to); err != nil {
			t.Fatalf("send %d bytes to %v: %v", size, to, err)
		}
		c.SetReadDeadline(time.Now().Add(time.Second))
		n, _, err := c.ReadFromUDPAddrPort(buf)
		if err == nil && bytes.Equal(buf[:n], msg) {
			return
		}
		if try == 2 {
			t.Fatalf("echo of %d bytes from %v: %d bytes, %v", size, to, n, err)
		}
	}
}

// tcpEchoBulk writes size bytes to an echo connection and reads them
// back, compared.
func tcpEchoBulk(t *testing.T, c net.Conn, size int) {
	t.Helper()
	msg := make([]byte, size)
	enginetest.Pattern(msg, 7)
	errc := make(chan error, 1)
	go func() {
		_, err := c.Write(msg)
		errc <- err
	}()
	got := make([]byte, size)
	c.SetReadDeadline(time.Now().Add(60 * time.Second))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatalf("read back %d bytes: %v", size, err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if i := enginetest.FirstDiff(got, msg); i < size {
		t.Fatalf("echo differs at byte %d of %d", i, size)
	}
}

// peerCsumErrors reads the peer kernel's checksum error counters (Udp,
// Tcp InCsumErrors of /proc/net/snmp, Udp6InCsumErrors of snmp6).
func peerCsumErrors(t *testing.T, bed *testbed.Bed) map[string]int {
	t.Helper()
	got := map[string]int{}
	err := bed.Do(func() error {
		b, err := os.ReadFile("/proc/thread-self/net/snmp")
		if err != nil {
			return err
		}
		lines := strings.Split(string(b), "\n")
		for i := 0; i+1 < len(lines); i += 2 {
			names, vals := strings.Fields(lines[i]), strings.Fields(lines[i+1])
			if len(names) == 0 || len(names) != len(vals) || (names[0] != "Udp:" && names[0] != "Tcp:") {
				continue
			}
			for j, n := range names {
				if n == "InCsumErrors" {
					v, err := strconv.Atoi(vals[j])
					if err != nil {
						return err
					}
					got[names[0]+n] = v
				}
			}
		}
		b, err = os.ReadFile("/proc/thread-self/net/snmp6")
		if err != nil {
			return err
		}
		for _, line := range strings.Split(string(b), "\n") {
			if f := strings.Fields(line); len(f) == 2 && f[0] == "Udp6InCsumErrors" {
				v, err := strconv.Atoi(f[1])
				if err != nil {
					return err
				}
				got[f[0]] = v
			}
		}
		if len(got) != 3 {
			return fmt.Errorf("checksum error counters found: %v, want Udp, Tcp and Udp6", got)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}
