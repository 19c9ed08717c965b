package engine

import (
	"fmt"

	"github.com/xdpengine/engine/afxdp"
)

// Checksum policies: how workers check what they receive (RxChecksum) and
// who computes what they send (TxChecksum).

// RxChecksum is how workers check the UDP and TCP checksums of what they
// receive.
type RxChecksum int

const (
	// RxChecksumAuto trusts partial checksums on a virtual link (the
	// drivers afxdp.VirtualDriver lists: veth, tun, virtio_net, ...) and
	// verifies every checksum on any other. The default.
	RxChecksumAuto RxChecksum = iota
	// RxChecksumVerify verifies every checksum: a packet whose checksum
	// field holds only the pseudo-header sum is dropped as bad, as it
	// would be if it had crossed a wire that way.
	RxChecksumVerify
	// RxChecksumTrustVirtual accepts a UDP or TCP packet whose checksum
	// field holds the folded pseudo-header sum (what a Linux sender with
	// transmit checksum offload, the kernel's default, hands a veth peer:
	// CHECKSUM_PARTIAL), whatever the driver, as the kernel trusts such a
	// packet; a packet with any other wrong value is still dropped. Every
	// packet accepted that way is counted (WorkerStats.RxCsumPartial).
	RxChecksumTrustVirtual
)

func (r RxChecksum) String() string {
	switch r {
	case RxChecksumAuto:
		return "auto"
	case RxChecksumVerify:
		return "verify"
	case RxChecksumTrustVirtual:
		return "trust-virtual"
	}
	return fmt.Sprintf("RxChecksum(%d)", int(r))
}

// ParseRxChecksum parses "auto", "verify" or "trust-virtual".
func ParseRxChecksum(s string) (RxChecksum, error) {
	for _, r := range []RxChecksum{RxChecksumAuto, RxChecksumVerify, RxChecksumTrustVirtual} {
		if r.String() == s {
			return r, nil
		}
	}
	return 0, fmt.Errorf("engine: unknown rx checksum policy %q (want auto, verify or trust-virtual): %w", s, ErrConfig)
}

// TrustsPartialChecksums reports whether workers accept UDP and TCP packets
// whose checksum field holds only the pseudo-header sum (Config.RxChecksum
// applied to the interface's driver).
func (e *Engine) TrustsPartialChecksums() bool { return e.trustPartial }

// checksumPolicy applies Config.RxChecksum to the interface's driver.
func (e *Engine) checksumPolicy() {
	drv, err := afxdp.Driver(e.cfg.Interface)
	switch {
	case err == nil:
		e.driver = drv
	case e.cfg.RxChecksum == RxChecksumAuto:
		// Unknown driver: verify everything, the safe side.
		e.log.Warn("cannot read the interface's driver; verifying every checksum (set the rx checksum policy to override)",
			"interface", e.cfg.Interface, "err", err)
	}
	switch e.cfg.RxChecksum {
	case RxChecksumAuto:
		e.trustPartial = afxdp.VirtualDriver(e.driver)
	case RxChecksumTrustVirtual:
		e.trustPartial = true
	}
}

// TxChecksum is who computes the UDP and TCP checksums of what the
// workers send.
type TxChecksum int

const (
	// TxChecksumAuto leaves them to the transmit path where it is sure
	// to finish them (AF_XDP transmit metadata, Linux 6.11 and later): on
	// a veth in copy mode the kernel's, which hands the peer the packet as
	// its own stack would (CHECKSUM_PARTIAL: nothing computed, nothing
	// verified); in zero-copy mode the NIC's, where its driver reports the
	// tx-checksum feature. Elsewhere (copy mode on another driver, an MTU
	// within afxdp.TxMetadataLen bytes of the frame size, an older kernel)
	// the workers compute them. The default.
	TxChecksumAuto TxChecksum = iota
	// TxChecksumSoftware has the workers compute every checksum. A
	// capture on the peer's side of a virtual link then shows final
	// checksums, as it would on a wire.
	TxChecksumSoftware
)

func (t TxChecksum) String() string {
	switch t {
	case TxChecksumAuto:
		return "auto"
	case TxChecksumSoftware:
		return "software"
	}
	return fmt.Sprintf("TxChecksum(%d)", int(t))
}

// ParseTxChecksum parses "auto" or "software".
func ParseTxChecksum(s string) (TxChecksum, error) {
	for _, t := range []TxChecksum{TxChecksumAuto, TxChecksumSoftware} {
		if t.String() == s {
			return t, nil
		}
	}
	return 0, fmt.Errorf("engine: unknown tx checksum policy %q (want auto or software): %w", s, ErrConfig)
}

// txMetadata reports whether the UMEMs get room for transmit metadata:
// under TxChecksumAuto, where an MTU-sized frame still fits behind it (the
// metadata takes afxdp.TxMetadataLen bytes of each transmitted frame;
// with an MTU within that much of the frame size the workers compute
// the checksums).
func (c *Config) txMetadata() bool {
	return c.TxChecksum == TxChecksumAuto && 14+c.MTU+afxdp.TxMetadataLen <= c.FrameSize
}

// TxChecksumOffload reports whether the workers leave UDP and TCP
// checksums to the transmit path (Config.TxChecksum applied to what the
// kernel and the driver can do); false before Start.
func (e *Engine) TxChecksumOffload() bool {
	for _, w := range e.workers {
		if w.TxChecksumOffload() {
			return true
		}
	}
	return false
}
