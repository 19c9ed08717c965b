package ctl

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"time"
)

// Streams. A streaming command answers its request with an ordinary
// response line; if that says ok, the server then writes the stream's bytes
// on the connection until the stream ends, and closes it. The client ends
// a stream early by closing its side (CloseWrite, or Close): the server
// sees end of file on its read side and cancels the stream's context. A
// connection that started a stream carries nothing else.

// Stream writes a stream's bytes to w until it is done or ctx is cancelled
// (the client closed its side, or the server is closing). What it returns
// is logged. A Stream its handler returned always runs (with ctx already
// cancelled if the client is gone), so it can release what the handler
// took.
type Stream func(ctx context.Context, w io.Writer) error

// StreamHandler checks a streaming command's args and returns its Stream,
// or an error sent as the response.
type StreamHandler func(args json.RawMessage) (Stream, error)

// HandleStream registers h for the streaming command cmd.
func (s *Server) HandleStream(cmd string, h StreamHandler) {
	s.mu.Lock()
	s.streams[cmd] = h
	s.mu.Unlock()
}

// openStream runs req's StreamHandler, if req is a streaming command (ok).
// A nil Stream comes with the error response to send.
func (s *Server) openStream(req request) (st Stream, resp response, ok bool) {
	s.mu.Lock()
	h := s.streams[req.Cmd]
	s.mu.Unlock()
	if h == nil {
		return nil, response{}, false
	}
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("control handler panicked", "cmd", req.Cmd, "panic", r)
			st, resp = nil, response{Error: fmt.Sprintf("internal error in %q", req.Cmd)}
		}
	}()
	st, err := h(req.Args)
	if err != nil {
		return nil, response{Error: err.Error()}, true
	}
	if st == nil {
		return nil, response{Error: fmt.Sprintf("internal error in %q", req.Cmd)}, true
	}
	return st, response{OK: true}, true
}

// runStream answers ok and runs st on c; serve closes c after it.
func (s *Server) runStream(c net.Conn, enc *json.Encoder, cmd string, st Stream) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := enc.Encode(response{OK: true}); err != nil {
		cancel() // st still runs, to release what its handler took
	}
	go func() {
		// The client sends nothing after its request: data, end of
		// file or an error (the connection closed) all end the stream.
		var b [1]byte
		c.Read(b[:])
		cancel()
	}()
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("control stream panicked", "cmd", cmd, "panic", r)
		}
	}()
	if err := st(ctx, c); err != nil {
		s.log.Info("control stream ended", "cmd", cmd, "err", err)
	}
}

// StreamReader is the client's end of a stream.
type StreamReader struct {
	cl *Client
	r  *bufio.Reader
}

// Read reads the stream; io.EOF once the server ended it.
func (sr *StreamReader) Read(p []byte) (int, error) { return sr.r.Read(p) }

// CloseWrite asks the server to end the stream; what it still sends can be
// read until io.EOF.
func (sr *StreamReader) CloseWrite() error {
	if uc, ok := sr.cl.c.(*net.UnixConn); ok {
		return uc.CloseWrite()
	}
	return sr.cl.c.Close()
}

// Close closes the connection.
func (sr *StreamReader) Close() error { return sr.cl.Close() }

// Stream sends the streaming command cmd with args (nil for none) and
// returns the stream once the engine accepted it. The client's connection
// carries nothing else afterwards.
func (cl *Client) Stream(cmd string, args any) (*StreamReader, error) {
	req := request{Cmd: cmd}
	if args != nil {
		raw, err := json.Marshal(args)
		if err != nil {
			return nil, fmt.Errorf("ctl: encode args: %w", err)
		}
		req.Args = raw
	}
	if err := cl.c.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		return nil, err
	}
	if err := cl.enc.Encode(req); err != nil {
		return nil, fmt.Errorf("ctl: send %s: %w", cmd, err)
	}
	// The stream's bytes follow the response line at once: read the line
	// with a reader that then serves the stream, not with the scanner.
	br := bufio.NewReaderSize(cl.c, 64<<10)
	line, err := br.ReadSlice('\n')
	if err != nil {
		return nil, fmt.Errorf("ctl: read %s response: %w", cmd, err)
	}
	var resp response
	if err := json.Unmarshal(line, &resp); err != nil {
		return nil, fmt.Errorf("ctl: malformed response: %w", err)
	}
	if !resp.OK {
		return nil, fmt.Errorf("engine: %s: %s", cmd, resp.Error)
	}
	if err := cl.c.SetDeadline(time.Time{}); err != nil {
		return nil, err
	}
	return &StreamReader{cl: cl, r: br}, nil
}
