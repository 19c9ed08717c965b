package engine_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/xdpengine/engine/engine"
	"github.com/xdpengine/engine/internal/enginetest"
	"github.com/xdpengine/engine/internal/testbed"
)

// TestTCPKernelClientEcho: the kernel connects to an engine listener and
// exchanges messages of every segment-count class.
func TestTCPKernelClientEcho(t *testing.T) {
	bed := testbed.New(t, testbed.Config{})
	eng := enginetest.Start(t, bed, engine.Config{BindService: true})
	enginetest.EchoTCP(t, eng, ":7", engine.TCPListenConfig{})
	c, err := enginetest.PeerDialTCP(t, bed, enginetest.EngineAddr(bed, 7))
	if err != nil {
		t.Fatal(err)
	}
	enginetest.RoundTrips(t, c)
	st := eng.Stats().Total.TCP
	if st.PassiveOpens != 1 || st.InSegs == 0 || st.OutSegs == 0 || st.CurrEstab != 1 {
		t.Errorf("counters: %+v", st)
	}
}

// TestTCPPinnedWorkerEcho: with Config.CPUs the worker keeps a pinned
// thread of its own and wakes applications through its netpoller
// goroutine (the other wakeup path): echo both ways, many wakeups.
func TestTCPPinnedWorkerEcho(t *testing.T) {
	bed := testbed.New(t, testbed.Config{})
	eng := enginetest.Start(t, bed, engine.Config{BindService: true, CPUs: []int{0}})
	if eng.WakesDirectly(0) {
		t.Fatal("a pinned worker wakes applications directly")
	}
	enginetest.EchoTCP(t, eng, ":7", engine.TCPListenConfig{})
	for range 3 {
		c, err := enginetest.PeerDialTCP(t, bed, enginetest.EngineAddr(bed, 7))
		if err != nil {
			t.Fatal(err)
		}
		enginetest.RoundTrips(t, c)
		c.Close()
	}
}

// TestTCPEngineClientEcho: the engine connects to a kernel echo server.
func TestTCPEngineClientEcho(t *testing.T) {
	bed := testbed.New(t, testbed.Config{})
	eng := enginetest.Start(t, bed, engine.Config{})
	enginetest.PeerEchoTCP(t, bed, 7)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := eng.DialContext(ctx, "tcp4", netip.AddrPortFrom(bed.PeerAddr, 7).String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	enginetest.RoundTrips(t, c)
	if st := eng.Stats().Total.TCP; st.ActiveOpens != 1 {
		t.Errorf("ActiveOpens = %d, want 1", st.ActiveOpens)
	}
	var b bytes.Buffer
	if err := eng.WriteSS(&b, 6); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b.Bytes(), []byte("ESTAB")) || !bytes.Contains(b.Bytes(), []byte("cwnd:")) {
		t.Errorf("ss listing lacks the connection:\n%s", b.String())
	}
	t.Logf("ss:\n%s", b.String())
}

// TestTCPHalfClose: each side half-closes; the other reads EOF and still
// writes; then both close gracefully (no RST).
func TestTCPHalfClose(t *testing.T) {
	bed := testbed.New(t, testbed.Config{})
	eng := enginetest.Start(t, bed, engine.Config{BindService: true})

	t.Run("engine closes first", func(t *testing.T) {
		kl := enginetest.PeerListenTCP(t, bed, 9000)
		got := make(chan error, 1)
		go func() {
			c, err := kl.Accept()
			if err != nil {
				got <- err
				return
			}
			defer c.Close()
			b, err := io.ReadAll(c) // until the engine's FIN
			if err != nil || string(b) != "question" {
				got <- fmt.Errorf("kernel read %q, %v", b, err)
				return
			}
			_, err = c.Write([]byte("answer after your FIN"))
			got <- err
		}()
		c, err := eng.DialTCP("tcp4", nil, net.TCPAddrFromAddrPort(netip.AddrPortFrom(bed.PeerAddr, 9000)))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.Write([]byte("question"))
		if err := c.CloseWrite(); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Write([]byte("x")); !errors.Is(err, syscall.EPIPE) {
			t.Errorf("write after CloseWrite: %v, want EPIPE", err)
		}
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		b, err := io.ReadAll(c)
		if err != nil || string(b) != "answer after your FIN" {
			t.Fatalf("engine read %q, %v", b, err)
		}
		if err := <-got; err != nil {
			t.Fatal(err)
		}
	})

	t.Run("kernel closes first", func(t *testing.T) {
		ln, err := eng.ListenTCP("tcp4", ":9001", engine.TCPListenConfig{})
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		got := make(chan error, 1)
		go func() {
			c, err := ln.Accept()
			if err != nil {
				got <- err
				return
			}
			defer c.Close()
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			b, err := io.ReadAll(c)
			if err != nil || string(b) != "question" {
				got <- fmt.Errorf("engine read %q, %v", b, err)
				return
			}
			_, err = c.Write([]byte("answer after your FIN"))
			got <- err
		}()
		kc, err := enginetest.PeerDialTCP(t, bed, enginetest.EngineAddr(bed, 9001))
		if err != nil {
			t.Fatal(err)
		}
		kc.Write([]byte("question"))
		kc.(*net.TCPConn).CloseWrite()
		kc.SetReadDeadline(time.Now().Add(5 * time.Second))
		b, err := io.ReadAll(kc)
		if err != nil || string(b) != "answer after your FIN" {
			t.Fatalf("kernel read %q, %v", b, err)
		}
		if err := <-got; err != nil {
			t.Fatal(err)
		}
	})
	if st := eng.Stats().Total.TCP; st.OutRsts != 0 || st.EstabResets != 0 {
		t.Errorf("graceful closes sent %d RSTs, %d resets", st.OutRsts, st.EstabResets)
	}
}

// TestTCPRefused: a SYN to a closed port is answered by RST both ways.
func TestTCPRefused(t *testing.T) {
	bed := testbed.New(t, testbed.Config{})
	eng := enginetest.Start(t, bed, engine.Config{})
	if _, err := enginetest.PeerDialTCP(t, bed, enginetest.EngineAddr(bed, 4242)); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("kernel dial to a closed engine port: %v, want ECONNREFUSED", err)
	}
	if st := eng.Stats().Total.TCP; st.OutRsts == 0 {
		t.Errorf("no RST counted: %+v", st)
	}
	_, err := eng.DialTCP("tcp4", nil, net.TCPAddrFromAddrPort(netip.AddrPortFrom(bed.PeerAddr, 4243)))
	var oe *net.OpError
	if !errors.Is(err, syscall.ECONNREFUSED) || !errors.As(err, &oe) || oe.Op != "dial" {
		t.Errorf("engine dial to a closed kernel port: %v, want a dial *net.OpError with ECONNREFUSED", err)
	}
	if st := eng.Stats().Total.TCP; st.AttemptFails != 1 {
		t.Errorf("AttemptFails = %d, want 1", st.AttemptFails)
	}
}

// TestTCPResetOnUnreadClose: closing with unread data resets the
// connection, as Linux does; the kernel peer sees ECONNRESET.
func TestTCPResetOnUnreadClose(t *testing.T) {
	bed := testbed.New(t, testbed.Config{})
	eng := enginetest.Start(t, bed, engine.Config{})
	ln, err := eng.Listen("tcp4", ":8080")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	kc, err := enginetest.PeerDialTCP(t, bed, enginetest.EngineAddr(bed, 8080))
	if err != nil {
		t.Fatal(err)
	}
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	kc.Write([]byte("never read"))
	// Close once the data sits in the receive queue (data arriving after
	// Close would meet a closed socket: also a RST, but a different path).
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		if s := enginetest.TCPSocket(t, eng, c.LocalAddr()); s.RecvQ > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the data never reached the engine's receive queue")
		}
	}
	c.Close()
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, net.ErrClosed) {
		t.Errorf("read after Close: %v, want net.ErrClosed", err)
	}
	kc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := kc.Read(make([]byte, 10)); !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("kernel read: %v, want ECONNRESET", err)
	}
}

// TestTCPBulk moves 64 MiB each way and compares SHA-256.
func TestTCPBulk(t *testing.T) {
	bed := testbed.New(t, testbed.Config{})
	eng := enginetest.Start(t, bed, engine.Config{})
	size := enginetest.BulkSize(64 << 20)
	c, kc := enginetest.ConnectFromPeer(t, bed, eng, 5001)
	d := enginetest.Bulk(t, kc, c, size)
	t.Logf("kernel → engine: %d MiB in %v (%.0f MB/s)", size>>20, d, float64(size)/d.Seconds()/1e6)
	d = enginetest.Bulk(t, c, kc, size)
	t.Logf("engine → kernel: %d MiB in %v (%.0f MB/s)", size>>20, d, float64(size)/d.Seconds()/1e6)
}

// addPeerLoss drops 5% of the TCP segments arriving in the peer namespace.
func addPeerLoss(t *testing.T, bed *testbed.Bed) {
	t.Helper()
	for _, args := range [][]string{
		{"add", "table", "inet", "t"},
		{"add", "chain", "inet", "t", "c", "{ type filter hook input priority 0; }"},
		{"add", "rule", "inet", "t", "c", "meta", "l4proto", "tcp", "numgen", "random", "mod", "100", "<", "5", "drop"},
	} {
		if out, err := bed.Command(context.Background(), "nft", args...).CombinedOutput(); err != nil {
			t.Fatalf("nft %v: %v: %s", args, err, out)
		}
	}
	t.Cleanup(func() { bed.Command(context.Background(), "nft", "delete", "table", "inet", "t").Run() })
}

// TestTCPBulkLoss moves 256 MiB each way while the peer drops 5% of the
// segments it receives (data one way, ACKs the other): recovery is
// exercised in both directions.
func TestTCPBulkLoss(t *testing.T) {
	bed := testbed.New(t, testbed.Config{})
	eng := enginetest.Start(t, bed, engine.Config{})
	size := enginetest.BulkSize(256 << 20) // the figure
	c, kc := enginetest.ConnectFromPeer(t, bed, eng, 5002)
	addPeerLoss(t, bed)
	d := enginetest.Bulk(t, kc, c, size)
	t.Logf("kernel → engine, 5%% loss: %d MiB in %v (%.0f MB/s)", size>>20, d, float64(size)/d.Seconds()/1e6)
	d = enginetest.Bulk(t, c, kc, size)
	t.Logf("engine → kernel, 5%% loss: %d MiB in %v (%.0f MB/s)", size>>20, d, float64(size)/d.Seconds()/1e6)
	st := eng.Stats().Total.TCP
	t.Logf("engine TCP counters: %+v", st)
	if st.RetransSegs == 0 {
		t.Errorf("no retransmission under 5%% loss")
	}
}

// TestTCPHTTP serves net/http on an engine listener and fetches from the
// peer with net/http and curl.
func TestTCPHTTP(t *testing.T) {
	bed := testbed.New(t, testbed.Config{})
	eng := enginetest.Start(t, bed, engine.Config{BindService: true})
	ln, err := eng.Listen("tcp4", ":80")
	if err != nil {
		t.Fatal(err)
	}
	body := bytes.Repeat([]byte("engine "), 100000)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write(body)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	url := "http://" + enginetest.EngineAddr(bed, 80).String() + "/"
	client := enginetest.PeerHTTPClient(bed)
	for i := range 5 {
		resp, err := client.Get(url)
		if err != nil {
			t.Fatalf("GET %d: %v", i, err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || !bytes.Equal(b, body) {
			t.Fatalf("GET %d: %d bytes, %v", i, len(b), err)
		}
	}
	client.CloseIdleConnections()
	enginetest.NeedTool(t, "curl")
	out, err := bed.Command(context.Background(), "curl", "-sS", "--max-time", "10", url).Output()
	if err != nil || !bytes.Equal(out, body) {
		t.Fatalf("curl: %d bytes, %v", len(out), err)
	}
}

// TestTCPManyConnections: 1,000 concurrent kernel connections each
// complete an exchange with the engine.
func TestTCPManyConnections(t *testing.T) {
	bed := testbed.New(t, testbed.Config{})
	eng := enginetest.Start(t, bed, engine.Config{})
	enginetest.EchoTCP(t, eng, ":7000", engine.TCPListenConfig{Backlog: 1024})
	const n = 1000
	conns := make([]net.Conn, n)
	for i := range conns {
		c, err := enginetest.PeerDialTCP(t, bed, enginetest.EngineAddr(bed, 7000))
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		conns[i] = c
	}
	errc := make(chan error, n)
	for i, c := range conns {
		go func() {
			msg := make([]byte, 1000)
			enginetest.Pattern(msg, uint32(i))
			c.SetDeadline(time.Now().Add(20 * time.Second))
			if _, err := c.Write(msg); err != nil {
				errc <- err
				return
			}
			got := make([]byte, len(msg))
			if _, err := io.ReadFull(c, got); err != nil {
				errc <- fmt.Errorf("connection %d: %w", i, err)
				return
			}
			if !bytes.Equal(got, msg) {
				errc <- fmt.Errorf("connection %d: echo differs", i)
				return
			}
			errc <- nil
		}()
	}
	for range n {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	if st := eng.Stats().Total.TCP; st.CurrEstab != n || st.PassiveOpens != n {
		t.Errorf("CurrEstab %d, PassiveOpens %d, want %d", st.CurrEstab, st.PassiveOpens, n)
	}
	if got := len(eng.Sockets(6)); got != n+1 {
		t.Errorf("ss lists %d sockets, want %d connections and the listener", got, n+1)
	}
}

// TestTCPSYNFlood floods the listener with SYNs from random sources (a raw
// socket in the peer) while 100 legitimate connections complete: the SYN
// queue overflows and SYN cookies carry them.
func TestTCPSYNFlood(t *testing.T) {
	bed := testbed.New(t, testbed.Config{})
	eng := enginetest.Start(t, bed, engine.Config{})
	enginetest.EchoTCP(t, eng, ":7100", engine.TCPListenConfig{SYNBacklog: 64})
	// Spoofed sources in the engine's subnet would make the engine ARP for
	// each; answer none (they are not on the link) so SYN-ACKs park and
	// fail, as a real flood from absent hosts does.
	raw := enginetest.PeerRawSocket(t, bed)
	stop := make(chan struct{})
	flooded := make(chan int)
	go func() {
		sent := 0
		dst := bed.EngineAddr.As4()
		pkt := make([]byte, 40)
		x := uint32(7)
		for {
			select {
			case <-stop:
				flooded <- sent
				return
			default:
			}
			x ^= x << 13
			x ^= x >> 17
			x ^= x << 5
			src := bed.PeerAddr.As4()
			src[3] = byte(100 + x%100) // absent hosts of the subnet
			enginetest.PutSYN(pkt, src, dst, uint16(1024+x%50000), 7100, x)
			if syscall.Sendto(raw, pkt, 0, &syscall.SockaddrInet4{Addr: dst}) == nil {
				sent++
			}
			if sent%64 == 0 {
				time.Sleep(time.Millisecond)
			}
		}
	}()
	time.Sleep(200 * time.Millisecond)
	for i := range 100 {
		c, err := enginetest.PeerDialTCP(t, bed, enginetest.EngineAddr(bed, 7100))
		if err != nil {
			t.Fatalf("legitimate connection %d during the flood: %v", i, err)
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		msg := []byte(fmt.Sprintf("hello %d", i))
		c.Write(msg)
		got := make([]byte, len(msg))
		if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("connection %d: echo %q, %v", i, got, err)
		}
		c.Close()
	}
	close(stop)
	sent := <-flooded
	st := eng.Stats().Total.TCP
	t.Logf("%d flood SYNs; engine: %+v", sent, st)
	if st.SynCookiesSent == 0 || st.SynCookiesRecv == 0 {
		t.Errorf("the flood did not exercise SYN cookies (sent %d, validated %d)", st.SynCookiesSent, st.SynCookiesRecv)
	}
}

// TestTCPTwoWorkers runs connections both ways on a two-queue engine:
// segments arriving on the queue that does not own their connection are
// steered to the owner, and every connection completes its exchanges.
func TestTCPTwoWorkers(t *testing.T) {
	bed := testbed.New(t, testbed.Config{Queues: 2})
	eng := enginetest.Start(t, bed, engine.Config{Queues: 2})
	enginetest.EchoTCP(t, eng, ":7200", engine.TCPListenConfig{})
	for i := range 20 {
		c, err := enginetest.PeerDialTCP(t, bed, enginetest.EngineAddr(bed, 7200))
		if err != nil {
			t.Fatalf("kernel connection %d: %v", i, err)
		}
		enginetest.RoundTrips(t, c)
	}
	enginetest.PeerEchoTCP(t, bed, 7201)
	for i := range 20 {
		c, err := eng.DialTCP("tcp4", nil, net.TCPAddrFromAddrPort(netip.AddrPortFrom(bed.PeerAddr, 7201)))
		if err != nil {
			t.Fatalf("engine connection %d: %v", i, err)
		}
		enginetest.RoundTrips(t, c)
		c.Close()
	}
	st := eng.Stats()
	for _, w := range st.Workers {
		t.Logf("queue %d: passive %d active %d in %d out %d steered %d/%d", w.Queue, w.TCP.PassiveOpens, w.TCP.ActiveOpens, w.TCP.InSegs, w.TCP.OutSegs, w.Steered, w.SteeredIn)
	}
	if st.Total.TCP.PassiveOpens != 20 || st.Total.TCP.ActiveOpens != 20 {
		t.Errorf("opens: %+v", st.Total.TCP)
	}
}
