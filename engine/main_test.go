package engine_test

import (
	"os"
	"testing"
)

// TestMain runs the tests, or, re-executed as a child (childEnv), the
// child's loop instead: the peer's side of TestTCPIdleConnections.
func TestMain(m *testing.M) {
	switch os.Getenv(childEnv) {
	case "":
		os.Exit(m.Run())
	case "peerconns":
		os.Exit(peerConnsChild(os.Stdin, os.Stdout))
	default:
		os.Stderr.WriteString("engine tests: unknown " + childEnv + "\n")
		os.Exit(2)
	}
}
