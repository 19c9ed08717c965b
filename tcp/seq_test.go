package tcp

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"sync"
	"testing"
)

func TestSeqWrap(t *testing.T) {
	tests := []struct {
		a, b       Seq
		lt, le, gt bool
	}{
		{1, 2, true, true, false},
		{2, 1, false, false, true},
		{5, 5, false, true, false},
		{0xffffffff, 0, true, true, false},
		{0, 0xffffffff, false, false, true},
		{0xfffffff0, 0x10, true, true, false},
		{0x7fffffff, 0, false, false, true},
	}
	for _, tc := range tests {
		if got := tc.a.LessThan(tc.b); got != tc.lt {
			t.Errorf("%d.LessThan(%d) = %v", tc.a, tc.b, got)
		}
		if got := tc.a.LessEq(tc.b); got != tc.le {
			t.Errorf("%d.LessEq(%d) = %v", tc.a, tc.b, got)
		}
		if got := tc.a.GreaterThan(tc.b); got != tc.gt {
			t.Errorf("%d.GreaterThan(%d) = %v", tc.a, tc.b, got)
		}
	}
	if got := Seq(0xfffffffe).Add(4); got != 2 {
		t.Errorf("Add wrap = %d", got)
	}
	if got := Seq(2).Sub(0xfffffffe); got != 4 {
		t.Errorf("Sub wrap = %d", got)
	}
	if !Seq(1).InWindow(0xfffffffe, 4) || Seq(2).InWindow(0xfffffffe, 4) || !Seq(0xfffffffe).InWindow(0xfffffffe, 4) {
		t.Error("InWindow across wrap")
	}
	if !Seq(0).InRange(0xffffff00, 10) || Seq(10).InRange(0xffffff00, 10) {
		t.Error("InRange across wrap")
	}
}

func TestByteRing(t *testing.T) {
	if _, err := NewByteRing(1000); !errors.Is(err, ErrConfig) {
		t.Fatalf("non-power-of-two: %v", err)
	}
	r, _ := NewByteRing(MinRing)
	// Wrap around several times with odd sizes, peeking at offsets.
	var in, got []byte
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 2000; i++ {
		p := make([]byte, rng.IntN(700))
		for k := range p {
			p[k] = byte(rng.Uint32())
		}
		n := r.Write(p)
		if n != min(len(p), MinRing-r.Len()+n) {
			t.Fatalf("write %d of %d", n, len(p))
		}
		in = append(in, p[:n]...)
		if r.Len() > 0 {
			off := rng.IntN(r.Len())
			a, b := r.Peek(off, 300)
			want := in[len(got)+off:]
			want = want[:min(300, len(want))]
			if !bytes.Equal(append(append([]byte(nil), a...), b...), want) {
				t.Fatalf("peek at %d differs", off)
			}
		}
		buf := make([]byte, rng.IntN(800))
		m := r.Read(buf)
		got = append(got, buf[:m]...)
	}
	if !bytes.Equal(in[:len(got)], got) {
		t.Fatal("data differs")
	}
	// WriteAt parks bytes in the free space; Commit publishes them.
	r2, _ := NewByteRing(MinRing)
	r2.WriteAt(5, []byte("world"))
	r2.WriteAt(0, []byte("hello"))
	if r2.Len() != 0 {
		t.Fatal("WriteAt published")
	}
	r2.Commit(10)
	b := make([]byte, 10)
	r2.Read(b)
	if string(b) != "helloworld" {
		t.Fatalf("%q", b)
	}
	if n := r2.WriteAt(MinRing-2, []byte("abcdef")); n != 2 {
		t.Fatalf("WriteAt beyond free space wrote %d", n)
	}
}

// TestByteRingConcurrent moves bytes between two goroutines (run it
// under -race): the ring's atomics must publish the data.
func TestByteRingConcurrent(t *testing.T) {
	r, _ := NewByteRing(MinRing)
	const total = 1 << 20
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		buf := make([]byte, 333)
		sent := 0
		for sent < total {
			for k := range buf {
				buf[k] = byte(sent + k)
			}
			n := r.Write(buf[:min(len(buf), total-sent)])
			sent += n
		}
	}()
	buf := make([]byte, 500)
	recv := 0
	for recv < total {
		n := r.Read(buf)
		for k := 0; k < n; k++ {
			if buf[k] != byte(recv+k) {
				t.Fatalf("byte %d = %d", recv+k, buf[k])
			}
		}
		recv += n
	}
	wg.Wait()
}

func TestConfigErrors(t *testing.T) {
	if _, err := Dial(0, Config{}); !errors.Is(err, ErrConfig) {
		t.Fatalf("nil NewCC: %v", err)
	}
	c := baseConfig(1)
	c.SendBuf = 3000
	if _, err := Dial(0, c); !errors.Is(err, ErrConfig) {
		t.Fatalf("bad SendBuf: %v", err)
	}
	c = baseConfig(1)
	c.MSS = 10
	if _, err := Dial(0, c); !errors.Is(err, ErrConfig) {
		t.Fatalf("bad MSS: %v", err)
	}
}

func TestWScaleFor(t *testing.T) {
	for _, tc := range []struct {
		n    int
		want uint8
	}{{1024, 0}, {65535, 0}, {65536, 1}, {4 << 20, 7}, {6 << 20, 7}, {1 << 30, 14}} {
		if got := wscaleFor(tc.n); got != tc.want {
			t.Errorf("wscaleFor(%d) = %d, want %d", tc.n, got, tc.want)
		}
	}
}
