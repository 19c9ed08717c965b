package tcpsock

import (
	"context"
	"errors"
	"math/bits"
	"os"
	"time"

	"github.com/xdpengine/engine/stack/sock"
	"github.com/xdpengine/engine/tcp"
)

// The send ring's growth (send-buffer auto-tuning, SetWriteBuffer): Write
// asks the worker, which alone may move the ring's content, and waits.

// growSend asks the worker for a larger send ring when the full one is
// smaller than the default send buffer (Config.SendBuffer: the first
// Write took only what it needed), than what auto-tuning wants
// (SendBufWant, published by the worker) or than the SetWriteBuffer size,
// within TCPSendBufferMax, and the memory is not under pressure; it
// reports whether it asked. Write's loop then waits (waitGrown) before it
// touches the ring again. Under wmu.
func (c *Conn) growSend(s *tcp.ByteRing) bool {
	want := max(c.sndWant.Load(), int64(c.s.cfg.SendBuffer))
	if lim := c.sndLimit.Load(); lim > 0 {
		want = lim // SO_SNDBUF set: a fixed size, no auto-tuning
	}
	ceiling := c.s.cfg.SendBufferMax
	if int(want) <= s.Cap() || s.Cap() >= ceiling || c.s.mem.UnderPressure() {
		return false
	}
	size := min(1<<bits.Len64(uint64(want-1)), ceiling)
	c.growReq.Add(1)
	if c.send(command{op: cmdGrowSend, c: c, arg: int64(size)}) != nil {
		c.growDone.Add(1) // the engine is closed: nobody will grow it
	}
	return true
}

// waitGrown waits until the worker has grown the send ring (or refused),
// within the write deadline. Under wmu.
func (c *Conn) waitGrown() error {
	for c.growReq.Load() != c.growDone.Load() {
		if c.closed.Load() || c.gone.Load() || c.errno.Load() != 0 {
			return nil // Write's checks report it; the ring is not touched
		}
		if d := c.writeDeadline.Load(); d != 0 && time.Now().UnixNano() >= d {
			return os.ErrDeadlineExceeded
		}
		ch := c.wnotify.Get() // before the announcement: see LazyChan
		c.wwait.Add(1)
		if c.growReq.Load() == c.growDone.Load() || c.gone.Load() || c.errno.Load() != 0 || c.closed.Load() {
			c.wwait.Add(-1)
			continue
		}
		err := sock.WaitOn(context.Background(), ch, &c.writeDeadline, nil)
		c.wwait.Add(-1)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return err
		}
	}
	return nil
}

// sendRoom is how many bytes Write may add to the send ring now: its free
// space, within the SetWriteBuffer limit.
func (c *Conn) sendRoom(s *tcp.ByteRing) int {
	room := s.Free()
	if lim := c.sndLimit.Load(); lim > 0 {
		room = min(room, int(lim)-s.Len())
	}
	return max(room, 0)
}
