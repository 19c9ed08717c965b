#!/usr/bin/env bash
# Installs, or checks, what the README's commands need on a Debian machine:
# the Debian packages the demo and the tests run (as peers in a namespace,
# or to build), the Go toolchain's version, and the kernel's.
#
#   scripts/deps.sh [demo|test] [EXTRA-PACKAGE...]
#
#   demo   what `make demo` needs (the default)
#   test   what `make lint` and `make test` need (.ci/run); a superset of demo
#
# Missing packages are installed with apt-get when the script runs as root
# on Debian (apt-get update first); otherwise it names them, prints the
# command that installs them, and fails. DEPS_CHECK=1 only checks (never
# installs); SKIP_DEPS=1 skips the script altogether.
#
# Every package and why it is needed (keep README's Requirements in step):
#   iproute2        ip: the test bed's namespaces, links, addresses, routes
#   iputils-ping    ping: the peer kernel pings the engine (demo, tests)
#   ca-certificates Go fetches modules over HTTPS (go build, go run)
#   nftables        nft: loss rules and the kernel NAT baseline in tests
#   curl            HTTP client against the engine's TCP in tests
#   python3         a second UDP client in the checksum tests
#   python3-scapy   crafted IPv6 fragments (engine/frag6_scapy_e2e_test.go),
#                   run by Debian's /usr/bin/python3, not a pyenv one
#   procps          sysctl: per-namespace settings in tests
#   gcc, libc6-dev  cgo, which `go test -race` needs
#   git, make       `make lint` lists files with git ls-files
#   tcpdump         captures compared with the engine's own
#   wrk             HTTP load against the engine's TCP
#   netsniff-ng     trafgen, an AF_PACKET packet generator
#   systemd         systemd-analyze verify of packaging/systemd/engine@.service
set -euo pipefail
cd "$(dirname "$0")/.."

[ "${SKIP_DEPS:-}" = 1 ] && exit 0

profile=${1:-demo}
[ $# -gt 0 ] && shift
demo_pkgs=(iproute2 iputils-ping ca-certificates)
test_pkgs=(nftables curl python3 python3-scapy procps gcc libc6-dev git make tcpdump wrk netsniff-ng systemd)
case "$profile" in
demo) pkgs=("${demo_pkgs[@]}") ;;
test) pkgs=("${demo_pkgs[@]}" "${test_pkgs[@]}") ;;
*)
  echo "usage: $0 [demo|test] [EXTRA-PACKAGE...]" >&2
  exit 2
  ;;
esac
pkgs+=("$@")

# The command each package provides, to check for on a machine without dpkg.
declare -A provides=(
  [iproute2]=ip [iputils-ping]=ping [nftables]=nft [curl]=curl [python3]=python3
  [python3-scapy]=scapy [procps]=sysctl [gcc]=gcc [git]=git [make]=make [tcpdump]=tcpdump [wrk]=wrk
  [netsniff-ng]=trafgen [systemd]=systemd-analyze
)

fail=0

# Debian packages.
missing=()
declare -A seen=()
for p in "${pkgs[@]}"; do
  [ -n "${seen[$p]:-}" ] && continue
  seen[$p]=1
  if command -v dpkg-query >/dev/null; then
    st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
    [ "$st" = installed ] || missing+=("$p")
  elif [ -n "${provides[$p]:-}" ] && ! command -v "${provides[$p]}" >/dev/null; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "${DEPS_CHECK:-}" != 1 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "deps: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends "${missing[@]}"
  else
    echo "deps: missing packages: ${missing[*]}" >&2
    if command -v dpkg-query >/dev/null; then
      echo "deps: install them with: sudo apt-get install --no-install-recommends ${missing[*]}" >&2
    else
      echo "deps: not a Debian machine: install the equivalents (commands: $(for p in "${missing[@]}"; do printf '%s ' "${provides[$p]:-$p}"; done))" >&2
    fi
    fail=1
  fi
fi

# Go: at least the version go.mod names.
want=$(sed -n 's/^go \([0-9.]*\).*/\1/p' go.mod)
if ! command -v go >/dev/null; then
  echo "deps: no Go toolchain in PATH; the engine needs Go $want or newer. Get it from" \
    "https://go.dev/dl/ (e.g. tar -C /usr/local -xzf go1.26.*.linux-amd64.tar.gz;" \
    "export PATH=\$PATH:/usr/local/go/bin); Debian 12's golang package (1.19) is too old." >&2
  fail=1
else
  have=$(go env GOVERSION | sed 's/^go//; s/[^0-9.].*//')
  if [ "$(printf '%s\n%s\n' "$want" "$have" | sort -V | head -1)" != "$want" ]; then
    echo "deps: Go $have is older than go.mod's $want: install Go $want or newer from https://go.dev/dl/" >&2
    fail=1
  fi
fi

# Kernel: XDP links (bpf_link) are 5.9; the engine is developed on 6.18.
kern=$(uname -r | sed 's/[^0-9.].*//')
if [ "$(printf '5.9\n%s\n' "$kern" | sort -V | head -1)" != 5.9 ]; then
  echo "deps: kernel $kern is older than 5.9, which the engine needs (XDP links); see README's Requirements" >&2
  fail=1
fi

if [ "$fail" = 0 ]; then
  echo "deps: ok ($profile: ${#seen[@]} packages, go $(go env GOVERSION | sed 's/^go//'), kernel $kern)"
fi
exit "$fail"
