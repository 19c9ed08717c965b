package tcpsock

import (
	"net/netip"
	"sync/atomic"

	"github.com/xdpengine/engine/flowtable"
	"github.com/xdpengine/engine/stack/socktab"
	"github.com/xdpengine/engine/tcp"
)

// timeWait is a connection in TIME-WAIT on its worker, as Linux's
// timewait sock: the tcp record that answers the peer (tcp.TimeWaitRecord),
// the 4-tuple, and the socket-table entry that holds the port; about 200
// bytes with its slot in the worker's TIME-WAIT table, instead of the
// connection's control block, rings and socket. A connection becomes one
// as it enters TIME-WAIT (toTimeWait); the Conn the application may
// still hold then reads what is left and io.EOF, as a socket Linux moved
// to a timewait sock does.
//
// Worker only, except sock, which Listener.Close may set (holdTW) with the
// same protocol as Conn.sock: a CAS from nil, and freedSock once expired.
type timeWait struct {
	rec    tcp.TimeWaitRecord
	key    flowtable.Key // arrival order: Src is the peer
	via    netip.Addr    // the connection's NextHop, if any
	sock   atomic.Pointer[socktab.Socket]
	ln     *Listener // passive, its listener still open: listed in ln.twChildren
	queued int64     // the deadline it was queued with (twq)
	gone   bool
}

// twQueue is the worker's TIME-WAIT records in the order they entered it:
// their deadlines are in that order too, but for the ones a retransmitted
// FIN moved later, which go to the back when they come up.
type twQueue struct {
	q       []*timeWait
	head, n int
}

func (q *twQueue) push(t *timeWait) {
	if q.n == len(q.q) {
		nq := make([]*timeWait, max(2*len(q.q), 64))
		for i := range q.n {
			nq[i] = q.q[(q.head+i)%len(q.q)]
		}
		q.q, q.head = nq, 0
	}
	q.q[(q.head+q.n)%len(q.q)] = t
	q.n++
}

func (q *twQueue) peek() *timeWait { return q.q[q.head] }

func (q *twQueue) pop() {
	q.q[q.head] = nil
	q.head = (q.head + 1) % len(q.q)
	q.n--
}

// toTimeWait replaces c, which just entered TIME-WAIT, by a timeWait
// record, and frees c (the worker's reference to its memory).
func (w *worker) toTimeWait(c *Conn) {
	rec, ok := c.ep.TimeWaitState()
	if !ok {
		return
	}
	t := &timeWait{rec: rec, key: c.key, via: c.via, queued: rec.Deadline()}
	if ln := c.ln; ln != nil {
		// Under ln.mu, as Listener.Close registers its children: either
		// Close registered c already (its entry moves to t), or it will
		// register t.
		ln.mu.Lock()
		if _, ok := ln.children[c]; ok && !ln.closed.Load() {
			t.ln = ln
			ln.twChildren[t] = struct{}{}
		}
		t.sock.Store(c.sock.Swap(&freedSock)) // pairs with the CAS in holdPort
		ln.mu.Unlock()
	} else {
		t.sock.Store(c.sock.Swap(&freedSock))
	}
	w.freeTCP(c)
	if err := w.tw.Insert(t.key, t, w.l.Now()); err != nil {
		w.st.TCP.TimeWaitOverflow++ // the table refused it: no TIME-WAIT
		w.expireTW(t)
		return
	}
	w.twq.push(t)
	if s := t.sock.Load(); s != nil && t.rec.Timestamps() {
		w.twReuse = append(w.twReuse, twRelease{at: w.l.Now() + twReuseDelay, t: t})
	}
}

// expireTW ends TIME-WAIT for t: out of the table, the port released.
func (w *worker) expireTW(t *timeWait) {
	if t.gone {
		return
	}
	t.gone = true
	if w.tw.Lookup(&t.key) == t {
		w.tw.Delete(t.key)
	}
	w.st.TCP.CurrTimeWait--
	if ln := t.ln; ln != nil {
		ln.mu.Lock()
		delete(ln.twChildren, t)
		ln.mu.Unlock()
	}
	if s := t.sock.Swap(&freedSock); s != nil && s != &freedSock { // pairs with the CAS in holdTW
		w.s.tab.Close(s)
	}
}

// twInput answers a segment for a connection in TIME-WAIT.
func (w *worker) twInput(t *timeWait, key flowtable.Key, seg *tcp.Segment, src, dst netip.Addr, linkBcast bool) {
	v, ack := t.rec.Input(w.l.Now(), seg, w.s.challenge)
	switch v {
	case tcp.TWReopen:
		iss := t.rec.ReopenISN()
		w.expireTW(t)
		w.tcpListen(key, seg, src, dst, linkBcast, iss)
		return
	case tcp.TWClose:
		w.expireTW(t)
		return
	}
	if ack && !linkBcast {
		h := &w.hdr
		t.rec.AckHeader(w.l.Now(), h)
		s := &w.sink
		s.to(dst, src, nil)
		s.via = t.via
		s.Emit(h, nil, nil)
	}
}

// twRound expires the TIME-WAIT records whose deadline passed; it
// returns how many it looked at.
func (w *worker) twRound() int {
	work := 0
	for w.twq.n > 0 && work < tcpTimerBatch {
		t := w.twq.peek()
		if !t.gone {
			d := t.rec.Deadline()
			if d > w.l.Now() && d == t.queued {
				break
			}
			if d > w.l.Now() { // moved by a retransmitted FIN
				w.twq.pop()
				t.queued = d
				w.twq.push(t)
				work++
				continue
			}
			w.expireTW(t)
		}
		w.twq.pop()
		work++
	}
	return work
}

// twNext is the earliest TIME-WAIT deadline (0: none).
func (w *worker) twNext() int64 {
	if w.twq.n == 0 {
		return 0
	}
	if t := w.twq.peek(); !t.gone {
		return t.queued
	}
	return w.l.Now()
}

// holdTW registers a TIME-WAIT record of ln's in the socket table as
// ln closes (holdPort for a connection). Under ln.mu.
func (t *timeWait) holdTW(ln *Listener) {
	s, err := ln.s.tab.HoldAccepted(ln.sock, t.key, t)
	if err != nil {
		return
	}
	if !t.sock.CompareAndSwap(nil, s) { // pairs with the Swap in expireTW
		ln.s.tab.Close(s)
		return
	}
	ln.s.tab.SetState(s, socktab.StateTimeWait)
}
