package afxdp

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/xdpengine/engine/internal/testbed"
	"golang.org/x/sys/unix"
)

// engine is a bed with the program attached for EngineAddr and one socket
// per queue registered in it.
type engine struct {
	bed   *testbed.Bed
	prog  *Program
	socks []*Socket
}

func newEngine(t testing.TB, cfg testbed.Config, scfg Config) *engine {
	t.Helper()
	return newEngineWith(t, cfg, scfg, ProgramConfig{})
}

// newEngineWith is newEngine with the program built from pcfg, to which
// the bed's EngineAddr is added (ProgramConfig.VLAN, for one).
func newEngineWith(t testing.TB, cfg testbed.Config, scfg Config, pcfg ProgramConfig) *engine {
	t.Helper()
	bed := testbed.New(t, cfg)
	pcfg.Addrs = append(slices.Clip(pcfg.Addrs), bed.EngineAddr)
	prog, err := AttachProgram(bed.HostIf, pcfg)
	if err != nil {
		t.Fatalf("AttachProgram: %v", err)
	}
	e := &engine{bed: bed, prog: prog}
	t.Cleanup(func() {
		for _, s := range e.socks {
			s.Close()
		}
		prog.Close()
	})
	for q := range bed.Queues {
		scfg.Queue = q
		s, err := Open(bed.HostIf, scfg)
		if err != nil {
			t.Fatalf("Open queue %d: %v", q, err)
		}
		e.socks = append(e.socks, s)
		if err := prog.Register(s); err != nil {
			t.Fatal(err)
		}
	}
	if err := bed.SetPeerNeighbor(bed.EngineAddr, bed.HostMAC); err != nil {
		t.Fatal(err)
	}
	return e
}

// recv receives on s until match accepts a frame or timeout passes; every
// frame is released and the fill ring refilled.
func recv(s *Socket, timeout time.Duration, match func([]byte) bool) bool {
	descs := make([]Desc, 64)
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		n := s.Receive(descs)
		found := false
		for _, d := range descs[:n] {
			if match(s.Frame(d)) {
				found = true
			}
		}
		s.Release(descs[:n])
		s.Fill()
		if found {
			return true
		}
		if n == 0 {
			s.Wait(10 * time.Millisecond)
		}
	}
	return false
}

// peerUDP opens a UDP socket in the peer namespace bound to port on the
// peer's address.
func peerUDP(t testing.TB, bed *testbed.Bed, port int) int {
	t.Helper()
	var fd int
	err := bed.Do(func() error {
		var err error
		fd, err = unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		return unix.Bind(fd, &unix.SockaddrInet4{Port: port, Addr: bed.PeerAddr.As4()})
	})
	if err != nil {
		t.Fatalf("peer UDP socket: %v", err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	tv := unix.NsecToTimeval(int64(2 * time.Second))
	unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	return fd
}

func sendTo(t testing.TB, fd int, to netip.Addr, port int, payload string) {
	t.Helper()
	if err := unix.Sendto(fd, []byte(payload), 0, &unix.SockaddrInet4{Port: port, Addr: to.As4()}); err != nil {
		t.Fatalf("peer sendto %v:%d: %v", to, port, err)
	}
}

func hasPayload(want string) func([]byte) bool {
	return func(b []byte) bool { return string(udpPayload(b)) == want }
}

func isARPFor(a netip.Addr) func([]byte) bool {
	return func(b []byte) bool {
		t := a.As4()
		return len(b) >= 42 && b[12] == 0x08 && b[13] == 0x06 && string(b[38:42]) == string(t[:])
	}
}
