package engine_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"runtime/metrics"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xdpengine/engine/engine"
	"github.com/xdpengine/engine/internal/enginetest"
	"github.com/xdpengine/engine/internal/testbed"
)

// Connection rates, the peer kernel against the engine, for
// TestTCPMillion: the rate at which the engine accepts new connections
// (kernel clients connecting) and dials them (to a kernel server).
//
// A connection of the accept measurement: the kernel client connects,
// the engine's application accepts it and closes it, the client waits for
// that FIN and resets (SO_LINGER 0): neither side keeps a TIME-WAIT, so
// the loop never runs out of 4-tuples. A connection of the dial
// measurement: the engine dials the peer's server (which accepts and
// closes), then resets (SetLinger(0)). The clients run `parallel`
// connections at a time, one after another each, for a fixed time.

// connectLoop is the child's side of the accept measurement: c.N
// goroutines connect to c.To from c.Srcs in turn, the kernel choosing the
// port, for c.Ms milliseconds; it returns the connections completed. Failures
// (a lost SYN's 1 s retransmission) slow the loop down; it fails only if
// most connections did.
func connectLoop(c peerCmd) (int, error) {
	to, err := netip.ParseAddrPort(c.To)
	if err != nil {
		return 0, err
	}
	var srcs []netip.Addr
	for _, s := range c.Srcs {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return 0, err
		}
		srcs = append(srcs, a)
	}
	if err := raiseNoFile(c.N + 1024); err != nil {
		return 0, err
	}
	var next, done, failed atomic.Int64
	var first atomic.Value
	deadline := time.Now().Add(time.Duration(c.Ms) * time.Millisecond)
	var wg sync.WaitGroup
	for range c.N {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				src := srcs[int(next.Add(1))%len(srcs)]
				if err := shortConn(to, src); err != nil {
					failed.Add(1)
					first.CompareAndSwap(nil, err)
					continue
				}
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	if d, f := done.Load(), failed.Load(); f > d {
		return int(d), fmt.Errorf("%d connections failed, %d completed: %v", f, d, first.Load())
	}
	return int(done.Load()), nil
}

// shortConn is one connection of the accept measurement (see above),
// from src and a port the kernel chooses as it connects
// (IP_BIND_ADDRESS_NO_PORT). Binding the port as well costs the kernel
// two walks of its bind hash, which is global, not per namespace: with a
// million sockets of the idle connections in it (65,536 buckets here),
// that was a sixth of the client's CPU and slowed the loop the engine's
// accept rate is measured with.
func shortConn(to netip.AddrPort, src netip.Addr) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	unix.SetsockoptInt(fd, unix.SOL_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1)
	tv := unix.Timeval{Sec: 10}
	unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: src.As4()}); err != nil {
		return fmt.Errorf("bind %v: %w", src, err)
	}
	if err := enginetest.ConnectKernel(fd, &unix.SockaddrInet4{Addr: to.Addr().As4(), Port: int(to.Port())}); err != nil {
		return err
	}
	var b [1]byte
	n, err := enginetest.RetryEINTR(func() (int, error) { return unix.Read(fd, b[:]) })
	unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0})
	if err != nil || n != 0 {
		return fmt.Errorf("waiting for the server's FIN: %d bytes, %v", n, err)
	}
	return nil
}

// serve is the child's server: it listens on c.To and, in the background
// for as long as the child lives, closes what it accepts (c.Mode "close")
// or echoes it ("echo").
func serve(c peerCmd) error {
	ln, err := net.Listen("tcp", c.To) // either family, from the address
	if err != nil {
		return err
	}
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			if c.Mode != "echo" {
				conn.Close()
				continue
			}
			go func() {
				defer conn.Close()
				io.Copy(conn, conn)
			}()
		}
	}()
	return nil
}

// rateBed measures connections per second, rounds alternating between
// accepts (the child's connect loop to the engine's closing listener at
// to) and dials (the engine to the child's server at server).
type rateBed struct {
	eng      *engine.Engine
	client   *peerProc
	to       netip.AddrPort // the engine's listener that accepts and closes
	server   netip.AddrPort // the peer's server that accepts and closes
	srcs     []string       // the client's source addresses
	parallel int
}

// newRateBed sets up both sides: a listener on the engine at port that
// accepts and closes, a child with a server on the peer at port that does
// the same, and `sources` addresses of the peer for the client (from .200
// of the bed's /24 up, not the idle connections').
func newRateBed(t *testing.T, bed *testbed.Bed, eng *engine.Engine, port uint16, sources, parallel int) *rateBed {
	t.Helper()
	ln, err := eng.ListenTCP("tcp4", fmt.Sprintf(":%d", port), engine.TCPListenConfig{Backlog: 4096})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.AcceptTCP()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	rb := &rateBed{eng: eng, client: startPeerChild(t, bed), to: netip.AddrPortFrom(bed.EngineAddr, port),
		server: netip.AddrPortFrom(bed.PeerAddr, port), parallel: parallel}
	rb.srcs = addrStrings(addPeerAddrs(t, bed, 200, sources))
	if _, err := rb.client.ask(peerCmd{Op: "serve", To: rb.server.String(), Mode: "close"}); err != nil {
		t.Fatal(err)
	}
	return rb
}

// accepts runs the child's connect loop for d: connections per second.
func (rb *rateBed) accepts(d time.Duration) (float64, error) {
	start := time.Now()
	r, err := rb.client.ask(peerCmd{Op: "rate", To: rb.to.String(), Srcs: rb.srcs,
		N: rb.parallel, Ms: int(d / time.Millisecond)})
	return float64(r.N) / time.Since(start).Seconds(), err
}

// dials runs the engine's dial loop for d: connections per second.
func (rb *rateBed) dials(d time.Duration) (float64, error) {
	var done, failed atomic.Int64
	var first atomic.Value
	start := time.Now()
	deadline := start.Add(d)
	var wg sync.WaitGroup
	// One context for the round, not one a dial: a context with a timeout
	// allocates four objects, which with a million connections open come
	// from fresh pages (see TestTCPMillion). A dial still in progress 5 s
	// after the round's end fails.
	ctx, cancel := context.WithDeadline(context.Background(), deadline.Add(5*time.Second))
	defer cancel()
	server := rb.server.String()
	for range rb.parallel {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				c, err := rb.eng.DialContext(ctx, "tcp4", server)
				if err != nil {
					failed.Add(1)
					first.CompareAndSwap(nil, err)
					continue
				}
				c.(*engine.TCPConn).SetLinger(0)
				c.Close()
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	rate := float64(done.Load()) / time.Since(start).Seconds()
	if f := failed.Load(); f > done.Load() {
		return rate, fmt.Errorf("%d dials failed, %d completed: %v", f, done.Load(), first.Load())
	}
	return rate, nil
}

// rates are a measurement's figures: connections per second (medians of
// the rounds), and this process's CPU time per connection over all the
// rounds, user and system (the engine, and for dials the dialers; the
// worker's adaptive polling spins between packets, which counts; on veth
// the system time includes the peer kernel's receive processing that
// runs in the engine's transmit calls), with the garbage collector's part
// of it.
type rates struct {
	accept, dial float64 // connections per second
	acceptCPU    cpuTimes
	dialCPU      cpuTimes
	raw          string // every round's rates
}

// cpuTimes is CPU time per connection, and the bytes allocated for one:
// this process's (user, sys, gc), the peer child's (the kernel side's
// client or server: user and system), the time the machine's CPUs were
// idle, stolen by the hypervisor, and busy with anything else (other
// processes, kernel threads, interrupts the kernel accounts apart).
type cpuTimes struct {
	user, sys, gc time.Duration
	allocs        int64
	peer, idle    time.Duration
	steal, other  time.Duration
	retrans       int64 // segments the engine retransmitted, per 1,000 connections
}

func (c cpuTimes) String() string {
	return fmt.Sprintf("%.1f+%.1f µs (GC %.1f; %d B allocated; peer %.1f µs, machine idle %.1f µs, stolen %.1f µs, other %.1f µs; %d retransmissions a thousand)",
		float64(c.user)/1e3, float64(c.sys)/1e3, float64(c.gc)/1e3, c.allocs, float64(c.peer)/1e3, float64(c.idle)/1e3,
		float64(c.steal)/1e3, float64(c.other)/1e3, c.retrans)
}

// measure runs rounds of each, alternating.
func (rb *rateBed) measure(rounds int, d time.Duration) (rates, error) {
	var as, ds []float64
	var acpu, dcpu [9]time.Duration
	var an, dn float64
	add := func(sum *[9]time.Duration, a, b [9]time.Duration) {
		for i := range sum {
			sum[i] += b[i] - a[i]
		}
	}
	now := func() [9]time.Duration { // 5 and 6 are counts
		c := cpuNow()
		m := machineTimes()
		return [9]time.Duration{c[0], c[1], c[2], procCPU(rb.client.pid), m.idle, c[3],
			time.Duration(rb.eng.Stats().Total.TCP.RetransSegs), m.steal, m.busy}
	}
	procs0 := procTimes()
	for range rounds {
		c0 := now()
		a, err := rb.accepts(d)
		if err != nil {
			return rates{}, fmt.Errorf("accepts: %w", err)
		}
		c1 := now()
		dl, err := rb.dials(d)
		if err != nil {
			return rates{}, fmt.Errorf("dials: %w", err)
		}
		c2 := now()
		as, ds = append(as, a), append(ds, dl)
		add(&acpu, c0, c1)
		add(&dcpu, c1, c2)
		an, dn = an+a*d.Seconds(), dn+dl*d.Seconds()
	}
	per := func(c [9]time.Duration, n float64) cpuTimes {
		f := func(d time.Duration) time.Duration { return time.Duration(float64(d) / max(n, 1)) }
		return cpuTimes{user: f(c[0]), sys: f(c[1]), gc: f(c[2]), peer: f(c[3]), idle: f(c[4]),
			allocs: int64(f(c[5])), retrans: int64(f(c[6] * 1000)), steal: f(c[7]),
			other: f(c[8] - c[0] - c[1] - c[3])}
	}
	return rates{accept: median(as), dial: median(ds), acceptCPU: per(acpu, an), dialCPU: per(dcpu, dn),
		raw: fmt.Sprintf("accepts/s %.0f, dials/s %.0f; busiest other processes: %s", as, ds, busiest(procs0, procTimes(), rb.client.pid, 3))}, nil
}

// cpuNow is this process's user and system CPU time so far, the garbage
// collector's (the runtime's estimate: mark workers, assists, pauses),
// and (not a time) the bytes allocated on the heap so far.
func cpuNow() [4]time.Duration {
	var ru unix.Rusage
	unix.Getrusage(unix.RUSAGE_SELF, &ru)
	s := []metrics.Sample{{Name: "/cpu/classes/gc/total:cpu-seconds"}, {Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(s)
	return [4]time.Duration{time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano()),
		time.Duration(s[0].Value.Float64() * 1e9), time.Duration(s[1].Value.Uint64())}
}

// clockTick is the unit of /proc's CPU times (USER_HZ, 100 on Linux).
const clockTick = 10 * time.Millisecond

// procCPU is process pid's user and system CPU time so far (0 when it
// cannot be read).
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The fields after the command (which may hold spaces) start after
	// its closing parenthesis; utime and stime are the 14th and 15th.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * clockTick
}

// procTime is a process's name and CPU time so far.
type procTime struct {
	comm string
	cpu  time.Duration
}

// procTimes reads every process's CPU time (/proc/PID/stat).
func procTimes() map[int]procTime {
	ents, _ := os.ReadDir("/proc")
	m := make(map[int]procTime, len(ents))
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		open, close := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
		if open < 0 || close < open {
			continue
		}
		m[pid] = procTime{comm: string(b[open+1 : close]), cpu: procCPU(pid)}
	}
	return m
}

// busiest names the n processes other than this one and the peer child
// that used the most CPU between two procTimes, with their share of it:
// what "other" time is made of.
func busiest(a, b map[int]procTime, peer, n int) string {
	type use struct {
		name string
		d    time.Duration
	}
	var us []use
	for pid, t := range b {
		if pid == os.Getpid() || pid == peer {
			continue
		}
		if d := t.cpu - a[pid].cpu; d > 0 {
			us = append(us, use{fmt.Sprintf("%s (pid %d)", t.comm, pid), d})
		}
	}
	sort.Slice(us, func(i, j int) bool { return us[i].d > us[j].d })
	var parts []string
	for _, u := range us[:min(n, len(us))] {
		parts = append(parts, fmt.Sprintf("%s %v", u.name, u.d.Round(10*time.Millisecond)))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// machineTime is the time the machine's CPUs, all of them together, have
// spent so far idle (/proc/stat's idle and iowait), stolen by the
// hypervisor (steal), and busy (user, nice, system, irq, softirq).
type machineTime struct{ idle, steal, busy time.Duration }

func machineTimes() machineTime {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return machineTime{}
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line) // cpu user nice system idle iowait irq softirq steal ...
	if len(f) < 9 {
		return machineTime{}
	}
	var v [8]int64
	for i := range v {
		v[i], _ = strconv.ParseInt(f[i+1], 10, 64)
	}
	return machineTime{idle: time.Duration(v[3]+v[4]) * clockTick, steal: time.Duration(v[7]) * clockTick,
		busy: time.Duration(v[0]+v[1]+v[2]+v[5]+v[6]) * clockTick}
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return s[len(s)/2]
}
