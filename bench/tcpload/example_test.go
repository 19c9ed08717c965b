package tcpload_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/xdpengine/engine/bench/tcpload"
)

// Four keep-alive connections send GETs at 100 requests a second (open
// loop) for half a second, through the kernel's sockets; with an engine,
// Dial is (&engine.Dialer{Engine: eng}).DialContext.
func ExampleRun() {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "hello\n") })}
	go srv.Serve(ln)
	defer srv.Close()

	res, err := tcpload.Run(context.Background(), tcpload.Config{
		Dial:     (&net.Dialer{}).DialContext,
		Target:   ln.Addr().(*net.TCPAddr).AddrPort(),
		Path:     "/hello",
		Conns:    4,
		Rate:     100,
		Duration: 500 * time.Millisecond,
	})
	if err != nil {
		panic(err)
	}
	fmt.Printf("%d requests (%.0f/s) on %d connections, %d errors\n",
		res.Requests, res.RequestsPerS, res.Connects, res.Errors.Total)
	// Output: 50 requests (100/s) on 4 connections, 0 errors
}
