package main

import (
	"net/netip"
	"os"
	"runtime"
	"strings"
	"time"
)

// serveInfo is the answer to the "config" control command.
type serveInfo struct {
	Version   string         `json:"version"`
	Pid       int            `json:"pid"`
	Running   bool           `json:"running"` // false while starting
	Started   time.Time      `json:"started"`
	Interface string         `json:"interface"`
	Addrs     []netip.Prefix `json:"addrs"`
	Gateway   string         `json:"gateway,omitempty"`
	Neighbors []string       `json:"neighbors,omitempty"` // static ARP entries, ADDR=MAC
	Queues    int            `json:"queues"`
	Procs     int            `json:"gomaxprocs"` // the process's GOMAXPROCS
	Loops     int            `json:"loops"`      // the goroutines that run the workers (engine.Engine.Loops)
	MTU       int            `json:"mtu"`
	Mode      string         `json:"mode"`
	XDPMode   string         `json:"xdp_mode"`
	Poll      string         `json:"poll"`
	Nap       string         `json:"nap,omitempty"` // --nap, when the workers nap
	Driver    string         `json:"driver"`
	// RxChecksum is the policy asked for; TrustPartial what it gave on
	// this interface's driver.
	RxChecksum   string `json:"rx_checksum"`
	TrustPartial bool   `json:"trust_partial_checksums"`
	// TxChecksum is the transmit policy asked for; TxOffload what it
	// gave (checksums left to the kernel or the NIC).
	TxChecksum string   `json:"tx_checksum"`
	TxOffload  bool     `json:"tx_checksum_offload"`
	Echo       []string `json:"echo"` // every --echo and --discard service
	HTTP       int      `json:"http,omitempty"`
	// HTTPExposeStatus: --http serves the counters, sockets and metrics.
	HTTPExposeStatus bool   `json:"http_expose_status,omitempty"`
	Control          string `json:"control"`
	Metrics          string `json:"metrics,omitempty"`
	LB               string `json:"lb,omitempty"` // the --lb file
}

func (s *server) info() serveInfo {
	c := &s.opts.cfg
	v, _ := buildVersion()
	in := serveInfo{
		Version: v, Pid: os.Getpid(), Interface: c.Interface, Addrs: s.eng.Addrs(),
		Queues: len(s.eng.Stats().Workers), Procs: runtime.GOMAXPROCS(0), Loops: s.eng.Loops(), MTU: s.eng.MTU(), Mode: c.Mode.String(), XDPMode: c.XDPMode.String(),
		Poll: c.Poll.String(), Echo: []string{}, Control: s.opts.ctlPath, Metrics: s.metAddr,
		Driver: s.eng.Driver(), RxChecksum: c.RxChecksum.String(), TrustPartial: s.eng.TrustsPartialChecksums(),
		TxChecksum: c.TxChecksum.String(), TxOffload: s.eng.TxChecksumOffload(),
		LB: s.opts.lbFile,
	}
	if c.Nap > 0 {
		in.Nap = c.Nap.String()
	}
	if s.running.Load() {
		in.Running, in.Started = true, s.started
	}
	if c.Gateway.IsValid() {
		in.Gateway = c.Gateway.String()
	}
	if c.Gateway6.IsValid() {
		in.Gateway = strings.TrimPrefix(in.Gateway+","+c.Gateway6.String(), ",")
	}
	for _, n := range c.Neighbors {
		in.Neighbors = append(in.Neighbors, n.Addr.String()+"="+n.MAC.String())
	}
	for _, es := range s.echo {
		in.Echo = append(in.Echo, es.spec.label())
	}
	for _, ts := range s.tcp {
		in.Echo = append(in.Echo, ts.spec.label())
	}
	if s.http != nil {
		in.HTTP, in.HTTPExposeStatus = int(s.opts.httpPort), s.opts.httpExpose
	}
	return in
}
