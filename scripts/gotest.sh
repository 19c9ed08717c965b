#!/usr/bin/env bash
# gotest.sh LOG GO-TEST-ARGS...: runs `go test GO-TEST-ARGS...`, its output
# both on the terminal and in LOG, and when it fails prints, last, what a
# reader of only the output's tail needs: the first data race report whole
# (both stacks, not just the goroutines' creation sites) and the failing
# tests. CI shows the tail of a failed run; a race that shows up once in
# many runs must be diagnosable from that tail alone.
set -uo pipefail
log=$1
shift
mkdir -p "$(dirname "$log")"
"${GO:-go}" test "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
if [ "$status" -ne 0 ]; then
	echo
	echo "=== gotest.sh: go test failed (exit $status); the whole output is in $log"
	# The first race report, from its WARNING line to its closing rule.
	awk '/^WARNING: DATA RACE/ {on = 1} on {print} on && /^==================/ {exit}' "$log" |
		sed -E "s#$PWD/##; s# \+0x[0-9a-f]+\$##" | head -150
	echo "=== failing tests:"
	grep -E '^ *(--- FAIL|FAIL|panic:)' "$log" | head -40
fi
exit "$status"
