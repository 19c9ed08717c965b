package main

import (
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml"

	"github.com/xdpengine/engine/bench/pacer"
	"github.com/xdpengine/engine/bench/stream"
	"github.com/xdpengine/engine/bench/xdpgen"
	"github.com/xdpengine/engine/header"
)

// benchStreamsHelp is the --streams file's description in bench udp's
// synopsis.
const benchStreamsHelp = `--streams FILE sends several streams at once, each with its own template,
rate and field variation, instead of the one UDP stream the other flags
describe (--size, --flows, --src-port, --rate and --rate-bps then do not
apply, nor --compare). A YAML file:

  streams:
    - template: udp          # udp, tcp-syn, tcp-ack, icmp-echo or replay
      rate: 50000            # frames per second (0 or absent: as fast as possible)
      src: 198.18.0.1-198.18.0.40:random   # ADDR or FIRST-LAST, :inc (default) or :random
      src_port: 10000-10999  # the same for ports (udp, tcp-*); default 10000
      dst_port: 7            # default --to's port; dst: default --to's address
      size: imix             # as --size
      vlan: 10-20            # 802.1Q ids (tagged frames come back to the host, not measured)
      ttl: 64
      tos: 0
    - template: icmp-echo
      rate_bps: 100e6        # bits per second on the wire (FCS, preamble and gap counted);
                             # rate_bps_l2: the frames' bits only
    - template: replay
      pcap: trace.pcapng     # pcap or pcapng; sent in order, cycling
      pcap_speed: 1          # the capture's own timing, this many times as fast
      loop: true             # round and round (with pcap_speed), else once through
      fix_checksums: true    # recompute the frames' checksums once

A generated stream's frames are signed (stream, sequence, time) and measured
per stream on return when its smallest frame has room for the signature (a
64-byte TCP or ICMP frame has not: 80 bytes do); replayed frames go out as
captured and are not. A
stream's answers that do not carry its signature (a kernel's SYN-ACK or
RST to tcp-syn) count as "other". seed: N seeds a stream's random fields.`

// benchStreamsFile is the --streams file.
type benchStreamsFile struct {
	Streams []benchStreamEntry `yaml:"streams"`
}

// benchStreamEntry is one stream of the file.
type benchStreamEntry struct {
	Template     string  `yaml:"template"`
	Rate         float64 `yaml:"rate"`
	RateBPS      float64 `yaml:"rate_bps"`
	RateBPSL2    float64 `yaml:"rate_bps_l2"`
	Src          string  `yaml:"src"`
	Dst          string  `yaml:"dst"`
	SrcPort      string  `yaml:"src_port"`
	DstPort      string  `yaml:"dst_port"`
	VLAN         string  `yaml:"vlan"`
	Size         string  `yaml:"size"`
	TTL          uint8   `yaml:"ttl"`
	TOS          uint8   `yaml:"tos"`
	Pcap         string  `yaml:"pcap"`
	PcapSpeed    float64 `yaml:"pcap_speed"`
	Loop         bool    `yaml:"loop"`
	FixChecksums bool    `yaml:"fix_checksums"`
	Seed         uint64  `yaml:"seed"`
}

// benchStreamsDefaults are what a stream takes from the command line.
type benchStreamsDefaults struct {
	src, dst netip.Addr
	dstPort  uint16
	catchUp  float64 // seconds of rate a stalled worker makes up for (--catch-up)
}

// readBenchStreams reads and checks a --streams file: every stream must
// build (stream.New) with placeholder MACs; the real ones are set by
// withMACs once the target is resolved.
func readBenchStreams(path string, d benchStreamsDefaults) ([]xdpgen.Stream, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, usagef("--streams: %v", err)
	}
	var f benchStreamsFile
	if err := yaml.UnmarshalWithOptions(b, &f, yaml.Strict()); err != nil {
		return nil, usagef("--streams %s: %v", path, yaml.FormatError(err, false, true))
	}
	if len(f.Streams) == 0 {
		return nil, usagef("--streams %s: no streams (want a list under \"streams:\")", path)
	}
	out := make([]xdpgen.Stream, 0, len(f.Streams))
	for i, e := range f.Streams {
		s, err := e.stream(d)
		if err != nil {
			return nil, usagef("--streams %s: stream %d: %v", path, i+1, err)
		}
		if _, err := stream.New(s.Spec); err != nil {
			return nil, usagef("--streams %s: stream %d: %v", path, i+1, err)
		}
		out = append(out, s)
	}
	return out, nil
}

// stream builds the entry's xdpgen.Stream.
func (e *benchStreamEntry) stream(d benchStreamsDefaults) (xdpgen.Stream, error) {
	var s xdpgen.Stream
	sp := &s.Spec
	kind := stream.UDP
	if e.Template != "" {
		k, err := stream.ParseKind(e.Template)
		if err != nil {
			return s, fmt.Errorf("template %q: want udp, tcp-syn, tcp-ack, icmp-echo or replay", e.Template)
		}
		kind = k
	}
	sp.Kind, sp.TTL, sp.TOS, sp.Seed = kind, e.TTL, e.TOS, e.Seed
	sp.Sign = stream.SignAuto // signed where the smallest frame has room
	var err error
	if sp.Src, err = parseAddrRange(e.Src, d.src); err != nil {
		return s, fmt.Errorf("src: %w", err)
	}
	if sp.Dst, err = parseAddrRange(e.Dst, d.dst); err != nil {
		return s, fmt.Errorf("dst: %w", err)
	}
	srcPort, dstPort := uint16(10000), d.dstPort
	if kind == stream.Replay {
		srcPort, dstPort = 0, 0 // the frames' own unless given
		sp.Sign = stream.SignOff
	}
	if sp.SrcPort, err = parsePortRange(e.SrcPort, srcPort, 1); err != nil {
		return s, fmt.Errorf("src_port: %w", err)
	}
	if sp.DstPort, err = parsePortRange(e.DstPort, dstPort, 1); err != nil {
		return s, fmt.Errorf("dst_port: %w", err)
	}
	vlan, err := parsePortRange(e.VLAN, 0, 1)
	if err != nil || vlan.Last > 4094 || vlan.First > 4094 {
		return s, fmt.Errorf("vlan %q: want an id or a range of ids, 1 to 4094", e.VLAN)
	}
	sp.VLAN = stream.VLANRange{First: vlan.First, Last: vlan.Last, Mode: vlan.Mode}
	if e.Size != "" {
		if kind == stream.Replay {
			return s, fmt.Errorf("size: a replay sends the capture's frames as they are")
		}
		if sp.Size, err = stream.ParseSizes(e.Size); err != nil {
			return s, fmt.Errorf("size %q: %w", e.Size, err)
		}
	}
	if sp.Size.Max() > xdpgen.DefaultFrameSize {
		return s, fmt.Errorf("size %s: frames up to %d bytes (the UMEM's frame size)", sp.Size, xdpgen.DefaultFrameSize)
	}
	switch {
	case kind == stream.Replay && e.Pcap == "":
		return s, fmt.Errorf("a replay needs pcap: FILE")
	case kind != stream.Replay && (e.Pcap != "" || e.PcapSpeed != 0 || e.Loop || e.FixChecksums):
		return s, fmt.Errorf("pcap, pcap_speed, loop and fix_checksums are for template: replay")
	case e.PcapSpeed < 0:
		return s, fmt.Errorf("pcap_speed %v: want a positive factor (1: as captured)", e.PcapSpeed)
	case e.Loop && e.PcapSpeed == 0:
		return s, fmt.Errorf("loop is for pcap_speed (at a rate, a replay cycles anyway)")
	}
	if e.Pcap != "" {
		b, err := os.ReadFile(e.Pcap)
		if err != nil {
			return s, err
		}
		if sp.Frames, err = stream.ReadPcap(bytes.NewReader(b)); err != nil {
			return s, fmt.Errorf("pcap %s: %w", e.Pcap, err)
		}
		sp.FixChecksums = e.FixChecksums
		s.CaptureTiming, s.Loop = e.PcapSpeed, e.Loop
	}
	rates := 0
	for _, r := range []float64{e.Rate, e.RateBPS, e.RateBPSL2} {
		if r < 0 {
			return s, fmt.Errorf("rate %v: want 0 (as fast as possible) or more", r)
		}
		if r > 0 {
			rates++
		}
	}
	if rates > 1 {
		return s, fmt.Errorf("give one of rate, rate_bps and rate_bps_l2")
	}
	if rates > 0 && e.PcapSpeed > 0 {
		return s, fmt.Errorf("pcap_speed sends at the capture's timing: no rate with it")
	}
	switch {
	case e.RateBPS > 0:
		s.Rate = pacer.Rate{Value: e.RateBPS, Unit: pacer.BitsL1}
	case e.RateBPSL2 > 0:
		s.Rate = pacer.Rate{Value: e.RateBPSL2, Unit: pacer.BitsL2}
	default:
		s.Rate = pacer.Rate{Value: e.Rate}
	}
	if s.Rate.Value > 0 {
		s.Rate.Burst = burstFor(s.Rate, d.catchUp)
	}
	return s, nil
}

// burstFor is the bucket that lets a stalled worker make up catchUp
// seconds of r (--catch-up), at least one frame.
func burstFor(r pacer.Rate, catchUp float64) uint64 {
	return uint64(r.Value*catchUp) + 1
}

// withMACs returns streams with their frames from src to dst (a replay
// keeps its frames' MACs when neither is known).
func withMACs(streams []xdpgen.Stream, src, dst header.MAC) []xdpgen.Stream {
	out := make([]xdpgen.Stream, len(streams))
	for i, s := range streams {
		s.Spec.SrcMAC, s.Spec.DstMAC = src, dst
		out[i] = s
	}
	return out
}

// parseAddrRange reads "A", "A-B", with ":inc" or ":random"; empty is def.
func parseAddrRange(v string, def netip.Addr) (stream.AddrRange, error) {
	if v == "" {
		return stream.AddrRange{First: def}, nil
	}
	if strings.Count(v, ":") > 1 {
		return stream.AddrRange{}, fmt.Errorf("%q: want an IPv4 address or FIRST-LAST (the streams are IPv4)", v)
	}
	v, mode, err := cutMode(v)
	if err != nil {
		return stream.AddrRange{}, err
	}
	lo, hi, isRange := strings.Cut(v, "-")
	a, err := netip.ParseAddr(lo)
	if err != nil || !a.Is4() {
		return stream.AddrRange{}, fmt.Errorf("%q: want an IPv4 address or FIRST-LAST", v)
	}
	r := stream.AddrRange{First: a, Mode: mode}
	if isRange {
		b, err := netip.ParseAddr(hi)
		if err != nil || !b.Is4() || b.Less(a) {
			return stream.AddrRange{}, fmt.Errorf("%q: want FIRST-LAST, IPv4, LAST not below FIRST", v)
		}
		r.Last = b
	}
	return r, nil
}

// parsePortRange reads "P", "P-Q", with ":inc" or ":random"; empty is
// def alone. Values below min are refused.
func parsePortRange(v string, def uint16, minimum int) (stream.PortRange, error) {
	if v == "" {
		return stream.PortRange{First: def}, nil
	}
	v, mode, err := cutMode(v)
	if err != nil {
		return stream.PortRange{}, err
	}
	lo, hi, isRange := strings.Cut(v, "-")
	a, err := strconv.ParseUint(lo, 10, 16)
	if err != nil || int(a) < minimum {
		return stream.PortRange{}, fmt.Errorf("%q: want a number from %d to 65535, or FIRST-LAST", v, minimum)
	}
	r := stream.PortRange{First: uint16(a), Mode: mode}
	if isRange {
		b, err := strconv.ParseUint(hi, 10, 16)
		if err != nil || b < a {
			return stream.PortRange{}, fmt.Errorf("%q: want FIRST-LAST, LAST not below FIRST", v)
		}
		r.Last = uint16(b)
	}
	return r, nil
}

func cutMode(v string) (string, stream.Mode, error) {
	base, mode, ok := strings.Cut(v, ":")
	if !ok {
		return v, stream.Inc, nil
	}
	switch mode {
	case "inc":
		return base, stream.Inc, nil
	case "random":
		return base, stream.Random, nil
	}
	return "", 0, fmt.Errorf("%q: the mode after ':' is inc or random", v)
}
