package announce

import (
	"slices"
	"testing"
)

// An added address is sent at the next Run, then Count-1 more times, one
// Run per Interval; a Run before the interval sends nothing; a withdrawn
// address is dropped; Due follows.
func TestSchedule(t *testing.T) {
	var s Schedule[int]
	if s.Due() {
		t.Fatal("due when empty")
	}
	s.Add(1)
	s.Add(2)
	var sent []int
	live := map[int]bool{1: true, 2: true}
	run := func(now int64) []int {
		sent = sent[:0]
		s.Run(now, func(k int) bool { return live[k] }, func(k int) { sent = append(sent, k) })
		return sent
	}
	if got := run(10); !slices.Equal(got, []int{1, 2}) || !s.Due() {
		t.Fatalf("first run: sent %v, due %v", got, s.Due())
	}
	if got := run(10 + int64(Interval) - 1); len(got) != 0 {
		t.Fatalf("before the interval: sent %v", got)
	}
	live[2] = false
	for i := 2; i <= Count; i++ {
		if got := run(10 + int64(i-1)*int64(Interval)); !slices.Equal(got, []int{1}) {
			t.Fatalf("run %d: sent %v, want [1] (2 withdrawn)", i, got)
		}
	}
	if s.Due() || s.Len() != 0 {
		t.Fatalf("after %d runs: due %v, %d pending", Count, s.Due(), s.Len())
	}
	if got := run(100 * int64(Interval)); len(got) != 0 {
		t.Fatalf("nothing pending: sent %v", got)
	}
}
