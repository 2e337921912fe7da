# cnnlens: `make serve` serves the page, `make test` runs every test.
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
GO ?= go
GOROOT := $(shell $(GO) env GOROOT)
WASMEXEC := $(GOROOT)/lib/wasm/go_js_wasm_exec
PORT ?= 8080
export GOFLAGS := -buildvcs=false

.PHONY: all build deps vet test test-native test-wasm conformance bench bench-native bench-wasm serve site clean

all: build

build:
	$(GO) build -o bin/cnnlens ./cmd/cnnlens

# Debian packages the tests need (CI runs as root on a fresh machine).
deps:
	@dpkg -s libonnx-testdata >/dev/null 2>&1 || { apt-get update -q && apt-get install -y -q libonnx-testdata; }
	@$(GO) mod download

vet:
	@out=$$(gofmt -l engine cmd models wasm 2>/dev/null); if [ -n "$$out" ]; then echo "gofmt needed: $$out"; exit 1; fi
	$(GO) vet ./...
	GOOS=js GOARCH=wasm $(GO) vet ./engine/...

test: deps vet test-native test-wasm conformance

# Native: every package, including the oracle parity tests and the CLI.
test-native:
	$(GO) test -count=1 ./...

# The engine again as GOOS=js GOARCH=wasm, run by Node.js.
test-wasm:
	GOOS=js GOARCH=wasm $(GO) test -count=1 -exec="$(WASMEXEC)" ./engine/...

# The official ONNX per-operator tests: prints claimed/passed/skipped.
conformance:
	$(GO) test -count=1 -v -run TestONNXConformance ./engine/model/ | grep -E '^ONNX conformance|^  (passed|skipped|FAILED)|^(--- |ok |FAIL|PASS)'

BENCH ?= .
bench: bench-native bench-wasm

bench-native:
	$(GO) test -run XXX -bench '$(BENCH)' -benchtime 5x ./engine/...

bench-wasm:
	GOOS=js GOARCH=wasm $(GO) test -exec="$(WASMEXEC)" -run XXX -bench '$(BENCH)' -benchtime 3x ./engine/...

serve:
	@if [ -d web ] && [ -f web/index.html ]; then $(MAKE) site && $(GO) run ./cmd/serve -dir site -port $(PORT); \
	else echo "page not built yet: the web page lands with the page issue; the CLI works now: make build && bin/cnnlens info -model ../shared/oracle/tinycnn/model.onnx"; fi

clean:
	rm -rf bin site
