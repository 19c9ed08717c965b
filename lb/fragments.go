package lb

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/dgryski/go-metro"

	"github.com/xdpengine/engine/stack/inet4"
)

// Fragments a DSR VIP forwards unreassembled (VIP.HashFragments, the
// file's fragments: hash3). Only the first fragment of a datagram carries
// its ports, so the backend is picked by what every fragment carries: a
// hash of source, destination and protocol (with client affinity, the
// source alone: the hash a whole packet of the client gets, so its
// fragmented and whole datagrams meet at one backend). Every fragment of a
// datagram reaches that backend, which reassembles it. A fragment is not
// tracked, so one flow's fragmented and whole datagrams may meet different
// backends unless the VIP hashes on the source.
//
// Fragments name no port, so the VIPs of one address and protocol must
// agree on the policy (SetConfig refuses a mix); their fragments follow
// the table of the one with the lowest port.

// fragmentVIPs fills s.frags and checks that the VIPs of each address and
// protocol agree on HashFragments.
func (s *state) fragmentVIPs() error {
	vips := make([]*vip, 0, len(s.vips))
	for _, v := range s.vips {
		vips = append(vips, v)
	}
	slices.SortFunc(vips, func(a, b *vip) int { return cmp.Compare(a.cfg.Port, b.cfg.Port) })
	seen := map[vipKey]*vip{}
	for _, v := range vips {
		k := vipKey{v.cfg.Addr.As4(), 0, v.cfg.Proto}
		if v.cfg.HashFragments && (v.cfg.Mode == NAT) {
			return fmt.Errorf("lb: VIP %s: hashed fragments need a DSR mode (nat rewrites whole datagrams, so it reassembles): %w", v.key, ErrConfig)
		}
		if first, ok := seen[k]; ok && first.cfg.HashFragments != v.cfg.HashFragments {
			return fmt.Errorf("lb: VIPs %s and %s: fragments carry no port, so the VIPs of one address and protocol must all hash them or all reassemble them: %w",
				first.key, v.key, ErrConfig)
		} else if !ok {
			seen[k] = v
			if v.cfg.HashFragments {
				s.frags[k] = v
			}
		}
	}
	return nil
}

// Fragment implements inet4.Forwarder: a fragment to a VIP that hashes its
// fragments goes to its backend as it is; any other is reassembled.
func (f *forwarder) Fragment(p *inet4.Packet) inet4.Verdict {
	st := f.b.cur.Load()
	if st == nil || len(st.frags) == 0 {
		return inet4.Pass
	}
	ip := p.IP
	src, dst := ip.Src4(), ip.Dst4()
	v := st.frags[vipKey{dst, 0, ip.Protocol()}]
	if v == nil {
		return inet4.Pass
	}
	h := fragmentHash(v, src, dst, ip.Protocol(), f.b.p.Seed)
	i := v.table.Lookup(h)
	if i < 0 {
		return f.drop(v, DropNoBackend)
	}
	be := v.backends[i]
	n := uint64(len(ip))
	v.stats[f.queue].add(1, n)
	be.stats[f.queue].add(1, n)
	if overhead(v.cfg.Mode) > 0 {
		return f.tunnel(p, v, be, entropyPort(h))
	}
	return f.send(p, be.addr, true)
}

// fragmentHash is the Maglev input of a fragment: source, destination and
// protocol, or the source alone for a VIP with client affinity (what
// flowHash gives its whole packets).
func fragmentHash(v *vip, src, dst [4]byte, proto uint8, seed uint64) uint64 {
	if v.cfg.SourceHash {
		return flowHash(v, src, dst, 0, 0, proto, seed)
	}
	var b [9]byte
	copy(b[0:4], src[:])
	copy(b[4:8], dst[:])
	b[8] = proto
	return metro.Hash64(b[:], seed)
}
