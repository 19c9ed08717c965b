package afxdp

import (
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"github.com/xdpengine/engine/header"
	"github.com/xdpengine/engine/internal/testbed"
	"github.com/xdpengine/engine/internal/udpframe"
	"golang.org/x/sys/unix"
)

// TestTxChecksumOffload: a UMEM with transmit metadata puts every
// allocated frame's packet TxMetadataLen bytes in, and a copy-mode socket
// on it offloads checksums. The bed's ends finish every checksum
// (FullChecksums, on purpose: the kernel completes what the metadata
// asks on the engine's side, and the peer kernel verifies it), so the
// datagrams sent with only the pseudo-header's sum arrive, and one whose
// sum is wrong does not.
func TestTxChecksumOffload(t *testing.T) {
	e := newEngine(t, testbed.Config{FullChecksums: true}, Config{Mode: ModeCopy, UMEMConfig: UMEMConfig{TxMetadata: true}})
	s := e.socks[0]
	if !s.UMEM().TxMetadata() || !s.TxChecksumOffload() {
		t.Fatalf("UMEM transmit metadata %v, checksum offload %v: want both (Linux 6.11 or newer)", s.UMEM().TxMetadata(), s.TxChecksumOffload())
	}
	f, err := XskFeatures(e.bed.HostIndex)
	if err != nil || f&XskTxChecksum != 0 {
		t.Errorf("veth xsk features %#x, %v: want no error and no tx checksum (veth has no zero-copy)", f, err)
	}
	fd := peerUDP(t, e.bed, 6000)
	spec := udpframe.Spec{SrcMAC: e.bed.HostMAC, DstMAC: e.bed.PeerMAC,
		Src: e.bed.EngineAddr, Dst: e.bed.PeerAddr, SrcPort: 7000, DstPort: 6000}
	const n = 20
	addrs := make([]uint64, n+1)
	if got := s.Alloc(addrs); got != n+1 {
		t.Fatalf("Alloc = %d", got)
	}
	descs := make([]Desc, n+1)
	for i, a := range addrs {
		if off := a % uint64(s.UMEM().FrameSize()); off != TxMetadataLen {
			t.Fatalf("allocated address %#x is %d bytes into its frame, want %d", a, off, TxMetadataLen)
		}
		payload := fmt.Appendf(nil, "partial %02d", i)
		if i == n {
			payload = []byte("wrong sum")
		}
		l := spec.Put(s.FrameBuffer(a), payload)
		u := header.UDP(s.FrameBuffer(a)[14+20 : l])
		ph := header.PseudoHeaderChecksum(header.ProtocolUDP, spec.Src.As4(), spec.Dst.As4(), uint16(len(u)))
		if i == n {
			ph++
		}
		u.SetChecksum(ph)
		descs[i] = Desc{Addr: a, Len: uint32(l)}
		s.RequestTxChecksum(&descs[i], 14+20, 6)
		if start, off, ok := s.TxChecksumRequest(descs[i]); !ok || start != 34 || off != 6 || descs[i].Options != unix.XDP_TX_METADATA {
			t.Fatalf("request read back as %d, %d, %v, options %#x", start, off, ok, descs[i].Options)
		}
	}
	if got := s.Transmit(descs); got != n+1 {
		t.Fatalf("Transmit = %d", got)
	}
	seen := completeAndReceive(s, fd, n)
	time.Sleep(50 * time.Millisecond) // the wrong one, were it to come
	buf := make([]byte, 100)
	for {
		k, _, err := unix.Recvfrom(fd, buf, unix.MSG_DONTWAIT)
		if err != nil {
			break
		}
		seen[string(buf[:k])] = true
	}
	if len(seen) != n || seen["wrong sum"] {
		t.Fatalf("peer received %d datagrams (wrong sum among them: %v), want the %d right ones", len(seen), seen["wrong sum"], n)
	}
	if st, _ := s.Stats(); st.TxInvalidDescs != 0 {
		t.Fatalf("%d invalid tx descriptors", st.TxInvalidDescs)
	}
	// A frame sent without a request carries no stale one: in zero-copy
	// mode Transmit zeroes its metadata flags (the drivers read them
	// whatever the descriptor's options). veth has no zero-copy, so the
	// socket is given a zero-copy socket's setting.
	if s.clearMeta {
		t.Fatal("a copy-mode socket clears the metadata of every transmit")
	}
	s.clearMeta = true
	s.Alloc(addrs[:1])
	d := Desc{Addr: addrs[0], Len: uint32(spec.Put(s.FrameBuffer(addrs[0]), []byte("plain")))}
	s.RequestTxChecksum(&d, 34, 6)
	d.Options = 0
	s.Transmit([]Desc{d})
	if flags := binary.NativeEndian.Uint64(s.umem.mem[d.Addr-TxMetadataLen:]); flags != 0 {
		t.Fatalf("metadata flags %#x left on a frame sent without a request", flags)
	}
	completeAndReceive(s, fd, 1)
}

// TestNoTxMetadata: without UMEMConfig.TxMetadata packets start at their
// frame's start and nothing is offloaded.
func TestNoTxMetadata(t *testing.T) {
	e := newEngine(t, testbed.Config{}, Config{Mode: ModeCopy})
	s := e.socks[0]
	addrs := make([]uint64, 4)
	s.Alloc(addrs)
	defer func() {
		for _, a := range addrs {
			s.ReleaseAddr(a)
		}
	}()
	for _, a := range addrs {
		if a%uint64(s.UMEM().FrameSize()) != 0 {
			t.Fatalf("address %#x not at its frame's start", a)
		}
	}
	if s.UMEM().TxMetadata() || s.TxChecksumOffload() {
		t.Fatal("transmit metadata without asking")
	}
	if _, _, ok := s.TxChecksumRequest(Desc{Addr: addrs[0], Len: 60}); ok {
		t.Fatal("a checksum request read back where none was made")
	}
}
