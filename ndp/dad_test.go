package ndp

import (
	"testing"

	"github.com/xdpengine/engine/header"
)

type dadResult struct {
	addr   [16]byte
	unique bool
}

type probeRec struct {
	target [16]byte
	nonce  [6]byte
}

func newDAD(transmits int) (*DAD, *[]dadResult) {
	var res []dadResult
	d := NewDAD(DADConfig{Transmits: transmits, Rand: halfRand{}, Result: func(a [16]byte, u bool) {
		res = append(res, dadResult{a, u})
	}})
	return d, &res
}

func TestDADUnique(t *testing.T) {
	d, res := newDAD(2)
	var probes []probeRec
	probe := func(t [16]byte, n [6]byte) { probes = append(probes, probeRec{t, n}) }
	if err := d.Start(0, ourAddr); err != nil {
		t.Fatal(err)
	}
	if err := d.Start(0, ourAddr); err != ErrDADRunning {
		t.Fatalf("second start: %v", err)
	}
	if d.Next() != 0.5e9 {
		t.Fatalf("next %d", d.Next())
	}
	d.Tick(0.4e9, probe)
	if len(probes) != 0 {
		t.Fatal("probe before the delay")
	}
	d.Tick(0.5e9, probe)
	d.Tick(1.5e9, probe)
	if len(probes) != 2 || probes[0].target != ourAddr {
		t.Fatalf("probes %v", probes)
	}
	// Our own probe, looped back: ignored.
	r := &Responder{MAC: ourMAC, DAD: d}
	b := make([]byte, 64)
	n, _ := PutProbe(b, ourAddr, probes[1].nonce)
	snm := header.SolicitedNodeMulticast(ourAddr)
	if rep, err := r.Input(1.6e9, 255, [16]byte{}, snm, b[:n], b[n:], nil); err != nil || rep.Len != 0 {
		t.Fatalf("looped probe: %+v %v", rep, err)
	}
	// A solicitation from a unicast source for a tentative address: discarded.
	if rep, _ := r.Input(1.7e9, 255, ip(9), snm, ns(t, ourAddr, macB, nil), b[n:], nil); rep.Len != 0 {
		t.Fatal("answered for a tentative address")
	}
	d.Tick(2.4e9, probe)
	if len(*res) != 0 {
		t.Fatal("ended early")
	}
	d.Tick(2.5e9, probe)
	if len(*res) != 1 || (*res)[0] != (dadResult{ourAddr, true}) || d.Tentative(ourAddr) || d.Next() != 0 {
		t.Fatalf("results %v", *res)
	}
	if d.Stats.Looped != 1 || d.Stats.Unique != 1 || d.Stats.Probes != 2 {
		t.Fatalf("stats %+v", d.Stats)
	}
}

func TestDADDuplicate(t *testing.T) {
	snm := header.SolicitedNodeMulticast(ourAddr)
	out := make([]byte, 64)
	// Another node's probe (another nonce).
	d, res := newDAD(1)
	r := &Responder{MAC: ourMAC, DAD: d}
	d.Start(0, ourAddr)
	var nonce [6]byte
	d.Tick(1e9, func(_ [16]byte, n [6]byte) { nonce = n })
	other := nonce
	other[0]++
	r.Input(1.2e9, 255, [16]byte{}, snm, ns(t, ourAddr, header.MAC{}, &other), out, nil)
	if len(*res) != 1 || (*res)[0].unique {
		t.Fatalf("probe with another nonce: %v", *res)
	}
	// A probe without a nonce (an older node).
	d, res = newDAD(1)
	r.DAD = d
	d.Start(0, ourAddr)
	r.Input(0.1e9, 255, [16]byte{}, snm, ns(t, ourAddr, header.MAC{}, nil), out, nil)
	if len(*res) != 1 || (*res)[0].unique {
		t.Fatalf("probe without nonce: %v", *res)
	}
	// An advertisement for the address.
	d, res = newDAD(1)
	r.DAD = d
	d.Start(0, ourAddr)
	d.Tick(1e9, nil)
	r.Input(1.1e9, 255, ip(9), AllNodes, na(ourAddr, header.NDPFlagOverride, macB), out, nil)
	if len(*res) != 1 || (*res)[0].unique || d.Stats.Duplicates != 1 {
		t.Fatalf("advertisement: %v", *res)
	}
	d.Tick(10e9, nil)
	if len(*res) != 1 {
		t.Fatalf("result twice: %v", *res)
	}
}

func TestDADBounds(t *testing.T) {
	d := NewDAD(DADConfig{MaxAddrs: 1, MaxDelayNs: -1})
	d.Start(5, ip(1))
	if d.Next() != 5 {
		t.Fatalf("next %d without delay", d.Next())
	}
	if err := d.Start(0, ip(2)); err != ErrDADFull {
		t.Fatal(err)
	}
	d.Stop(ip(1))
	if d.Tentative(ip(1)) || d.Start(0, ip(2)) != nil {
		t.Fatal("stop")
	}
	if d.Solicitation(0, ip(3), nil) || d.Advertisement(0, ip(3)) {
		t.Fatal("duplicate for an address not tentative")
	}
}
