package bench

import (
	"os"
	"testing"
)

// childEnv names the role a re-executed test binary plays instead of
// running tests: a load generator started inside a bed's peer namespace
// (see startShortClient and startLBGen).
const childEnv = "ENGINE_BENCH_CHILD"

func TestMain(m *testing.M) {
	switch os.Getenv(childEnv) {
	case "":
		os.Exit(m.Run())
	case "shortconn":
		os.Exit(shortConnChild(os.Stdin, os.Stdout))
	case "udpecho":
		os.Exit(udpEchoChild(os.Stdin, os.Stdout))
	case "shortserve":
		os.Exit(shortServeChild(os.Stdin, os.Stdout))
	case "lbgen":
		os.Exit(lbGenChild(os.Stdin, os.Stdout))
	default:
		os.Stderr.WriteString("bench: unknown " + childEnv + "\n")
		os.Exit(2)
	}
}
