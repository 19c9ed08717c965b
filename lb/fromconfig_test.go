package lb

import (
	"testing"

	"github.com/xdpengine/engine/header"
	"github.com/xdpengine/engine/lb/config"
)

func TestFromConfig(t *testing.T) {
	c, err := config.Parse([]byte(`
vips:
  - address: 198.18.0.100
    port: 80
    protocol: tcp
    forwarding: nat
    hash: source
    backends:
      - {address: 198.18.1.11, weight: 3}
      - {address: 198.18.1.12, weight: 2, drain: true}
`))
	if err != nil {
		t.Fatal(err)
	}
	got, err := FromConfig(c)
	if err != nil {
		t.Fatal(err)
	}
	v := got.VIPs[0]
	if v.Mode != NAT || v.Proto != header.ProtocolTCP || v.Port != 80 || !v.SourceHash || v.TableSize != 65537 ||
		len(v.Backends) != 2 || v.Backends[0].Weight != 3 || v.Backends[1].Weight != 0 {
		t.Errorf("%+v", got)
	}
	if got.MaxFlows == 0 || got.Timeouts.TCPEstablished == 0 {
		t.Errorf("conntrack defaults not carried: %+v", got)
	}
	c, err = config.Parse([]byte(`
vips:
  - {address: 198.18.0.100, port: 80, protocol: tcp, forwarding: dsr-vxlan, vni: 7, backends: [{address: 198.18.1.11, mac: "02:00:5e:10:00:01"}]}
  - {address: 198.18.0.100, port: 53, protocol: udp, forwarding: dsr-gue, backends: [{address: 198.18.1.11}]}
  - {address: 198.18.0.100, port: 54, protocol: udp, forwarding: dsr-ipip, backends: [{address: 198.18.1.11}]}
`))
	if err != nil {
		t.Fatal(err)
	}
	got, err = FromConfig(c)
	if err != nil {
		t.Fatal(err)
	}
	vx, gue, ipip := got.VIPs[0], got.VIPs[1], got.VIPs[2]
	if vx.Mode != DSRVXLAN || vx.VNI != 7 || vx.VXLANPort != 4789 || vx.Backends[0].MAC != (header.MAC{2, 0, 0x5e, 0x10, 0, 1}) {
		t.Errorf("dsr-vxlan: %+v", vx)
	}
	if gue.Mode != DSRGUE || gue.GUEPort != 6080 || ipip.Mode != DSRIPIP {
		t.Errorf("dsr-gue, dsr-ipip: %+v %+v", gue, ipip)
	}
	c, err = config.Parse([]byte(`
vips:
  - {address: 198.18.0.100, port: 80, protocol: udp, forwarding: dsr-l2, fragments: hash3, backends: [{address: 198.18.1.11}]}
`))
	if err != nil {
		t.Fatal(err)
	}
	if got, err = FromConfig(c); err != nil || !got.VIPs[0].HashFragments {
		t.Errorf("fragments hash3: %+v, %v", got, err)
	}
}
