package afxdp

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xdpengine/engine/internal/testbed"
	"github.com/xdpengine/engine/internal/udpframe"
)

func udpPayload(b []byte) []byte { return udpframe.Payload(b) }

func TestReceiveFromPeerKernel(t *testing.T) {
	e := newEngine(t, testbed.Config{}, Config{})
	s := e.socks[0]
	if s.BindMode() != "copy" {
		t.Errorf("veth bound in %s mode, want copy", s.BindMode())
	}
	t.Logf("XDP mode %v, socket mode %s", e.prog.Mode(), s.BindMode())
	fd := peerUDP(t, e.bed, 4000)
	for i := range 100 {
		sendTo(t, fd, e.bed.EngineAddr, 5000, fmt.Sprintf("rx %d", i))
	}
	got := map[string]bool{}
	recv(s, 3*time.Second, func(b []byte) bool {
		if p := udpPayload(b); p != nil {
			got[string(p)] = true
		}
		return len(got) == 100
	})
	if len(got) != 100 {
		t.Fatalf("received %d of 100 datagrams", len(got))
	}
	st, err := s.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.Frames.Refused != 0 || st.RxInvalidDescs != 0 {
		t.Fatalf("stats %+v", st)
	}
	if f := st.Frames; int(f.Fill+f.Free+f.Tx+f.App) != len(s.pool.state) || f.App != 0 {
		t.Fatalf("frames held by the app after release: %+v", st.Frames)
	}
}

func TestARPForEngineAddrIsSteered(t *testing.T) {
	bed := testbed.New(t, testbed.Config{})
	prog, err := AttachProgram(bed.HostIf, ProgramConfig{Addrs: nil})
	if err != nil {
		t.Fatal(err)
	}
	defer prog.Close()
	s, err := Open(bed.HostIf, Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := prog.Register(s); err != nil {
		t.Fatal(err)
	}
	if err := prog.AddAddr(bed.EngineAddr); err != nil {
		t.Fatal(err)
	}
	// No neighbor entry: the peer kernel must ARP for the engine's address.
	fd := peerUDP(t, bed, 4000)
	sendTo(t, fd, bed.EngineAddr, 5000, "x")
	if !recv(s, 3*time.Second, isARPFor(bed.EngineAddr)) {
		t.Fatal("no ARP request for the engine address reached the socket")
	}
}

// TestVLANTaggedFrameIsSteered: with ProgramConfig.VLAN, a frame with one
// 802.1Q tag to the engine's address reaches the socket, tag included.
func TestVLANTaggedFrameIsSteered(t *testing.T) {
	e := newEngineWith(t, testbed.Config{}, Config{}, ProgramConfig{VLAN: true})
	spec := udpframe.Spec{SrcMAC: e.bed.PeerMAC, DstMAC: e.bed.HostMAC,
		Src: e.bed.PeerAddr, Dst: e.bed.EngineAddr, SrcPort: 1, DstPort: 2, VLAN: 42}
	frame := make([]byte, spec.Len(6))
	spec.Put(frame, []byte("tagged"))
	err := e.bed.Do(func() error {
		pc, err := testbed.ListenPacket(e.bed.PeerIf)
		if err != nil {
			return err
		}
		defer pc.Close()
		return pc.Send(frame)
	})
	if err != nil {
		t.Fatal(err)
	}
	if !recv(e.socks[0], 3*time.Second, func(b []byte) bool {
		return len(b) > 16 && b[12] == 0x81 && string(udpPayload(b)) == "tagged"
	}) {
		t.Fatal("802.1Q-tagged frame to the engine address did not reach the socket")
	}
}

// TestVLANTaggedFrameGoesToHost: by default (no ProgramConfig.VLAN) a frame
// with one 802.1Q tag to the engine's address is the host kernel's: it does
// not reach the socket, and a packet socket of the host on the engine-side
// link sees it (the kernel received it after XDP_PASS). The same frame
// untagged reaches the socket and not the host, so neither half passes for
// want of traffic.
func TestVLANTaggedFrameGoesToHost(t *testing.T) {
	e := newEngine(t, testbed.Config{}, Config{})
	host, err := testbed.ListenPacket(e.bed.HostIf) // the caller's namespace: the host kernel's side
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	send := func(vlan uint16, payload string) {
		t.Helper()
		spec := udpframe.Spec{SrcMAC: e.bed.PeerMAC, DstMAC: e.bed.HostMAC,
			Src: e.bed.PeerAddr, Dst: e.bed.EngineAddr, SrcPort: 1, DstPort: 2, VLAN: vlan}
		frame := make([]byte, spec.Len(len(payload)))
		spec.Put(frame, []byte(payload))
		if err := e.bed.Do(func() error { return sendFrame(e.bed.PeerIf, frame) }); err != nil {
			t.Fatal(err)
		}
	}
	// hostSaw reports whether the host's packet socket receives payload
	// (the kernel may have moved the tag out of the frame by then).
	hostSaw := func(payload string, timeout time.Duration) bool {
		buf := make([]byte, 2048)
		deadline := time.Now().Add(timeout)
		for time.Now().Before(deadline) {
			n, out, err := host.Recv(buf, time.Until(deadline))
			if errors.Is(err, unix.EAGAIN) {
				return false
			}
			if err != nil {
				t.Fatal(err)
			}
			if !out && string(udpPayload(buf[:n])) == payload {
				return true
			}
		}
		return false
	}

	send(0, "untagged")
	if !recv(e.socks[0], 3*time.Second, hasPayload("untagged")) {
		t.Fatal("untagged frame to the engine address did not reach the socket")
	}
	if hostSaw("untagged", 200*time.Millisecond) {
		t.Error("untagged frame to the engine address reached the host kernel too")
	}

	send(42, "tagged")
	if !hostSaw("tagged", 3*time.Second) {
		t.Error("802.1Q-tagged frame to the engine address did not reach the host kernel")
	}
	if recv(e.socks[0], 200*time.Millisecond, hasPayload("tagged")) {
		t.Error("802.1Q-tagged frame reached the socket of a program without VLAN")
	}
}

func TestTransmitToPeerKernel(t *testing.T) {
	e := newEngine(t, testbed.Config{}, Config{})
	s := e.socks[0]
	fd := peerUDP(t, e.bed, 6000)
	spec := udpframe.Spec{SrcMAC: e.bed.HostMAC, DstMAC: e.bed.PeerMAC,
		Src: e.bed.EngineAddr, Dst: e.bed.PeerAddr, SrcPort: 7000, DstPort: 6000}
	const n = 50
	addrs := make([]uint64, n)
	if got := s.Alloc(addrs); got != n {
		t.Fatalf("Alloc = %d", got)
	}
	descs := make([]Desc, n)
	for i, a := range addrs {
		l := spec.Put(s.FrameBuffer(a), fmt.Appendf(nil, "tx %02d", i))
		descs[i] = Desc{Addr: a, Len: uint32(l)}
	}
	if got := s.Transmit(descs); got != n {
		t.Fatalf("Transmit = %d", got)
	}
	seen := completeAndReceive(s, fd, n)
	if len(seen) != n {
		t.Fatalf("peer received %d of %d datagrams", len(seen), n)
	}
	st, _ := s.Stats()
	if st.Frames.Tx != 0 || st.TxInvalidDescs != 0 {
		t.Fatalf("after completion: %+v", st)
	}
	// A frame the caller does not own is refused, not sent.
	if got := s.Transmit([]Desc{{Addr: addrs[0], Len: 60}}); got != 1 {
		t.Fatalf("Transmit of a foreign frame = %d, want 1 (skipped)", got)
	}
	if st2, _ := s.Stats(); st2.Frames.Refused != st.Frames.Refused+1 || st2.Frames.Tx != 0 {
		t.Fatalf("foreign frame not refused: %+v", st2.Frames)
	}
}

func TestHostTrafficPassesToKernel(t *testing.T) {
	e := newEngine(t, testbed.Config{HostKernelAddr: true}, Config{})
	// ping to the host kernel's address, through the attached program.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if out, err := e.bed.Command(ctx, "ping", "-c2", "-i0.2", "-W2", e.bed.HostAddr.String()).CombinedOutput(); err != nil {
		t.Fatalf("ping host kernel with the program attached: %v\n%s", err, out)
	}
	// UDP to the host kernel reaches a kernel socket, not the XSK.
	hfd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(hfd)
	if err := unix.Bind(hfd, &unix.SockaddrInet4{Port: 5001, Addr: e.bed.HostAddr.As4()}); err != nil {
		t.Fatal(err)
	}
	tv := unix.NsecToTimeval(int64(3 * time.Second))
	unix.SetsockoptTimeval(hfd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	pfd := peerUDP(t, e.bed, 4000)
	sendTo(t, pfd, e.bed.HostAddr, 5001, "for the host")
	buf := make([]byte, 64)
	n, _, err := unix.Recvfrom(hfd, buf, 0)
	for err == unix.EINTR { // SO_RCVTIMEO: a signal is not restarted (signal(7))
		n, _, err = unix.Recvfrom(hfd, buf, 0)
	}
	if err != nil || string(buf[:n]) != "for the host" {
		t.Fatalf("host kernel socket: %q, %v", buf[:n], err)
	}
	if recv(e.socks[0], 300*time.Millisecond, hasPayload("for the host")) {
		t.Fatal("traffic for the host kernel reached the engine socket")
	}
	// And the engine's own traffic still reaches the socket meanwhile.
	sendTo(t, pfd, e.bed.EngineAddr, 5000, "for the engine")
	if !recv(e.socks[0], 3*time.Second, hasPayload("for the engine")) {
		t.Fatal("engine traffic did not reach the socket")
	}
}

func TestModes(t *testing.T) {
	bed := testbed.New(t, testbed.Config{})
	_, err := Open(bed.HostIf, Config{Mode: ModeZeroCopy})
	if !errors.Is(err, ErrZeroCopyUnsupported) || !errors.Is(err, unix.EOPNOTSUPP) {
		t.Fatalf("zerocopy on veth: %v, want ErrZeroCopyUnsupported wrapping EOPNOTSUPP", err)
	}
	t.Logf("forced zero-copy: %v", err)
	for _, m := range []Mode{ModeAuto, ModeCopy} {
		s, err := Open(bed.HostIf, Config{Mode: m})
		if err != nil {
			t.Fatalf("mode %v: %v", m, err)
		}
		if s.ZeroCopy() || s.BindMode() != "copy" {
			t.Errorf("mode %v chose %s", m, s.BindMode())
		}
		s.Close()
	}
}

func TestOpenErrors(t *testing.T) {
	bed := testbed.New(t, testbed.Config{})
	_, err := Open(bed.HostIf, Config{Queue: 3})
	if !errors.Is(err, ErrQueueRange) || !errors.Is(err, unix.EINVAL) {
		t.Errorf("queue 3 of 1: %v", err)
	}
	_, err = Open("xebnosuchif0", Config{})
	if !errors.Is(err, ErrNoInterface) || !errors.Is(err, unix.ENODEV) {
		t.Errorf("unknown interface: %v", err)
	}
	_, err = Open(bed.HostIf, Config{RxSize: 1000})
	if !errors.Is(err, ErrConfig) {
		t.Errorf("ring size 1000: %v", err)
	}
	_, err = Open(bed.HostIf, Config{UMEMConfig: UMEMConfig{FrameSize: 1024}})
	if !errors.Is(err, ErrConfig) {
		t.Errorf("frame size 1024: %v", err)
	}
	if _, err := AttachProgram("xebnosuchif0", ProgramConfig{}); !errors.Is(err, ErrNoInterface) {
		t.Errorf("AttachProgram on unknown interface: %v", err)
	}
	if n, err := QueueCount(bed.HostIf); err != nil || n != 1 {
		t.Errorf("QueueCount = %d, %v", n, err)
	}
}

func TestHugePages(t *testing.T) {
	testbed.RequirePrivileged(t)
	u, err := NewUMEM(UMEMConfig{Frames: 512, HugePages: true})
	if err != nil {
		if !errors.Is(err, ErrNoHugePages) || !errors.Is(err, unix.ENOMEM) {
			t.Fatalf("hugepages without a reservation: %v, want ErrNoHugePages", err)
		}
		t.Logf("no huge pages reserved: %v", err)
		return
	}
	u.Close()
}

// completeAndReceive runs a worker's loop until the peer's socket fd has
// received n distinct payloads and every frame is completed, or 3 s
// pass: in copy mode the kernel sends a bounded batch per sendto, so
// Complete keeps kicking while frames are in flight. It returns the
// payloads received.
func completeAndReceive(s *Socket, fd, n int) map[string]bool {
	buf := make([]byte, 100)
	seen := map[string]bool{}
	deadline := time.Now().Add(3 * time.Second)
	for (len(seen) < n || s.pool.stats().Tx > 0) && time.Now().Before(deadline) {
		s.Complete()
		k, _, err := unix.Recvfrom(fd, buf, unix.MSG_DONTWAIT)
		if err == nil {
			seen[string(buf[:k])] = true
		} else {
			time.Sleep(time.Millisecond)
		}
	}
	return seen
}
