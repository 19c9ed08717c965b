package health

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"time"
)

// check runs one check of t under its timeout. buf receives a udp reply.
func (c *Checker) check(t *target, buf []byte) error {
	ctx, cancel := context.WithTimeout(t.ctx, t.Spec.Timeout)
	defer cancel()
	if t.Via.IsValid() {
		ctx = context.WithValue(ctx, nextHopKey{}, t.Via)
	}
	var err error
	switch t.Spec.Kind {
	case KindTCP:
		err = c.checkTCP(ctx, t)
	case KindHTTP:
		err = c.checkHTTP(ctx, t)
	case KindUDP:
		err = c.checkUDP(ctx, t, buf)
	}
	// A read deadline set from ctx's may fire before ctx's own timer.
	if err != nil && (errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded)) {
		err = fmt.Errorf("%w after %v: %w", ErrTimeout, t.Spec.Timeout, err)
	}
	return err
}

// checkTCP connects and closes: the handshake is the check.
func (c *Checker) checkTCP(ctx context.Context, t *target) error {
	conn, err := c.dial(ctx, "tcp", t.Addr.String())
	if err != nil {
		return err
	}
	conn.Close() // the handshake passed; how the close goes is not the backend's health
	return nil
}

// checkHTTP sends GET t.url on a new connection (keep-alives are off: the
// Transport closes it once the body is closed) and compares the status.
// Cancelling ctx closes the connection, whatever stage the exchange is at.
func (c *Checker) checkHTTP(ctx context.Context, t *target) error {
	ctx = context.WithValue(ctx, checkCtxKey{}, ctx)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("User-Agent", userAgent)
	resp, err := c.client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != t.Spec.Status {
		return fmt.Errorf("%w: %s, want %d", ErrStatus, resp.Status, t.Spec.Status)
	}
	return nil
}

// longAgo is a deadline in the past, which unblocks a Read at once.
var longAgo = time.Unix(1, 0)

// checkUDP sends t.Spec.Send on a connected socket and waits for one
// reply before ctx's deadline. A refused port (ICMP port unreachable)
// fails the check as soon as the dialer reports it.
func (c *Checker) checkUDP(ctx context.Context, t *target, buf []byte) error {
	conn, err := c.dial(ctx, "udp", t.Addr.String())
	if err != nil {
		return err
	}
	defer conn.Close()
	if d, ok := ctx.Deadline(); ok {
		if err := conn.SetDeadline(d); err != nil {
			return err
		}
	}
	// Stop (parent cancelled) unblocks the Read before the deadline.
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(longAgo) })
	defer stop()
	if _, err := conn.Write(t.Spec.Send); err != nil {
		return err
	}
	n, err := conn.Read(buf)
	if err != nil {
		return err
	}
	if !bytes.HasPrefix(buf[:n], t.Spec.Expect) {
		return fmt.Errorf("%w: %q, want prefix %q", ErrReply, buf[:n], t.Spec.Expect)
	}
	return nil
}
