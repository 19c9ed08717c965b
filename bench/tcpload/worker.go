package tcpload

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// worker is one connection slot: it opens a connection, runs requests on
// it (or streams bytes) and opens another when it fails or must close.
type worker struct {
	r  *run
	id int
	sh *shard
	c  net.Conn // the open connection, nil between connections
	// conn is c for the watchdog and stop; busy is when the request in
	// progress began (0: none; -1: the watchdog abandoned it, and fired
	// says when its deadline is set).
	conn    atomic.Pointer[connBox]
	busy    atomic.Int64
	fired   atomic.Bool
	rd      *respReader // HTTP responses
	buf     []byte      // raw responses, bulk data
	timer   *timer      // open loop
	gotimer *time.Timer // other waits
	n       int         // connections opened
	fails   int         // connect errors in a row
}

type connBox struct{ c net.Conn }

func (w *worker) run() {
	defer w.hangUp()
	// Long-lived connections are opened before the clock starts, as wrk
	// does, so that the first requests do not carry the handshakes.
	if w.r.cfg.Mode != Connect {
		w.r.dialing <- struct{}{} // a token, for maxInFlight
		if err := w.dial(); err != nil && w.r.ctx.Err() == nil && !errors.Is(err, errStopped) {
			w.sh.fail(KindConnect)
		}
		<-w.r.dialing
	}
	w.r.ready.Done()
	<-w.r.started
	if w.r.cfg.Mode == Bulk {
		w.bulk()
		return
	}
	w.requests()
}

// errStopped ends a connect that raced with the end of the run.
var errStopped = errors.New("tcpload: stopped")

// dial opens the worker's next connection, to the next of the target's
// ports.
func (w *worker) dial() error {
	r := w.r
	ctx, cancel := context.WithTimeout(r.ctx, r.cfg.Timeout)
	c, err := r.cfg.Dial(ctx, "tcp4", r.addrs[(w.id+w.n)%len(r.addrs)])
	cancel()
	if err != nil {
		return err
	}
	w.n++
	w.c = c
	w.conn.Store(&connBox{c})
	r.opened()
	w.sh.moved(0, 0, 1)
	if r.stopped.Load() { // stop may have looked at conn before the Store
		w.hangUp()
		return errStopped
	}
	if w.rd != nil {
		w.rd.reset(c)
	}
	return nil
}

// hangUp closes the connection, if there is one.
func (w *worker) hangUp() {
	if w.c == nil {
		return
	}
	w.conn.Store(nil)
	w.r.closing <- struct{}{} // a token, for maxInFlight
	w.c.Close()
	<-w.r.closing
	w.c = nil
	w.r.open.Add(-1)
}

// connectFailed counts a failed connect and, in a closed loop, backs off.
func (w *worker) connectFailed() {
	w.sh.fail(KindConnect)
	w.fails++
	if w.r.perReq == 0 {
		w.sleepUntil(w.r.now() + backoff(w.fails))
	}
}

// endOp ends a request the watchdog watched, reporting whether it was
// abandoned; if so it waits until the watchdog has set its deadline, so
// that the deadline cannot land on the next request.
func (w *worker) endOp() bool {
	if w.busy.Swap(0) != -1 {
		return false
	}
	for !w.fired.Load() { // pairs with the Store in watch
		runtime.Gosched()
	}
	w.fired.Store(false)
	return true
}

// requests runs the request/response modes: HTTP, Raw and Connect.
func (w *worker) requests() {
	r := w.r
	cfg := &r.cfg
	httpMode := cfg.httpMode()
	if httpMode {
		w.rd = newRespReader(w.c, cfg.BufferSize)
	} else {
		w.buf = make([]byte, min(cfg.BufferSize, cfg.ResponseSize))
	}
	perConn := cfg.Mode == Connect
	open := r.perReq > 0
	for {
		due, ok := r.due()
		if !ok {
			if open { // hold the connection until the end, as in a closed loop
				w.sleepUntil(r.end)
			}
			return
		}
		if open {
			if w.sleepUntil(due); r.stopped.Load() {
				return
			}
		}
		// Latency counts from the due time (open loop), the connect
		// (Connect mode) or the send.
		start := due
		if w.c == nil {
			if !open {
				start = r.now()
			}
			if err := w.dial(); err != nil {
				if r.stopped.Load() {
					return
				}
				w.connectFailed()
				continue
			}
			w.fails = 0
		}
		if !open && !perConn {
			start = r.now()
		}
		sent := r.now()
		w.busy.Store(max(sent, 1))
		recv, status, mustClose, err := w.exchange(httpMode)
		abandoned := w.endOp()
		if r.stopped.Load() {
			return
		}
		if err != nil {
			k := classify(err)
			if abandoned {
				k = KindTimeout
			}
			w.sh.fail(k)
			w.hangUp()
			continue
		}
		if abandoned { // answered just in time: clear the watchdog's deadline
			w.c.SetDeadline(time.Time{})
		}
		lag := int64(-1)
		if open {
			lag = max(sent-due, 0)
		}
		now := r.now()
		w.sh.done(now, now-start, lag, uint64(len(r.req)), recv, status >= 400)
		if perConn || mustClose {
			w.hangUp()
		}
	}
}

// exchange sends the request and reads the answer, returning the bytes
// read, the HTTP status and whether the connection must close.
func (w *worker) exchange(httpMode bool) (recv uint64, status int, mustClose bool, err error) {
	if _, err := w.c.Write(w.r.req); err != nil {
		return 0, 0, false, err
	}
	if httpMode {
		before := w.rd.n
		resp, err := w.rd.ReadResponse()
		return uint64(w.rd.n - before), resp.Status, resp.Close, err
	}
	for left := w.r.cfg.ResponseSize; left > 0; {
		n, err := w.c.Read(w.buf[:min(left, len(w.buf))])
		left -= n
		recv += uint64(n)
		if err != nil {
			if err == io.EOF && left > 0 {
				err = io.ErrUnexpectedEOF
			}
			if left > 0 {
				return recv, 0, false, err
			}
		}
	}
	return recv, 0, false, nil
}

// bulk runs one stream: connect (retrying until the end), then write,
// read or both until the end of the run. An uploading stream then
// half-closes and reads until the server closes, so that what it counts
// as sent has been read by the server (a server that keeps the
// connection open is given Timeout).
func (w *worker) bulk() {
	r := w.r
	cfg := &r.cfg
	for w.c == nil {
		if r.stopped.Load() || r.now() >= r.end {
			return
		}
		if err := w.dial(); err != nil {
			if r.stopped.Load() {
				return
			}
			w.connectFailed()
		}
	}
	c := w.c
	end := r.base.Add(time.Duration(r.end))
	w.buf = make([]byte, cfg.BufferSize)
	if cfg.Direction == Down {
		c.SetReadDeadline(end)
		w.bulkErr(w.readAll(w.buf))
		return
	}
	c.SetWriteDeadline(end)
	var wg sync.WaitGroup
	var rerr error
	if cfg.Direction == Both {
		rbuf := make([]byte, cfg.BufferSize)
		wg.Go(func() { rerr = w.readAll(rbuf) })
	}
	for {
		n, err := c.Write(w.buf)
		w.sh.moved(uint64(n), 0, 0)
		if err != nil {
			w.bulkErr(err)
			break
		}
	}
	if cw, ok := c.(interface{ CloseWrite() error }); ok && !r.stopped.Load() {
		c.SetReadDeadline(time.Now().Add(cfg.Timeout))
		if cw.CloseWrite() == nil && cfg.Direction == Up {
			rerr = w.readAll(w.buf)
		}
	}
	wg.Wait()
	if !errors.Is(rerr, os.ErrDeadlineExceeded) { // the server kept it open
		w.bulkErr(rerr)
	}
}

// readAll reads and counts until an error; io.EOF is nil.
func (w *worker) readAll(buf []byte) error {
	for {
		n, err := w.c.Read(buf)
		w.sh.moved(0, uint64(n), 0)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// bulkErr counts a stream's error, unless it is the end of the run.
func (w *worker) bulkErr(err error) {
	if err == nil || errors.Is(err, os.ErrDeadlineExceeded) || w.r.stopped.Load() {
		return
	}
	w.sh.fail(classify(err))
}
