//go:build !race

package sock

// raceEnabled: see race_on_test.go.
const raceEnabled = false
