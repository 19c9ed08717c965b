package igmp

import (
	"net/netip"
	"testing"

	"github.com/xdpengine/engine/header"
)

// FuzzInput feeds arbitrary IGMP messages to a host with memberships in
// every mode: nothing panics, and everything it sends parses.
func FuzzInput(f *testing.F) {
	f.Add(v3Query(f, "", 100, 2), uint8(0))
	f.Add(v3Query(f, "232.2.2.2", 10, 3, "10.0.0.1", "10.0.0.9"), uint8(1))
	f.Add(oldMsg(f, header.IGMPMembershipQuery, 0, ""), uint8(0))
	f.Add(oldMsg(f, header.IGMPMembershipQuery, 50, "239.1.1.1"), uint8(2))
	f.Add(oldMsg(f, header.IGMPv2MembershipReport, 0, "239.1.1.1"), uint8(2))
	dsts := []string{"224.0.0.1", "232.2.2.2", "239.1.1.1", "224.0.0.22"}
	f.Fuzz(func(t *testing.T, igmp []byte, dst uint8) {
		b := newBed(t, Config{MTU: 200})
		s := b.h.NewSocket()
		b.must(b.h.Join(b.now, s, g1))
		b.must(b.h.BlockSource(b.now, s, g1, s3))
		b.must(b.h.JoinSource(b.now, s, g2, s1))
		b.must(b.h.Join(b.now, s, netip.MustParseAddr("224.0.0.251")))
		b.poll()
		if len(igmp) >= 8 && dst&0x80 == 0 { // mostly valid checksums, to get past them
			igmp = append([]byte(nil), igmp...)
			header.IGMP(igmp).UpdateChecksum()
		}
		b.h.Input(b.now, b.packet("198.18.7.9", dsts[int(dst)%len(dsts)], igmp))
		b.run(b.now + 3200*sec) // capture parses every frame
		b.must(b.h.Leave(b.now, s, g1))
		b.run(b.now + 3200*sec)
		if b.h.Next() != 0 {
			t.Fatalf("still due at %d", b.h.Next())
		}
	})
}
