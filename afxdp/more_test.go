package afxdp

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/xdpengine/engine/internal/testbed"
	"golang.org/x/sys/unix"
)

func TestQueueDiscovery(t *testing.T) {
	bed := testbed.New(t, testbed.Config{Queues: 3})
	e, err := ethtoolQueues(bed.HostIf)
	if err != nil {
		t.Fatalf("ETHTOOL_GCHANNELS on veth: %v", err)
	}
	if s := sysfsQueues(bed.HostIf); e != 3 || s != 3 {
		t.Fatalf("ethtool %d, sysfs %d queues, want 3", e, s)
	}
	if n, err := QueueCount(bed.HostIf); n != 3 || err != nil {
		t.Fatalf("QueueCount = %d, %v", n, err)
	}
}

func TestGenericModeAndBusyPoll(t *testing.T) {
	bed := testbed.New(t, testbed.Config{})
	prog, err := AttachProgram(bed.HostIf, ProgramConfig{Mode: XDPGeneric, Addrs: nil})
	if err != nil {
		t.Fatal(err)
	}
	defer prog.Close()
	if prog.Mode() != XDPGeneric {
		t.Fatalf("mode %v, want generic", prog.Mode())
	}
	s, err := Open(bed.HostIf, Config{BusyPoll: BusyPoll{Timeout: 20 * time.Microsecond, Budget: 16}})
	if err != nil {
		t.Fatalf("Open with busy polling: %v", err)
	}
	defer s.Close()
	// (SO_BUSY_POLL_BUDGET cannot be read back: the kernel has no
	// getsockopt for it; Open fails if setting it fails.)
	for _, o := range []int{unix.SO_PREFER_BUSY_POLL, unix.SO_BUSY_POLL} {
		if v, err := unix.GetsockoptInt(s.FD(), unix.SOL_SOCKET, o); err != nil || v == 0 {
			t.Errorf("socket option %d = %d, %v", o, v, err)
		}
	}
	if err := prog.Register(s); err != nil {
		t.Fatal(err)
	}
	if err := prog.AddAddr(bed.EngineAddr); err != nil {
		t.Fatal(err)
	}
	bed.SetPeerNeighbor(bed.EngineAddr, bed.HostMAC)
	fd := peerUDP(t, bed, 4000)
	sendTo(t, fd, bed.EngineAddr, 5000, "generic")
	if !recv(s, 3*time.Second, hasPayload("generic")) {
		t.Fatal("nothing received with the program in generic mode")
	}
	// Removing the address gives its traffic back to the kernel.
	if err := prog.RemoveAddr(bed.EngineAddr); err != nil {
		t.Fatal(err)
	}
	sendTo(t, fd, bed.EngineAddr, 5000, "not ours any more")
	if recv(s, 300*time.Millisecond, hasPayload("not ours any more")) {
		t.Fatal("traffic to a removed address still reached the socket")
	}
}

// TestStatisticsCountDrops leaves the rings undrained so the kernel runs out
// of fill-ring frames, and checks XDP_STATISTICS accounts for every frame.
func TestStatisticsCountDrops(t *testing.T) {
	e := newEngine(t, testbed.Config{}, Config{RxSize: 64, FillSize: 32, TxSize: 64, CompSize: 64})
	s := e.socks[0]
	fd := peerUDP(t, e.bed, 4000)
	const sent = 100
	for i := range sent {
		sendTo(t, fd, e.bed.EngineAddr, 5000, fmt.Sprint(i))
	}
	// The kernel may still be delivering (softirq deferred to ksoftirqd on a
	// busy machine): wait until every frame beyond the fill ring's is
	// accounted for, or give up and let the checks below report.
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if st, err := s.Stats(); err == nil && st.RxDropped+st.RxRingFull >= sent-32 {
			break
		}
	}
	descs := make([]Desc, 128)
	got := s.Receive(descs)
	s.Release(descs[:got])
	st, err := s.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if got != 32 {
		t.Errorf("received %d, want the 32 frames of the fill ring", got)
	}
	if st.RxDropped+st.RxRingFull != sent-uint64(got) || st.RxFillRingEmptyDescs == 0 {
		t.Errorf("stats %+v: want %d drops with the fill ring empty", st, sent-got)
	}
}

func TestErrorsKeepErrno(t *testing.T) {
	for _, tc := range []struct {
		errno    unix.Errno
		sentinel error
	}{
		{unix.EPERM, ErrPermission}, {unix.EACCES, ErrPermission},
		{unix.ENODEV, ErrNoInterface}, {unix.EAFNOSUPPORT, ErrNotSupported},
	} {
		err := wrapErrno("op", tc.errno)
		if !errors.Is(err, tc.errno) || !errors.Is(err, tc.sentinel) {
			t.Errorf("wrapErrno(%v) = %v: errno or sentinel lost", tc.errno, err)
		}
	}
	if err := bpfErr("load", unix.EPERM); !errors.Is(err, ErrPermission) || !errors.Is(err, unix.EPERM) {
		t.Errorf("bpfErr(EPERM) = %v", err)
	}
	if err := bpfErr("map", unix.ENOMEM); !errors.Is(err, ErrMemlock) || !errors.Is(err, unix.ENOMEM) {
		t.Errorf("bpfErr(ENOMEM) = %v", err)
	}
}
