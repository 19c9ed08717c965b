#!/usr/bin/env bash
# Fails if a test bed (names starting with "xeb") left a network namespace or
# a link behind, or an XDP program attached to one of its links.
set -u
left=$( { ls /var/run/netns 2>/dev/null | grep '^xeb' | sed 's/^/namespace /'; \
          ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | grep '^xeb' | sed 's/^/link /'; } )
if [ -n "$left" ]; then
  echo "leftovers: the tests left behind:"; echo "$left"; exit 1
fi
echo "leftovers: none"
