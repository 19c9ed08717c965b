package engine_test

import (
	"bufio"
	"bytes"
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xdpengine/engine/engine"
	"github.com/xdpengine/engine/internal/testbed"
)

// memFigures is what this process and the kernel hold at one moment: the
// live Go heap after a collection (the engine's connections, and the test's
// own small objects), goroutine stacks (the application's handlers), the
// resident set, and the kernel's slab memory (every cache: sockets, their
// inodes, files, dentries, and what they kmalloc) with its TCP buffer
// memory (/proc/net/sockstat "mem", in pages).
type memFigures struct {
	heap, stacks, rss int64
	slab, sockMem     int64
	caches            map[string]int64 // slabinfo: bytes of active objects by cache
	objects           map[string]int64 // slabinfo: bytes of slab per object (its slabs' pages / objects per slab)
}

// socketCaches are the slab caches a kernel TCP socket held by a process
// uses.
var socketCaches = []string{"TCP", "sock_inode_cache", "filp", "dentry", "eventpoll_epi", "tw_sock_TCP"}

func measureMem(t *testing.T, bed *testbed.Bed) memFigures {
	t.Helper()
	runtime.GC()
	runtime.GC()
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/memory/classes/heap/stacks:bytes"}}
	metrics.Read(s)
	f := memFigures{heap: int64(s[0].Value.Uint64()), stacks: int64(s[1].Value.Uint64()),
		caches: map[string]int64{}, objects: map[string]int64{}}
	if b, err := os.ReadFile("/proc/self/statm"); err == nil {
		if fs := strings.Fields(string(b)); len(fs) > 1 {
			pages, _ := strconv.ParseInt(fs[1], 10, 64)
			f.rss = pages * int64(os.Getpagesize())
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			if fs := strings.Fields(sc.Text()); len(fs) >= 2 && fs[0] == "Slab:" {
				kb, _ := strconv.ParseInt(fs[1], 10, 64)
				f.slab = kb << 10
			}
		}
	}
	if b, err := os.ReadFile("/proc/slabinfo"); err == nil {
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			fs := strings.Fields(sc.Text())
			if len(fs) < 6 {
				continue
			}
			for _, name := range socketCaches {
				if fs[0] == name {
					n, _ := strconv.ParseInt(fs[1], 10, 64)
					size, _ := strconv.ParseInt(fs[3], 10, 64)
					per, _ := strconv.ParseInt(fs[4], 10, 64)
					pages, _ := strconv.ParseInt(fs[5], 10, 64)
					f.caches[name] = n * size
					if per > 0 {
						f.objects[name] = pages * int64(os.Getpagesize()) / per
					}
				}
			}
		}
	}
	err := bed.Do(func() error {
		b, err := os.ReadFile("/proc/thread-self/net/sockstat")
		if err != nil {
			return err
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			fs := strings.Fields(sc.Text())
			for i := 0; len(fs) > 0 && fs[0] == "TCP:" && i+1 < len(fs); i++ {
				if fs[i] == "mem" {
					pages, _ := strconv.ParseInt(fs[i+1], 10, 64)
					f.sockMem = pages * int64(os.Getpagesize())
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// kernelSocket is what one TCP socket a process holds costs the kernel
// in slab, by construction: a TCP sock, its inode, file and dentry, each
// with its share of its slab's pages (an epoll item more when a Go
// program polls it; nothing queued when it is idle). Unlike the deltas,
// it does not move with what else the machine does meanwhile.
func (f memFigures) kernelSocket() int64 {
	return f.objects["TCP"] + f.objects["sock_inode_cache"] + f.objects["filp"] + f.objects["dentry"]
}

// perConn is (b - a) / n for each figure, as a line for the log.
func perConn(a, b memFigures, n int) (heap, stacks, rss, slab, sockMem, caches int64) {
	var ca, cb int64
	for _, name := range socketCaches {
		ca += a.caches[name]
		cb += b.caches[name]
	}
	d := func(x, y int64) int64 { return (y - x) / int64(n) }
	return d(a.heap, b.heap), d(a.stacks, b.stacks), d(a.rss, b.rss), d(a.slab, b.slab), d(a.sockMem, b.sockMem), d(ca, cb)
}

// smallEcho serves an echo on ln with one goroutine per connection that
// reads into a 512-byte array on its stack: the application costs a
// goroutine per connection and no heap.
func smallEcho(ln *engine.TCPListener) {
	for {
		c, err := ln.AcceptTCP()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			var b [512]byte
			for {
				n, err := c.Read(b[:])
				if n > 0 {
					if _, err := c.Write(b[:n]); err != nil {
						return
					}
				}
				if err != nil {
					return
				}
			}
		}()
	}
}

// waitStats waits until cond holds for the engine's TCP counters.
func waitStats(t *testing.T, eng *engine.Engine, what string, d time.Duration, cond func(engine.TCPStats) bool) engine.TCPStats {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		st := eng.Stats().Total.TCP
		if cond(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after %v (TCP counters %+v)", what, d, st)
		}
		time.Sleep(50 * time.Millisecond) // each Stats is a round trip to every worker
	}
}
