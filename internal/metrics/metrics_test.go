package metrics

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
)

func TestCheckAddr(t *testing.T) {
	for _, tc := range []struct {
		addr     string
		allow    bool
		wildcard bool
		err      error
	}{
		{"127.0.0.1:9090", false, false, nil},
		{"198.18.0.1:9090", false, false, nil},
		{":9090", false, true, ErrWildcard},
		{"0.0.0.0:9090", false, true, ErrWildcard},
		{"[::]:9090", false, true, ErrWildcard},
		{"0.0.0.0:9090", true, true, nil},
	} {
		wc, err := CheckAddr(tc.addr, tc.allow)
		if wc != tc.wildcard || !errors.Is(err, tc.err) {
			t.Errorf("CheckAddr(%q, %v) = %v, %v; want %v, %v", tc.addr, tc.allow, wc, err, tc.wildcard, tc.err)
		}
	}
	if _, err := CheckAddr("9090", false); err == nil {
		t.Error("CheckAddr(\"9090\") accepted an address without a host part")
	}
}

func TestServe(t *testing.T) {
	srv, addr, err := Serve("127.0.0.1:0", false, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		io.WriteString(w, "engine_up 1\n")
	}), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	resp, err := http.Get("http://" + addr.String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(body), "engine_up 1\n") {
		t.Errorf("scrape: %q", body)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Errorf("content type %q", ct)
	}
}
