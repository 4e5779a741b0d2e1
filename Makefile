# modhunt — `make run` builds and hunts on this host; `make test` is what CI runs.
GO        ?= go
BIN       := build/modhunt.ext
PKGS      := ./...
LINT      := build/golangci-lint
FUZZTIME  ?= 20s
BENCHTIME ?= 1s
export CGO_ENABLED ?= 0

.PHONY: all build build-all run test test-short bench fuzz lint vet fmt tidy-check spec docs clean bpf bpf-check

all: build

build:
	$(GO) build -trimpath -o $(BIN) ./extension

# Every platform compiles from one tree, without cgo.
build-all:
	GOOS=linux   GOARCH=amd64 $(GO) build -trimpath -o build/linux-amd64/modhunt.ext  ./extension
	GOOS=linux   GOARCH=arm64 $(GO) build -trimpath -o build/linux-arm64/modhunt.ext  ./extension
	GOOS=windows GOARCH=amd64 $(GO) build -trimpath -o build/modhunt.exe              ./extension
	GOOS=darwin  GOARCH=arm64 $(GO) build -trimpath -o build/darwin-arm64/modhunt.ext ./extension
	GOOS=darwin  GOARCH=amd64 $(GO) build -trimpath -o build/darwin-amd64/modhunt.ext ./extension

# A first hunt on this host through the embedded engine: every pack query
# for this platform. hunt exits 1 when it found something; that is a result,
# not a failed build.
run: build
	@$(BIN) hunt; rc=$$?; [ $$rc -le 1 ] || exit $$rc

# The Linux suites, then the Windows ones under Wine (test/wine/wine.mk).
test: lint bpf-check
	$(GO) test -count=1 $(PKGS)
	@$(MAKE) --no-print-directory test-windows

test-short:
	$(GO) test -short $(PKGS)

# Benchmarks compare against a baseline measured in the same run; the README's figures come from here.
# Packages run one at a time (-p 1): one package's 1,000 sleeping processes would skew another's ratios.
bench:
	$(GO) test -p 1 -run '^$$' -bench . -benchtime $(BENCHTIME) -benchmem $(PKGS)

# Each fuzz target for a bounded time (go test allows one -fuzz target per run).
fuzz:
	@set -e; for pkg in $$($(GO) list $(PKGS)); do \
	  for t in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "fuzz $$pkg $$t"; $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; \
	done

vet:
	$(GO) vet $(PKGS)
	GOOS=windows $(GO) vet $(PKGS)
	GOOS=darwin  $(GO) vet $(PKGS)
	# No Mac runs the suites: the darwin test binaries must at least build and link, both architectures, without cgo.
	GOOS=darwin GOARCH=arm64 $(GO) test -c -o /dev/null $(PKGS)
	GOOS=darwin GOARCH=amd64 $(GO) test -c -o /dev/null $(PKGS)

fmt:
	gofmt -w $$(git ls-files '*.go')

# The pinned linter, built for this host (go tool would build it for $$GOOS).
$(LINT): tools/go.mod tools/go.sum
	$(GO) build -modfile=tools/go.mod -o $(LINT) github.com/golangci/golangci-lint/v2/cmd/golangci-lint

# go.mod must say what the code imports: direct requirements unmarked, nothing
# missing or extra (go mod tidy -diff prints the difference and fails).
tidy-check:
	@$(GO) mod tidy -diff || { echo "tidy-check: go.mod/go.sum are not tidy: run go mod tidy"; exit 1; }

lint: vet tidy-check $(LINT)
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(LINT) run $(PKGS)
	# Fields and helpers only Linux code uses are not dead on Windows or macOS, so those passes skip `unused`.
	GOOS=windows $(LINT) run --disable unused $(PKGS)
	GOOS=darwin  $(LINT) run --disable unused $(PKGS)

# The eBPF object and its Go loader are generated and committed: go build
# needs no clang. `make bpf` regenerates them (clang-14 and llvm-strip-14:
# apt-get install clang-14 llvm-14); another clang emits another object.
BPF_PKG := ./internal/loadsource
BPF_GEN := internal/loadsource/loadsource_bpfel.go internal/loadsource/loadsource_bpfel.o

bpf:
	$(GO) generate $(BPF_PKG)

# The committed object must be what its committed source compiles to:
# compile into a temporary directory and compare byte for byte. Without
# clang-14 (and libbpf-dev's helper headers) this is skipped, except under
# CI, where it fails.
bpf-check:
	@if ! command -v clang-14 >/dev/null || ! command -v llvm-strip-14 >/dev/null || [ ! -f /usr/include/bpf/bpf_helpers.h ]; then \
	  if [ -n "$$CI" ]; then echo "bpf-check: CI needs clang-14, llvm-strip-14 and libbpf-dev"; exit 1; fi; \
	  echo "bpf-check: skipped: no clang-14/llvm-strip-14/libbpf-dev (apt-get install clang-14 llvm-14 libbpf-dev)"; exit 0; \
	fi; \
	tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	BPF2GO_OUTPUT_DIR=$$tmp $(GO) generate $(BPF_PKG) || exit 1; \
	for f in $(BPF_GEN); do \
	  cmp -s "$$f" "$$tmp/$$(basename $$f)" || { echo "bpf-check: $$f is stale: run make bpf and commit the result"; exit 1; }; \
	done; \
	echo "bpf-check: the committed BPF object matches its source"

spec: build
	$(BIN) --spec

clean: wine-stop
	rm -rf build

include packs/packs.mk
include test/wine/wine.mk

# Regenerate the README's table reference from the table definitions.
docs:
	MODHUNT_UPDATE_DOCS=1 $(GO) test -count=1 -run TestREADMEDocumentsEveryTable ./tables/
