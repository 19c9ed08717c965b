package engine_test

import (
	"bytes"
	"context"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/xdpengine/engine/engine"
	"github.com/xdpengine/engine/header"
	"github.com/xdpengine/engine/internal/enginetest"
	"github.com/xdpengine/engine/internal/testbed"
	"github.com/xdpengine/engine/internal/udpframe"
)

// TestPartialChecksumsFromDefaultPeer is what a new user does first: the
// engine on one end of a veth, a namespace with the kernel's default
// offloads on the other. The peer kernel sends UDP and TCP with partial
// checksums; Python and Go UDP, Go TCP and curl all get their answers, and
// the stats say how many packets were accepted that way. Before the
// receive checksum policy existed every one of them was dropped as bad.
func TestPartialChecksumsFromDefaultPeer(t *testing.T) {
	enginetest.NeedTool(t, "python3")
	enginetest.NeedTool(t, "curl")
	bed := testbed.New(t, testbed.Config{})
	eng := enginetest.Start(t, bed, engine.Config{BindService: true})
	if eng.Driver() != "veth" || !eng.TrustsPartialChecksums() {
		t.Fatalf("driver %q, trusts partial checksums %v: want veth, true", eng.Driver(), eng.TrustsPartialChecksums())
	}
	enginetest.EchoUDP(t, eng, ":7")
	enginetest.EchoTCP(t, eng, ":7", engine.TCPListenConfig{})
	enginetest.PeerResolve(t, bed)

	// Python UDP.
	py := `import socket,sys
s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.settimeout(5)
s.sendto(b"hello from python",(sys.argv[1],7)); print(s.recvfrom(100)[0].decode())`
	out, err := bed.Command(context.Background(), "python3", "-c", py, bed.EngineAddr.String()).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "hello from python" {
		t.Fatalf("python UDP echo: %v\n%s", err, out)
	}
	// Go UDP.
	if got := enginetest.Exchange(t, enginetest.PeerUDP(t, bed, 7), []byte("hello from go")); string(got) != "hello from go" {
		t.Fatalf("go UDP echo: %q", got)
	}
	// Go TCP.
	c, err := enginetest.PeerDialTCP(t, bed, enginetest.EngineAddr(bed, 7))
	if err != nil {
		t.Fatalf("go TCP connect: %v", err)
	}
	enginetest.RoundTrips(t, c)
	c.Close()
	// curl against net/http on the engine.
	ln, err := eng.Listen("tcp4", ":80")
	if err != nil {
		t.Fatal(err)
	}
	body := bytes.Repeat([]byte("partial "), 50000)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(body) })}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	out, err = bed.Command(context.Background(), "curl", "-sS", "--max-time", "10", "http://"+enginetest.EngineAddr(bed, 80).String()+"/").Output()
	if err != nil || !bytes.Equal(out, body) {
		t.Fatalf("curl: %d bytes of %d, %v", len(out), len(body), err)
	}

	st := eng.Stats().Total
	t.Logf("rx partial checksum %d, bad checksum %d", st.RxCsumPartial, st.DropChecksum)
	if st.RxCsumPartial == 0 || st.DropChecksum != 0 {
		t.Fatalf("rx partial checksum %d, bad checksum %d: want some, none", st.RxCsumPartial, st.DropChecksum)
	}
}

// TestChecksumVerifyPolicy: with RxChecksumVerify the same default peer's
// UDP is dropped as bad (what users saw before the policy existed), and a
// peer with transmit checksum offload off, whose checksums are final, is
// served with nothing counted as partial.
func TestChecksumVerifyPolicy(t *testing.T) {
	t.Run("default offloads", func(t *testing.T) {
		bed := testbed.New(t, testbed.Config{})
		eng := enginetest.Start(t, bed, engine.Config{BindService: true, RxChecksum: engine.RxChecksumVerify})
		if eng.TrustsPartialChecksums() {
			t.Fatal("verify policy trusts partial checksums")
		}
		enginetest.EchoUDP(t, eng, ":7")
		enginetest.PeerResolve(t, bed)
		c := enginetest.PeerUDP(t, bed, 7)
		if _, err := c.Write([]byte("dropped")); err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		if n, err := c.Read(make([]byte, 64)); err == nil {
			t.Fatalf("a partial checksum was answered (%d bytes) under verify", n)
		}
		st := eng.Stats().Total
		if st.DropChecksum == 0 || st.RxCsumPartial != 0 {
			t.Fatalf("bad checksum %d, partial %d: want some, none", st.DropChecksum, st.RxCsumPartial)
		}
	})
	t.Run("full checksums", func(t *testing.T) {
		// Offload off on purpose: this case is about final checksums.
		bed := testbed.New(t, testbed.Config{FullChecksums: true})
		eng := enginetest.Start(t, bed, engine.Config{BindService: true, RxChecksum: engine.RxChecksumVerify})
		enginetest.EchoUDP(t, eng, ":7")
		enginetest.EchoTCP(t, eng, ":7", engine.TCPListenConfig{})
		enginetest.PeerResolve(t, bed)
		if got := enginetest.Exchange(t, enginetest.PeerUDP(t, bed, 7), []byte("final")); string(got) != "final" {
			t.Fatalf("UDP echo %q", got)
		}
		c, err := enginetest.PeerDialTCP(t, bed, enginetest.EngineAddr(bed, 7))
		if err != nil {
			t.Fatal(err)
		}
		enginetest.RoundTrips(t, c)
		st := eng.Stats().Total
		if st.DropChecksum != 0 || st.RxCsumPartial != 0 {
			t.Fatalf("bad checksum %d, partial %d: want none, none", st.DropChecksum, st.RxCsumPartial)
		}
	})
}

// TestTrustedLinkStillDropsCorruption: trusting partial checksums accepts
// exactly the pseudo-header sum; any other wrong value is still dropped.
// Frames are forged in the peer namespace with AF_PACKET.
func TestTrustedLinkStillDropsCorruption(t *testing.T) {
	bed := testbed.New(t, testbed.Config{})
	eng := enginetest.Start(t, bed, engine.Config{BindService: true})
	var got []string
	seen := make(chan string, 8)
	ec, err := eng.ListenUDP("udp4", ":9", engine.SocketOptions{})
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		buf := make([]byte, 256)
		for {
			n, _, err := ec.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			seen <- string(buf[:n])
		}
	}()
	var pc *testbed.PacketConn
	if err := bed.Do(func() (err error) { pc, err = testbed.ListenPacket(bed.PeerIf); return err }); err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	spec := udpframe.Spec{SrcMAC: bed.PeerMAC, DstMAC: bed.HostMAC, Src: bed.PeerAddr, Dst: bed.EngineAddr, SrcPort: 4000, DstPort: 9}
	send := func(payload string, fix func(u header.UDP, src, dst [4]byte)) {
		b := make([]byte, spec.Len(len(payload)))
		n := spec.Put(b, []byte(payload))
		u := header.UDP(b[14+20 : n])
		fix(u, bed.PeerAddr.As4(), bed.EngineAddr.As4())
		if err := pc.Send(b[:n]); err != nil {
			t.Fatal(err)
		}
	}
	send("full", func(u header.UDP, s, d [4]byte) { u.UpdateChecksum(s, d) })
	send("partial", func(u header.UDP, s, d [4]byte) {
		u.SetChecksum(header.PseudoHeaderChecksum(header.ProtocolUDP, s, d, uint16(len(u))))
	})
	send("corrupt", func(u header.UDP, s, d [4]byte) { u.UpdateChecksum(s, d); u.SetChecksum(u.Checksum() ^ 0x0101) })
	send("corrupt-partial", func(u header.UDP, s, d [4]byte) {
		u.SetChecksum(header.PseudoHeaderChecksum(header.ProtocolUDP, s, d, uint16(len(u))) + 1)
	})
	send("last", func(u header.UDP, s, d [4]byte) { u.UpdateChecksum(s, d) })
	deadline := time.After(5 * time.Second)
	for len(got) == 0 || got[len(got)-1] != "last" {
		select {
		case m := <-seen:
			got = append(got, m)
		case <-deadline:
			t.Fatalf("received %q, never \"last\"", got)
		}
	}
	if strings.Join(got, " ") != "full partial last" {
		t.Fatalf("received %q: want full, partial, last", got)
	}
	st := eng.Stats().Total
	if st.DropChecksum != 2 || st.RxCsumPartial != 1 {
		t.Fatalf("bad checksum %d, partial %d: want 2, 1", st.DropChecksum, st.RxCsumPartial)
	}
}

// TestRxChecksumPolicyParse covers the policy names and their errors.
func TestRxChecksumPolicyParse(t *testing.T) {
	for _, p := range []engine.RxChecksum{engine.RxChecksumAuto, engine.RxChecksumVerify, engine.RxChecksumTrustVirtual} {
		got, err := engine.ParseRxChecksum(p.String())
		if err != nil || got != p {
			t.Errorf("ParseRxChecksum(%q) = %v, %v", p, got, err)
		}
	}
	if _, err := engine.ParseRxChecksum("trust"); err == nil || !strings.Contains(err.Error(), "want auto, verify or trust-virtual") {
		t.Errorf("ParseRxChecksum(trust): %v", err)
	}
	cfg := engine.Config{Interface: "lo", Addrs: []netip.Prefix{netip.MustParsePrefix("198.18.0.1/24")}, RxChecksum: 7}
	if _, err := engine.New(cfg); err == nil || !strings.Contains(err.Error(), "rx checksum policy") {
		t.Errorf("New with policy 7: %v", err)
	}
}
