package ctl

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// DefaultDir holds the control sockets of running engines.
const DefaultDir = "/run/engine"

// ErrInUse is returned by Listen when another engine answers on the socket.
var ErrInUse = errors.New("control socket in use by a running engine")

// ErrNoEngine is returned by Dial when no engine listens on the socket.
var ErrNoEngine = errors.New("no engine is running")

// maxLine bounds one request or response line.
const maxLine = 16 << 20

// SocketPath returns the default control socket path for an interface.
func SocketPath(ifname string) string { return filepath.Join(DefaultDir, ifname+".sock") }

// Handler answers one command. args is the request's raw "args" (may be
// empty); the returned value is encoded as the response's "data".
type Handler func(args json.RawMessage) (any, error)

type request struct {
	Cmd  string          `json:"cmd"`
	Args json.RawMessage `json:"args,omitempty"`
}

type response struct {
	OK    bool            `json:"ok"`
	Error string          `json:"error,omitempty"`
	Data  json.RawMessage `json:"data,omitempty"`
}

// Server serves control requests on a unix socket.
type Server struct {
	path     string
	ln       *net.UnixListener
	log      *slog.Logger
	mu       sync.Mutex
	handlers map[string]Handler
	streams  map[string]StreamHandler // stream.go
	conns    map[net.Conn]struct{}
	wg       sync.WaitGroup
	closed   bool
}

// Listen creates the socket at path with mode 0600, replacing a stale socket
// file left by a crashed engine. It fails with ErrInUse if an engine answers.
func Listen(path string, log *slog.Logger) (*Server, error) {
	if log == nil {
		log = slog.Default()
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("ctl: create %s: %w", filepath.Dir(path), err)
	}
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return nil, fmt.Errorf("ctl: %s: %w (stop that engine first, or use another interface)", path, ErrInUse)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("ctl: remove stale socket: %w", err)
	}
	// The umask makes the socket 0600 from its creation on, with no window
	// in which another user could connect.
	old := syscall.Umask(0o177)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	syscall.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("ctl: listen on %s: %w", path, err)
	}
	ln.SetUnlinkOnClose(true)
	s := &Server{path: path, ln: ln, log: log, handlers: map[string]Handler{}, streams: map[string]StreamHandler{}, conns: map[net.Conn]struct{}{}}
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

// Handle registers h for cmd. It may be called before or while serving.
func (s *Server) Handle(cmd string, h Handler) {
	s.mu.Lock()
	s.handlers[cmd] = h
	s.mu.Unlock()
}

// Path returns the socket's path.
func (s *Server) Path() string { return s.path }

func (s *Server) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return // closed
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go s.serve(c)
	}
}

func (s *Server) serve(c net.Conn) {
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		c.Close()
		s.wg.Done()
	}()
	sc := bufio.NewScanner(c)
	sc.Buffer(make([]byte, 0, 4096), maxLine)
	enc := json.NewEncoder(c)
	for sc.Scan() {
		var req request
		resp := response{}
		if err := json.Unmarshal(sc.Bytes(), &req); err != nil {
			resp.Error = "malformed request: " + err.Error()
		} else if st, sresp, ok := s.openStream(req); ok {
			if st != nil {
				s.runStream(c, enc, req.Cmd, st) // takes the connection over
				return
			}
			resp = sresp
		} else {
			resp = s.call(req)
		}
		if err := enc.Encode(resp); err != nil {
			return
		}
	}
}

func (s *Server) call(req request) (resp response) {
	s.mu.Lock()
	h := s.handlers[req.Cmd]
	s.mu.Unlock()
	if h == nil {
		return response{Error: fmt.Sprintf("unknown command %q", req.Cmd)}
	}
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("control handler panicked", "cmd", req.Cmd, "panic", r)
			resp = response{Error: fmt.Sprintf("internal error in %q", req.Cmd)}
		}
	}()
	v, err := h(req.Args)
	if err != nil {
		return response{Error: err.Error()}
	}
	data, err := json.Marshal(v)
	if err != nil {
		return response{Error: "encode response: " + err.Error()}
	}
	return response{OK: true, Data: data}
}

// Close stops accepting, ends open connections, waits for their handlers
// and removes the socket file.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	err := s.ln.Close()
	s.wg.Wait()
	return err
}

// Client talks to a running engine.
type Client struct {
	c   net.Conn
	sc  *bufio.Scanner
	enc *json.Encoder
}

// Dial connects to the control socket at path.
func Dial(path string) (*Client, error) {
	c, err := net.DialTimeout("unix", path, 2*time.Second)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ECONNREFUSED) {
			return nil, fmt.Errorf("ctl: %s: %w (start one with `engine serve`, or pass --socket)", path, ErrNoEngine)
		}
		return nil, fmt.Errorf("ctl: %w", err)
	}
	sc := bufio.NewScanner(c)
	sc.Buffer(make([]byte, 0, 4096), maxLine)
	return &Client{c: c, sc: sc, enc: json.NewEncoder(c)}, nil
}

// Call sends cmd with args (nil for none) and decodes the answer into out
// (nil to discard it).
func (cl *Client) Call(cmd string, args, out any) error {
	req := request{Cmd: cmd}
	if args != nil {
		raw, err := json.Marshal(args)
		if err != nil {
			return fmt.Errorf("ctl: encode args: %w", err)
		}
		req.Args = raw
	}
	if err := cl.c.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		return err
	}
	if err := cl.enc.Encode(req); err != nil {
		return fmt.Errorf("ctl: send %s: %w", cmd, err)
	}
	if !cl.sc.Scan() {
		err := cl.sc.Err()
		if err == nil {
			err = io.ErrUnexpectedEOF
		}
		return fmt.Errorf("ctl: read %s response: %w", cmd, err)
	}
	var resp response
	if err := json.Unmarshal(cl.sc.Bytes(), &resp); err != nil {
		return fmt.Errorf("ctl: malformed response: %w", err)
	}
	if !resp.OK {
		return fmt.Errorf("engine: %s: %s", cmd, resp.Error)
	}
	if out == nil || len(resp.Data) == 0 {
		return nil
	}
	return json.Unmarshal(resp.Data, out)
}

// Close closes the connection.
func (cl *Client) Close() error { return cl.c.Close() }
