package main

import (
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/xdpengine/engine/engine"
)

// echoService answers every datagram on one port with the same bytes, to
// the sender (RFC 862 over UDP), or, as a discard service (RFC 863), reads
// and drops them. One goroutine per service reads into one
// 65535-byte buffer allocated at start, so the service allocates nothing
// per datagram.
type echoService struct {
	spec echoSpec
	conn *engine.UDPConn
	log  *slog.Logger

	// Written only by the service goroutine with Add; read with Load by
	// the metrics gatherer and the final log. Nothing else is ordered by
	// them.
	datagrams, bytes        atomic.Uint64
	readErrors, writeErrors atomic.Uint64
}

func newEchoService(eng *engine.Engine, spec echoSpec, log *slog.Logger) (*echoService, error) {
	// "udp" as Go's net takes it: ":PORT" is one dual-stack socket on
	// [::]:PORT when the engine has IPv6 addresses (IPv4 peers read as
	// ::ffff:a.b.c.d and are answered over IPv4), 0.0.0.0:PORT otherwise;
	// a given address makes a socket of its family.
	c, err := eng.ListenUDP("udp", spec.listenAddr(), engine.SocketOptions{})
	if err != nil {
		return nil, err
	}
	// IP_PKTINFO and IPV6_PKTINFO: a wildcard service answers from the
	// address each request was sent to, not from the engine's first
	// address.
	c.SetControlMessage(engine.FlagDst, true)
	return &echoService{spec: spec, conn: c, log: log}, nil
}

// run serves until the socket is closed (by Engine.Close).
func (s *echoService) run(wg *sync.WaitGroup) {
	defer wg.Done()
	buf := make([]byte, 65535)
	failures := 0
	for {
		n, cm, from, err := s.conn.ReadMsg(buf)
		if err == nil && s.spec.Kind == "discard" {
			s.datagrams.Add(1)
			s.bytes.Add(uint64(n))
			continue
		}
		if err == nil {
			if _, err = s.conn.WriteMsg(buf[:n], &engine.ControlMessage{Src: cm.Local}, from); err == nil {
				s.datagrams.Add(1)
				s.bytes.Add(uint64(n))
				failures = 0
				continue
			}
			if !errors.Is(err, net.ErrClosed) {
				s.writeErrors.Add(1)
			}
		} else if !errors.Is(err, net.ErrClosed) {
			s.readErrors.Add(1)
		}
		if errors.Is(err, net.ErrClosed) {
			return
		}
		// An error the stack reports once (an ICMP error for an earlier
		// reply): count it and go on, but never spin on an error that
		// repeats.
		failures++
		if failures == 1 {
			s.log.Debug("echo", "service", s.spec.String(), "err", err)
		}
		if failures >= 8 {
			time.Sleep(time.Millisecond)
		}
	}
}
