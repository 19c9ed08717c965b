//go:build race

package engine_test

// raceEnabled: the race detector slows the engine down several times, so
// the tests that size their load to the machine take less.
const raceEnabled = true
