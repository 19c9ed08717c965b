package ndp

import (
	"errors"

	"github.com/xdpengine/engine/header"
)

// DADConfig holds Duplicate Address Detection's settings; zero fields take
// RFC 4862's (and Linux's) defaults.
type DADConfig struct {
	Transmits  int   // DupAddrDetectTransmits: probes per address (1)
	RetransNs  int64 // RetransTimer: between probes and after the last (1 s)
	MaxDelayNs int64 // random delay before the first probe (MAX_RTR_SOLICITATION_DELAY, 1 s); -1: none
	MaxAddrs   int   // addresses tentative at once (16)
	Rand       Rand  // nonces and delays; nil: math/rand/v2's global source
	// Result is called once per address when its detection ends: unique
	// true after the last probe's RetransTimer passed without a conflict
	// (the address may be assigned), false as soon as a duplicate is seen
	// (RFC 4862 5.4.5: the caller must not use it). It is called from
	// Tick, Solicitation or Advertisement.
	Result func(addr [16]byte, unique bool)
}

// Errors of DAD.
var (
	// ErrDADFull: MaxAddrs addresses are already tentative.
	ErrDADFull = errors.New("ndp: too many tentative addresses")
	// ErrDADRunning: the address is already tentative.
	ErrDADRunning = errors.New("ndp: address already tentative")
)

// DADStats counts DAD's events.
type DADStats struct {
	Probes     uint64 // solicitations asked for
	Looped     uint64 // our own probes seen again (same nonce, RFC 7527) and ignored
	Duplicates uint64 // addresses found duplicate
	Unique     uint64 // addresses found unique
}

type tentative struct {
	addr   [16]byte
	sent   int
	next   int64
	nonces [][6]byte
}

// DAD runs Duplicate Address Detection (RFC 4862 5.4) with RFC 7527's
// nonces for the interface's tentative addresses.
type DAD struct {
	cfg   DADConfig
	addrs []tentative
	Stats DADStats
}

// NewDAD returns a DAD with no tentative address.
func NewDAD(cfg DADConfig) *DAD {
	if cfg.Transmits <= 0 {
		cfg.Transmits = 1
	}
	if cfg.RetransNs <= 0 {
		cfg.RetransNs = 1e9
	}
	if cfg.MaxDelayNs == 0 {
		cfg.MaxDelayNs = 1e9
	}
	if cfg.MaxAddrs <= 0 {
		cfg.MaxAddrs = 16
	}
	if cfg.Rand == nil {
		cfg.Rand = globalRand{}
	}
	return &DAD{cfg: cfg, addrs: make([]tentative, 0, cfg.MaxAddrs)}
}

// Start makes addr tentative at now: its first probe goes out at the
// first Tick after a random delay up to MaxDelayNs. Before that Tick the
// caller joins the all-nodes group and addr's solicited-node group (RFC
// 4862 5.4.2), and it does not use addr until Result says unique.
func (d *DAD) Start(now int64, addr [16]byte) error {
	if d.Tentative(addr) {
		return ErrDADRunning
	}
	if len(d.addrs) >= d.cfg.MaxAddrs {
		return ErrDADFull
	}
	t := tentative{addr: addr, next: now, nonces: make([][6]byte, 0, d.cfg.Transmits)}
	if d.cfg.MaxDelayNs > 0 {
		t.next += d.cfg.Rand.Int64N(d.cfg.MaxDelayNs)
	}
	d.addrs = append(d.addrs, t)
	return nil
}

// Tentative reports whether addr is being checked.
func (d *DAD) Tentative(addr [16]byte) bool { return d.find(addr) >= 0 }

func (d *DAD) find(addr [16]byte) int {
	for i := range d.addrs {
		if d.addrs[i].addr == addr {
			return i
		}
	}
	return -1
}

// Stop abandons the detection of addr (the address was removed); Result
// is not called.
func (d *DAD) Stop(addr [16]byte) {
	if i := d.find(addr); i >= 0 {
		d.addrs = append(d.addrs[:i], d.addrs[i+1:]...)
	}
}

// Next returns the earliest time at which Tick has something to do, 0 when
// no address is tentative.
func (d *DAD) Next() int64 {
	var n int64
	for i := range d.addrs {
		if n == 0 || d.addrs[i].next < n {
			n = d.addrs[i].next
		}
	}
	return n
}

// Tick sends the probes due at now through probe (build it with
// PutProbe: from ::, to target's solicited-node group, hop limit 255) and
// ends the detections whose last probe's RetransTimer has passed.
func (d *DAD) Tick(now int64, probe func(target [16]byte, nonce [6]byte)) {
	for i := 0; i < len(d.addrs); {
		t := &d.addrs[i]
		if now < t.next {
			i++
			continue
		}
		if t.sent < d.cfg.Transmits {
			var nonce [6]byte
			v := d.cfg.Rand.Int64N(1 << 48)
			for k := range nonce {
				nonce[k] = byte(v >> (8 * k))
			}
			t.nonces = append(t.nonces, nonce)
			t.sent++
			t.next = now + d.cfg.RetransNs
			d.Stats.Probes++
			if probe != nil {
				probe(t.addr, nonce)
			}
			i++
			continue
		}
		d.end(i, true)
	}
}

func (d *DAD) end(i int, unique bool) {
	addr := d.addrs[i].addr
	d.addrs = append(d.addrs[:i], d.addrs[i+1:]...)
	if unique {
		d.Stats.Unique++
	} else {
		d.Stats.Duplicates++
	}
	if d.cfg.Result != nil {
		d.cfg.Result(addr, unique)
	}
}

// Solicitation handles a Neighbor Solicitation from :: for target (the
// Responder calls it) with its nonce option's value (nil: none). A probe
// carrying one of the nonces we sent for target is our own, looped back
// (RFC 7527 4.2), and is ignored; any other means another node is
// checking the same address: duplicate (RFC 4862 5.4.3). It reports
// whether target was found duplicate.
func (d *DAD) Solicitation(now int64, target [16]byte, nonce []byte) bool {
	i := d.find(target)
	if i < 0 {
		return false
	}
	if len(nonce) == 6 {
		for _, n := range d.addrs[i].nonces {
			if [6]byte(nonce) == n {
				d.Stats.Looped++
				return false
			}
		}
	}
	d.end(i, false)
	return true
}

// Advertisement handles a Neighbor Advertisement for target: when target
// is tentative, another node owns it: duplicate (RFC 4862 5.4.4). It
// reports whether target was found duplicate.
func (d *DAD) Advertisement(now int64, target [16]byte) bool {
	i := d.find(target)
	if i < 0 {
		return false
	}
	d.end(i, false)
	return true
}

// PutProbe writes a DAD probe for target, a Neighbor Solicitation without
// a source link-layer option and with nonce (RFC 7527), and returns its
// length (32). It goes from :: to header.SolicitedNodeMulticast(target)
// at header.MulticastMAC6 of that group, hop limit 255; the checksum is
// left zero for the caller to fill.
func PutProbe(b []byte, target [16]byte, nonce [6]byte) (int, error) {
	if len(b) < header.NDPNeighborSolicitationLen+header.NDPNonceOptionLen {
		return 0, ErrBufferTooSmall
	}
	n, _ := header.PutNeighborSolicitation(b, target, header.MAC{})
	k, _ := header.PutNDPNonceOption(b[n:], nonce)
	return n + k, nil
}
