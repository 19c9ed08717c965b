package afxdp

// frameState says who owns a frame. Every frame of a pool is in exactly one
// state; each transition is checked, so a frame can only reach the
// application through Alloc or Receive, and only once until it is given back.
type frameState uint8

const (
	stateFree frameState = iota // in the pool's free stack
	stateApp                    // owned by the application (allocated or received)
	stateFill                   // in the fill ring or held by the kernel for rx
	stateTx                     // in the tx ring or held by the kernel until completion
	numStates
)

// FrameCounts is how many of a pool's frames are in each stage, and how many
// frame returns were refused because the frame was not in the expected
// stage (a double free, an address outside the pool, or a descriptor the
// kernel delivered twice).
type FrameCounts struct {
	Free    uint32 `json:"free"`
	App     uint32 `json:"app"`
	Fill    uint32 `json:"fill"`
	Tx      uint32 `json:"tx"`
	Refused uint64 `json:"refused"`
}

// framePool is an O(1) allocator over the frames [first, first+n) of a UMEM.
// Free frames sit on a stack; a per-frame state byte makes every hand-over
// checkable, so the pool never hands out a frame that the kernel (fill, rx,
// tx or completion stage) or the application still owns. It is not safe for
// concurrent use: one socket, one worker.
type framePool struct {
	shift  uint   // log2(frame size)
	first  uint32 // index of the pool's first frame in the UMEM
	free   []uint64
	state  []frameState
	counts [numStates]uint32
	refuse uint64
}

func newFramePool(frameShift uint, first, n uint32) *framePool {
	p := &framePool{
		shift: frameShift,
		first: first,
		free:  make([]uint64, n),
		state: make([]frameState, n),
	}
	// Lowest addresses on top of the stack, so a fresh pool hands them out
	// first (predictable, and friendlier to the TLB).
	for i := range n {
		p.free[n-1-i] = uint64(first+i) << frameShift
	}
	p.counts[stateFree] = n
	return p
}

// index maps any address inside a frame (aligned mode: the frame's base plus
// headroom or data offset) to the frame's index in the pool, or false.
func (p *framePool) index(addr uint64) (uint32, bool) {
	f := addr >> p.shift
	if f < uint64(p.first) || f-uint64(p.first) >= uint64(len(p.state)) {
		return 0, false
	}
	return uint32(f - uint64(p.first)), true
}

// move changes the frame holding addr from state from to state to, or counts
// a refusal and returns false.
func (p *framePool) move(addr uint64, from, to frameState) bool {
	i, ok := p.index(addr)
	if !ok || p.state[i] != from {
		p.refuse++
		return false
	}
	p.state[i] = to
	p.counts[from]--
	p.counts[to]++
	return true
}

// pop takes a free frame and gives it state to.
func (p *framePool) pop(to frameState) (uint64, bool) {
	if p.counts[stateFree] == 0 {
		return 0, false
	}
	top := p.counts[stateFree] - 1
	addr := p.free[top]
	i := uint32(addr>>p.shift) - p.first
	// The stack only ever holds frames in stateFree (push checks), so this
	// cannot fail; the check is a guard against a pool bug, not user input.
	if p.state[i] != stateFree {
		panic("afxdp: frame pool corrupted")
	}
	p.state[i] = to
	p.counts[stateFree]--
	p.counts[to]++
	return addr, true
}

// push returns the frame holding addr, which must be in state from, to the
// free stack.
func (p *framePool) push(addr uint64, from frameState) bool {
	i, ok := p.index(addr)
	if !ok || p.state[i] != from {
		p.refuse++
		return false
	}
	p.state[i] = stateFree
	p.counts[from]--
	p.free[p.counts[stateFree]] = uint64(p.first+i) << p.shift
	p.counts[stateFree]++
	return true
}

func (p *framePool) stats() FrameCounts {
	return FrameCounts{
		Free: p.counts[stateFree], App: p.counts[stateApp],
		Fill: p.counts[stateFill], Tx: p.counts[stateTx], Refused: p.refuse,
	}
}
