package afxdp

import (
	"encoding/binary"
	"errors"
	"reflect"
	"testing"

	"github.com/xdpengine/engine/internal/testbed"
	"github.com/xdpengine/engine/portalloc"
	"golang.org/x/sys/unix"
)

// rxfhReply builds an ETHTOOL_GRSSH reply as the kernel writes it: the
// struct ethtool_rxfh header in the host's byte order, the table as u32
// entries, then the key.
func rxfhReply(hfunc, xfrm uint8, table []uint32, key []byte) []byte {
	b := make([]byte, rxfhHeaderSize+4*len(table)+len(key))
	ne := binary.NativeEndian
	ne.PutUint32(b[rxfhCmd:], unix.ETHTOOL_GRSSH)
	ne.PutUint32(b[rxfhIndirSize:], uint32(len(table)))
	ne.PutUint32(b[rxfhKeySize:], uint32(len(key)))
	b[rxfhHfunc] = hfunc
	b[rxfhInputXfrm] = xfrm
	for i, q := range table {
		ne.PutUint32(b[rxfhHeaderSize+4*i:], q)
	}
	copy(b[rxfhHeaderSize+4*len(table):], key)
	return b
}

// roundRobin is the default table of NIC drivers: n entries over queues.
func roundRobin(n, queues int) []uint32 {
	t := make([]uint32, n)
	for i := range t {
		t[i] = uint32(i % queues)
	}
	return t
}

func TestDecodeRxfh(t *testing.T) {
	key := portalloc.MicrosoftKey[:]
	b := rxfhReply(ethRSSHashTop, 0, roundRobin(128, 4), key)
	got, err := decodeRxfh(b)
	if err != nil {
		t.Fatalf("decodeRxfh: %v", err)
	}
	want := RSSConfig{Key: key, Indirection: portalloc.DefaultIndirection(4), HashFunc: "toeplitz"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("decodeRxfh = %+v, want %+v", got, want)
	}
	// The result does not alias the ioctl buffer.
	clear(b)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("decoded config changed with the buffer: %+v", got)
	}
	// What it decodes is what Toeplitz steering takes.
	if _, err := portalloc.NewToeplitz(got.Key, got.Indirection, 4); err != nil {
		t.Fatalf("NewToeplitz on the decoded config: %v", err)
	}

	// The largest queue number a uint16 holds, and a 52-byte key (ice).
	big := rxfhReply(ethRSSHashTop, 0, []uint32{0xffff, 0}, make([]byte, 52))
	if got, err := decodeRxfh(big); err != nil || got.Indirection[0] != 0xffff || len(got.Key) != 52 {
		t.Fatalf("decodeRxfh(table [65535 0], 52-byte key) = %+v, %v", got, err)
	}
}

func TestDecodeRxfhErrors(t *testing.T) {
	key := portalloc.MicrosoftKey[:]
	good := func() []byte { return rxfhReply(ethRSSHashTop, 0, roundRobin(128, 4), key) }
	with := func(f func(b []byte) []byte) []byte { return f(good()) }
	put := func(off int, v uint32) func([]byte) []byte {
		return func(b []byte) []byte { binary.NativeEndian.PutUint32(b[off:], v); return b }
	}
	for _, tc := range []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, ErrConfig},
		{"short header", good()[:rxfhHeaderSize-1], ErrConfig},
		{"header only", good()[:rxfhHeaderSize], ErrConfig},
		{"truncated key", with(func(b []byte) []byte { return b[:len(b)-1] }), ErrConfig},
		{"trailing byte", append(good(), 0), ErrConfig},
		{"other command", with(put(rxfhCmd, unix.ETHTOOL_GRXFHINDIR)), ErrConfig},
		{"other context", with(put(rxfhContext, 1)), ErrConfig},
		{"no table", rxfhReply(ethRSSHashTop, 0, nil, key), ErrNoRSS},
		{"no key", rxfhReply(ethRSSHashTop, 0, roundRobin(128, 4), nil), ErrNoRSS},
		{"no table, no key", rxfhReply(0, 0, nil, nil), ErrNoRSS},
		{"huge table", with(put(rxfhIndirSize, maxRSSIndir+1)), ErrConfig},
		{"table of 2^32-1", with(put(rxfhIndirSize, 0xffffffff)), ErrConfig},
		{"huge key", with(put(rxfhKeySize, maxRSSKey+1)), ErrConfig},
		{"entry above 65535", with(put(rxfhHeaderSize+4*7, 0x10000)), ErrConfig},
		{"entry 2^32-1", with(put(rxfhHeaderSize, 0xffffffff)), ErrConfig},
	} {
		cfg, err := decodeRxfh(tc.b)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: decodeRxfh = %v, want an error wrapping %v", tc.name, err, tc.want)
		}
		if !reflect.DeepEqual(cfg, RSSConfig{}) {
			t.Errorf("%s: decodeRxfh returned %+v with its error, want nothing", tc.name, cfg)
		}
	}
}

// A hash other than plain Toeplitz is reported, and refused for Toeplitz
// steering.
func TestDecodeRxfhNotToeplitz(t *testing.T) {
	key := portalloc.MicrosoftKey[:]
	for _, tc := range []struct {
		hfunc, xfrm     uint8
		hash, transform string
	}{
		{ethRSSHashXor, 0, "xor", ""},
		{ethRSSHashCRC32, 0, "crc32", ""},
		{0, 0, "0", ""},
		{ethRSSHashTop | ethRSSHashXor, 0, "3", ""},
		{1 << 3, 0, "8", ""},
		{ethRSSHashTop, rxhXfrmSymXor, "toeplitz", "sym-xor"},
		{ethRSSHashTop, rxhXfrmSymOrXor, "toeplitz", "sym-or-xor"},
		{ethRSSHashTop, 1 << 2, "toeplitz", "4"},
	} {
		cfg, err := decodeRxfh(rxfhReply(tc.hfunc, tc.xfrm, roundRobin(64, 2), key))
		if !errors.Is(err, ErrNotToeplitz) {
			t.Errorf("hfunc %#x, input_xfrm %#x: error %v, want ErrNotToeplitz", tc.hfunc, tc.xfrm, err)
		}
		want := RSSConfig{Key: key, Indirection: portalloc.DefaultIndirection(2)[:64], HashFunc: tc.hash, InputXfrm: tc.transform}
		if !reflect.DeepEqual(cfg, want) {
			t.Errorf("hfunc %#x, input_xfrm %#x: config %+v, want %+v", tc.hfunc, tc.xfrm, cfg, want)
		}
	}
}

// FuzzDecodeRxfh checks the parse contract: no panic on any bytes, and a
// config returned without error has what the header announced.
func FuzzDecodeRxfh(f *testing.F) {
	f.Add(rxfhReply(ethRSSHashTop, 0, roundRobin(128, 4), portalloc.MicrosoftKey[:]))
	f.Add(rxfhReply(ethRSSHashXor, rxhXfrmSymXor, []uint32{1, 0x10000}, []byte{1}))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		cfg, err := decodeRxfh(b)
		if err != nil {
			return
		}
		indir := binary.NativeEndian.Uint32(b[rxfhIndirSize:])
		key := binary.NativeEndian.Uint32(b[rxfhKeySize:])
		if len(cfg.Indirection) != int(indir) || len(cfg.Key) != int(key) || cfg.HashFunc != "toeplitz" || cfg.InputXfrm != "" {
			t.Fatalf("decoded %+v from a header announcing %d entries and %d key bytes", cfg, indir, key)
		}
	})
}

// TestRSS reads the RSS configuration of a veth with four queues. veth has
// no get_rxfh ethtool operation (Linux 6.18), so the kernel answers
// ETHTOOL_GRSSH with EOPNOTSUPP.
func TestRSS(t *testing.T) {
	bed := testbed.New(t, testbed.Config{Queues: 4})
	cfg, err := RSS(bed.HostIf)
	if !errors.Is(err, ErrNoRSS) || !errors.Is(err, unix.EOPNOTSUPP) {
		t.Fatalf("RSS(%s) = %+v, %v: want an error wrapping ErrNoRSS and EOPNOTSUPP", bed.HostIf, cfg, err)
	}
	t.Logf("RSS(veth): %v", err)

	for _, name := range []string{"xeb-no-such-if", "", "a-name-too-long-for-ifreq", "a/b"} {
		if _, err := RSS(name); !errors.Is(err, ErrNoInterface) {
			t.Errorf("RSS(%q) = %v, want an error wrapping ErrNoInterface", name, err)
		}
	}
	if _, err := RSS("xeb-no-such-if"); !errors.Is(err, unix.ENODEV) {
		t.Errorf("RSS of a missing interface = %v, want an error wrapping ENODEV", err)
	}
}
