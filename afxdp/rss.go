package afxdp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"unsafe"

	"golang.org/x/sys/unix"
)

// RSSConfig is a NIC's receive side scaling configuration for its default
// RSS context, as `ethtool -x IFACE` prints it: the NIC hashes each
// arriving packet with HashFunc under Key, and entry hash%len(Indirection)
// of the table names the receive queue. Key and Indirection are what
// portalloc.NewToeplitz takes.
type RSSConfig struct {
	// Key is the hash key (40 bytes on most NICs, 52 on some).
	Key []byte
	// Indirection is the indirection table: entry i is the queue for hash
	// values whose low bits are i.
	Indirection []uint16
	// HashFunc is the hash function the NIC uses: "toeplitz", "xor",
	// "crc32", or the kernel's ETH_RSS_HASH_* bit mask in decimal for
	// anything else ("0" when the driver does not name one).
	HashFunc string
	// InputXfrm is the transformation of the hash input before hashing:
	// "" for none, "sym-xor" or "sym-or-xor" (symmetric hashing, which
	// XORs or ORs source and destination fields together), or the kernel's
	// RXH_XFRM_* bit mask in decimal for anything else.
	InputXfrm string
}

// The hash functions and input transformations of linux/ethtool.h.
const (
	ethRSSHashTop   = 1 << 0 // ETH_RSS_HASH_TOP: Toeplitz
	ethRSSHashXor   = 1 << 1 // ETH_RSS_HASH_XOR
	ethRSSHashCRC32 = 1 << 2 // ETH_RSS_HASH_CRC32

	rxhXfrmSymXor   = 1 << 0 // RXH_XFRM_SYM_XOR
	rxhXfrmSymOrXor = 1 << 1 // RXH_XFRM_SYM_OR_XOR
)

// ethtoolRxfh is the fixed part of struct ethtool_rxfh (linux/ethtool.h),
// which ETHTOOL_GRSSH reads and writes; the variable part follows it:
//
//	 0      cmd          u32
//	 4      rss_context  u32
//	 8      indir_size   u32  entries in the indirection table
//	12      key_size     u32  bytes in the key
//	16      hfunc        u8   ETH_RSS_HASH_* bit of the hash function
//	17      input_xfrm   u8   RXH_XFRM_* bits
//	18      rsvd8[2]     u8
//	20      rsvd32       u32
//	24      rss_config   u32[indir_size], then u8[key_size]
//
// All fields are in the host's byte order.
const (
	rxfhCmd        = 0
	rxfhContext    = 4
	rxfhIndirSize  = 8
	rxfhKeySize    = 12
	rxfhHfunc      = 16
	rxfhInputXfrm  = 17
	rxfhRsvd8      = 18
	rxfhRsvd32     = 20
	rxfhHeaderSize = 24
)

// Bounds on what a driver may report, far above any NIC (indirection tables
// have up to a few thousand entries, keys up to 52 bytes). They keep a
// confused driver or a corrupt buffer from making us allocate gigabytes.
const (
	maxRSSIndir = 1 << 16
	maxRSSKey   = 1 << 10
)

// RSS reads the receive side scaling key, indirection table and hash
// function of iface's default RSS context with the ETHTOOL_GRSSH ioctl, in
// the calling thread's network namespace. It needs no privileges.
//
// Errors:
//   - ErrNoInterface (and ENODEV): there is no such interface.
//   - ErrNoRSS (and, where the kernel refused, EOPNOTSUPP): the driver
//     reports no RSS key or no indirection table (veth, most virtual
//     links). Software steering must be used.
//   - ErrNotToeplitz: the NIC hashes with something other than plain
//     Toeplitz (another function, or a symmetric input transformation), so
//     portalloc.NewToeplitz would predict the wrong queue. The RSSConfig is
//     returned as well, filled in, so that it can be reported.
//
// There is no fallback to ETHTOOL_GRXFHINDIR: the kernel serves it from the
// same driver callback as ETHTOOL_GRSSH (so a driver without one has
// neither), and it carries no key, without which Toeplitz steering is
// impossible.
func RSS(iface string) (RSSConfig, error) {
	name, err := ifreqName(iface)
	if err != nil {
		return RSSConfig{}, err
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return RSSConfig{}, wrapErrno("socket", err)
	}
	defer unix.Close(fd)

	// The sizes can change between the two calls (a driver may resize its
	// table when channels change); the kernel then refuses the second call
	// with EINVAL and reports the new sizes. Try again a few times.
	for range 3 {
		hdr := make([]byte, rxfhHeaderSize)
		putRxfhRequest(hdr, 0, 0)
		if err := ethtoolIoctl(fd, name, hdr); err != nil {
			return RSSConfig{}, rssErrno(iface, err)
		}
		indir := binary.NativeEndian.Uint32(hdr[rxfhIndirSize:])
		key := binary.NativeEndian.Uint32(hdr[rxfhKeySize:])
		if err := checkRSSSizes(indir, key); err != nil {
			return RSSConfig{}, fmt.Errorf("RSS of %s: %w", iface, err)
		}
		buf := make([]byte, rxfhHeaderSize+4*int(indir)+int(key))
		putRxfhRequest(buf, indir, key)
		err := ethtoolIoctl(fd, name, buf)
		if errors.Is(err, unix.EINVAL) &&
			(binary.NativeEndian.Uint32(buf[rxfhIndirSize:]) != indir ||
				binary.NativeEndian.Uint32(buf[rxfhKeySize:]) != key) {
			continue
		}
		if err != nil {
			return RSSConfig{}, rssErrno(iface, err)
		}
		cfg, err := decodeRxfh(buf)
		if err != nil {
			return cfg, fmt.Errorf("RSS of %s: %w", iface, err)
		}
		return cfg, nil
	}
	return RSSConfig{}, fmt.Errorf("afxdp: RSS of %s: the driver's table and key sizes keep changing: %w", iface, unix.EINVAL)
}

// putRxfhRequest writes an ETHTOOL_GRSSH request for the default context
// into the header of b, asking for indir table entries and key bytes (both
// 0: only the sizes).
func putRxfhRequest(b []byte, indir, key uint32) {
	clear(b[:rxfhHeaderSize])
	binary.NativeEndian.PutUint32(b[rxfhCmd:], unix.ETHTOOL_GRSSH)
	binary.NativeEndian.PutUint32(b[rxfhIndirSize:], indir)
	binary.NativeEndian.PutUint32(b[rxfhKeySize:], key)
}

// checkRSSSizes says whether a driver's table and key sizes describe a
// configuration Toeplitz steering can use.
func checkRSSSizes(indir, key uint32) error {
	switch {
	case indir == 0 || key == 0:
		return fmt.Errorf("%w: indirection table of %d entries, key of %d bytes", ErrNoRSS, indir, key)
	case indir > maxRSSIndir:
		return fmt.Errorf("%w: indirection table of %d entries, more than %d", ErrConfig, indir, maxRSSIndir)
	case key > maxRSSKey:
		return fmt.Errorf("%w: RSS key of %d bytes, more than %d", ErrConfig, key, maxRSSKey)
	}
	return nil
}

// decodeRxfh decodes the reply of ETHTOOL_GRSSH, struct ethtool_rxfh with
// its table and key (see ethtoolRxfh above), as the kernel wrote it in the
// host's byte order. b must hold exactly the header and the variable part
// its sizes announce. It does not panic on any input, and the returned
// slices do not alias b.
//
// Errors wrap ErrNoRSS for an empty table or key, ErrConfig for a malformed
// buffer or an entry above 65535, and ErrNotToeplitz (with the decoded
// config returned too) for a hash other than plain Toeplitz.
func decodeRxfh(b []byte) (RSSConfig, error) {
	if len(b) < rxfhHeaderSize {
		return RSSConfig{}, fmt.Errorf("%w: ethtool_rxfh reply of %d bytes, shorter than its %d-byte header", ErrConfig, len(b), rxfhHeaderSize)
	}
	ne := binary.NativeEndian
	if cmd := ne.Uint32(b[rxfhCmd:]); cmd != unix.ETHTOOL_GRSSH {
		return RSSConfig{}, fmt.Errorf("%w: ethtool_rxfh reply for command %#x, want ETHTOOL_GRSSH (%#x)", ErrConfig, cmd, unix.ETHTOOL_GRSSH)
	}
	if ctx := ne.Uint32(b[rxfhContext:]); ctx != 0 {
		return RSSConfig{}, fmt.Errorf("%w: ethtool_rxfh reply for RSS context %d, want the default context 0", ErrConfig, ctx)
	}
	indir, key := ne.Uint32(b[rxfhIndirSize:]), ne.Uint32(b[rxfhKeySize:])
	if err := checkRSSSizes(indir, key); err != nil {
		return RSSConfig{}, err
	}
	if want := rxfhHeaderSize + 4*int(indir) + int(key); len(b) != want {
		return RSSConfig{}, fmt.Errorf("%w: ethtool_rxfh reply of %d bytes, want %d for %d table entries and a %d-byte key",
			ErrConfig, len(b), want, indir, key)
	}
	cfg := RSSConfig{
		Indirection: make([]uint16, indir),
		Key:         make([]byte, key),
		HashFunc:    hashFuncName(b[rxfhHfunc]),
		InputXfrm:   inputXfrmName(b[rxfhInputXfrm]),
	}
	table := b[rxfhHeaderSize : rxfhHeaderSize+4*int(indir)]
	for i := range cfg.Indirection {
		q := ne.Uint32(table[4*i:])
		if q > 0xffff {
			return RSSConfig{}, fmt.Errorf("%w: indirection entry %d names queue %d, above 65535", ErrConfig, i, q)
		}
		cfg.Indirection[i] = uint16(q)
	}
	copy(cfg.Key, b[rxfhHeaderSize+len(table):])
	if b[rxfhHfunc] != ethRSSHashTop {
		return cfg, fmt.Errorf("%w: the NIC hashes with %s", ErrNotToeplitz, describeHashFunc(b[rxfhHfunc]))
	}
	if b[rxfhInputXfrm] != 0 {
		return cfg, fmt.Errorf("%w: the NIC transforms the hash input (%s) before Toeplitz", ErrNotToeplitz, cfg.InputXfrm)
	}
	return cfg, nil
}

// hashFuncName names an ETH_RSS_HASH_* value as RSSConfig.HashFunc does.
func hashFuncName(h uint8) string {
	switch h {
	case ethRSSHashTop:
		return "toeplitz"
	case ethRSSHashXor:
		return "xor"
	case ethRSSHashCRC32:
		return "crc32"
	}
	return strconv.Itoa(int(h))
}

// describeHashFunc is hashFuncName for an error message.
func describeHashFunc(h uint8) string {
	if h == 0 {
		return "a hash function it does not name (hfunc 0)"
	}
	if name := hashFuncName(h); name != strconv.Itoa(int(h)) {
		return "the " + name + " hash function"
	}
	return fmt.Sprintf("hash function bits %#x", h)
}

// inputXfrmName names an RXH_XFRM_* value as RSSConfig.InputXfrm does.
func inputXfrmName(x uint8) string {
	switch x {
	case 0:
		return ""
	case rxhXfrmSymXor:
		return "sym-xor"
	case rxhXfrmSymOrXor:
		return "sym-or-xor"
	}
	return strconv.Itoa(int(x))
}

// rssErrno wraps a failed ETHTOOL_GRSSH ioctl on iface.
func rssErrno(iface string, err error) error {
	sys := os.NewSyscallError("ioctl ETHTOOL_GRSSH", err)
	switch {
	case errors.Is(err, unix.ENODEV):
		return fmt.Errorf("%w: %s: %w", ErrNoInterface, iface, sys)
	case errors.Is(err, unix.EOPNOTSUPP):
		return fmt.Errorf("%w: %s: %w", ErrNoRSS, iface, sys)
	}
	return wrapErrno("RSS of "+iface, sys)
}

// ifreqName returns iface as the NUL-terminated name of a struct ifreq.
func ifreqName(iface string) ([unix.IFNAMSIZ]byte, error) {
	var name [unix.IFNAMSIZ]byte
	if iface == "" || len(iface) >= unix.IFNAMSIZ {
		return name, fmt.Errorf("%w: %q: an interface name has 1 to %d bytes: %w", ErrNoInterface, iface, unix.IFNAMSIZ-1, unix.EINVAL)
	}
	for i := range len(iface) {
		if iface[i] == 0 || iface[i] == '/' {
			return name, fmt.Errorf("%w: %q: not an interface name: %w", ErrNoInterface, iface, unix.EINVAL)
		}
	}
	copy(name[:], iface)
	return name, nil
}

// ethtoolIoctl runs the ethtool command whose struct is buf (its first u32
// is the command) on the interface name; the kernel reads and writes buf.
func ethtoolIoctl(fd int, name [unix.IFNAMSIZ]byte, buf []byte) error {
	ifr := ifreqData{name: name, data: unsafe.Pointer(unsafe.SliceData(buf))}
	_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(&ifr)))
	runtime.KeepAlive(buf)
	if e != 0 {
		return e
	}
	return nil
}
