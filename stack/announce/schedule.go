// Package announce schedules the announcements a network layer sends for
// the addresses it answers for without owning them (a load balancer's
// VIPs): a gratuitous ARP (stack/inet4) or an unsolicited Neighbor
// Advertisement (stack/inet6) Count times, Interval apart, so that one
// lost frame does not leave a neighbor's stale entry until it ages out
// (keepalived-like senders repeat theirs; RFC 5227 announces twice, RFC
// 4861 7.2.6 allows up to 3 advertisements).
package announce

import (
	"sync"
	"sync/atomic"
	"time"
)

// How many times, and how far apart, an address is announced.
const (
	Count    = 3
	Interval = time.Second
)

// Schedule holds the addresses (of type K) with announcements still to
// send. Add is safe from any goroutine; Due and Run are for the one worker
// that sends them, which polls Due (one atomic load) in its rounds and
// ticks. The zero value is empty.
type Schedule[K comparable] struct {
	mu      sync.Mutex
	pending []pending[K] // guarded by mu
	due     atomic.Bool  // pending is not empty
	next    atomic.Int64 // when the next ones are due (the worker's clock, ns)
}

type pending[K comparable] struct {
	k    K
	left int
}

// Add queues Count announcements of k, the first at the next Run.
func (s *Schedule[K]) Add(k K) {
	s.mu.Lock()
	s.pending = append(s.pending, pending[K]{k, Count})
	s.mu.Unlock()
	s.next.Store(0)
	s.due.Store(true)
}

// Due reports whether announcements are pending.
func (s *Schedule[K]) Due() bool { return s.due.Load() }

// Run sends, through send, the announcements due at now, of the addresses
// live still reports (one withdrawn meanwhile is dropped), and schedules
// the next ones Interval later.
func (s *Schedule[K]) Run(now int64, live func(K) bool, send func(K)) {
	if now < s.next.Load() {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	kept := s.pending[:0]
	for _, p := range s.pending {
		if !live(p.k) {
			continue
		}
		send(p.k)
		if p.left--; p.left > 0 {
			kept = append(kept, p)
		}
	}
	s.pending = kept
	s.next.Store(now + int64(Interval))
	s.due.Store(len(kept) > 0)
}

// Len returns how many addresses have announcements pending.
func (s *Schedule[K]) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.pending)
}
