package datapath

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/xdpengine/engine/afxdp"
	"github.com/xdpengine/engine/internal/testbed"
	"github.com/xdpengine/engine/stack/stats"
)

// burstRecorder is a BurstInput that records what the worker calls, in
// order: "P" and a copy of the burst's frames for PrefetchBurst, "F" and
// the frame for Frame.
type burstRecorder struct {
	events []burstEvent
}

type burstEvent struct {
	prefetch bool
	frames   [][]byte
}

func (r *burstRecorder) PrefetchBurst(frames [][]byte) {
	e := burstEvent{prefetch: true}
	for _, f := range frames {
		e.frames = append(e.frames, bytes.Clone(f))
	}
	r.events = append(r.events, e)
}

func (r *burstRecorder) Frame(frame []byte) int {
	r.events = append(r.events, burstEvent{frames: [][]byte{bytes.Clone(frame)}})
	return 0
}

func (r *burstRecorder) Steered(*Steered) {}

// burstDatagrams is how many datagrams runBurstBed sends: more than a
// burst (64).
const burstDatagrams = 100

// runBurstBed runs a worker with a burstRecorder as its input (and inj as
// its injector) on an AF_XDP socket of a test bed until the datagrams the peer
// sent before it started reached Frame, and returns the recorder.
func runBurstBed(t *testing.T, inj NewInjector) *burstRecorder {
	t.Helper()
	bed := testbed.New(t, testbed.Config{})
	prog, err := afxdp.AttachProgram(bed.HostIf, afxdp.ProgramConfig{Addrs: []netip.Addr{bed.EngineAddr}})
	if err != nil {
		t.Fatalf("AttachProgram: %v", err)
	}
	t.Cleanup(func() { prog.Close() })
	sock, err := afxdp.Open(bed.HostIf, afxdp.Config{Queue: 0})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	w, err := New(Config{Queue: 0, CPU: -1, Epoch: time.Now(), Bufs: NewBufs(0),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Injector: inj})
	if err != nil {
		sock.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() }) // closes the socket too
	if err := w.Connect([]*Worker{w}); err != nil {
		t.Fatal(err)
	}
	rec := &burstRecorder{}
	w.SetInput(rec)
	if w.burstIn == nil {
		t.Fatal("SetInput did not take the BurstInput")
	}
	w.Attach(sock)
	sock.Fill()
	if err := prog.Register(sock); err != nil {
		t.Fatal(err)
	}
	if err := bed.SetPeerNeighbor(bed.EngineAddr, bed.HostMAC); err != nil {
		t.Fatal(err)
	}

	if err := bed.Do(func() error {
		c, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(bed.EngineAddr, 9)))
		if err != nil {
			return err
		}
		defer c.Close()
		for i := range burstDatagrams {
			if _, err := fmt.Fprintf(c, "burst-test %03d", i); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // the datagrams wait in the rx ring

	var wg sync.WaitGroup
	wg.Add(1)
	w.StartWaker()
	go w.Run(&wg)
	deadline := time.Now().Add(5 * time.Second)
	for {
		// The recorder is the worker's: read it there.
		got, _ := Gather([]*Worker{w}, func(*Worker) any { return rec.marked() }, time.Second)[0].(int)
		if got >= burstDatagrams || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	w.Stop()
	wg.Wait()

	if n := rec.marked(); n != burstDatagrams {
		t.Fatalf("%d of %d datagrams reached Frame", n, burstDatagrams)
	}
	return rec
}

// marked counts the frames of the test's datagrams that reached Frame.
func (r *burstRecorder) marked() int {
	n := 0
	for _, e := range r.events {
		if !e.prefetch && bytes.Contains(e.frames[0], []byte("burst-test ")) {
			n++
		}
	}
	return n
}

// TestBurstInput runs a worker on an AF_XDP socket of a test bed whose
// input is a BurstInput, and checks that each burst received from the
// link goes to PrefetchBurst once, whole, before its frames go to Frame
// one by one, in the same order. The peer sends its datagrams before the
// worker starts, so the first burst holds several frames.
func TestBurstInput(t *testing.T) {
	rec := runBurstBed(t, nil)
	// P(a b c) F(a) F(b) F(c) P(d) F(d) ...: every Frame is the next frame
	// of the last PrefetchBurst, and a PrefetchBurst comes only after the
	// previous burst was delivered whole.
	var pending [][]byte
	bursts, frames, largest := 0, 0, 0
	for i, e := range rec.events {
		if e.prefetch {
			if len(pending) > 0 {
				t.Fatalf("event %d: PrefetchBurst with %d frames of the previous burst not delivered", i, len(pending))
			}
			if len(e.frames) == 0 {
				t.Fatalf("event %d: PrefetchBurst of an empty burst", i)
			}
			pending = e.frames
			bursts++
			largest = max(largest, len(e.frames))
			continue
		}
		if len(pending) == 0 {
			t.Fatalf("event %d: Frame without a PrefetchBurst before it", i)
		}
		if !bytes.Equal(e.frames[0], pending[0]) {
			t.Fatalf("event %d: Frame got a frame other than the burst's next", i)
		}
		pending = pending[1:]
		frames++
	}
	if largest < 2 {
		t.Errorf("no burst held more than one frame (%d bursts for %d frames)", bursts, frames)
	}
	t.Logf("%d frames in %d bursts, the largest %d", frames, bursts, largest)
}

// TestBurstInputInjector checks that a worker with an Injector (tests
// only) skips the pre-pass: the injector delivers the frames.
func TestBurstInputInjector(t *testing.T) {
	rec := runBurstBed(t, func(w *Worker) Injector { return passInjector{w} })
	for i, e := range rec.events {
		if e.prefetch {
			t.Fatalf("event %d: PrefetchBurst with an injector", i)
		}
	}
}

// passInjector delivers every frame as it comes.
type passInjector struct{ w *Worker }

func (p passInjector) Receive(descs []afxdp.Desc) {
	for _, d := range descs {
		p.w.Deliver(d)
	}
}
func (passInjector) Round() int                               { return 0 }
func (passInjector) Transmit(descs []afxdp.Desc) []afxdp.Desc { return descs }
func (passInjector) NextDeadline() int64                      { return 0 }
func (passInjector) Stats() stats.Faults                      { return stats.Faults{} }
func (passInjector) Drain()                                   {}
