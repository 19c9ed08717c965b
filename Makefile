# The engine's build, test and demo entry points. Run as root (or with
# CAP_NET_ADMIN, CAP_NET_RAW, CAP_BPF and CAP_SYS_ADMIN): the tests build real
# hosts in network namespaces.
GO        ?= go
PKGS      ?= ./...
FUZZTIME  ?= 10s
BENCHTIME ?= 1s
TESTFLAGS ?=

.PHONY: all build test bench lint fuzz demo clean leftovers xskbench

all: build

build:
	$(GO) build -o bin/engine ./cmd/engine

## test: every test, privileged ones included, under the race detector; then
## check that no namespace, link or XDP program was left behind. One package
## at a time (-p 1): the privileged ones move real traffic, and on a small
## machine two test binaries at once starve each other's workers and softirqs.
test:
	$(GO) test -race -count=1 -p 1 -timeout 30m $(TESTFLAGS) $(PKGS)
	@scripts/leftovers.sh

bench:
	$(GO) test -run='^$$' -bench=. -benchmem -benchtime=$(BENCHTIME) $(PKGS)

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	$(GO) tool staticcheck $(PKGS)

## fuzz: a short run of every fuzz target (FUZZTIME each).
fuzz:
	@FUZZTIME=$(FUZZTIME) GO=$(GO) scripts/fuzz.sh

demo: build
	$(GO) run ./examples/demo

leftovers:
	@scripts/leftovers.sh

clean:
	rm -rf bin

## xskbench: AF_XDP rxdrop/txonly/l2fwd, ours vs asavie/xdp vs the kernel path.
xskbench:
	$(GO) run ./bench/cmd/xskbench -json bin/xskbench.json
