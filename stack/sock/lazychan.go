package sock

import (
	"sync"
	"sync/atomic"
	"unsafe"
)

// LazyChan is a wake-up channel (capacity 1, as Notify and WaitOn use)
// made on first use: a connection that nobody ever waits on (a held idle
// one, one closed as soon as accepted) costs no channel, 96 bytes of heap
// each. The zero value has none.
//
// Waiting on it keeps the announce-then-look order of Signal: the waiter
// calls Get before it announces itself, so a producer that sees the
// announcement finds the channel (Load), and one that changed the state
// before the waiter looked needs no channel at all.
type LazyChan struct {
	p unsafe.Pointer // the channel (a *hchan), nil until Get
}

// Get returns the channel, making it if there is none yet.
func (l *LazyChan) Get() chan struct{} {
	if p := atomic.LoadPointer(&l.p); p != nil {
		return chanOf(p)
	}
	ch := make(chan struct{}, 1)
	if atomic.CompareAndSwapPointer(&l.p, nil, *(*unsafe.Pointer)(unsafe.Pointer(&ch))) {
		return ch
	}
	return chanOf(atomic.LoadPointer(&l.p)) // another waiter made it first
}

// Load returns the channel, nil when nobody has waited yet (Notify and
// Signal on nil do nothing).
func (l *LazyChan) Load() chan struct{} {
	p := atomic.LoadPointer(&l.p)
	if p == nil {
		return nil
	}
	return chanOf(p)
}

func chanOf(p unsafe.Pointer) chan struct{} { return *(*chan struct{})(unsafe.Pointer(&p)) }

// ChanPool keeps wake-up channels for a wait that is its LazyChan's only
// one and ends before anyone else can wait on it: Dial's wait for the
// handshake, the one wait most connections ever make. Lend installs a
// channel from the pool, Reclaim takes it back, so a dial allocates no
// channel (96 bytes that, with a million connections open, come fresh
// from the operating system). A producer may still hold the channel when
// it goes back (a worker's batched wakeup) and deliver a token to its next
// user: a spurious wakeup, which every waiter tolerates (it re-checks its
// state after each, as after any Notify). The zero value is ready.
type ChanPool struct{ p sync.Pool }

// Lend is Get with the channel, when l has none yet, taken from pool.
func (l *LazyChan) Lend(pool *ChanPool) chan struct{} {
	if p := atomic.LoadPointer(&l.p); p != nil {
		return chanOf(p)
	}
	ch, _ := pool.p.Get().(chan struct{})
	if ch == nil {
		ch = make(chan struct{}, 1)
	}
	if atomic.CompareAndSwapPointer(&l.p, nil, *(*unsafe.Pointer)(unsafe.Pointer(&ch))) {
		return ch
	}
	pool.p.Put(ch)
	return chanOf(atomic.LoadPointer(&l.p)) // another waiter made one first
}

// Reclaim gives ch back to pool if it is still l's channel; l has none
// afterwards (a later Get makes one). The caller is the channel's only
// waiter and no longer waits.
func (l *LazyChan) Reclaim(pool *ChanPool, ch chan struct{}) {
	if ch == nil || !atomic.CompareAndSwapPointer(&l.p, *(*unsafe.Pointer)(unsafe.Pointer(&ch)), nil) {
		return
	}
	select {
	case <-ch: // a token nobody will take: not for the next user
	default:
	}
	pool.p.Put(ch)
}
