// Package handleq keeps the packets that wait for a neighbor's link-layer
// address (arp and ndp): FIFO queues of packet handles, one per neighbor
// entry, whose nodes come from one fixed pool per table, so a table's
// waiting packets are bounded in all and nothing is allocated after
// NewPool. Not safe for concurrent use (a table belongs to one worker).
package handleq

// Pool is the nodes of a table's queues.
type Pool struct {
	next []int32  // the next node of a queue, or of the free list; -1 ends one
	val  []uint64 // the handle a node holds
	free int32    // first free node, -1 when none
}

// NewPool returns a pool of n nodes.
func NewPool(n int) Pool {
	p := Pool{next: make([]int32, n), val: make([]uint64, n), free: -1}
	for i := range p.next {
		p.next[i] = int32(i) + 1
	}
	if n > 0 {
		p.next[n-1] = -1
		p.free = 0
	}
	return p
}

// Queue is one entry's waiting handles. The zero Queue is empty.
type Queue struct {
	head, tail int32 // first and last node, when n > 0
	n          int
}

// Len returns the number of handles waiting.
func (q *Queue) Len() int { return q.n }

// Push appends h to q, or reports false when the pool has no free node.
func (p *Pool) Push(q *Queue, h uint64) bool {
	if p.free < 0 {
		return false
	}
	n := p.free
	p.free = p.next[n]
	p.val[n], p.next[n] = h, -1
	if q.n == 0 {
		q.head = n
	} else {
		p.next[q.tail] = n
	}
	q.tail = n
	q.n++
	return true
}

// Drain empties q in arrival order, passing each handle to fn when fn is
// not nil. The queue is detached first, so fn may push onto it again.
func (p *Pool) Drain(q *Queue, fn func(handle uint64)) {
	n, k := q.head, q.n
	q.n = 0
	for ; k > 0; k-- {
		next, h := p.next[n], p.val[n]
		p.next[n], p.free = p.free, n
		if fn != nil {
			fn(h)
		}
		n = next
	}
}
