package engine_test

import (
	"bytes"
	"context"
	"errors"
	"syscall"
	"testing"
	"time"

	"github.com/xdpengine/engine/engine"
	"github.com/xdpengine/engine/internal/enginetest"
	"github.com/xdpengine/engine/internal/testbed"
)

func TestDemoExchanges(t *testing.T) {
	bed := testbed.New(t, testbed.Config{})
	eng := enginetest.Start(t, bed, engine.Config{BindService: true})
	enginetest.EchoUDP(t, eng, ":7")

	out, err := bed.Command(context.Background(), "ping", "-c", "2", "-W", "2", bed.EngineAddr.String()).CombinedOutput()
	if err != nil {
		t.Fatalf("ping the engine: %v\n%s", err, out)
	}
	c := enginetest.PeerUDP(t, bed, 7)
	t.Cleanup(func() { t.Logf("stats: %+v", eng.Stats().Total) })
	if got := enginetest.Exchange(t, c, []byte("hello engine")); string(got) != "hello engine" {
		t.Errorf("echo: got %q", got)
	}
	big := bytes.Repeat([]byte("0123456789"), 6000)
	if got := enginetest.Exchange(t, c, big); !bytes.Equal(got, big) {
		t.Errorf("60000-byte echo: got %d bytes, equal=%v", len(got), bytes.Equal(got, big))
	}
	closed := enginetest.PeerUDP(t, bed, 9)
	closed.Write([]byte("anyone?"))
	closed.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := closed.Read(make([]byte, 16)); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("closed port: got %v, want ECONNREFUSED", err)
	}
	st := eng.Stats()
	t.Logf("rx %d tx %d reasm ok %d frag creates %d noSocket %d", st.Total.RxPackets, st.Total.TxPackets,
		st.Total.Reasm.ReasmOKs, st.Total.Frag.FragCreates, st.Total.DropNoSocket)
}
