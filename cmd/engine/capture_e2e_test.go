package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/gopacket/pcapgo"

	"github.com/xdpengine/engine/internal/ctl"
	"github.com/xdpengine/engine/internal/enginetest"
	"github.com/xdpengine/engine/internal/testbed"
)

// capFrame is one frame of a capture file: its interface name (pcapng) and
// bytes in hex.
type capFrame struct{ intf, hex string }

func readPcapng(t *testing.T, r io.Reader) []capFrame {
	t.Helper()
	ng, err := pcapgo.NewNgReader(r, pcapgo.DefaultNgReaderOptions)
	if err != nil {
		t.Fatalf("engine capture output is not pcapng: %v", err)
	}
	var out []capFrame
	for {
		data, ci, err := ng.ReadPacketData()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("read pcapng: %v", err)
		}
		intf, _ := ng.Interface(ci.InterfaceIndex)
		out = append(out, capFrame{intf.Name, hex.EncodeToString(data)})
	}
}

// startCapture runs engine capture with args; it is interrupted (SIGINT) at
// cleanup if still running.
func startCapture(t *testing.T, stdout io.Writer, args ...string) (*exec.Cmd, *syncBuffer) {
	t.Helper()
	cmd := exec.Command(engineBinary(t), append([]string{"capture"}, args...)...)
	stderr := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Signal(syscall.SIGINT)
			cmd.Wait()
		}
	})
	return cmd, stderr
}

func waitExit(t *testing.T, cmd *exec.Cmd, stderr *syncBuffer) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("%s: %v\n%s", cmd.Args, err, stderr.String())
		}
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("%s did not end\n%s", cmd.Args, stderr.String())
	}
}

// waitCaptures waits until engine serve logged n captures started.
func waitCaptures(t *testing.T, srv *serveChild, n int) {
	t.Helper()
	enginetest.WaitFor(t, "the capture to start", func() bool { return strings.Count(srv.stderr.String(), "capture started") >= n })
}

var summaryRE = regexp.MustCompile(`(\d+) frames captured, (\d+) lost to overruns`)

func summary(t *testing.T, stderr string) (frames, overruns int) {
	t.Helper()
	m := summaryRE.FindStringSubmatch(stderr)
	if m == nil {
		t.Fatalf("no summary in: %s", stderr)
	}
	f, _ := strconv.Atoi(m[1])
	o, _ := strconv.Atoi(m[2])
	return f, o
}

// TestCaptureMatchesPeer captures UDP and TCP echo traffic with engine
// capture and with tcpdump on the peer (default offloads: partial
// checksums), and checks that both saw the same frames, byte for byte; then
// streams into tcpdump -r -, a BPF filter from tcpdump -ddd, and overruns
// with a reader that does not read.
func TestCaptureMatchesPeer(t *testing.T) {
	enginetest.NeedTool(t, "tcpdump")
	bed := testbed.New(t, testbed.Config{})
	sock := ctl.SocketPath(bed.HostIf)
	srv := startServe(t, sock, "-i", bed.HostIf, "--addr", netip.PrefixFrom(bed.EngineAddr, 24).String(),
		"--echo", "udp:7", "--echo", "tcp:7", "--queues", "1")
	srv.waitControl(t, sock)
	enginetest.PeerResolve(t, bed)
	dir := t.TempDir()
	to := netip.AddrPortFrom(bed.EngineAddr, 7)
	uc := enginetest.PeerDialUDP(t, bed, to)

	// Both captures, then the traffic.
	peerFile, engFile := filepath.Join(dir, "peer.pcap"), filepath.Join(dir, "engine.pcapng")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// -B 16384: the reference must see every frame; with its default 2 MiB
	// buffer, a CI run under -race once had the peer's tcpdump drop 7 of 72
	// frames ("dropped by kernel") while the engine captured them all.
	td := bed.Command(ctx, "tcpdump", "-Z", "root", "-i", bed.PeerIf, "-B", "16384", "-n", "-U", "--immediate-mode", "-w", peerFile, "port 7")
	tdErr := &syncBuffer{}
	td.Stderr = tdErr
	if err := td.Start(); err != nil {
		t.Fatal(err)
	}
	enginetest.WaitFor(t, "tcpdump on the peer", func() bool { return strings.Contains(tdErr.String(), "listening on") })
	capCmd, capErr := startCapture(t, nil, "--ctl", sock, "-w", engFile, "--filter", "port 7")
	enginetest.WaitFor(t, "the capture's header", func() bool { st, err := os.Stat(engFile); return err == nil && st.Size() > 0 })

	for i := range 20 {
		echoOnce(t, uc, bytes.Repeat([]byte{byte('a' + i)}, 10+70*i))
	}
	tc, err := enginetest.PeerDialTCP(t, bed, to)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		msg := bytes.Repeat([]byte{byte('A' + i)}, 100+500*i)
		tc.Write(msg)
		got := make([]byte, len(msg))
		tc.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadFull(tc, got); err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("tcp echo %d: %v", i, err)
		}
	}
	tc.Close()
	time.Sleep(500 * time.Millisecond) // the FIN exchange and the last ACK
	capCmd.Process.Signal(syscall.SIGINT)
	waitExit(t, capCmd, capErr)
	td.Process.Signal(syscall.SIGINT)
	td.Wait()
	if st, err := os.Stat(peerFile); err != nil || st.Size() <= 24 {
		t.Fatalf("the peer's tcpdump wrote nothing (%v)\n%s", err, tdErr.String())
	}

	f, err := os.Open(engFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	eng := readPcapng(t, f)
	pf, err := os.Open(peerFile)
	if err != nil {
		t.Fatal(err)
	}
	defer pf.Close()
	pr, err := pcapgo.NewReader(pf)
	if err != nil {
		t.Fatalf("peer's tcpdump file: %v", err)
	}
	var peer, engHex []string
	for {
		data, _, err := pr.ReadPacketData()
		if err != nil {
			break
		}
		peer = append(peer, hex.EncodeToString(data))
	}
	dirs := map[string]int{}
	for _, fr := range eng {
		engHex = append(engHex, fr.hex)
		dirs[fr.intf]++
	}
	slices.Sort(peer)
	slices.Sort(engHex)
	if !slices.Equal(peer, engHex) {
		t.Errorf("the engine captured %d frames, the peer's tcpdump %d; they differ\ntcpdump: %s", len(engHex), len(peer), tdErr.String())
		for i := range max(len(peer), len(engHex)) {
			var p, e string
			if i < len(peer) {
				p = peer[i]
			}
			if i < len(engHex) {
				e = engHex[i]
			}
			if p != e {
				t.Logf("first difference at %d:\npeer   %s\nengine %s", i, p, e)
				break
			}
		}
	}
	if dirs["q0-rx"] < 25 || dirs["q0-tx"] < 25 || len(dirs) != 2 {
		t.Errorf("frames per interface %v, want q0-rx and q0-tx, 25 or more each", dirs)
	}
	if fr, o := summary(t, capErr.String()); fr != len(eng) || o != 0 {
		t.Errorf("summary: %d frames, %d overruns; the file has %d frames", fr, o, len(eng))
	}

	t.Run("stream into tcpdump", func(t *testing.T) {
		started := strings.Count(srv.stderr.String(), "capture started")
		var out bytes.Buffer
		sh := exec.Command("sh", "-c", engineBinary(t)+` capture --ctl "$1" -w - -c 4 --filter 'udp port 7' | tcpdump -n -r -`, "sh", sock)
		stderr := &syncBuffer{}
		sh.Stdout, sh.Stderr = &out, stderr
		if err := sh.Start(); err != nil {
			t.Fatal(err)
		}
		// The capture is up once the engine refuses a second one.
		waitCaptures(t, srv, started+1)
		echoOnce(t, uc, []byte("one"))
		echoOnce(t, uc, []byte("two"))
		waitExit(t, sh, stderr)
		if n := strings.Count(out.String(), "UDP, length 3"); n != 4 {
			t.Errorf("tcpdump -r - printed %d UDP frames, want 4:\n%s\n%s", n, out.String(), stderr.String())
		}
	})

	t.Run("bpf from tcpdump -ddd", func(t *testing.T) {
		ddd, err := exec.Command("tcpdump", "-ddd", "-y", "EN10MB", "-i", "lo", "udp and dst port 7 and udp[8:4] = 0x62706621").Output()
		if err != nil {
			t.Fatalf("tcpdump -ddd: %v", err)
		}
		file := filepath.Join(dir, "bpf.pcapng")
		cmd, stderr := startCapture(t, nil, "--ctl", sock, "-w", file, "-c", "3", "--filter-ddd", string(ddd))
		enginetest.WaitFor(t, "the capture's header", func() bool { st, err := os.Stat(file); return err == nil && st.Size() > 0 })
		for range 3 {
			echoOnce(t, uc, []byte("other"))
			echoOnce(t, uc, []byte("bpf!"))
		}
		waitExit(t, cmd, stderr)
		b, _ := os.ReadFile(file)
		got := readPcapng(t, bytes.NewReader(b))
		if len(got) != 3 {
			t.Fatalf("captured %d frames, want 3", len(got))
		}
		for _, fr := range got {
			if fr.intf != "q0-rx" || !strings.HasSuffix(fr.hex, hex.EncodeToString([]byte("bpf!"))) {
				t.Errorf("captured %s %s, want the datagrams bpf! to port 7", fr.intf, fr.hex)
			}
		}
	})

	t.Run("overruns", func(t *testing.T) {
		started := strings.Count(srv.stderr.String(), "capture started")
		pr, pw, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		defer pr.Close()
		cmd, stderr := startCapture(t, pw, "--ctl", sock, "-w", "-", "--ring", "4", "--filter", "udp port 7")
		pw.Close()
		waitCaptures(t, srv, started+1)
		// Nobody reads the pipe: the stream stalls, the rings fill.
		const echoes = 400
		msg := bytes.Repeat([]byte("z"), 1400)
		for range echoes {
			echoOnce(t, uc, msg)
		}
		cmd.Process.Signal(syscall.SIGINT)
		b, err := io.ReadAll(pr)
		if err != nil {
			t.Fatal(err)
		}
		waitExit(t, cmd, stderr)
		got := readPcapng(t, bytes.NewReader(b))
		frames, overruns := summary(t, stderr.String())
		if overruns == 0 || frames != len(got) || frames+overruns != 2*echoes {
			t.Errorf("%d frames in the file, summary %d frames + %d overruns; want overruns and a sum of %d",
				len(got), frames, overruns, 2*echoes)
		}
	})
}
