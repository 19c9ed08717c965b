//go:build race

package sock

// raceEnabled: under the race detector sync.Pool drops a share of what it
// is given, on purpose, so pooled objects are made again.
const raceEnabled = true
