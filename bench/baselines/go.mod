module github.com/xdpengine/engine/bench/baselines

go 1.26.0

require (
	github.com/asavie/xdp v0.3.3
	github.com/puzpuzpuz/xsync/v4 v4.5.0
	github.com/vishvananda/netlink v1.3.1
	github.com/xdpengine/engine v0.0.0-00010101000000-000000000000
	golang.org/x/sys v0.49.0
)

require (
	github.com/cilium/ebpf v0.22.0 // indirect
	github.com/dgryski/go-metro v0.0.0-20250106013310-edb8663e5e33 // indirect
	github.com/vishvananda/netns v0.0.5 // indirect
)

// The benchmarks always run against the engine's working tree.
replace github.com/xdpengine/engine => ../..
