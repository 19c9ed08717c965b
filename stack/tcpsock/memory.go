package tcpsock

import (
	"runtime/debug"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/xdpengine/engine/stack/stats"
	"github.com/xdpengine/engine/tcp"
)

// MemoryConfig bounds the memory of the engine's TCP connections, as
// Linux's net.ipv4.tcp_mem, tcp_rmem[0]/tcp_wmem[0] and tcp_max_orphans
// do (engine.Config documents each field; zero fields: no limit, or the
// tcp package's default).
//
// The connections' ring memory is charged to one tcp.Memory while a ring
// holds it: under pressure windows and send rings stop growing and the
// workers trim idle connections at once; above High the workers refuse
// new connections (SYNs dropped, dials fail with ENOBUFS) and a close
// that would leave an orphan resets instead; past MaxOrphans likewise.
// Memory that rings give back goes to a pool bounded by PoolMax whose
// unused part decays by half every second; what it lets go of returns to
// the operating system (osRelease).
type MemoryConfig struct {
	Low, Pressure, High int64 // bytes
	MaxOrphans          int   // all workers together (0: no limit)
	BufMin              int   // tcp.Config.BufMin
	BufIdle             time.Duration
	PoolMax             int64 // tcp.RingPool.Max
}

const (
	decayEvery   = int64(time.Second) // the pool's decay, on worker 0
	sweepBudget  = 4096               // connections a worker trims per tick (100 ms) under pressure
	osReleaseMin = 16 << 20           // bytes let go of that make it worth a collection
	osReleaseGap = int64(10 * time.Second)
)

// osRelease returns the memory the ring pool let go of to the operating
// system: once at least osReleaseMin bytes were let go of, a goroutine
// runs debug.FreeOSMemory (a garbage collection, then the runtime gives
// back the free pages), at most once every 10 s and one at a time. Without
// it the memory would wait for the runtime's next collection, which an
// idle program may not run for two minutes.
type osRelease struct {
	pending atomic.Int64 // bytes let go of since the last release
	last    atomic.Int64 // when the last one started (ns, the workers' clock)
	running atomic.Bool
	runs    atomic.Uint64
}

// add notes n bytes let go of at now and starts a release when due.
func (r *osRelease) add(n, now int64) {
	if r.pending.Add(n) < osReleaseMin || now-r.last.Load() < osReleaseGap || !r.running.CompareAndSwap(false, true) {
		return
	}
	r.last.Store(now)
	r.pending.Store(0)
	r.runs.Add(1)
	go func() {
		debug.FreeOSMemory()
		r.running.Store(false)
	}()
}

// memTick is the TCP layer's slow memory work on a worker: worker 0 lets
// the ring and control-block pools decay every second (what they let go
// of goes back to the OS: osRelease), and while the memory is under
// pressure every worker trims its idle connections, sweepBudget a tick
// (a round never stalls on a walk over all of them: 100,000 connections
// in about 2.5 s).
func (w *worker) memTick() {
	now := w.l.Now()
	if w.queue == 0 && now-w.lastDecay >= decayEvery {
		w.lastDecay = now
		w.s.rings.Decay()
		w.s.endpoints.Decay()
		// What the pools let go of since the last look: their decay, and
		// what came back past their bounds.
		_, eps := w.s.endpoints.Kept()
		released := w.s.rings.Stats().Released + eps*int64(unsafe.Sizeof(tcp.Endpoint{}))
		if d := released - w.lastReleased; d > 0 {
			w.s.osFree.add(d, now)
		}
		w.lastReleased = released
	}
	if !w.s.mem.UnderPressure() {
		w.sweepPos = 0
		return
	}
	i, done := 0, 0
	for _, c := range w.conns.All() {
		if i++; i <= w.sweepPos {
			continue
		}
		c.ep.TrimBuffers()
		if done++; done == sweepBudget {
			w.sweepPos = i
			return
		}
	}
	w.sweepPos = 0 // round again from the start
}

// memFull reports whether the memory is above its high threshold: a new
// connection is refused (counted).
func (w *worker) memFull() bool {
	if !w.s.mem.AboveHigh() {
		return false
	}
	w.st.TCP.MemRefused++
	return true
}

// closeOrphan applies close(2) for the application: the connection
// becomes an orphan (it lives on to deliver its FIN), unless there are
// MaxOrphans already or the memory is above its high threshold, when it
// is reset instead (Linux's tcp_check_oom at close).
func (w *worker) closeOrphan(c *Conn) {
	c.ep.Close(w.l.Now())
	switch c.ep.State() {
	case tcp.Closed, tcp.TimeWait:
		return
	}
	if c.orphan {
		return
	}
	if w.orphans >= w.maxOrphans || w.s.mem.AboveHigh() {
		c.ep.Abort(w.l.Now())
		w.st.TCP.AbortOnMemory++
		return
	}
	c.orphan = true
	w.orphans++
}

// unorphan ends c's orphanhood (TIME-WAIT or CLOSED).
func (w *worker) unorphan(c *Conn) {
	if c.orphan {
		c.orphan = false
		w.orphans--
	}
}

// publishMemory adds the memory figures to s: the worker's orphans, and
// on queue 0 the engine-wide ones.
func (w *worker) publishMemory(s *stats.Worker) {
	s.TCP.CurrOrphans = uint64(w.orphans)
	if w.queue != 0 {
		return
	}
	m, p := w.s.mem.Stats(), w.s.rings.Stats()
	s.TCP.MemBytes, s.TCP.MemPeakBytes = uint64(max(m.Bytes, 0)), uint64(max(m.PeakBytes, 0))
	s.TCP.MemPressure = 0
	if m.UnderPressure {
		s.TCP.MemPressure = 1
	}
	s.TCP.MemPressures, s.TCP.MemGrows, s.TCP.MemTrims, s.TCP.MemDenied = m.Pressures, m.Grows, m.Trims, m.Denied
	s.TCP.MemDrops = m.Drops
	kept, released := w.s.endpoints.Kept()
	size := int64(unsafe.Sizeof(tcp.Endpoint{}))
	s.TCP.PoolBytes = uint64(max(p.Bytes+int64(kept)*size, 0))
	s.TCP.PoolReleased = uint64(max(p.Released+released*size, 0))
}
