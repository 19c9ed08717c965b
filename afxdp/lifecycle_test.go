package afxdp

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"github.com/xdpengine/engine/internal/testbed"
	"github.com/xdpengine/engine/internal/udpframe"
	"golang.org/x/sys/unix"
)

// childEnv makes the test binary a child that attaches the program to the
// named interface, says "attached", and waits to be killed.
const childEnv = "AFXDP_TEST_CHILD_ATTACH"

func TestMain(m *testing.M) {
	if ifname := os.Getenv(childEnv); ifname != "" {
		p, err := AttachProgram(ifname, ProgramConfig{})
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		id, _ := p.ProgramID()
		fmt.Println("attached", id)
		time.Sleep(time.Minute)
		os.Exit(2)
	}
	if os.Getenv(signalChildEnv) != "" {
		CloseOnSignal([]io.Closer{closerFunc(func() error { fmt.Println("closed"); return nil })})
		fmt.Println("ready")
		time.Sleep(time.Minute)
		os.Exit(2)
	}
	os.Exit(m.Run())
}

const signalChildEnv = "AFXDP_TEST_CHILD_SIGNAL"

type closerFunc func() error

func (f closerFunc) Close() error { return f() }

func TestCloseOnSignal(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), signalChildEnv+"=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	r := bufio.NewReader(out)
	if l, _ := r.ReadString('\n'); l != "ready\n" {
		t.Fatalf("child: %q", l)
	}
	syscall.Kill(cmd.Process.Pid, syscall.SIGTERM)
	l, _ := r.ReadString('\n')
	err = cmd.Wait()
	if l != "closed\n" {
		t.Fatalf("closer not run on SIGTERM: %q", l)
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGTERM {
		t.Fatalf("child did not end by SIGTERM after closing: %v", err)
	}
}

func attached(t *testing.T, ifname string) (uint32, string) {
	t.Helper()
	id, name, err := AttachedProgram(ifname)
	if err != nil {
		t.Fatal(err)
	}
	return id, name
}

func TestCloseDetaches(t *testing.T) {
	bed := testbed.New(t, testbed.Config{})
	p, err := AttachProgram(bed.HostIf, ProgramConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if id, name := attached(t, bed.HostIf); id == 0 || name != ProgramName {
		t.Fatalf("attached program %d %q, want %q", id, name, ProgramName)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if id, name := attached(t, bed.HostIf); id != 0 {
		t.Fatalf("program %d %q still attached after Close", id, name)
	}
}

func TestKilledProcessLeavesNoProgram(t *testing.T) {
	bed := testbed.New(t, testbed.Config{})
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+bed.HostIf)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill() // by pid; a no-op once it is dead
	line, _ := bufio.NewReader(out).ReadString('\n')
	if !strings.HasPrefix(line, "attached") {
		t.Fatalf("child: %q", line)
	}
	if id, name := attached(t, bed.HostIf); id == 0 || name != ProgramName {
		t.Fatalf("child's program not attached: %d %q", id, name)
	}
	if err := syscall.Kill(cmd.Process.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	deadline := time.Now().Add(3 * time.Second)
	for {
		id, name := attached(t, bed.HostIf)
		if id == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("program %d %q still attached after SIGKILL of its process", id, name)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// loadOurs loads a program named ProgramName, as an earlier run would have.
func loadOurs(t *testing.T) *ebpf.Program {
	t.Helper()
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{Name: ProgramName, Type: ebpf.XDP, License: "GPL",
		Instructions: passInsns()})
	if err != nil {
		t.Fatal(err)
	}
	return prog
}

func TestStaleNetlinkProgramIsReplaced(t *testing.T) {
	bed := testbed.New(t, testbed.Config{})
	old := loadOurs(t)
	l, _ := netlink.LinkByIndex(bed.HostIndex)
	if err := netlink.LinkSetXdpFdWithFlags(l, old.FD(), unix.XDP_FLAGS_SKB_MODE); err != nil {
		t.Fatal(err)
	}
	oldInfo, _ := old.Info()
	oldID, _ := oldInfo.ID()
	old.Close() // the attachment keeps it alive, as after a crash

	p, err := AttachProgram(bed.HostIf, ProgramConfig{})
	if err != nil {
		t.Fatalf("AttachProgram over a stale netlink program: %v", err)
	}
	r := p.Replaced()
	if len(r) != 1 || r[0].Via != "netlink" || r[0].ProgramID != uint32(oldID) {
		t.Fatalf("Replaced = %v, want the netlink program %d", r, oldID)
	}
	newID, _ := p.ProgramID()
	if id, _ := attached(t, bed.HostIf); id != newID {
		t.Fatalf("attached %d, want the new program %d", id, newID)
	}
	p.Close()
	if id, _ := attached(t, bed.HostIf); id != 0 {
		t.Fatalf("program %d left after Close", id)
	}
}

func TestStaleLinkProgramIsDetached(t *testing.T) {
	bed := testbed.New(t, testbed.Config{})
	old := loadOurs(t)
	defer old.Close()
	// A link another holder keeps open (a pinned link behaves the same).
	lk, err := link.AttachXDP(link.XDPOptions{Program: old, Interface: bed.HostIndex})
	if err != nil {
		t.Fatal(err)
	}
	defer lk.Close()
	removed, err := DetachStale(bed.HostIf)
	if err != nil {
		t.Fatal(err)
	}
	if len(removed) != 1 || removed[0].Via != "bpf_link" {
		t.Fatalf("DetachStale = %v, want one bpf_link", removed)
	}
	if id, _ := attached(t, bed.HostIf); id != 0 {
		t.Fatalf("program %d still attached", id)
	}
	if again, err := DetachStale(bed.HostIf); err != nil || len(again) != 0 {
		t.Fatalf("second DetachStale = %v, %v", again, err)
	}
}

func TestForeignProgramIsLeftAlone(t *testing.T) {
	bed := testbed.New(t, testbed.Config{})
	other, err := ebpf.NewProgram(&ebpf.ProgramSpec{Name: "someone_else", Type: ebpf.XDP, License: "GPL",
		Instructions: passInsns()})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	lk, err := link.AttachXDP(link.XDPOptions{Program: other, Interface: bed.HostIndex})
	if err != nil {
		t.Fatal(err)
	}
	defer lk.Close()
	_, err = AttachProgram(bed.HostIf, ProgramConfig{})
	if err == nil || !errors.Is(err, unix.EBUSY) || !strings.Contains(err.Error(), "someone_else") {
		t.Fatalf("AttachProgram over a foreign program: %v, want EBUSY naming it", err)
	}
	if removed, _ := DetachStale(bed.HostIf); len(removed) != 0 {
		t.Fatalf("DetachStale removed a foreign program: %v", removed)
	}
}

// TestTwoQueuesReceiveTheirOwnTraffic steers the peer's frames to each
// queue. veth delivers a frame to the receive queue numbered like the
// sender's transmit queue. An AF_PACKET socket with PACKET_QDISC_BYPASS
// picks the transmit queue as (sending CPU mod queues) (packet_pick_tx_queue
// records the CPU as the rx queue, which skb_tx_hash then uses), so a sender
// pinned to CPU k hits queue k.
func TestTwoQueuesReceiveTheirOwnTraffic(t *testing.T) {
	if runtime.NumCPU() < 2 {
		t.Skip("needs two CPUs to steer the peer's frames to two queues")
	}
	for _, shared := range []bool{false, true} {
		t.Run(fmt.Sprintf("shared_umem=%v", shared), func(t *testing.T) { testTwoQueues(t, shared) })
	}
}

func testTwoQueues(t *testing.T, shared bool) {
	bed := testbed.New(t, testbed.Config{Queues: 2})
	prog, err := AttachProgram(bed.HostIf, ProgramConfig{Addrs: []netip.Addr{bed.EngineAddr}})
	if err != nil {
		t.Fatal(err)
	}
	defer prog.Close()
	socks, umem, err := OpenAll(bed.HostIf, Config{RxSize: 512, TxSize: 512, FillSize: 512, CompSize: 512}, shared)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		for _, s := range socks {
			s.Close()
		}
		if umem != nil {
			if err := umem.Close(); err != nil {
				t.Error(err)
			}
		}
	}()
	if len(socks) != 2 {
		t.Fatalf("OpenAll opened %d sockets, want 2", len(socks))
	}
	if shared && (socks[0].UMEM() != socks[1].UMEM() || socks[1].flags&unix.XDP_SHARED_UMEM == 0) {
		t.Fatal("sockets do not share the UMEM")
	}
	for _, s := range socks {
		if err := prog.Register(s); err != nil {
			t.Fatal(err)
		}
	}
	e := &engine{bed: bed, prog: prog, socks: socks}
	if err := bed.SetPeerNeighbor(bed.EngineAddr, bed.HostMAC); err != nil {
		t.Fatal(err)
	}
	for q := range 2 {
		spec := udpframe.Spec{SrcMAC: e.bed.PeerMAC, DstMAC: e.bed.HostMAC,
			Src: e.bed.PeerAddr, Dst: e.bed.EngineAddr, SrcPort: 1000, DstPort: 2000}
		frame := make([]byte, spec.Len(8))
		spec.Put(frame, fmt.Appendf(nil, "queue %d", q))
		err := e.bed.Do(func() error { return sendPinned(e.bed.PeerIf, q, frame, 20) })
		if err != nil {
			t.Fatal(err)
		}
	}
	for q, s := range e.socks {
		got := map[string]int{}
		recv(s, 500*time.Millisecond, func(b []byte) bool {
			got[string(udpPayload(b))]++
			return false
		})
		want := fmt.Sprintf("queue %d", q)
		if got[want] != 20 || len(got) != 1 {
			t.Errorf("socket of queue %d received %v, want 20 × %q only", q, got, want)
		}
	}
}

// sendPinned sends count copies of frame from the calling (locked) thread
// pinned to cpu, through AF_PACKET with PACKET_QDISC_BYPASS.
func sendPinned(ifname string, cpu int, frame []byte, count int) error {
	var old unix.CPUSet
	if err := unix.SchedGetaffinity(0, &old); err != nil {
		return err
	}
	defer unix.SchedSetaffinity(0, &old)
	var set unix.CPUSet
	set.Set(cpu)
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		return err
	}
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return err
	}
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_QDISC_BYPASS, 1); err != nil {
		return err
	}
	sa := &unix.SockaddrLinklayer{Ifindex: ifi.Index, Halen: 6}
	for range count {
		if err := unix.Sendto(fd, frame, 0, sa); err != nil {
			return err
		}
	}
	return nil
}

func passInsns() asm.Instructions {
	return asm.Instructions{asm.Mov.Imm(asm.R0, 2), asm.Return()}
}
