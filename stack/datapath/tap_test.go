package datapath

import (
	"bytes"
	"testing"
)

func TestTapRing(t *testing.T) {
	if _, err := NewTap(TapConfig{Slots: 3}); err == nil {
		t.Error("3 slots accepted")
	}
	tap, err := NewTap(TapConfig{Slots: 4, Snaplen: 8, Match: func(f []byte) bool { return f[0] != 'x' }})
	if err != nil {
		t.Fatal(err)
	}
	frames := [][]byte{[]byte("0123456789"), []byte("ab"), []byte("xskip"), []byte("cd"), []byte("ef"), []byte("gh")}
	for i, f := range frames {
		tap.put(int64(i), Direction(i%2), f)
	}
	// 5 matched, 4 slots: one overrun.
	if s := tap.Stats(); s.Captured != 4 || s.Overruns != 1 {
		t.Fatalf("stats %+v, want 4 captured, 1 overrun", s)
	}
	var got []TapRecord
	if n := tap.Drain(func(r TapRecord) {
		r.Data = bytes.Clone(r.Data)
		got = append(got, r)
	}); n != 4 {
		t.Fatalf("drained %d, want 4", n)
	}
	if string(got[0].Data) != "01234567" || got[0].Len != 10 || got[0].Dir != DirRx {
		t.Errorf("first record %+v: want 8 bytes of 10, rx", got[0])
	}
	if string(got[3].Data) != "ef" || got[3].Time != 4 {
		t.Errorf("last record %+v", got[3])
	}
	tap.put(9, DirTx, []byte("ij"))
	if n := tap.Drain(func(r TapRecord) {
		if string(r.Data) != "ij" || r.Dir != DirTx {
			t.Errorf("after drain: %+v", r)
		}
	}); n != 1 {
		t.Errorf("drained %d after wrap, want 1", n)
	}
}

func BenchmarkTapPut(b *testing.B) {
	tap, _ := NewTap(TapConfig{Slots: 1024, Snaplen: 128})
	f := make([]byte, 64)
	b.ReportAllocs()
	for b.Loop() {
		tap.put(0, DirRx, f)
		if tap.head.Load()-tap.tail.Load() == 1024 {
			tap.Drain(func(TapRecord) {})
		}
	}
}
