package syncookie

// Options are the SYN options a cookie carries in the timestamp.
type Options struct {
	// WScaleOK says the SYN had a window scale option; WScale is its shift
	// (clamped to 14, RFC 7323 2.3).
	WScaleOK bool
	WScale   uint8
	// SACKOK says the SYN had SACK-permitted.
	SACKOK bool
	// ECNOK says the SYN asked for ECN (ECE and CWR set, RFC 3168).
	ECNOK bool
}

const (
	tsBits     = 6
	tsMask     = 1<<tsBits - 1
	tsWScale   = 0x0f // bits 0-3: the shift, 15 for none
	tsSACK     = 1 << 4
	tsECN      = 1 << 5
	maxWScale  = 14
	noWScale   = 0x0f
	tsBackStep = 1 << tsBits
)

// MakeTS returns the TSval to send in the SYN-ACK of a cookie: tsNow (the
// sender's timestamp clock) with its low 6 bits replaced by opts, minus 64
// if that is later than tsNow. Use it only when the SYN carried timestamps.
func MakeTS(opts Options, tsNow uint32) uint32 {
	bits := uint32(noWScale)
	if opts.WScaleOK {
		bits = uint32(min(opts.WScale, maxWScale))
	}
	if opts.SACKOK {
		bits |= tsSACK
	}
	if opts.ECNOK {
		bits |= tsECN
	}
	ts := tsNow&^tsMask | bits
	if int32(ts-tsNow) > 0 {
		ts -= tsBackStep
	}
	return ts
}

// CheckTS reads the options back from the TSecr of the ACK that completes
// a cookie handshake (call it only when that ACK carries timestamps). ok is
// false when tsecr is later than tsNow, the sender's timestamp clock now:
// we never sent such a TSval.
func CheckTS(tsecr, tsNow uint32) (opts Options, ok bool) {
	if int32(tsNow-tsecr) < 0 {
		return Options{}, false
	}
	bits := tsecr & tsMask
	if w := bits & tsWScale; w != noWScale {
		opts.WScaleOK, opts.WScale = true, uint8(min(w, maxWScale))
	}
	opts.SACKOK = bits&tsSACK != 0
	opts.ECNOK = bits&tsECN != 0
	return opts, true
}
