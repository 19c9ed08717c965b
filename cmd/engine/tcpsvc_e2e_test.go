package main

import (
	"net"
	"os"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/xdpengine/engine/engine"
	"github.com/xdpengine/engine/internal/enginetest"
	"github.com/xdpengine/engine/internal/testbed"
)

// TestTCPServiceIdleMemory: an idle connection to the echo service holds
// no copy buffer (the service waits with WaitReadable and takes a pooled
// buffer only to copy), so N idle connections cost the engine's share
// (about 3 KB) and a goroutine, not 64 KiB each. N is 2,000, or
// ENGINE_SVC_IDLE_CONNS. The figure is the Go heap and stacks in use per
// connection, the peer's net.Conns (a few hundred bytes) included.
func TestTCPServiceIdleMemory(t *testing.T) {
	n := 2000
	if v, err := strconv.Atoi(os.Getenv("ENGINE_SVC_IDLE_CONNS")); err == nil && v > 0 {
		n = v
	}
	bed := testbed.New(t, testbed.Config{})
	// Short idle time: the engine's rings go back before the measurement.
	eng := enginetest.Start(t, bed, engine.Config{TCPBufferIdle: 100 * time.Millisecond, TCPPoolMax: 1 << 20})
	ts, err := newTCPService(eng, echoSpec{Kind: "echo", Proto: "tcp", Addr: enginetest.EngineAddr(bed, 7007)}, enginetest.DiscardLogger())
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go ts.run(&wg)
	defer func() { ts.close(); wg.Wait() }()

	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	echo := func(c net.Conn) error {
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Write([]byte{'x'}); err != nil {
			return err
		}
		_, err := c.Read(make([]byte, 1))
		return err
	}
	dial := func(k int) {
		t.Helper()
		if err := bed.Do(func() error {
			for range k {
				c, err := net.DialTimeout("tcp4", enginetest.EngineAddr(bed, 7007).String(), 5*time.Second)
				if err != nil {
					return err
				}
				conns = append(conns, c)
				if err := echo(c); err != nil { // data moved once: the service took a buffer
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatalf("after %d connections: %v", len(conns), err)
		}
	}
	dial(50) // warm the pools
	before := idleMemory(t)
	dial(n)
	enginetest.WaitFor(t, "the connections open in the service", func() bool { return ts.open.Load() == int64(n+50) })
	after := idleMemory(t)
	per := (after - before) / int64(n)
	t.Logf("%d idle echo connections: %d bytes of Go heap and stacks each (%.1f MB in all)", n, per, float64(after-before)/1e6)
	if per > 16<<10 {
		t.Errorf("an idle echo connection costs %d bytes, want well under the 64 KiB buffer it used to hold", per)
	}
	// They still echo.
	if err := bed.Do(func() error { return echo(conns[len(conns)-1]) }); err != nil {
		t.Fatal(err)
	}
}

// idleMemory is the Go heap and goroutine stacks in use once the engine's
// idle rings went back (TCPBufferIdle) and a collection ran.
func idleMemory(t *testing.T) int64 {
	t.Helper()
	time.Sleep(500 * time.Millisecond)
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapInuse + ms.StackInuse)
}
