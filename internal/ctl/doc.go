// Package ctl is the engine's local control channel: a running engine serves
// requests on a unix socket (mode 0600, so only its owner can talk to it) and
// the `engine stats` / `engine ss` commands are its clients.
//
// The protocol is one JSON object per line in each direction: a request
// {"cmd": NAME, "args": {...}} and a response {"ok": true, "data": ...} or
// {"ok": false, "error": "..."}. A connection may carry several requests.
// A streaming command (HandleStream, Client.Stream: `engine capture`) answers
// ok and then writes raw bytes until it ends or the client closes its side;
// that connection carries nothing else (stream.go).
// Handlers run on the connection's goroutine, never on a packet worker: they
// read snapshots and counters that the workers publish.
//
// Socket paths default to /run/engine/IFACE.sock, one per interface, so two
// engines on different interfaces never collide. A socket file left by a
// crashed engine is detected (nothing answers on it) and replaced; a live
// one makes Listen fail with ErrInUse, which names the interface.
package ctl
