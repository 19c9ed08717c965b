package pktgen

import (
	"bytes"
	"testing"
	"time"

	"github.com/xdpengine/engine/internal/testbed"
	"github.com/xdpengine/engine/internal/udpframe"
)

func TestSendReachesTheOtherEnd(t *testing.T) {
	bed := testbed.New(t, testbed.Config{})
	spec := udpframe.Spec{SrcMAC: bed.PeerMAC, DstMAC: bed.HostMAC, Src: bed.PeerAddr, Dst: bed.EngineAddr,
		SrcPort: 1, DstPort: 2}
	frame := make([]byte, spec.Len(18))
	spec.Put(frame, []byte("pktgen-test-frame!"))
	pc, err := testbed.ListenPacket(bed.HostIf)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	var sent uint64
	err = bed.Do(func() error {
		g, err := New(bed.PeerIf, [][]byte{frame}, 8)
		if err != nil {
			return err
		}
		defer g.Close()
		if _, err := g.Send(); err != nil {
			return err
		}
		sent = g.Sent()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if sent != 8 {
		t.Fatalf("sent %d, want 8", sent)
	}
	buf := make([]byte, 2048)
	got := 0
	for got < 8 {
		n, out, err := pc.Recv(buf, 2*time.Second)
		if err != nil {
			t.Fatalf("host received %d of 8: %v", got, err)
		}
		if !out && bytes.Equal(buf[:n], frame) {
			got++
		}
	}
}
