#!/usr/bin/env bash
# Fails if a test bed (names "xeb<pid>..." or "xeb-<pid>-...") whose creating
# process has exited left a network namespace or a link behind (an XDP
# program goes with its link). Beds of processes still running, such as a
# demo in another terminal, are not leftovers.
set -u
left=""
check() { # kind name
  pid=$(printf '%s' "$2" | sed -E 's/^xeb-?([0-9]+).*/\1/')
  if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then left+="$1 $2"$'\n'; fi
}
for ns in $(ls /var/run/netns 2>/dev/null | grep '^xeb'); do check namespace "$ns"; done
for l in $(ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | sed 's/@.*//' | grep '^xeb'); do check link "$l"; done
if [ -n "$left" ]; then
  printf 'leftovers: the tests left behind:\n%s' "$left"; exit 1
fi
echo "leftovers: none"
