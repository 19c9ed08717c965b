package tcp

import "sync/atomic"

// Memory accounts the ring memory of a set of endpoints (an engine's), as
// Linux's tcp_memory_allocated does against net.ipv4.tcp_mem: the bytes
// of ring memory attached to live endpoints (whole rings, whether or not
// their pages were touched), and a pressure state with hysteresis.
//
//   - Below pressure, rings grow as their connections need (receive
//     windows by auto-tuning up to Config.RecvBufMax, send rings toward
//     two congestion windows).
//   - Pressure: entered when the bytes exceed the pressure threshold,
//     left when they fall below the low one. Meanwhile receive windows are not opened past the
//     memory a connection holds (at least Config.BufMin), auto-tuning and
//     send rings do not grow, new rings take Config.BufMin, and the engine
//     trims idle connections at once instead of after Config.BufIdle.
//   - High is a hard limit: no ring grows past BufMin if that would take
//     the bytes over it, and the engine refuses new connections while
//     they are above it (AboveHigh). Every connection may still hold
//     BufMin in each ring, as Linux guarantees tcp_rmem[0]: data that
//     arrives for a ring that cannot grow is dropped and counted (Drops,
//     Linux's TCPRcvQDrop), the window advertised stays (its right edge
//     never moves left, RFC 9293 3.8.6), and the peer sends it again.
//
// So the bytes stay below High plus BufMin per ring. Zero thresholds mean
// no limit (SetLimits).
// Safe for concurrent use: endpoints charge and uncharge from the worker
// and the application goroutines.
type Memory struct {
	// low, pressure and high are the thresholds in bytes (Linux's
	// tcp_mem, which counts pages): SetLimits.
	low, press, high atomic.Int64

	used      atomic.Int64
	peak      atomic.Int64
	pressure  atomic.Bool
	pressures atomic.Uint64 // times pressure was entered
	grows     atomic.Uint64 // ring memory attached or grown
	trims     atomic.Uint64 // rings detached or shrunk while the connection lived
	denied    atomic.Uint64 // growths not made (or made at BufMin) because of pressure
	drops     atomic.Uint64 // segments dropped: their ring could not grow (above high)
	toGC      atomic.Uint64 // old receive memory left to the collector (the reader was copying from it)
}

// MemoryStats are a Memory's figures: the bytes attached now and at most,
// whether it is under pressure, and its counters.
type MemoryStats struct {
	Bytes, PeakBytes int64
	UnderPressure    bool
	// Pressures counts the times pressure was entered; Grows the ring
	// memory attached or grown; Trims the rings detached or shrunk while
	// their connection lived; Denied the growths pressure or the high
	// threshold held back; Drops the segments dropped because their ring
	// could not grow past BufMin above the high threshold; ToGC the
	// receive buffers left to the garbage collector because the reader
	// was copying from them when they were replaced.
	Pressures, Grows, Trims, Denied, Drops, ToGC uint64
}

// Stats returns the figures.
func (m *Memory) Stats() MemoryStats {
	return MemoryStats{Bytes: m.used.Load(), PeakBytes: m.peak.Load(), UnderPressure: m.pressure.Load(),
		Pressures: m.pressures.Load(), Grows: m.grows.Load(), Trims: m.trims.Load(),
		Denied: m.denied.Load(), Drops: m.drops.Load(), ToGC: m.toGC.Load()}
}

// SetLimits sets the thresholds in bytes (zero: no limit), at any time;
// the pressure state follows at once.
func (m *Memory) SetLimits(low, pressure, high int64) {
	m.low.Store(low)
	m.press.Store(pressure)
	m.high.Store(high)
	m.charge(0)
}

// Limits returns the thresholds.
func (m *Memory) Limits() (low, pressure, high int64) {
	return m.low.Load(), m.press.Load(), m.high.Load()
}

// Used returns the bytes of ring memory attached to endpoints now.
func (m *Memory) Used() int64 { return m.used.Load() }

// UnderPressure reports whether the memory is under pressure (nil: never).
func (m *Memory) UnderPressure() bool { return m != nil && m.pressure.Load() }

// AboveHigh reports whether the bytes attached exceed High, when new
// connections are refused (nil, or High zero: never).
func (m *Memory) AboveHigh() bool {
	if m == nil {
		return false
	}
	h := m.high.Load()
	return h > 0 && m.used.Load() > h
}

// fits reports whether n more bytes stay within the high threshold (nil,
// or no threshold: always).
func (m *Memory) fits(n int) bool {
	if m == nil {
		return true
	}
	h := m.high.Load()
	return h <= 0 || m.used.Load()+int64(n) <= h
}

// charge adds n bytes (n may be 0: the state is re-evaluated).
func (m *Memory) charge(n int) {
	if m == nil {
		return
	}
	u := m.used.Add(int64(n))
	for p := m.peak.Load(); u > p && !m.peak.CompareAndSwap(p, u); p = m.peak.Load() {
	}
	if p := m.press.Load(); p > 0 && u > p && !m.pressure.Load() && m.pressure.CompareAndSwap(false, true) {
		m.pressures.Add(1)
	}
	if p := m.press.Load(); m.pressure.Load() && (p == 0 || u < m.low.Load()) {
		m.pressure.Store(false)
	}
}

func (m *Memory) uncharge(n int) {
	if m == nil || n == 0 {
		return
	}
	if u := m.used.Add(-int64(n)); m.pressure.Load() && u < m.low.Load() {
		m.pressure.Store(false)
	}
}

// Event counters; nothing without a Memory.
const (
	memGrow = iota
	memTrim
	memDenied
	memDrop
	memToGC
)

func (m *Memory) note(what int) {
	if m == nil {
		return
	}
	switch what {
	case memGrow:
		m.grows.Add(1)
	case memTrim:
		m.trims.Add(1)
	case memDenied:
		m.denied.Add(1)
	case memDrop:
		m.drops.Add(1)
	case memToGC:
		m.toGC.Add(1)
	}
}
