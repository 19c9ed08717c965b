package engine_test

import (
	"errors"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/xdpengine/engine/engine"
	"github.com/xdpengine/engine/internal/enginetest"
	"github.com/xdpengine/engine/internal/testbed"
	"github.com/xdpengine/engine/stack/socktab"
)

// TestTCPSomaxconn: Config.TCPSomaxconn caps a listener's backlog as
// net.core.somaxconn does (listed as the listener's Send-Q, as ss -l shows
// it: the backlog of every worker), a listener that asks for no backlog
// gets it, and handshakes beyond a full accept queue are counted as
// ListenOverflows.
func TestTCPSomaxconn(t *testing.T) {
	const somaxconn = 4
	bed := testbed.New(t, testbed.Config{})
	eng := enginetest.Start(t, bed, engine.Config{TCPSomaxconn: somaxconn})
	if eng.TCPSomaxconn() != somaxconn {
		t.Fatalf("TCPSomaxconn() = %d, want %d", eng.TCPSomaxconn(), somaxconn)
	}
	queues := len(eng.Stats().Workers)
	for _, tc := range []struct {
		port          uint16
		backlog, want int
	}{
		{7801, 100000, somaxconn}, // capped
		{7802, 0, somaxconn},      // none asked: somaxconn, like listen(fd, -1)
		{7803, -1, somaxconn},
		{7804, 2, 2}, // below the cap: as asked
	} {
		if _, err := eng.ListenTCP("tcp4", netip.AddrPortFrom(netip.IPv4Unspecified(), tc.port).String(),
			engine.TCPListenConfig{Backlog: tc.backlog}); err != nil {
			t.Fatal(err)
		}
		if got := listenerSendQ(eng, tc.port); got != uint64(queues*tc.want) {
			t.Errorf("backlog %d: Send-Q %d, want %d (%d a worker, %d workers)", tc.backlog, got, queues*tc.want, tc.want, queues)
		}
	}
	// Nobody accepts on 7801: past the accept queues, handshakes overflow.
	enginetest.PeerResolve(t, bed)
	var wg sync.WaitGroup
	for range 4 * queues * somaxconn {
		wg.Add(1)
		go func() {
			defer wg.Done()
			bed.Do(func() error {
				c, err := net.DialTimeout("tcp4", enginetest.EngineAddr(bed, 7801).String(), 2*time.Second)
				if err == nil {
					t.Cleanup(func() { c.Close() })
				}
				return nil
			})
		}()
	}
	wg.Wait()
	enginetest.WaitFor(t, "listen overflows counted", func() bool { return eng.Stats().Total.TCP.ListenOverflows > 0 })
	if q := listenerRecvQ(eng, 7801); q > uint64(queues*somaxconn) {
		t.Errorf("accept queue %d above the backlog %d", q, queues*somaxconn)
	}
	bad := enginetest.ConfigFor(bed, engine.Config{TCPSomaxconn: engine.MaxTCPSomaxconn + 1})
	if _, err := engine.New(bad); !errors.Is(err, engine.ErrConfig) {
		t.Errorf("TCPSomaxconn above MaxTCPSomaxconn: %v, want ErrConfig", err)
	}
}

func listenerEntry(eng *engine.Engine, port uint16) socktab.Entry {
	for _, e := range eng.Sockets(socktab.TCP) {
		if e.State == socktab.StateListen && e.Local.Port() == port {
			return e
		}
	}
	return socktab.Entry{}
}

func listenerSendQ(eng *engine.Engine, port uint16) uint64 { return listenerEntry(eng, port).SendQ }
func listenerRecvQ(eng *engine.Engine, port uint16) uint64 { return listenerEntry(eng, port).RecvQ }
