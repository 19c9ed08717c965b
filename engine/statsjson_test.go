package engine_test

import (
	"encoding/json"
	"reflect"
	"regexp"
	"testing"

	"github.com/xdpengine/engine/engine"
)

// TestStatsJSON: engine.Stats marshals with stable snake_case names (the
// names `engine stats --json` prints and the control socket carries), and
// round-trips.
func TestStatsJSON(t *testing.T) {
	var st engine.Stats
	st.Total.RxPackets = 1
	st.Total.TCP.ActiveOpens = 2
	st.Total.TCP.PMTUDecreases = 3 // embedded PathMTU: flattened
	st.Total.XSK.RxRingFull = 4
	st.Total.Reasm.ReasmOKs = 5
	st.Total.ARP.Requests = 6 // embedded arp.Stats: flattened
	st.Total.ICMP.InEchos = 7
	st.Workers = []engine.WorkerStats{{Queue: 1, DropNoSocket: 8}}
	b, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	total, _ := m["total"].(map[string]any)
	workers, _ := m["workers"].([]any)
	if total == nil || len(workers) != 1 {
		t.Fatalf("want top-level total and workers: %s", b)
	}
	w0, _ := workers[0].(map[string]any)
	for _, c := range []struct {
		obj  map[string]any
		path []string
		want float64
	}{
		{total, []string{"rx_packets"}, 1},
		{total, []string{"tcp", "active_opens"}, 2},
		{total, []string{"tcp", "pmtu_decreases"}, 3},
		{total, []string{"xsk", "rx_ring_full"}, 4},
		{total, []string{"reasm", "reasm_oks"}, 5},
		{total, []string{"arp", "requests"}, 6},
		{total, []string{"icmp", "in_echos"}, 7},
		{w0, []string{"queue"}, 1},
		{w0, []string{"drop_no_socket"}, 8},
	} {
		var v any = c.obj
		for _, k := range c.path {
			o, _ := v.(map[string]any)
			v = o[k]
		}
		if v != c.want {
			t.Errorf("%v = %v, want %v", c.path, v, c.want)
		}
	}
	var back engine.Stats
	if err := json.Unmarshal(b, &back); err != nil || !reflect.DeepEqual(back, st) {
		t.Errorf("round trip: %v\n got %+v\nwant %+v", err, back.Total, st.Total)
	}
	checkTags(t, reflect.TypeOf(st), "Stats")
}

var snakeCase = regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)

// checkTags fails t for every exported field under typ (embedded structs
// excepted: JSON flattens them) without a snake_case json tag, so that a
// counter added later gets a stable name too.
func checkTags(t *testing.T, typ reflect.Type, path string) {
	t.Helper()
	for typ.Kind() == reflect.Slice || typ.Kind() == reflect.Array || typ.Kind() == reflect.Pointer {
		typ = typ.Elem()
	}
	if typ.Kind() != reflect.Struct {
		return
	}
	for i := range typ.NumField() {
		f := typ.Field(i)
		if !f.IsExported() {
			continue
		}
		if !f.Anonymous || f.Tag.Get("json") != "" {
			if tag := f.Tag.Get("json"); !snakeCase.MatchString(tag) {
				t.Errorf("%s.%s: json tag %q, want a snake_case name", path, f.Name, tag)
			}
		}
		checkTags(t, f.Type, path+"."+f.Name)
	}
}
