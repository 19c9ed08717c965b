package config

import (
	"errors"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/xdpengine/engine/header"
)

// richConfig uses every key with values other than the defaults.
func richConfig() *Config {
	a := netip.MustParseAddr
	return &Config{
		VIPs: []VIP{
			{Addr: a("198.18.0.100"), Port: 80, Proto: TCP, Forwarding: NAT, TableSize: 65537,
				Health: Health{Type: HealthHTTP, Port: 8080, Path: "/health,{}#:'q'\"\\é%20[]&*!|>", Status: 204,
					Interval: 1500 * time.Millisecond, Timeout: 250 * time.Microsecond, Rise: 3, Fall: 255},
				Backends: []Backend{{Addr: a("198.18.1.11"), Weight: 1}, {Addr: a("198.18.1.12"), Weight: 0, Drain: true}, {Addr: a("198.18.1.13"), Weight: 65535}}},
			{Addr: a("198.18.0.100"), Port: 0, Proto: UDP, Forwarding: DSRGUE, TableSize: 251, GUEPort: 9999,
				Hash: HashSource, OnBackendDown: DownRehash, Fragments: FragHash3,
				Health:   Health{Type: HealthUDP, Port: 53, Send: "\x00ping\n\t\x7f\u0085 \"q\" \\ é\u2028\ufeff\U0001F600\U000E0001", Expect: "- pong: 'x' # ", Interval: time.Hour, Timeout: time.Minute, Rise: 1, Fall: 1},
				Backends: []Backend{{Addr: a("198.18.1.11"), Weight: 7}}},
			{Addr: a("198.18.0.101"), Port: 4789, Proto: UDP, Forwarding: DSRVXLAN, TableSize: 2, VNI: 0, VXLANPort: 4790,
				Health: Health{Type: HealthNone}},
			{Addr: a("198.18.0.102"), Port: 22, Proto: TCP, Forwarding: DSRVXLAN, TableSize: MaxTableSize, VNI: MaxVNI, VXLANPort: 4789,
				Health:   Health{Type: HealthTCP, Port: 22, Interval: time.Second, Timeout: 999 * time.Millisecond, Rise: 2, Fall: 2, AtVIP: true},
				Backends: []Backend{{Addr: a("198.18.1.11"), Weight: 1, MAC: header.MAC{2, 0, 0x5e, 0x10, 0, 0xab}}}},
			{Addr: a("198.18.0.103"), Port: 443, Proto: TCP, Forwarding: DSRIPIP, TableSize: 65537,
				Health: Health{Type: HealthHTTP, Port: 443, Path: "/", Status: 200, Interval: time.Second, Timeout: 500 * time.Millisecond, Rise: 2, Fall: 2}},
			{Addr: a("198.18.0.104"), Port: 443, Proto: TCP, Forwarding: DSRL2, TableSize: 65537, FastPath: true, Announce: true, Health: Health{Type: HealthNone}},
		},
		Conntrack: Conntrack{MaxFlows: 5, TCPSyn: 10 * time.Second, TCPEstablished: 90 * time.Minute, TCPClosing: 30 * time.Second, UDP: 1},
	}
}

func TestMarshalRoundTrip(t *testing.T) {
	for name, c := range map[string]*Config{"rich": richConfig(), "example": exampleConfig(), "empty": New()} {
		out, err := Marshal(c)
		if err != nil {
			t.Fatalf("%s: Marshal: %v", name, err)
		}
		got, err := Parse(out)
		if err != nil {
			t.Fatalf("%s: Parse(Marshal(c)): %v\n%s", name, err, out)
		}
		if !reflect.DeepEqual(got, c) {
			t.Errorf("%s: Parse(Marshal(c)) differs:\n got %+v\nwant %+v\n%s", name, got, c, out)
		}
	}
}

func TestMarshalFormat(t *testing.T) {
	c := exampleConfig()
	c.VIPs = append(c.VIPs, VIP{Addr: vipAddr, Port: 0, Proto: UDP, Forwarding: DSRVXLAN, TableSize: 251, VNI: 42,
		VXLANPort: 4789, Health: Health{Type: HealthUDP, Port: 53, Send: "ping", Interval: 2 * time.Second, Timeout: DefaultTimeout, Rise: 2, Fall: 2}})
	c.Conntrack.UDP = time.Minute
	out, err := Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	want := `vips:
  - address: 198.18.0.100
    port: 80
    protocol: tcp
    forwarding: nat
    health: {type: http, path: /healthz}
    backends:
      - {address: 198.18.1.11}
      - {address: 198.18.1.12, weight: 2}
  - address: 198.18.0.100
    port: 0
    protocol: udp
    forwarding: dsr-vxlan
    table_size: 251
    vni: 42
    health: {type: udp, port: 53, send: "ping", interval: 2s}
    backends: []
conntrack:
  udp: 1m
`
	if string(out) != want {
		t.Errorf("Marshal:\n%s\nwant:\n%s", out, want)
	}
}

func TestMarshalRefusesInvalid(t *testing.T) {
	c := exampleConfig()
	c.VIPs[0].TableSize = 0
	_, err := Marshal(c)
	want := "vips[0].table_size: 0 is not a prime, and Maglev needs one: use 2, the next prime"
	if err == nil || err.Error() != want {
		t.Errorf("Marshal: got %v, want %s", err, want)
	}
	if err := Save(filepath.Join(t.TempDir(), "lb.yaml"), c); err == nil {
		t.Error("Save of an invalid config succeeded")
	}
}

func TestFormatDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		time.Hour: "1h", 90 * time.Second: "90s", 90 * time.Minute: "90m", 1500 * time.Millisecond: "1500ms",
		time.Microsecond: "1us", 1: "1ns", 25 * time.Hour: "25h",
	} {
		if got := formatDuration(d); got != want {
			t.Errorf("formatDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

// tempFiles lists the temporary files Save left in dir.
func tempFiles(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, ".*.tmp-*"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func loadEqual(t *testing.T, path string, want *Config) {
	t.Helper()
	got, err := Load(path)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if !got.Equal(want) {
		t.Fatalf("Load: got %+v, want %+v", got, want)
	}
}

func TestSave(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "lb.yaml")
	if err := Save(path, exampleConfig()); err != nil {
		t.Fatal(err)
	}
	loadEqual(t, path, exampleConfig())
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("new file: mode %v, %v; want 0644", fi.Mode(), err)
	}
	// An existing file's mode is kept.
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Save(path, richConfig()); err != nil {
		t.Fatal(err)
	}
	loadEqual(t, path, richConfig())
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("saved file: mode %v, %v; want 0600 kept", fi.Mode(), err)
	}
	if m := tempFiles(t, dir); len(m) != 0 {
		t.Errorf("temporary files left: %v", m)
	}
	// Through a symbolic link, the file it points to is replaced.
	link := filepath.Join(dir, "link.yaml")
	if err := os.Symlink("lb.yaml", link); err != nil {
		t.Fatal(err)
	}
	if err := Save(link, exampleConfig()); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&fs.ModeSymlink == 0 {
		t.Errorf("the link was replaced: %v, %v", fi, err)
	}
	loadEqual(t, path, exampleConfig())
	// A relative path in the working directory.
	t.Chdir(dir)
	if err := Save("rel.yaml", New()); err != nil {
		t.Fatal(err)
	}
	loadEqual(t, "rel.yaml", New())
}

func TestSaveCrashBeforeRename(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "lb.yaml")
	if err := Save(path, exampleConfig()); err != nil {
		t.Fatal(err)
	}
	old, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}

	// A crash after the temporary file is written: the target is the old
	// file, whole, and the temporary file is a complete new one.
	crash := errors.New("crash")
	var tmpData []byte
	beforeRename = func(tmp string) error {
		if b, _ := os.ReadFile(path); string(b) != string(old) {
			t.Errorf("target changed before the rename")
		}
		tmpData, _ = os.ReadFile(tmp)
		return crash
	}
	defer func() { beforeRename = nil }()
	if err := Save(path, richConfig()); !errors.Is(err, crash) {
		t.Fatalf("Save: got %v, want the crash", err)
	}
	beforeRename = nil
	if c, err := Parse(tmpData); err != nil || !c.Equal(richConfig()) {
		t.Errorf("temporary file before the rename: %v", err)
	}
	loadEqual(t, path, exampleConfig())

	// What a real crash leaves: a partly written temporary file. Neither
	// Load nor the next Save is disturbed by it.
	leftover := filepath.Join(dir, ".lb.yaml.tmp-123")
	if err := os.WriteFile(leftover, tmpData[:len(tmpData)/2], 0o600); err != nil {
		t.Fatal(err)
	}
	loadEqual(t, path, exampleConfig())
	if err := Save(path, richConfig()); err != nil {
		t.Fatal(err)
	}
	loadEqual(t, path, richConfig())
	if m := tempFiles(t, dir); len(m) != 1 || m[0] != leftover {
		t.Errorf("temporary files: %v, want only the leftover", m)
	}
}

func TestSaveConcurrent(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "lb.yaml")
	configs := make([]*Config, 8)
	var wg sync.WaitGroup
	for i := range configs {
		c := New()
		c.Conntrack.MaxFlows = uint32(i + 1)
		configs[i] = c
		wg.Go(func() {
			for range 10 {
				if err := Save(path, c); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	got, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if n := got.Conntrack.MaxFlows; n < 1 || int(n) > len(configs) || !got.Equal(configs[n-1]) {
		t.Errorf("after concurrent saves: %+v", got)
	}
	if m := tempFiles(t, dir); len(m) != 0 {
		t.Errorf("temporary files left: %v", m)
	}
}

func TestSaveErrors(t *testing.T) {
	dir := t.TempDir()
	if err := Save(filepath.Join(dir, "missing", "lb.yaml"), New()); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Save into a missing directory: got %v", err)
	}
	if err := Save(dir, New()); err == nil {
		t.Errorf("Save over a directory succeeded")
	}
}
