package tcp

import (
	"fmt"
	"strings"
	"testing"

	"github.com/xdpengine/engine/header"
)

const ms = int64(1_000_000)

// pkt is a captured segment.
type pkt struct {
	h       header.TCPFields
	payload []byte
}

func (p *pkt) seg() *Segment {
	return &Segment{Seq: Seq(p.h.Seq), Ack: Seq(p.h.Ack), Flags: p.h.Flags, Window: p.h.Window,
		Options: p.h.Options, Payload: p.payload}
}

func flagString(f uint8) string {
	var b []string
	for _, x := range []struct {
		f uint8
		n string
	}{{FlagSYN, "S"}, {FlagFIN, "F"}, {FlagRST, "R"}, {FlagPSH, "P"}, {FlagACK, "."}} {
		if f&x.f != 0 {
			b = append(b, x.n)
		}
	}
	return strings.Join(b, "")
}

func (p *pkt) String() string {
	return fmt.Sprintf("[%s] seq=%d ack=%d win=%d len=%d", flagString(p.h.Flags), p.h.Seq, p.h.Ack, p.h.Window, len(p.payload))
}

// capture is a Sink that records segments; full makes Emit refuse.
type capture struct {
	pkts []pkt
	full bool
}

func (c *capture) Emit(h *header.TCPFields, p1, p2 []byte) bool {
	if c.full {
		return false
	}
	p := pkt{h: *h}
	p.payload = append(append([]byte(nil), p1...), p2...)
	// Round-trip through the wire format so the test sees what the
	// engine would send.
	b := make([]byte, h.Len()+len(p.payload))
	n, err := h.Put(b)
	if err != nil {
		panic(err)
	}
	copy(b[n:], p.payload)
	var f header.TCPFields
	if err := f.Parse(b); err != nil {
		panic(err)
	}
	p.h = f
	c.pkts = append(c.pkts, p)
	return true
}

func baseConfig(iss Seq) Config {
	// BufMin = the buffers: rings take their whole size at once, and the
	// idle trim comes late (ringmem_test.go tests both).
	return Config{LocalPort: 1000, RemotePort: 2000, ISS: iss, NewCC: newTestReno,
		SendBuf: 64 << 10, RecvBufMin: 64 << 10, RecvBufMax: 64 << 10, BufMin: 64 << 10,
		BufIdle: 1000 * 1_000_000_000, TSOffset: uint32(iss) * 7}
}

// protoTimer is NextTimer without the idle trim of the ring memory.
func protoTimer(e *Endpoint) int64 {
	at := e.trimAt
	e.trimAt = 0
	t := e.NextTimer()
	e.trimAt = at
	return t
}

// out runs Output and returns what it emitted.
func out(t *testing.T, e *Endpoint, now int64) []pkt {
	t.Helper()
	var c capture
	e.Output(now, &c)
	return c.pkts
}

// one expects exactly one segment.
func one(t *testing.T, e *Endpoint, now int64) *pkt {
	t.Helper()
	p := out(t, e, now)
	if len(p) != 1 {
		t.Fatalf("got %d segments %v, want 1", len(p), p)
	}
	return &p[0]
}

// none expects no segment.
func none(t *testing.T, e *Endpoint, now int64) {
	t.Helper()
	if p := out(t, e, now); len(p) != 0 {
		t.Fatalf("got segments %v, want none", p)
	}
}

// want checks a segment's seq, ack and flags.
func want(t *testing.T, p *pkt, seq, ack uint32, flags uint8) {
	t.Helper()
	if p.h.Seq != seq || p.h.Ack != ack || p.h.Flags != flags {
		t.Fatalf("got %v, want [%s] seq=%d ack=%d", p, flagString(flags), seq, ack)
	}
}

// pair sets up an established pair a (active, ISS 1000) and b (passive,
// ISS 5000) by a handshake through a Listener, at time 0.
func pair(t *testing.T, ca, cb Config) (a, b *Endpoint, l *Listener) {
	t.Helper()
	a, err := Dial(0, ca)
	if err != nil {
		t.Fatal(err)
	}
	l, err = NewListener(ListenerConfig{Backlog: 8, SYNBacklog: 8})
	if err != nil {
		t.Fatal(err)
	}
	syn := one(t, a, 0)
	b, err = l.OnSYN(0, syn.seg(), cb)
	if err != nil {
		t.Fatal(err)
	}
	synack := one(t, b, 0)
	a.Input(0, synack.seg())
	ack := one(t, a, 0)
	b.Input(0, ack.seg())
	if a.State() != Established || b.State() != Established {
		t.Fatalf("states %v %v", a.State(), b.State())
	}
	if got, ok := l.Accept(); !ok || got != b {
		t.Fatalf("accept queue: %v %v", got, ok)
	}
	a.TakeEvents()
	b.TakeEvents()
	return a, b, l
}

// deliver runs Output on from and feeds every segment to to; it returns
// the segments.
func deliver(t *testing.T, from, to *Endpoint, now int64) []pkt {
	t.Helper()
	ps := out(t, from, now)
	for i := range ps {
		to.Input(now, ps[i].seg())
	}
	return ps
}

// settle exchanges segments until both sides are quiet.
func settle(t *testing.T, a, b *Endpoint, now int64) {
	t.Helper()
	for i := 0; i < 100; i++ {
		n := len(deliver(t, a, b, now)) + len(deliver(t, b, a, now))
		if n == 0 {
			return
		}
	}
	t.Fatal("no quiescence")
}
