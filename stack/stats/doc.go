// Package stats defines the counters of the engine's workers: one Worker
// value per worker, written only by that worker's goroutine as plain
// fields (every layer of the stack increments its own part of it through a
// pointer the datapath hands out), published as a copy, and summed into
// Engine for the whole engine. engine.Stats, the CLI's tables and the
// Prometheus exposition all read these types.
package stats
