# The engine's build, test and demo entry points. Run as root (or with
# CAP_NET_ADMIN, CAP_NET_RAW, CAP_BPF and CAP_SYS_ADMIN): the tests build real
# hosts in network namespaces.
GO        ?= go
PKGS      ?= ./...
FUZZTIME  ?= 10s
BENCHTIME ?= 1s
TESTFLAGS ?=

# Two more modules beside the engine's: the benchmarks whose baselines are
# third-party libraries (asavie/xdp, xsync) and the lint tools (staticcheck),
# so that an embedder inherits only what the engine needs through its go.mod.
# `make lint` vets and staticchecks both code modules.
BASELINES   := bench/baselines
STATICCHECK  = $(GO) tool -modfile=$(CURDIR)/tools/go.mod staticcheck

.PHONY: all build test bench bench-baselines bench-million bench-scaling lint fuzz demo deps clean leftovers xskbench man completion

all: build

# The version `engine version` prints: git describe of the work tree (a tag,
# commits since, the abbreviated revision, -dirty), stamped into main.version.
# Go records vcs.revision and vcs.time by itself (engine version --json).
# The revision is stamped too, for environments that set GOFLAGS=-buildvcs=false.
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null)
REVISION ?= $(shell git rev-parse HEAD 2>/dev/null)
LDFLAGS   = -X main.version=$(VERSION) -X main.revision=$(REVISION)

build:
	$(GO) build -buildvcs=auto -ldflags '$(LDFLAGS)' -o bin/engine ./cmd/engine

## man: the manual pages, generated from the commands' flags, in bin/man/man1
## (view one with man -l bin/man/man1/engine-serve.1).
man: build
	bin/engine man bin/man/man1

## completion: the bash completion script, bin/engine.bash (source it, or
## copy it to /usr/share/bash-completion/completions/engine).
completion: build
	bin/engine completion bash > bin/engine.bash

## deps: install (as root on Debian) or check the packages, the Go version and
## the kernel the tests need; `make demo` checks its own smaller list.
deps:
	@scripts/deps.sh test

## test: every test, privileged ones included, under the race detector; then
## check that no namespace, link or XDP program was left behind. One package
## at a time (-p 1): the privileged ones move real traffic, and on a small
## machine two test binaries at once starve each other's workers and softirqs.
## Then 100,000 concurrent connections to the engine (issue #19), without the
## race detector, which slows the engine too much for that many. The
## output is also in bin/test.log; on a failure the first race report and
## the failing tests are printed again at the end (scripts/gotest.sh).
test:
	@scripts/deps.sh test
	GO=$(GO) scripts/gotest.sh bin/test.log -race -count=1 -p 1 -timeout 30m $(TESTFLAGS) $(PKGS)
	ENGINE_TCP_IDLE_CONNS=100000 $(GO) test -count=1 -run '^TestTCPIdleConnections$$' -timeout 10m -v ./engine
	@scripts/leftovers.sh

bench:
	$(GO) test -run='^$$' -bench=. -benchmem -benchtime=$(BENCHTIME) $(PKGS)

## bench-scaling: the side-by-side benchmarks (bench/) once per queue count
## (QUEUES=1,2 or 1,2,4,8), then a table of queues × benchmark × engine/kernel
## ratio and per-queue share, bin/scaling.json and bin/scaling.svg (package
## bench/scaling; the raw output in bin/scaling.txt). Short runs by default
## (three of each, medians; about two minutes for QUEUES=1,2 on 2 cores):
## SCALING_BENCHTIME overrides every benchmark's, SCALING_COUNT repeats them,
## SCALING_BENCH picks (udpecho,tcpshort,tcpdial,tcpbulk,lb or all),
## SCALING_ARGS passes flags to the benchmarks (-poll=busy -rss=false -pin -nap=10us -procs=2).
QUEUES            ?= 1,2
SCALING_BENCH     ?= udpecho,tcpshort,tcpdial,tcpbulk
SCALING_BENCHTIME ?=
SCALING_COUNT     ?= 3
SCALING_ARGS      ?=
bench-scaling:
	@mkdir -p bin
	$(GO) test -c -o bin/bench.test ./bench
	$(GO) run ./bench/scaling/cmd/scaling -test bin/bench.test -dir bench -queues $(QUEUES) \
	  -bench $(SCALING_BENCH) -benchtime '$(SCALING_BENCHTIME)' -count $(SCALING_COUNT) -args '$(SCALING_ARGS)' \
	  -log bin/scaling.txt -json bin/scaling.json -plot bin/scaling.svg

## bench-million: a million concurrent idle connections from kernel peers to
## the engine (TestTCPMillion; MILLION=100000 for fewer): the time to open
## them, the memory per connection beside the kernel's, the cost of Stats, and
## new connections accepted and dialed per second with none and with them open.
## A few minutes and about 12 GB of memory (the test skips when the machine has
## less); not part of `make test`.
MILLION ?= 1
bench-million:
	ENGINE_TCP_MILLION=$(MILLION) $(GO) test -run '^TestTCPMillion$$' -count=1 -v -timeout 30m ./engine

## bench-baselines: the engine against third-party libraries (module
## bench/baselines; xskbench has its own target).
bench-baselines:
	cd $(BASELINES) && $(GO) test -run='^$$' -bench=. -benchmem -benchtime=$(BENCHTIME) ./...

lint:
	@out=$$(git ls-files -co --exclude-standard '*.go' | while read -r f; do [ ! -e "$$f" ] || echo "$$f"; done | xargs gofmt -l); \
	  if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	@if grep -nE 'asavie/xdp|puzpuzpuz/xsync|honnef.co/go/tools' go.mod; then \
	  echo "go.mod: benchmark baselines and tools belong in $(BASELINES)/go.mod and tools/go.mod"; exit 1; fi
	$(GO) vet $(PKGS)
	$(STATICCHECK) $(PKGS)
	cd $(BASELINES) && $(GO) vet ./... && $(STATICCHECK) ./...

## fuzz: a short run of every fuzz target (FUZZTIME each).
fuzz:
	@FUZZTIME=$(FUZZTIME) GO=$(GO) scripts/fuzz.sh

demo:
	@scripts/deps.sh demo
	$(GO) build -buildvcs=auto -ldflags '$(LDFLAGS)' -o bin/engine ./cmd/engine
	$(GO) run ./examples/demo -engine $(CURDIR)/bin/engine

leftovers:
	@scripts/leftovers.sh

clean:
	rm -rf bin

## xskbench: AF_XDP rxdrop/txonly/l2fwd, ours vs asavie/xdp vs the kernel path.
xskbench:
	@mkdir -p bin
	cd $(BASELINES) && $(GO) run ./cmd/xskbench -json $(CURDIR)/bin/xskbench.json
