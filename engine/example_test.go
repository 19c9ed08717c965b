package engine_test

// The examples need root (or CAP_NET_ADMIN, CAP_NET_RAW, CAP_BPF,
// CAP_IPC_LOCK) and an interface to take over, so only ExampleNew runs
// under go test; the others are compiled, and shown in the package's
// documentation.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/xdpengine/engine/engine"
)

// A UDP and TCP echo server on eth1's 198.18.0.1, until SIGINT or
// SIGTERM, or until a worker fails.
func Example_echoServer() {
	eng, err := engine.New(engine.Config{
		Interface: "eth1",
		Addrs:     []netip.Prefix{netip.MustParsePrefix("198.18.0.1/24")},
	})
	if err != nil {
		log.Fatal(err)
	}
	// Sockets may be opened before the engine runs.
	pc, err := eng.ListenPacket("udp4", ":7000")
	if err != nil {
		log.Fatal(err)
	}
	go func() {
		buf := make([]byte, 65536)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return // net.ErrClosed once the engine closes
			}
			pc.WriteTo(buf[:n], from)
		}
	}()
	ln, err := eng.Listen("tcp4", ":7000")
	if err != nil {
		log.Fatal(err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.Copy(c, c)
			}()
		}
	}()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := eng.Run(ctx); err != nil {
		log.Fatal(err) // a worker failed, or the engine could not start
	}
}

// Connections by network name, as net.Dial makes them.
func ExampleEngine_DialContext() {
	eng, err := engine.New(engine.Config{
		Interface: "eth1",
		Addrs:     []netip.Prefix{netip.MustParsePrefix("198.18.0.1/24")},
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := eng.Start(); err != nil {
		log.Fatal(err)
	}
	defer eng.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := eng.DialContext(ctx, "tcp4", "198.18.0.2:80") // a *engine.TCPConn
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "GET / HTTP/1.0\r\n\r\n")
	io.Copy(os.Stdout, c)

	u, err := eng.DialContext(ctx, "udp4", "198.18.0.2:53") // a connected *engine.UDPConn
	if err != nil {
		log.Fatal(err)
	}
	defer u.Close()
}

// An HTTP client whose connections are the engine's, host names resolved
// by the system's resolver (over the kernel's stack).
func ExampleDialer_httpTransport() {
	eng, err := engine.New(engine.Config{
		Interface: "eth1",
		Addrs:     []netip.Prefix{netip.MustParsePrefix("198.18.0.1/24")},
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := eng.Start(); err != nil {
		log.Fatal(err)
	}
	defer eng.Close()
	d := &engine.Dialer{Engine: eng, Timeout: 10 * time.Second, Resolver: net.DefaultResolver}
	client := &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
	resp, err := client.Get("http://backend.example:8080/")
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	io.Copy(os.Stdout, resp.Body)
}

// Watching the workers of an engine started with Start: Done fires when
// one fails (its socket, a panic), and Err says which and why.
func ExampleEngine_Done() {
	eng, err := engine.New(engine.Config{Interface: "eth1",
		Addrs: []netip.Prefix{netip.MustParsePrefix("198.18.0.1/24")}})
	if err != nil {
		log.Fatal(err)
	}
	if err := eng.Start(); err != nil {
		log.Fatal(err)
	}
	go func() {
		<-eng.Done()
		var we *engine.WorkerError
		if errors.As(eng.Err(), &we) {
			log.Printf("queue %d stopped: %v; closing", we.Queue, we.Err)
			eng.Close()
		}
	}()
	// ... serve ...
}

// New reports a configuration it cannot use before it touches anything,
// with errors that errors.Is matches (no privileges needed for this one).
func ExampleNew() {
	_, err := engine.New(engine.Config{Interface: "nosuch0"})
	fmt.Println(errors.Is(err, syscall.ENODEV))
	// Output: true
}

// The counters marshal with stable snake_case names (those of `engine
// stats --json`).
func ExampleStats() {
	var st engine.Stats // eng.Stats()
	st.Total.Decap.IPIP = 3
	b, err := json.Marshal(st.Total.Decap)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(b))
	// Output: {"ipip":3,"gue":0,"drop_malformed":0,"drop_unsupported":0,"drop_nested":0,"drop_not_local":0}
}
