#!/usr/bin/env bash
# Runs every `func FuzzXxx` target in the module for FUZZTIME (default 10s).
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
FUZZTIME=${FUZZTIME:-10s}
found=0
while IFS=: read -r file name; do
  pkg="./$(dirname "$file")"
  found=$((found + 1))
  echo "== $pkg $name ($FUZZTIME)"
  "$GO" test -run='^$' -fuzz="^${name}\$" -fuzztime="$FUZZTIME" "$pkg"
done < <(git ls-files '*_test.go' | xargs grep -oE '^func Fuzz[A-Za-z0-9_]+' /dev/null | sed 's/func //' | sort)
echo "fuzz: $found targets run"
