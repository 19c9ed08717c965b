package datapath

// Steered is an item one worker hands to another through the steering
// rings: a frame of a flow the receiver owns, or anything else its Input
// understands. Kind and Flags are the Input's to define (what the buffer
// holds, what the sender already learned about it).
type Steered struct {
	Buf   *Buf
	N     int // bytes of Buf in use
	Kind  uint8
	Flags uint8
}

// Bytes returns the item's bytes.
func (it *Steered) Bytes() []byte { return it.Buf.B[:it.N] }

// SteerTo copies b into a pool buffer and hands it to owner's Input with
// kind and flags; a full ring is counted (DropSteerRing) and reported
// false. Counting what was steered is the caller's.
func (w *Worker) SteerTo(owner *Worker, b []byte, kind, flags uint8) bool {
	buf := w.bufs.Get(len(b))
	if buf == nil {
		w.st.DropMalformed++
		return false
	}
	n := copy(buf.B, b)
	if !owner.inbox[w.queue].Enqueue(Steered{Buf: buf, N: n, Kind: kind, Flags: flags}) {
		w.bufs.Put(buf)
		w.st.DropSteerRing++
		return false
	}
	owner.Wake()
	return true
}
