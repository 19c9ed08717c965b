package tcpsock

import (
	"net"
	"sync"
	"unsafe"
)

// The connections the application holds (accepted or dialed, not yet
// closed), for CloseAll. They are kept in intrusive lists, one per shard
// under its own mutex, so accepts, dials and closes on many goroutines do
// not queue behind one lock, and holding a connection costs two pointers
// in it (a map of a million connections costs about 50 MB more and one
// mutex for all: 3.7% of the engine's CPU at a million connections, with
// accepts and dials at full rate).
const heldShards = 64

type heldShard struct {
	mu   sync.Mutex
	head *Conn
	_    [48]byte // a cache line each (with the 8-byte mutex and the pointer)
}

// heldLinks are a Conn's links in its shard's list (under the shard's
// mutex).
type heldLinks struct {
	prev, next *Conn
	in         bool
}

// shardOf returns c's shard: a multiplicative hash of its address (a heap
// object does not move).
func (s *Stack) shardOf(c *Conn) *heldShard {
	return &s.held[uint64(uintptr(unsafe.Pointer(c)))*0x9e3779b97f4a7c15>>58]
}

// track registers c for CloseAll; net.ErrClosed once the stack closes
// (its state closes before CloseAll runs, so a connection is either seen
// by CloseAll or refused here).
func (s *Stack) track(c *Conn) error {
	sh := s.shardOf(c)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if s.cfg.State.Closed() {
		return net.ErrClosed
	}
	c.held = heldLinks{next: sh.head, in: true}
	if sh.head != nil {
		sh.head.held.prev = c
	}
	sh.head = c
	return nil
}

// untrack removes c (Close).
func (s *Stack) untrack(c *Conn) {
	sh := s.shardOf(c)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if !c.held.in {
		return
	}
	if c.held.prev != nil {
		c.held.prev.held.next = c.held.next
	} else {
		sh.head = c.held.next
	}
	if c.held.next != nil {
		c.held.next.held.prev = c.held.prev
	}
	c.held = heldLinks{}
}

// heldConns returns every connection the application holds.
func (s *Stack) heldConns() []*Conn {
	var out []*Conn
	for i := range s.held {
		sh := &s.held[i]
		sh.mu.Lock()
		for c := sh.head; c != nil; c = c.held.next {
			out = append(out, c)
		}
		sh.mu.Unlock()
	}
	return out
}
