// Package enginetest is the one place where tests put an engine on a test
// bed and talk to it from the bed's peer kernel. It holds the helpers that
// the engine's tests, the engine command's tests and the benchmarks share;
// a helper that one test file needs stays in that file.
//
// Model:
//
//	 caller's namespace                     peer namespace (bed.Do)
//	+--------------------------+  veth    +-----------------------------+
//	| engine on bed.HostIf     |<-------->| the Linux kernel, bed.PeerIf|
//	| owns bed.EngineAddr (.1) |          | bed.PeerAddr (.2)           |
//	| Start, EchoUDP, EchoTCP  |          | Peer*: sockets opened here  |
//	+--------------------------+          +-----------------------------+
//
// A test builds its bed with testbed.New, then Start runs an engine on the
// bed's engine side (ConfigFor fills the interface, the bed's address and a
// logger that discards everything into the engine.Config) and closes it
// when the test ends. Functions named Peer* open kernel sockets inside the
// peer namespace (through bed.Do): such a socket belongs to the peer's
// kernel stack for its whole life and may be used from any goroutine
// afterwards. Echo servers exist on both sides (EchoUDP and EchoTCP on the
// engine, PeerEchoTCP in the peer), as do the exchanges tests run over them:
// Exchange (one datagram), RoundTrips (TCP messages of every segment-count
// class), Bulk (a stream checked with SHA-256), ConnectFromPeer and
// ConnectToPeer (a TCP connection and both of its ends).
//
// Every socket, server and engine a helper makes is closed by tb.Cleanup,
// so helpers never return something the test must remember to close. A
// helper that cannot set up what it was asked for fails the test with
// tb.Fatal; helpers that check a result (Exchange, RoundTrips, Bulk) fail it
// the same way, from the test's goroutine. Waits are bounded (WaitFor,
// deadlines on every read), so a broken engine fails a test instead of
// hanging it.
//
// Who may import it: the engine's external tests (package engine_test,
// with engine/export_test.go for the few internals they read), cmd/engine,
// bench and examples. The engine's internal tests cannot (enginetest
// imports engine: an import cycle), nor can the tests of the packages the
// engine is built from (afxdp, stack/..., igmp, ipv4); those test their
// own layer with their own small bed helpers. Programs must not import it:
// it imports package testing.
package enginetest
