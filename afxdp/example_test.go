package afxdp_test

import (
	"io"
	"log"
	"net/netip"

	"github.com/xdpengine/engine/afxdp"
)

// A receive loop on queue 0 of eth1 for the address 198.18.0.1: the
// program steers that address's traffic to the socket and leaves the rest
// to the kernel.
func Example() {
	prog, err := afxdp.AttachProgram("eth1", afxdp.ProgramConfig{
		Addrs: []netip.Addr{netip.MustParseAddr("198.18.0.1")},
	})
	if err != nil {
		log.Fatal(err) // e.g. errors.Is(err, afxdp.ErrPermission)
	}
	s, err := afxdp.Open("eth1", afxdp.Config{Queue: 0, Mode: afxdp.ModeAuto})
	if err != nil {
		log.Fatal(err)
	}
	defer afxdp.CloseOnSignal([]io.Closer{s, prog})()
	if err := prog.Register(s); err != nil {
		log.Fatal(err)
	}
	log.Printf("XDP %v mode, socket %s mode", prog.Mode(), s.BindMode())
	descs := make([]afxdp.Desc, 64)
	for {
		n := s.Receive(descs)
		if n == 0 {
			s.Wait(-1)
			continue
		}
		for _, d := range descs[:n] {
			_ = s.Frame(d) // the packet, in the UMEM
		}
		s.Release(descs[:n])
		s.Fill()
	}
}
