package engine

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/xdpengine/engine/header"
	"github.com/xdpengine/engine/stack/inet4"
	"github.com/xdpengine/engine/stack/inet6"
)

// ErrNoEchoReply is wrapped by Ping's error when no echo reply came before
// the context ended (together with the context's error).
var ErrNoEchoReply = errors.New("no echo reply")

// Ping defaults, as ping(8)'s.
const (
	DefaultPingSize = 56 // data bytes after the ICMP header
	defaultPingTTL  = 64
	maxPingSize4    = 65535 - header.IPv4MinHeaderLen - header.ICMPv4HeaderLen
	maxPingSize6    = 65535 - header.ICMPv6HeaderLen
)

// PingOptions are the fields of one echo request.
type PingOptions struct {
	// Size is the number of data bytes after the 8-byte ICMP header
	// (ping -s); 0: DefaultPingSize. A request larger than the path MTU
	// is fragmented.
	Size int
	// TTL is the request's IPv4 TTL or IPv6 hop limit (ping -t); 0: 64.
	TTL int
	// ID is the echo identifier; 0: one the engine picks for this call.
	// A caller sending a series (ping -c) keeps one ID and counts Seq.
	ID uint16
	// Seq is the echo sequence number (ping's icmp_seq).
	Seq uint16
}

// PingResult is the echo reply that answered a request.
type PingResult struct {
	Addr  netip.Addr    `json:"addr"`  // who answered: the destination
	ID    uint16        `json:"id"`    // the echo identifier
	Seq   uint16        `json:"seq"`   // the echo sequence number
	Bytes int           `json:"bytes"` // the reply's ICMP length, header included (ping's "64 bytes from")
	TTL   int           `json:"ttl"`   // the reply's TTL or hop limit
	RTT   time.Duration `json:"rtt_ns"`
}

// Ping sends one ICMP (IPv4) or ICMPv6 (IPv6) echo request to dst from
// the engine's address toward it and waits for its reply, matched by
// identifier, sequence number and source, until ctx ends. It repeats
// nothing: a caller wanting ping -c N calls it N times with one ID.
// Errors are *net.OpError (Op "ping"): ErrNoEchoReply with ctx's error
// when no reply came, syscall.EHOSTUNREACH without a route,
// syscall.EAFNOSUPPORT for IPv6 on an engine without IPv6 addresses,
// net.ErrClosed when the engine is not running, syscall.EADDRINUSE when
// a ping with the same identifier and sequence number to dst is already
// waiting. The request is not counted in the ICMP out counters (the
// worker did not build it); its reply is, as in echo_reply.
func (e *Engine) Ping(ctx context.Context, dst netip.Addr, opts PingOptions) (PingResult, error) {
	dst = dst.Unmap().WithZone("")
	network := "ip4:icmp"
	if dst.Is6() {
		network = "ip6:ipv6-icmp"
	}
	fail := func(err error) (PingResult, error) {
		return PingResult{}, &net.OpError{Op: "ping", Net: network, Addr: &net.IPAddr{IP: dst.AsSlice()}, Err: err}
	}
	size, ttl := opts.Size, opts.TTL
	if size == 0 {
		size = DefaultPingSize
	}
	if ttl == 0 {
		ttl = defaultPingTTL
	}
	maxSize := maxPingSize6
	if dst.Is4() {
		maxSize = maxPingSize4
	}
	switch {
	case !dst.IsValid() || dst.IsUnspecified() || dst.IsMulticast():
		return fail(errors.New("not a unicast address"))
	case size < 0 || size > maxSize:
		return fail(fmt.Errorf("size %d: want 0 to %d data bytes", size, maxSize))
	case ttl < 0 || ttl > 255:
		return fail(fmt.Errorf("ttl %d: want 1 to 255", ttl))
	case !e.state.Running():
		return fail(net.ErrClosed)
	}
	id := opts.ID
	if id == 0 {
		id = e.pings.newID()
	}
	key := pingKey{addr: dst, id: id, seq: opts.Seq}
	w, err := e.pings.add(key)
	if err != nil {
		return fail(err)
	}
	defer e.pings.remove(key, w)
	if err := e.sendEcho(dst, id, opts.Seq, size, uint8(ttl)); err != nil {
		return fail(err)
	}
	select {
	case r := <-w.done:
		r.Addr, r.ID, r.Seq = dst, id, opts.Seq
		r.RTT = r.at.Sub(w.sent)
		return r.PingResult, nil
	case <-ctx.Done():
		return fail(fmt.Errorf("%w: %w", ErrNoEchoReply, ctx.Err()))
	case <-e.Done():
		return fail(net.ErrClosed)
	}
}

// sendEcho builds the echo request in a buffer and queues it on a worker,
// which sends it (resolving the next hop, fragmenting) as any datagram.
func (e *Engine) sendEcho(dst netip.Addr, id, seq uint16, size int, ttl uint8) error {
	if dst.Is4() {
		return e.sendEcho4(dst, id, seq, size, ttl)
	}
	return e.sendEcho6(dst, id, seq, size, ttl)
}

func (e *Engine) sendEcho4(dst netip.Addr, id, seq uint16, size int, ttl uint8) error {
	if e.host.Owns(dst) {
		return errors.New("an address of the engine (no loopback)")
	}
	_, src, ok := e.host.Route(dst)
	if !ok {
		return syscall.EHOSTUNREACH
	}
	n := header.IPv4MinHeaderLen + header.ICMPv4HeaderLen + size
	b := e.bufs.Get(n)
	if b == nil {
		return syscall.EMSGSIZE
	}
	ipid := e.host.NextID(src, dst, header.ProtocolICMP, e.host.Nanotime())
	inet4.PutIPv4(b.B, src, dst, ipid, false, header.ProtocolICMP, n, ttl, 0)
	m := header.ICMPv4(b.B[header.IPv4MinHeaderLen:n])
	putEcho(m, header.ICMPv4Echo, id, seq)
	m.SetChecksum(0)
	m.UpdateChecksum()
	ls := e.host.Layers()
	l := ls[int(id)%len(ls)]
	if !e.host.TrySend(l, inet4.Datagram{Buf: b, N: n, Dst: dst}) {
		e.bufs.Put(b)
		return syscall.ENOBUFS
	}
	return nil
}

func (e *Engine) sendEcho6(dst netip.Addr, id, seq uint16, size int, ttl uint8) error {
	h := e.host6
	if h == nil {
		return syscall.EAFNOSUPPORT
	}
	if h.Owns(dst) {
		return errors.New("an address of the engine (no loopback)")
	}
	_, src, ok := h.Route(dst)
	if !ok {
		return syscall.EHOSTUNREACH
	}
	mlen := header.ICMPv6HeaderLen + size
	n := header.IPv6HeaderLen + mlen
	b := e.bufs.Get(n)
	if b == nil {
		return syscall.EMSGSIZE
	}
	s16, d16 := src.As16(), dst.As16()
	header.PutIPv6(b.B, 0, 0, uint16(mlen), header.ProtocolICMPv6, ttl, s16, d16)
	m := header.ICMPv6(b.B[header.IPv6HeaderLen:n])
	putEcho(m, header.ICMPv6EchoRequest, id, seq)
	m.SetChecksum(0)
	m.UpdateChecksum(s16, d16)
	ls := h.Layers()
	l := ls[int(id)%len(ls)]
	if !h.TrySend(l, inet6.Datagram{Buf: b, N: n, Dst: dst}) {
		e.bufs.Put(b)
		return syscall.ENOBUFS
	}
	return nil
}

// putEcho writes an echo request's header (type, code 0, identifier,
// sequence number) and its data: bytes counting up from 0, as ping(8)'s
// pattern after its timestamp.
func putEcho(m []byte, typ uint8, id, seq uint16) {
	m[0], m[1] = typ, 0
	binary.BigEndian.PutUint16(m[4:], id)
	binary.BigEndian.PutUint16(m[6:], seq)
	for i := range m[8:] {
		m[8+i] = byte(i)
	}
}

// pingKey is what matches a reply to its request: the destination that
// answers, the identifier and the sequence number.
type pingKey struct {
	addr    netip.Addr
	id, seq uint16
}

// pingWait is one outstanding request.
type pingWait struct {
	sent time.Time
	done chan pingReply // one reply; buffered, the worker never blocks
}

type pingReply struct {
	PingResult
	at time.Time
}

// pings is the engine's registry of outstanding echo requests. The
// workers hand it every echo reply (inet4.Config.EchoReply,
// inet6.Config.EchoReply); with no request outstanding that costs them
// one atomic load.
type pings struct {
	n      atomic.Int32 // entries in wait: the workers' one check
	nextID atomic.Uint32
	mu     sync.Mutex // guards wait
	wait   map[pingKey]*pingWait
}

func (p *pings) newID() uint16 {
	for {
		if id := uint16(p.nextID.Add(1)); id != 0 {
			return id
		}
	}
}

// add registers a request about to be sent; its send time is now.
func (p *pings) add(k pingKey) (*pingWait, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.wait == nil {
		p.wait = map[pingKey]*pingWait{}
	}
	if _, dup := p.wait[k]; dup {
		return nil, fmt.Errorf("id %d seq %d already waiting: %w", k.id, k.seq, syscall.EADDRINUSE)
	}
	w := &pingWait{sent: time.Now(), done: make(chan pingReply, 1)}
	p.wait[k] = w
	p.n.Add(1)
	return w, nil
}

// remove forgets k unless a reply already took it.
func (p *pings) remove(k pingKey, w *pingWait) {
	p.mu.Lock()
	if p.wait[k] == w {
		delete(p.wait, k)
		p.n.Add(-1)
	}
	p.mu.Unlock()
}

// reply is the workers' hook: an echo reply from src arrived. It runs on
// the worker and never blocks.
func (p *pings) reply(src netip.Addr, id, seq uint16, ttl uint8, n int) {
	if p.n.Load() == 0 {
		return
	}
	at := time.Now()
	k := pingKey{addr: src.Unmap(), id: id, seq: seq}
	p.mu.Lock()
	w := p.wait[k]
	if w != nil {
		delete(p.wait, k)
		p.n.Add(-1)
	}
	p.mu.Unlock()
	if w != nil {
		w.done <- pingReply{PingResult: PingResult{Bytes: n, TTL: int(ttl)}, at: at}
	}
}
