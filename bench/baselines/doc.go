// Package baselines is the root of a module of its own
// (github.com/xdpengine/engine/bench/baselines) that holds the benchmarks
// whose baselines are third-party libraries: an embedder of the engine
// inherits none of these libraries through the engine's go.mod.
//
//   - cmd/xskbench: AF_XDP receive, transmit and forward with the engine's
//     afxdp package against github.com/asavie/xdp and the kernel's own
//     path (make xskbench).
//   - flowmaps: flowtable.Table against github.com/puzpuzpuz/xsync's Map,
//     with an RWMutex-guarded Go map as the common reference (make bench).
//
// The module sits inside the engine's directory tree and its path lies
// under the engine's module path, so it may import the engine's internal
// packages (the go command checks internal/ by import path, as it does for
// golang.org/x/tools/gopls); go.mod replaces the engine with ../.., so it
// always builds against the working tree. Run from this directory, or
// through the Makefile, which lints, vets and builds every module.
package baselines
