package health

import (
	"encoding/json"
	"errors"
	"net/netip"
	"testing"
	"time"
)

func TestKindText(t *testing.T) {
	for _, k := range []Kind{KindTCP, KindHTTP, KindUDP, KindNone} {
		b, err := k.MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		var got Kind
		if err := got.UnmarshalText(b); err != nil || got != k || string(b) != k.String() {
			t.Fatalf("%v: text %q, back %v, %v", k, b, got, err)
		}
	}
	if k, err := ParseKind("HTTP"); err != nil || k != KindHTTP {
		t.Fatalf("ParseKind(HTTP) = %v, %v", k, err)
	}
	for _, s := range []string{"", "icmp", "tcp "} {
		if _, err := ParseKind(s); !errors.Is(err, ErrInvalid) {
			t.Fatalf("ParseKind(%q): %v, want ErrInvalid", s, err)
		}
	}
	if _, err := Kind(0).MarshalText(); !errors.Is(err, ErrInvalid) {
		t.Fatalf("MarshalText of the zero Kind: %v", err)
	}
	if got := Kind(9).String(); got != "Kind(9)" {
		t.Fatalf("String of an unknown kind: %q", got)
	}
	var s struct{ Kind Kind }
	if err := json.Unmarshal([]byte(`{"Kind":"udp"}`), &s); err != nil || s.Kind != KindUDP {
		t.Fatalf("json: %v %v", s.Kind, err)
	}
}

func TestSpecDefaults(t *testing.T) {
	got := Spec{Kind: KindHTTP}.withDefaults()
	want := Spec{Kind: KindHTTP, Path: "/", Status: 200, Interval: 2 * time.Second, Timeout: time.Second, Rise: 2, Fall: 3}
	if !got.equal(want) || got.Path != want.Path || got.Timeout != want.Timeout {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	if got := (Spec{Kind: KindTCP, Interval: 300 * time.Millisecond}).withDefaults(); got.Timeout != 150*time.Millisecond || got.Path != "" || got.Status != 0 {
		t.Fatalf("tcp defaults %+v", got)
	}
	if got := (Spec{Kind: KindNone, Interval: time.Second, Rise: 7}).withDefaults(); got.Interval != 0 || got.Rise != 0 {
		t.Fatalf("none keeps fields: %+v", got)
	}
}

func TestSpecValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		spec Spec
		ok   bool
	}{
		{"tcp defaults", Spec{Kind: KindTCP}, true},
		{"http defaults", Spec{Kind: KindHTTP}, true},
		{"udp defaults", Spec{Kind: KindUDP}, true},
		{"none ignores the rest", Spec{Kind: KindNone, Timeout: -1, Rise: -1}, true},
		{"no kind", Spec{}, false},
		{"unknown kind", Spec{Kind: 42}, false},
		{"timeout equals interval", Spec{Kind: KindTCP, Interval: time.Second, Timeout: time.Second}, false},
		{"timeout above interval", Spec{Kind: KindTCP, Interval: time.Second, Timeout: 2 * time.Second}, false},
		{"negative interval", Spec{Kind: KindTCP, Interval: -time.Second}, false},
		{"negative timeout", Spec{Kind: KindTCP, Timeout: -time.Second}, false},
		{"interval too short for a timeout", Spec{Kind: KindTCP, Interval: 1}, false},
		{"negative rise", Spec{Kind: KindTCP, Rise: -1}, false},
		{"negative fall", Spec{Kind: KindTCP, Fall: -1}, false},
		{"relative path", Spec{Kind: KindHTTP, Path: "healthz"}, false},
		{"path with query", Spec{Kind: KindHTTP, Path: "/healthz?x=1"}, true},
		{"path with a space", Spec{Kind: KindHTTP, Path: "/a b"}, false},
		{"status 99", Spec{Kind: KindHTTP, Status: 99}, false},
		{"status 600", Spec{Kind: KindHTTP, Status: 600}, false},
		{"status 204", Spec{Kind: KindHTTP, Status: 204}, true},
	} {
		err := tc.spec.Validate()
		if tc.ok && err != nil || !tc.ok && !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: Validate() = %v, want ok %v", tc.name, err, tc.ok)
		}
	}
}

func TestSpecEqual(t *testing.T) {
	base := Spec{Kind: KindUDP, Send: []byte("a"), Expect: []byte("b"), Interval: time.Second}
	same := base
	same.Timeout, same.Rise, same.Fall, same.InitialUp = 500*time.Millisecond, 2, 3, true
	same.Send = []byte("a")
	if !base.equal(same) {
		t.Fatal("defaults spelled out or InitialUp changed make a different spec")
	}
	for name, change := range map[string]func(*Spec){
		"kind":     func(s *Spec) { s.Kind = KindTCP },
		"send":     func(s *Spec) { s.Send = []byte("x") },
		"expect":   func(s *Spec) { s.Expect = nil },
		"interval": func(s *Spec) { s.Interval = 2 * time.Second },
		"timeout":  func(s *Spec) { s.Timeout = time.Millisecond },
		"rise":     func(s *Spec) { s.Rise = 5 },
		"fall":     func(s *Spec) { s.Fall = 5 },
	} {
		o := base
		change(&o)
		if base.equal(o) {
			t.Errorf("a change of %s goes unnoticed", name)
		}
	}
	if !(Spec{Kind: KindNone, Rise: 3}).equal(Spec{Kind: KindNone}) {
		t.Fatal("two none specs differ")
	}
	h := Spec{Kind: KindHTTP}
	if h.equal(Spec{Kind: KindHTTP, Path: "/x"}) || h.equal(Spec{Kind: KindHTTP, Status: 204}) {
		t.Fatal("http path or status change goes unnoticed")
	}
}

func TestTargetValidate(t *testing.T) {
	addr := netip.MustParseAddrPort("198.18.1.11:80")
	if err := (Target{Key: "k", Addr: addr, Spec: Spec{Kind: KindTCP}}).Validate(); err != nil {
		t.Fatal(err)
	}
	if err := (Target{Key: "k", Spec: Spec{Kind: KindNone}}).Validate(); err != nil {
		t.Fatalf("none without an address: %v", err)
	}
	if err := (Target{Key: "k", Addr: addr, Spec: Spec{Kind: KindTCP, Rise: -1}}).Validate(); !errors.Is(err, ErrInvalid) {
		t.Fatalf("bad spec: %v", err)
	}
}
