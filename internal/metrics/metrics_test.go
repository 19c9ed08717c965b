package metrics

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
)

func TestWriteText(t *testing.T) {
	var b strings.Builder
	err := WriteText(&b, []Family{
		{Name: "engine_rx_packets_total", Help: "Packets received.\nPer queue.", Type: "counter",
			Samples: []Sample{
				{Labels: []Label{{"queue", "0"}}, Value: 12},
				{Labels: []Label{{"queue", "1"}, {"if", `ve"th\0`}}, Value: 3.5},
			}},
		{Name: "engine_up", Type: "gauge", Samples: []Sample{{Value: 1}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := `# HELP engine_rx_packets_total Packets received.\nPer queue.
# TYPE engine_rx_packets_total counter
engine_rx_packets_total{queue="0"} 12
engine_rx_packets_total{queue="1",if="ve\"th\\0"} 3.5
# TYPE engine_up gauge
engine_up 1
`
	if b.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
	}
}

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
	srv, addr, err := Serve("127.0.0.1:0", false, func() []Family {
		return []Family{{Name: "engine_up", Type: "gauge", Samples: []Sample{{Value: 1}}}}
	}, nil)
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
