package caps

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
)

// status is the head of a real /proc/self/status of a root shell, with
// CapEff replaced by %s.
const status = `Name:	cat
Umask:	0022
State:	R (running)
Uid:	0	0	0	0
Gid:	0	0	0	0
CapInh:	0000000000000000
CapPrm:	000001ffffffffff
CapEff:	%s
CapBnd:	000001ffffffffff
CapAmb:	0000000000000000
NoNewPrivs:	0
`

func withCapEff(v string) string { return strings.Replace(status, "%s", v, 1) }

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name string
		text string
		want Set
	}{
		{"root", withCapEff("000001ffffffffff"), 1<<41 - 1},
		{"none", withCapEff("0000000000000000"), 0},
		{"net admin and raw", withCapEff("0000000000003000"), 1<<NetAdmin | 1<<NetRaw},
		{"top bit", withCapEff("8000000000000000"), 1 << 63},
		{"upper case", withCapEff("0000000000003A00"), 0x3a00},
		{"short", withCapEff("3000"), 1<<NetAdmin | 1<<NetRaw},
		{"spaces around", "CapEff:   0000000000004000  \n", 1 << IPCLock},
		{"last line without newline", "Name:\tx\nCapEff:\t0000008000000000", 1 << BPF},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse(strings.NewReader(tc.text))
			if err != nil || got != tc.want {
				t.Errorf("Parse = %#x, %v, want %#x", got, err, tc.want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		text string
		want error
	}{
		{"empty", "", ErrNoCapEff},
		{"no CapEff line", "Name:\tcat\nCapPrm:\t000001ffffffffff\nCapBnd:\t000001ffffffffff\n", ErrNoCapEff},
		{"prefix elsewhere in a line", "X CapEff:\t0000000000003000\n", ErrNoCapEff},
		{"not hex", withCapEff("zz"), strconv.ErrSyntax},
		{"empty value", withCapEff(""), strconv.ErrSyntax},
		{"0x prefix", withCapEff("0x3000"), strconv.ErrSyntax},
		{"negative", withCapEff("-1"), strconv.ErrSyntax},
		{"more than 64 bits", withCapEff("10000000000000000"), strconv.ErrRange},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse(strings.NewReader(tc.text))
			if !errors.Is(err, tc.want) || got != 0 {
				t.Errorf("Parse = %#x, %v, want 0 and an error that is %v", got, err, tc.want)
			}
		})
	}
}

func TestParseReadError(t *testing.T) {
	boom := errors.New("boom")
	_, err := Parse(iotest.ErrReader(boom))
	if !errors.Is(err, boom) {
		t.Errorf("Parse of a failing reader: %v, want %v", err, boom)
	}
}

func TestHas(t *testing.T) {
	s := Set(1<<NetAdmin | 1<<BPF | 1<<63)
	for _, tc := range []struct {
		c    Cap
		want bool
	}{
		{NetAdmin, true}, {BPF, true}, {63, true},
		{NetRaw, false}, {SysAdmin, false}, {0, false},
		{64, false}, {1000, false}, // beyond the mask: never held
	} {
		if got := s.Has(tc.c); got != tc.want {
			t.Errorf("%#x.Has(%v) = %v, want %v", uint64(s), tc.c, got, tc.want)
		}
	}
}

func TestString(t *testing.T) {
	for c, want := range map[Cap]string{
		NetAdmin: "CAP_NET_ADMIN", NetRaw: "CAP_NET_RAW", IPCLock: "CAP_IPC_LOCK",
		SysAdmin: "CAP_SYS_ADMIN", BPF: "CAP_BPF", 40: "capability 40",
	} {
		if got := c.String(); got != want {
			t.Errorf("Cap(%d).String() = %q, want %q", uint(c), got, want)
		}
	}
}

// TestEffective reads this process's set. It holds whatever the test runs
// with, so the test checks only that it can be read.
func TestEffective(t *testing.T) {
	s, err := Effective()
	if err != nil {
		t.Fatalf("Effective: %v", err)
	}
	t.Logf("CapEff %#016x", uint64(s))
}
