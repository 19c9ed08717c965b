package datapath

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xdpengine/engine/afxdp"
	"github.com/xdpengine/engine/internal/testbed"
)

// loopCounter is an Input that counts the test's datagrams and panics on
// one that says so.
type loopCounter struct {
	n atomic.Int64
}

func (c *loopCounter) Frame(frame []byte) int {
	switch {
	case bytes.Contains(frame, []byte("loop-panic")):
		panic("loop-test: a datagram asked for it")
	case bytes.Contains(frame, []byte("loop-test")):
		c.n.Add(1)
	}
	return 0
}

func (c *loopCounter) Steered(*Steered) {}

// loopBed is two workers on the two queues of a test bed, with the peer's
// flows spread over the queues as a NIC's RSS spreads them.
type loopBed struct {
	bed    *testbed.Bed
	ws     []*Worker
	counts []*loopCounter
	rss    testbed.RSS
}

func newLoopBed(t *testing.T, queues int) *loopBed {
	t.Helper()
	bed := testbed.New(t, testbed.Config{Queues: queues})
	rss := testbed.DefaultRSS(queues)
	if err := bed.EmulateRSS(rss); err != nil {
		t.Fatal(err)
	}
	prog, err := afxdp.AttachProgram(bed.HostIf, afxdp.ProgramConfig{Addrs: []netip.Addr{bed.EngineAddr}})
	if err != nil {
		t.Fatalf("AttachProgram: %v", err)
	}
	t.Cleanup(func() { prog.Close() })
	lb := &loopBed{bed: bed, rss: rss}
	bufs := NewBufs(0)
	epoch := time.Now() // one clock for the loop's workers, as an engine's
	for q := range queues {
		sock, err := afxdp.Open(bed.HostIf, afxdp.Config{Queue: q})
		if err != nil {
			t.Fatalf("Open queue %d: %v", q, err)
		}
		w, err := New(Config{Queue: q, CPU: -1, Poll: PollAdaptive, SpinTime: 200 * time.Microsecond,
			Epoch: epoch, Bufs: bufs, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			sock.Close()
			t.Fatal(err)
		}
		t.Cleanup(func() { w.Close() }) // closes the socket too
		c := &loopCounter{}
		w.SetInput(c)
		w.Attach(sock)
		sock.Fill()
		if err := prog.Register(sock); err != nil {
			t.Fatal(err)
		}
		lb.ws, lb.counts = append(lb.ws, w), append(lb.counts, c)
	}
	for _, w := range lb.ws {
		if err := w.Connect(lb.ws); err != nil {
			t.Fatal(err)
		}
	}
	if err := bed.SetPeerNeighbor(bed.EngineAddr, bed.HostMAC); err != nil {
		t.Fatal(err)
	}
	return lb
}

// send sends one datagram with payload from each of the peer's ports in
// [first, first+n) to the engine's port 9, and returns how many go to each
// queue.
func (lb *loopBed) send(t *testing.T, first, n int, payload string) []int64 {
	t.Helper()
	want := make([]int64, len(lb.ws))
	dst := netip.AddrPortFrom(lb.bed.EngineAddr, 9)
	if err := lb.bed.Do(func() error {
		for p := first; p < first+n; p++ {
			src := netip.AddrPortFrom(lb.bed.PeerAddr, uint16(p))
			c, err := net.DialUDP("udp4", net.UDPAddrFromAddrPort(src), net.UDPAddrFromAddrPort(dst))
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(c, "%s %d", payload, p)
			c.Close()
			if err != nil {
				return err
			}
			want[lb.rss.Queue(src, dst)]++
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return want
}

// waitCounts waits until worker i has counted want[i] datagrams, for each
// worker in which.
func (lb *loopBed) waitCounts(t *testing.T, want []int64, which ...int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for _, i := range which {
		for lb.counts[i].n.Load() < want[i] {
			if time.Now().After(deadline) {
				t.Fatalf("worker %d counted %d datagrams, want %d", i, lb.counts[i].n.Load(), want[i])
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}

// TestRunLoop runs two workers in one loop (RunLoop) with one P and with
// two, and checks that each serves its queue, also after the loop went to
// sleep on both sockets; that calls reach both; that a worker that stops
// leaves the loop drained while the other goes on; and that a worker that
// panics leaves it failed while the other goes on.
func TestRunLoop(t *testing.T) {
	for _, procs := range []int{1, 2} {
		t.Run(fmt.Sprintf("GOMAXPROCS=%d", procs), func(t *testing.T) {
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
			lb := newLoopBed(t, 2)
			left := make(chan *Worker, 2)
			ended := make(chan struct{})
			for _, w := range lb.ws {
				w.StartWaker()
			}
			go func() {
				RunLoop(lb.ws, func(w *Worker) { left <- w })
				close(ended)
			}()

			// Flows on both queues, each counted by its queue's worker.
			want := lb.send(t, 20000, 64, "loop-test")
			if want[0] == 0 || want[1] == 0 {
				t.Fatalf("the peer's flows went %v to the queues: want both", want)
			}
			lb.waitCounts(t, want, 0, 1)

			// Idle for longer than the spin, the loop sleeps on both
			// sockets; a datagram to either wakes it.
			time.Sleep(50 * time.Millisecond)
			more := lb.send(t, 21000, 64, "loop-test")
			want = []int64{want[0] + more[0], want[1] + more[1]}
			lb.waitCounts(t, want, 0, 1)
			got := Gather(lb.ws, func(w *Worker) any { return w.Queue() }, time.Second)
			if got[0] != 0 || got[1] != 1 {
				t.Fatalf("calls to the loop's workers answered %v, want [0 1]", got)
			}
			sleeps := uint64(0)
			for _, w := range lb.ws {
				sleeps += Gather([]*Worker{w}, func(w *Worker) any { return w.st.Sleeps }, time.Second)[0].(uint64)
			}
			if sleeps == 0 {
				t.Error("the loop never slept while idle")
			}

			// Worker 1 stops: it leaves, and worker 0 goes on.
			lb.ws[1].Stop()
			select {
			case w := <-left:
				if w != lb.ws[1] || w.Err() != nil {
					t.Fatalf("left: queue %d (err %v), want queue 1 stopped without error", w.Queue(), w.Err())
				}
			case <-time.After(5 * time.Second):
				t.Fatal("the stopped worker did not leave the loop")
			}
			more = lb.send(t, 22000, 64, "loop-test")
			lb.waitCounts(t, []int64{want[0] + more[0]}, 0)

			// Worker 0 panics on a datagram: it leaves failed, the loop ends.
			for p := 23000; ; p++ {
				if q := lb.rss.Queue(netip.AddrPortFrom(lb.bed.PeerAddr, uint16(p)), netip.AddrPortFrom(lb.bed.EngineAddr, 9)); q == 0 {
					lb.send(t, p, 1, "loop-panic")
					break
				}
			}
			select {
			case w := <-left:
				if w != lb.ws[0] || !errors.Is(w.Err(), ErrPanic) {
					t.Fatalf("left: queue %d (err %v), want queue 0 failed with ErrPanic", w.Queue(), w.Err())
				}
			case <-time.After(5 * time.Second):
				t.Fatal("the panicking worker did not leave the loop")
			}
			select {
			case <-ended:
			case <-time.After(5 * time.Second):
				t.Fatal("RunLoop did not return once its workers left")
			}
		})
	}
}

// panicLayer is a layer that panics in Start or in Pending, as told.
type panicLayer struct {
	NoLayer
	inStart, inPending bool
}

func (p *panicLayer) Start() {
	if p.inStart {
		panic("loop-test: Start")
	}
}

func (p *panicLayer) Pending() bool {
	if p.inPending {
		panic("loop-test: Pending")
	}
	return false
}

// TestRunLoopFailures: in a loop of three workers, one whose layer panics
// in Start and one whose layer panics when the loop looks at it before
// sleeping each leave it failed (ErrPanic), and the third goes on serving
// its queue.
func TestRunLoopFailures(t *testing.T) {
	lb := newLoopBed(t, 3)
	lb.ws[0].AddLayer(&panicLayer{inStart: true})
	lb.ws[1].AddLayer(&panicLayer{inPending: true})
	left := make(chan *Worker, 3)
	for _, w := range lb.ws {
		w.StartWaker()
	}
	go RunLoop(lb.ws, func(w *Worker) { left <- w })
	for range 2 {
		select {
		case w := <-left:
			if w == lb.ws[2] || !errors.Is(w.Err(), ErrPanic) {
				t.Fatalf("left: queue %d (err %v), want queue 0 or 1 failed with ErrPanic", w.Queue(), w.Err())
			}
		case <-time.After(5 * time.Second):
			t.Fatal("the failing workers did not leave the loop")
		}
	}
	want := lb.send(t, 24000, 96, "loop-test")
	if want[2] == 0 {
		t.Fatalf("the peer's flows went %v to the queues: want some on queue 2", want)
	}
	lb.waitCounts(t, want, 2)
	lb.ws[2].Stop()
	select {
	case w := <-left:
		if w != lb.ws[2] || w.Err() != nil {
			t.Fatalf("left: queue %d (err %v), want queue 2 stopped without error", w.Queue(), w.Err())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the stopped worker did not leave the loop")
	}
}
