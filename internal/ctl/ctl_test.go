package ctl

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "eng.sock")
	s, err := Listen(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.Handle("stats", func(json.RawMessage) (any, error) {
		return map[string]uint64{"rx_packets": 42}, nil
	})
	s.Handle("echo", func(args json.RawMessage) (any, error) {
		var v struct{ Word string }
		if err := json.Unmarshal(args, &v); err != nil {
			return nil, err
		}
		return v.Word, nil
	})
	s.Handle("fail", func(json.RawMessage) (any, error) { return nil, errors.New("no such queue") })
	s.Handle("panic", func(json.RawMessage) (any, error) { panic("boom") })

	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := st.Mode().Perm(); perm != 0o600 {
		t.Errorf("socket mode %o, want 600", perm)
	}

	c, err := Dial(path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var stats map[string]uint64
	if err := c.Call("stats", nil, &stats); err != nil || stats["rx_packets"] != 42 {
		t.Errorf("stats: %v, %v", stats, err)
	}
	var word string
	if err := c.Call("echo", map[string]string{"Word": "hi"}, &word); err != nil || word != "hi" {
		t.Errorf("echo: %q, %v", word, err)
	}
	for cmd, want := range map[string]string{
		"fail":  "no such queue",
		"panic": "internal error",
		"nope":  `unknown command "nope"`,
	} {
		if err := c.Call(cmd, nil, nil); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want an error containing %q", cmd, err, want)
		}
	}
	// The connection still works after errors.
	if err := c.Call("stats", nil, &stats); err != nil {
		t.Errorf("after errors: %v", err)
	}
}

func TestInUseAndStale(t *testing.T) {
	path := filepath.Join(t.TempDir(), "eng.sock")
	s, err := Listen(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Listen(path, nil); !errors.Is(err, ErrInUse) {
		t.Errorf("second Listen: got %v, want ErrInUse", err)
	}
	s.Close()
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket file remains after Close: %v", err)
	}
	if _, err := Dial(path); !errors.Is(err, ErrNoEngine) {
		t.Errorf("Dial with no engine: got %v, want ErrNoEngine", err)
	}
	// A stale file (an engine that crashed) is replaced.
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	s2, err := Listen(path, nil)
	if err != nil {
		t.Fatalf("Listen over a stale file: %v", err)
	}
	s2.Close()
}
