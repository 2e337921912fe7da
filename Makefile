# cnnlens: `make serve` serves the page, `make test` runs every test.
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
GO ?= go
GOROOT := $(shell $(GO) env GOROOT)
WASMEXEC := $(GOROOT)/lib/wasm/go_js_wasm_exec
PORT ?= 8080
export GOFLAGS := -buildvcs=false

.PHONY: all build deps vet test test-native test-wasm conformance bench bench-smoke bench-go bench-native bench-wasm serve site wasm browser-deps test-browser screenshot clean

all: build

build:
	$(GO) build -o bin/cnnlens ./cmd/cnnlens

# Debian packages the tests need (CI runs as root on a fresh machine).
deps:
	@dpkg -s libonnx-testdata >/dev/null 2>&1 || { apt-get update -q && apt-get install -y -q libonnx-testdata; }
	@dpkg -s dataset-fashion-mnist >/dev/null 2>&1 || { apt-get update -q && apt-get install -y -q dataset-fashion-mnist; }
	@dpkg -s python3-numpy >/dev/null 2>&1 || { apt-get update -q && apt-get install -y -q python3-numpy; }
	@$(GO) mod download
	@$(MAKE) --no-print-directory ortcheck

# onnxruntime for the parity test of the bundled models: the npm package
# ships its CPU binary; --ignore-scripts skips its optional CUDA download.
ortcheck:
	@[ -d models/ortcheck/node_modules/onnxruntime-node ] || (cd models/ortcheck && npm ci --ignore-scripts --no-audit --no-fund)

vet:
	@out=$$(gofmt -l engine cmd models wasm internal 2>/dev/null); if [ -n "$$out" ]; then echo "gofmt needed: $$out"; exit 1; fi
	$(GO) vet ./...
	GOOS=js GOARCH=wasm $(GO) vet ./engine/... ./wasm
	GOOS=js GOARCH=wasm $(GO) vet -tags purego ./engine/kernels ./engine/ops

test: deps vet actionlint tidy-check test-native fuzz-smoke test-wasm test-models-wasm bench-smoke conformance test-browser

# Native: every package, including the oracle parity tests and the CLI.
test-native:
	$(GO) test -count=1 -timeout 60m ./...

# The engine again as GOOS=js GOARCH=wasm, run by Node.js.
# ResNet-18's ScoreCAM parity (768 forward passes, ~9 minutes natively)
# runs in test-native only; in wasm it is checked on tinycnn. Captum's
# occlusion, feature ablation and Integrated Gradients on ResNet-18 (169,
# 64 and 32 passes plus a search for float ties, ~9 minutes) run in both.
# The GEMM's plain-Go wasm kernel and the element loops' plain-Go twins
# (-tags purego; the default is assembly) are tested too.
# A wasm program's memory ends at 4 GiB. engine/cam's tests keep up to
# 1.1 GB live (ResNet-18 batches of augmented or noisy copies), and the
# collector's default target of twice that once let the heap reach the end
# ("out of memory" at 4.26 GB in use); GOMEMLIMIT (passed on by Node's
# wasm_exec) makes it collect harder past 3 GiB instead.
WASM_TEST_MEMLIMIT ?= 3GiB
test-wasm:
	GOMEMLIMIT=$(WASM_TEST_MEMLIMIT) GOOS=js GOARCH=wasm $(GO) test -count=1 -timeout 60m -exec="$(WASMEXEC)" -skip 'TestOracleResNet18/resnet18/(last|mid)\.scorecam' ./engine/...
	GOOS=js GOARCH=wasm $(GO) test -count=1 -tags purego -exec="$(WASMEXEC)" ./engine/kernels/
	GOOS=js GOARCH=wasm $(GO) test -count=1 -tags purego -exec="$(WASMEXEC)" -run 'Clip|Dw3|Depthwise|Fill|WgTransforms|Winograd|MaxPool|Relu|BatchNorm' ./engine/ops/

# The shapes generator must draw the same scenes as WebAssembly (the page
# and the bundled model's test set share the seeds).
test-models-wasm:
	GOOS=js GOARCH=wasm $(GO) test -count=1 -exec="$(WASMEXEC)" ./models/shapes/

# The official ONNX per-operator tests: prints claimed/passed/skipped.
conformance:
	$(GO) test -count=1 -v -run TestONNXConformance ./engine/model/ | grep -E '^ONNX conformance|^  (passed|skipped|FAILED)|^(--- |ok |FAIL|PASS)'

# The speed contract: the page's engine (bin/cnnlens.wasm) under Node.js,
# WORKERS worker threads with an engine each; PEERS=1 also runs
# ../shared/peers (TF.js wasm, scalar and SIMD) mode by mode in the same run.
# Only JSON lines on stdout, one per (engine, workload, mode, workers);
# docs/performance.md.
WORKLOADS ?= resnet18
MODES ?= forward,gradcam,saliency,smoothgrad,scorecam
WORKERS ?= 1
PEERS ?= 1
BENCHFLAGS ?=
bench:
	@$(MAKE) -s --no-print-directory wasm >&2
	@node bench/bench.mjs --wasm $(WASM) --workloads '$(WORKLOADS)' --modes '$(MODES)' --workers '$(WORKERS)' --peers '$(PEERS)' $(BENCHFLAGS)

# A quick run of the harness (tinycnn, every mode, and Ablation-CAM on the
# bundled shapes model, whose 64 channels make two pieces; one run per
# cell, 1 and 2 workers: the divided work must give one worker's result),
# part of make test.
SMOKE_MODES := forward,gradcam,saliency,smoothgrad,scorecam,ablationcam,metrics,gallery,retarget
bench-smoke:
	@$(MAKE) -s --no-print-directory wasm >&2
	{ node bench/bench.mjs --wasm $(WASM) --workloads tinycnn --modes $(SMOKE_MODES) --workers 1,2 --peers 0 --runs 1 --min-time 0 --warmup-time 0 && \
	  node bench/bench.mjs --wasm $(WASM) --workloads shapes --modes ablationcam --workers 1,2 --peers 0 --runs 1 --min-time 0 --warmup-time 0; } | \
	  node -e 'let n=0;for(const l of require("fs").readFileSync(0,"utf8").trim().split("\n")){const j=JSON.parse(l);n++;if(j.status!=="ok"||!(j.median_ms>0)||(j.workers>1&&j.same_as_one_worker!==true))throw new Error("bench-smoke: "+l)}if(n!==20)throw new Error("bench-smoke: "+n+" lines, want 20");console.log("bench-smoke: "+n+" cells ok")'

# Go benchmarks (testing.B), natively and in wasm.
BENCH ?= .
bench-go: bench-native bench-wasm

bench-native:
	$(GO) test -run XXX -bench '$(BENCH)' -benchtime 5x ./engine/...

# ResNet-18's native forward pass against PyTorch's on the same cores,
# alternating (Debian's python3-torch and python3-torchvision, installed if
# missing; random weights, nothing downloaded).
bench-pytorch:
	@/usr/bin/python3 -c 'import torchvision' 2>/dev/null || { apt-get update -q && apt-get install -y -q --no-install-recommends python3-torch python3-torchvision; }
	$(GO) test -c -o bin/model.test ./engine/model
	@for i in 1 2 3; do \
	  CNNLENS_ORACLE=$(ORACLE) bin/model.test -test.run XXX -test.bench 'ResNet18Forward$$' -test.benchtime 40x -test.cpu 2,1 | grep Benchmark; \
	  /usr/bin/python3 bench/pytorch-native.py --rounds 1; \
	done

bench-wasm:
	GOOS=js GOARCH=wasm $(GO) test -exec="$(WASMEXEC)" -run XXX -bench '$(BENCH)' -benchtime 3x ./engine/...

# The page: the engine as WebAssembly, web/, the bundled models and the
# sample images, as a static site in site/ (relative URLs: any host, any path).
# MODEL=path/to/model.onnx picks another default model (the tests use it
# while models/ has none).
MODEL ?=
WASM := bin/cnnlens.wasm

wasm:
	GOOS=js GOARCH=wasm $(GO) build -trimpath -ldflags='-s -w' -o $(WASM) ./wasm

SAMPLES := bin/samples

site: wasm build
	$(GO) build -o bin/serve ./cmd/serve
	@rm -rf $(SAMPLES) && mkdir -p $(SAMPLES)
	@bin/cnnlens shapes -n 8 -seed 1000000 -out $(SAMPLES)/shapes >/dev/null || echo "site: no shapes scenes (cnnlens shapes failed)"
	@[ ! -f models/scenes.onnx ] || bin/cnnlens shapes -showcase models/scenes.onnx -n 3 -seed 1000000 -out $(SAMPLES)/scenes >/dev/null || echo "site: no showcase scenes for the scenes model"
	bin/serve build -out site -wasm $(WASM) -samples testdata,$(SAMPLES)/shapes,$(SAMPLES)/scenes $(if $(MODEL),-model $(MODEL))
	$(GO) run ./wasm opening -site site

serve: site
	bin/serve -dir site -port $(PORT)

# The page in a real browser: Debian's chromium, driven by chromedp.
ORACLE ?= $(abspath ../shared/oracle)
browser-deps:
	@command -v chromium >/dev/null 2>&1 || { apt-get update -q && apt-get install -y -q chromium; }

test-browser: browser-deps
	@if [ -z "$(MODEL)" ] && ! ls models/*.onnx >/dev/null 2>&1; then \
	  echo "test-browser: models/ has no bundled model yet: testing with $(ORACLE)/tinycnn/model.onnx"; \
	  $(MAKE) --no-print-directory site MODEL=$(ORACLE)/tinycnn/model.onnx; \
	else $(MAKE) --no-print-directory site; fi
	CNNLENS_SITE=$(CURDIR)/site CNNLENS_ORACLE=$(ORACLE) $(GO) test -count=1 -tags browser -timeout 15m -v ./cmd/serve/ 2>&1 | grep -v '^=== RUN'

# The front page's picture of the page (web/screenshot.png, the first-load test's screenshot).
screenshot: browser-deps site
	CNNLENS_SITE=$(CURDIR)/site CNNLENS_ORACLE=$(ORACLE) CNNLENS_SCREENSHOT=$(CURDIR)/web/screenshot.png \
	  $(GO) test -count=1 -tags browser -run TestFirstLoad -v ./cmd/serve/ | grep -v '^=== RUN'

# The main view's pictures in docs/pictures (the page's three layouts).
page-pictures: browser-deps site
	CNNLENS_SITE=$(CURDIR)/site CNNLENS_ORACLE=$(ORACLE) CNNLENS_PICTURES=$(CURDIR)/docs/pictures \
	  $(GO) test -count=1 -tags browser -run 'TestPagePictures' -v ./cmd/serve/ | grep -v '^=== RUN'

# Start-up: navigation → first heatmap, cold and warm, over RUNS fresh
# browsers (TestFirstLoad's log lines), with the median of the cold runs.
RUNS ?= 10
startup: browser-deps site
	@$(GO) test -c -tags browser -o bin/serve.test ./cmd/serve/
	@cd cmd/serve && for i in $$(seq $(RUNS)); do \
	  CNNLENS_SITE=$(CURDIR)/site CNNLENS_ORACLE=$(ORACLE) ../../bin/serve.test -test.count=1 -test.run TestFirstLoad -test.v | grep 'startup (cold\|startup (warm'; \
	done | tee $(CURDIR)/bin/startup.log | sed 's/ after navigation.*//'
	@grep -o 'cold browser cache): first heatmap [0-9]*' bin/startup.log | awk '{print $$NF}' | sort -n | \
	  awk '{v[NR]=$$1} END {m = NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2; u=0; for (i=1;i<=NR;i++) if (v[i]<1000) u++; \
	    printf "cold first heatmap drawn by the engine over %d runs: median %g ms, %d–%d ms, under 1.0 s in %d\n", NR, m, v[1], v[NR], u}'
	@grep -o 'cold browser cache): opening view shown [0-9]*' bin/startup.log | awk '{print $$NF}' | sort -n | \
	  awk '{v[NR]=$$1} END {if (NR == 0) exit; m = NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2; \
	    printf "cold opening view (the map computed when the site was built) shown over %d runs: median %g ms, %d–%d ms\n", NR, m, v[1], v[NR]}'

.PHONY: bench-pytorch models bench-localization test-models-wasm ortcheck inside-pictures inside-page-pictures startup page-pictures

# The tests of the bundled models fail, instead of skipping, when the
# Fashion-MNIST package or onnxruntime (models/ortcheck) is missing.
export CNNLENS_REQUIRE_ALL := 1

# Bundled models: trains them with the engine (seeded and deterministic: the
# same weights on every run) and rewrites models/NAME.onnx and the cards
# models/NAME.json with the measured test accuracy. CPU time on one core:
# shapes 26 min (with generating its 44,000 scenes), scenes (multi-label,
# starting from shapes.onnx, so after it) 30 min, fashion 17 min;
# checkpoints go to build/checkpoints.
models: build deps
	bin/cnnlens train -model shapes -out models
	bin/cnnlens train -model scenes -out models
	bin/cnnlens train -model fashion -out models

# Localisation benchmark of every explanation method on 1,000 held-out
# shapes scenes (the table in docs/localisation.md). Most methods take seconds;
# ScoreCAM, Integrated Gradients and SmoothGrad (64, 20 and 10 passes per
# image) took 8, 6 and 3 minutes at n=1000 on the 2-core machine.
BENCH_N ?= 1000
bench-localization: build
	bin/cnnlens bench-localization -model models/shapes.onnx -n $(BENCH_N) -by-class
	bin/cnnlens bench-localization -model models/scenes.onnx -multilabel -n $(BENCH_N)

clean:
	rm -rf bin site

# The pictures of "inside the network" (docs/inside/*.png, docs/inside.md), made by
# the CLI from the bundled shapes and fashion models and a held-out scene.
INSIDE := docs/inside
inside-pictures: build
	@mkdir -p $(INSIDE) bin/inside && bin/cnnlens shapes -n 1 -seed 1000003 -out bin/inside >/dev/null
	bin/cnnlens filters -model models/shapes.onnx -layer /block1/conv/Conv -numbers -out $(INSIDE)/filters-shapes-block1.png
	bin/cnnlens featuremaps -model models/shapes.onnx -image bin/inside/0000.png -layer /block3/relu/Relu -sort weight -max 24 -numbers \
	  -out $(INSIDE)/featuremaps-block3.png -breakdown $(INSIDE)/breakdown-block3.png -tile 64
	bin/cnnlens pooling -model models/shapes.onnx -image bin/inside/0000.png -layer /block2/pool/MaxPool -out $(INSIDE)/pooling-block2.png
	bin/cnnlens rotations -model models/fashion.onnx -layer /block1/conv/Conv -out $(INSIDE)/rotations-fashion-block1.png
	for c in 0 1 2 3; do bin/cnnlens maximize -model models/shapes.onnx -layer /block3/relu/Relu -channel $$c -seed 1 -zoom 2 \
	  -out $(INSIDE)/maximize-block3-$$c.png || exit 1; done
	bin/cnnlens maximize -model models/shapes.onnx -class 0 -seed 1 -zoom 2 -out $(INSIDE)/maximize-class0.png
	cp bin/inside/0000.png $(INSIDE)/scene.png

# The page's "Inside the network" views and the steps of its walk-through
# (docs/pictures/inside-*.png, walk-*.png, shown in docs/inside.md), taken by
# the browser tests that check them.
inside-page-pictures: browser-deps site
	@mkdir -p docs/pictures
	CNNLENS_SITE=$(CURDIR)/site CNNLENS_PICTURES=$(CURDIR)/docs/pictures $(GO) test -count=1 -tags browser \
	  -run 'TestInsideColourBars|TestInsideWalkthrough' ./cmd/serve/

# The fuzz targets, a few seconds each, so that they keep compiling and
# running (their crashers in testdata/fuzz/ run with every go test). The
# budget is a count of executions, not a duration: Go 1.26's fuzzing
# coordinator can report a bare "context deadline exceeded" failure when a
# -fuzztime duration ends while a worker is busy (go.dev/issue/75804; the
# fix ships in Go 1.27), and a count has no deadline to race. A longer
# run: go test -run XXX -fuzz '^FuzzDecode$' -fuzztime 10m -parallel 1
# ./engine/imgproc/ (and the same for FuzzLoad).
FUZZTIME ?= 50000x
.PHONY: fuzz-smoke
fuzz-smoke:
	$(GO) test -run XXX -fuzz '^FuzzDecode$$' -fuzztime $(FUZZTIME) -parallel 1 ./engine/imgproc/
	$(GO) test -run XXX -fuzz '^FuzzLoad$$' -fuzztime $(FUZZTIME) -parallel 1 ./engine/model/

# go.mod and go.sum are what go mod tidy would write.
.PHONY: tidy-check
tidy-check:
	$(GO) mod tidy -diff

# Lints the GitHub workflows with actionlint, built by go run at a pinned
# version (go.mod is not touched).
.PHONY: actionlint
actionlint:
	$(GO) run github.com/rhysd/actionlint/cmd/actionlint@v1.7.12 .github/workflows/*.yml
