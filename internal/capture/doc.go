// Package capture is the engine's packet capture: filters that run on the
// workers (an expression language, the common subset of tcpdump's, and
// classic BPF as `tcpdump -ddd` prints it, run by golang.org/x/net/bpf's
// VM), a pcapng writer (gopacket's pcapgo) with one interface per queue
// and direction, and the stream that carries a capture from `engine serve`
// to `engine capture` over the control socket.
//
// The frames come from engine.Capture, which sets a datapath.Tap on every
// worker: a bounded ring of copied frames that never blocks a worker
// (overruns are counted). Serve drains the rings every 2 ms, writes pcapng,
// and ends with a Summary; Receive, on the client, copies the pcapng bytes
// out and returns the Summary.
//
// Stream format: records of a kind byte, a 4-byte big-endian length and the
// payload; 'D' carries pcapng bytes, the last record, 'E', the Summary in
// JSON. One capture runs at a time on an engine (engine.ErrCaptureBusy).
//
// pcapgo writes no per-packet options (no epb_flags), so the direction is
// the interface: 2q is "qQ-rx", 2q+1 "qQ-tx". The interface statistics
// block of each qQ-rx interface carries the queue's overruns as dropped
// packets.
package capture
