package mld

import (
	"testing"
)

// FuzzInput: no message makes the host panic, and what it sends after
// is valid MLD.
func FuzzInput(f *testing.F) {
	f.Add(query(f, false, 1000, [16]byte{}, 2))
	f.Add(query(f, true, 1000, g1, 0))
	f.Add(query(f, false, 0xffff, g1, 7))
	f.Fuzz(func(t *testing.T, msg []byte) {
		h := newHost(Config{})
		h.Join(0, g1)
		h.Join(0, g2)
		_ = h.Input(1, querier, AllNodes, msg)
		var s sink
		for now := int64(1); now < 1e12 && h.Next() != 0; now = max(h.Next(), now+1) {
			h.Poll(now, s.send(t))
		}
	})
}
