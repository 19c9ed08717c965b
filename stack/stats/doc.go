// Package stats defines the counters of the engine's workers: one Worker
// value per worker, written only by that worker's goroutine as plain
// fields (every layer of the stack increments its own part of it through a
// pointer the datapath hands out), published as a copy, and summed into
// Engine for the whole engine. Histograms are distributions counted the
// same way, in log2 buckets (package hist): worker round time, receive
// burst size, TCP round-trip time. engine.Stats, the CLI's tables and the
// Prometheus exposition all read these types.
//
// Every field has a json tag with a snake_case name (Linux's counter name
// in snake case where there is one: rx_packets, tcp.active_opens,
// reasm.reasm_oks); embedded structs are flattened. The names are what
// `engine stats --json` prints and programs parse, so they are stable: a
// new field gets a tag of its own (engine's TestStatsJSON checks them
// all), and a renamed field keeps its tag.
package stats
