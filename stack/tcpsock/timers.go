package tcpsock

// Timer heap (worker only). heapIdx is the position plus one, 0 when the
// connection is not in the heap (an int32: a worker holds at most
// Config.TCPMaxConnections, far below 2^31).

func (w *worker) timerFix(c *Conn, at int64) {
	h := &w.heap
	if at == 0 {
		if c.heapIdx != 0 {
			i := int(c.heapIdx) - 1
			last := len(*h) - 1
			w.heapSwap(i, last)
			(*h)[last] = nil
			*h = (*h)[:last]
			c.heapIdx, c.timerAt = 0, 0
			if i < last {
				w.heapDown(i)
				w.heapUp(i)
			}
		}
		return
	}
	c.timerAt = at
	if c.heapIdx == 0 {
		*h = append(*h, c)
		c.heapIdx = int32(len(*h))
		w.heapUp(len(*h) - 1)
		return
	}
	i := int(c.heapIdx) - 1
	w.heapDown(i)
	w.heapUp(i)
}

func (w *worker) heapSwap(i, j int) {
	h := w.heap
	h[i], h[j] = h[j], h[i]
	h[i].heapIdx, h[j].heapIdx = int32(i+1), int32(j+1)
}

func (w *worker) heapUp(i int) {
	h := w.heap
	for i > 0 {
		p := (i - 1) / 2
		if h[p].timerAt <= h[i].timerAt {
			return
		}
		w.heapSwap(i, p)
		i = p
	}
}

func (w *worker) heapDown(i int) {
	h := w.heap
	for {
		l := 2*i + 1
		if l >= len(h) {
			return
		}
		m := l
		if r := l + 1; r < len(h) && h[r].timerAt < h[l].timerAt {
			m = r
		}
		if h[i].timerAt <= h[m].timerAt {
			return
		}
		w.heapSwap(i, m)
		i = m
	}
}
