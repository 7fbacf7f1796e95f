# Warden build. `make` builds bin/warden for this machine's CPU; `make test`
# runs every test; `make demo` serves the built-in demo model.
#
# CPU selects the x86-64 code of the CPU kernels built into bin/warden
# (docs/build-flags.md has the measurements behind the default):
#   CPU=v3        AVX2/FMA (x86-64-v3): any x86 CPU since ~2015   [default]
#   CPU=native    this machine's CPU exactly; not portable to older ones
#   CPU=portable  baseline x86-64 (SSE2 only): runs anywhere, slowest
# On other architectures the compiler's default is used.
#
# Beside it, `make` builds the CPU variants (AVX-512, VNNI, AMX, ...) into
# lib/ollama/cpu with CMake; at start the engine loads the best one this CPU
# supports (docs/cpu-variants.md). Without CMake, bin/warden still runs, on
# its built-in kernels, and says so.
#
# REPACK=1 (default) lets ggml's CPU backend repack Q4_0/Q4_K/IQ4_NL weights
# at load into the interleaved layout its AVX2/NEON GEMM kernels read, as
# upstream llama.cpp's CMake build does by default; cgo builds leave it
# out unless told. REPACK=0 keeps the plain layout (docs/build-flags.md).

GO       ?= go
CPU      ?= v3
REPACK   ?= 1
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
INCLUDE  := $(CURDIR)/build/include
ARCH     := $(shell uname -m)

ifeq ($(ARCH),x86_64)
  MARCH_portable :=
  MARCH_v3       := -march=x86-64-v3
  # The cgo build of ggml's CPU backend has no AMX kernels (ggml-cpu/amx is
  # not part of the module's cgo package), yet ggml-cpu.cpp calls them when
  # the compiler targets AMX: -march=native on an AMX host fails to link.
  # So native is native less AMX, where the compiler knows those flags
  # (deferred: the compiler is asked only when CPU=native); the
  # sapphirerapids variant library carries the AMX kernels instead.
  NO_AMX          = $(shell echo 'int main(void){return 0;}' | $(CC) -march=native $(AMX_OFF) -x c -o /dev/null - 2>/dev/null && echo '$(AMX_OFF)')
  AMX_OFF        := -mno-amx-tile -mno-amx-int8 -mno-amx-bf16
  MARCH_native    = -march=native $(NO_AMX)
  ifeq ($(origin MARCH_$(CPU)),undefined)
    $(error CPU=$(CPU): choose v3, native or portable)
  endif
  CPU_FLAGS := $(MARCH_$(CPU))
endif

export CGO_ENABLED  := 1
# go-sqlite3 compiles SQLite's FTS5 (the document base's keyword index,
# store/docbase) only under this tag; exported so that every go build,
# test and vet below gets it.
export GOFLAGS := $(strip $(GOFLAGS) -tags=sqlite_fts5)
ifeq ($(filter $(REPACK),0 1),)
  $(error REPACK=$(REPACK): choose 1 or 0)
endif
export CGO_CPPFLAGS := -I$(INCLUDE)$(if $(THIRD_PARTY_INCLUDE), -I$(THIRD_PARTY_INCLUDE))$(if $(filter 1,$(REPACK)), -DGGML_USE_CPU_REPACK)
# SQLITE_VEC_ENABLE_AVX: sqlite-vec's AVX kernel for L2 distances (the
# document base's vector search), where the target CPU has AVX for sure.
VEC_FLAGS := $(if $(filter v3,$(CPU)),-DSQLITE_VEC_ENABLE_AVX)
export CGO_CFLAGS   := -O3 $(CPU_FLAGS) $(VEC_FLAGS)
export CGO_CXXFLAGS := -O3 $(CPU_FLAGS)
LDFLAGS := -X main.version=$(VERSION)

.PHONY: all build deps test fuzz demo bench bench-flags bench-hash bench-cpu bench-peer bench-isolation bench-docbase bench-guard bench-ingest build-variant vet clean \
	cpu-variants install cuda cuda-backend cuda-src docker

all: build

deps: $(INCLUDE)/miniaudio/miniaudio.h

$(INCLUDE)/miniaudio/miniaudio.h: go.sum third_party/setup.sh
	third_party/setup.sh $(INCLUDE)

build: deps
	$(GO) build -ldflags '$(LDFLAGS)' -o bin/warden ./cmd/warden
	@$(MAKE) --no-print-directory cpu-variants || \
		echo "make: the CPU variants were not built (above: why); bin/warden runs on its built-in kernels" >&2

# cpu-variants builds ggml's CPU backend once per feature level
# (CPU_VARIANTS, default all: haswell skylakex icelake alderlake zen4
# sapphirerapids on x86-64) into BACKEND_PREFIX/lib/ollama/cpu. About 20 s
# each on 2 cores, once; later runs rebuild nothing.
cpu-variants:
	CPU_VARIANTS='$(CPU_VARIANTS)' deploy/build-backend.sh cpu '$(BACKEND_PREFIX)'

# install puts bin/warden and the backend libraries beside it under PREFIX:
# PREFIX/bin/warden loads them from PREFIX/lib/ollama (CPU variants in
# PREFIX/lib/ollama/cpu; CUDA after make cuda).
PREFIX ?= /usr/local
install: build
	install -d '$(DESTDIR)$(PREFIX)/bin' '$(DESTDIR)$(PREFIX)/lib/ollama'
	install -m 0755 bin/warden '$(DESTDIR)$(PREFIX)/bin/warden'
	cp -a lib/ollama/. '$(DESTDIR)$(PREFIX)/lib/ollama/'

# The tests include an end-to-end run of the real binary, so they build it
# with the same flags first.
# The race detector covers the packages that do not compile llama.cpp; with it, llama.cpp
# itself would be recompiled (minutes; run `go test -race ./...` by hand).
RACE_PKGS := ./auth/ ./engine/ ./engine/chat/ ./engine/cpuvariant/ ./engine/fit/ ./engine/gbnf/ ./engine/gguf/ ./engine/runner/ ./models/... ./server/ ./store/...
# WARDEN_REQUIRE_CPU_VARIANTS turns the variant tests' "not built" skip into
# a failure: here the build above made them.
test: build
	$(GO) vet ./...
	WARDEN_BIN=$(CURDIR)/bin/warden WARDEN_REQUIRE_CPU_VARIANTS=1 $(GO) test -count=1 ./...
	$(GO) test -count=1 -race $(RACE_PKGS)

# fuzz runs each parser of hostile input, the request values that reach
# llama.cpp (schemas, affixes, stops, prompts, sampling) and the guard's
# streaming leak detector under the fuzzer for FUZZTIME (make fuzz
# FUZZTIME=5m for a longer run). It is not part of make test: a fuzzer
# explores at random, so a gate that ran it would pass or fail by chance.
# What it finds is kept under testdata/fuzz, and those seed corpora run in
# every plain go test, so make test replays every input ever found.
FUZZTIME ?= 60s
fuzz: deps
	$(GO) test -run '^$$' -fuzz '^FuzzRead$$' -fuzztime $(FUZZTIME) ./engine/gguf/
	$(GO) test -run '^$$' -fuzz '^FuzzRedact$$' -fuzztime $(FUZZTIME) ./store/redact/
	$(GO) test -run '^$$' -fuzz '^FuzzText$$' -fuzztime $(FUZZTIME) ./store/docbase/extract/
	$(GO) test -run '^$$' -fuzz '^FuzzPDF$$' -fuzztime $(FUZZTIME) ./store/docbase/extract/
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./engine/gbnf/
	$(GO) test -run '^$$' -fuzz '^FuzzParseAgreesWithLlamaCpp$$' -fuzztime $(FUZZTIME) ./engine/llamacpp/
	$(GO) test -run '^$$' -fuzz '^FuzzGenerateFormat$$' -fuzztime $(FUZZTIME) ./engine/llamacpp/
	$(GO) test -run '^$$' -fuzz '^FuzzScanInvisible$$' -fuzztime $(FUZZTIME) ./server/guard/
	$(GO) test -run '^$$' -fuzz '^FuzzDetect$$' -fuzztime $(FUZZTIME) ./server/guard/
	$(GO) test -run '^$$' -fuzz '^FuzzLeakDetector$$' -fuzztime $(FUZZTIME) ./server/guard/

# The demo model also embeds, so that the document base (/v1/files,
# /v1/vector_stores) is on; its embeddings mean nothing (docs/docbase.md).
demo: build
	./bin/warden serve --embedding-model warden-demo

vet: deps
	$(GO) vet ./...

# bench-flags builds Warden four ways (three CPU targets with weight
# repacking, and v3 without it) and measures llama.cpp's prompt and decode
# speed with each, on a TinyLlama-1.1B-shape Q4_0 model written by the
# test-model writer. Each build compiles llama.cpp from scratch (minutes).
BENCH_MODEL ?= build/tinyllama-q4_0.gguf
BENCH_ARGS  ?= --runs 2 --prompt-tokens 64 --gen-tokens 32
FLAG_VARIANTS := portable:1 v3:1 native:1 v3:0
bench-flags: build
	@test -f $(BENCH_MODEL) || bin/warden testmodel --preset tinyllama $(BENCH_MODEL)
	@for v in $(FLAG_VARIANTS); do \
		$(MAKE) --no-print-directory CPU=$${v%:*} REPACK=$${v#*:} build-variant || exit 1; \
	done
	@for v in $(FLAG_VARIANTS); do \
		echo "== CPU=$${v%:*} REPACK=$${v#*:}"; \
		build/flags/warden-$${v%:*}-repack$${v#*:} bench engine --model $(BENCH_MODEL) $(BENCH_ARGS) || exit 1; \
	done

# bench measures the engine alone (1 and 8 generations at once), then
# serves the TinyLlama-shape model with 8 parallel sequences and drives it
# over HTTP: bursts of 1, 4 and 8 streaming clients starting together, then
# steady states of 1 and 8 clients sending back to back, and last one stream
# through the engine and the server in alternation (docs/benchmarks.md).
# The model is generated locally, hence --allow-unpinned.
BENCH_PORT ?= 18080
bench: build
	@test -f $(BENCH_MODEL) || bin/warden testmodel --preset tinyllama $(BENCH_MODEL)
	bin/warden bench engine --model $(BENCH_MODEL) --log-level warn --runs 2 --prompt-tokens 16 --gen-tokens 64
	bin/warden bench engine --model $(BENCH_MODEL) --log-level warn --runs 2 --prompt-tokens 16 --gen-tokens 64 --streams 8
	@token=$$(bin/warden token issue --data-dir build/bench-data --sub bench --role user) || exit 1; \
	bin/warden serve --model $(BENCH_MODEL) --allow-unpinned --ctx 512 --parallel 8 --port $(BENCH_PORT) \
		--data-dir build/bench-data --log-level warn & pid=$$!; trap "kill $$pid" EXIT; \
	http="bin/warden bench http --url http://127.0.0.1:$(BENCH_PORT) --token $$token --model $(notdir $(BENCH_MODEL:.gguf=)) --max-tokens 64"; \
	$$http --wait 2m --requests 1 >/dev/null || exit 1; \
	for k in 1 4 8; do $$http --clients $$k --requests 2 || exit 1; done; \
	$$http --clients 1 --duration 30s --save build/bench-steady-1.json || exit 1; \
	$$http --clients 8 --ramp 12s --duration 48s --baseline build/bench-steady-1.json || exit 1; \
	bin/warden bench overhead --model $(BENCH_MODEL) --name $(notdir $(BENCH_MODEL:.gguf=)) --ctx 512 \
		--url http://127.0.0.1:$(BENCH_PORT) --token $$token --log-level warn --rounds 11

# bench-isolation measures what the engine process costs: two servers,
# --engine in-process and --engine process (the default), driven in
# alternation with the steady loads of make bench, then bench overhead
# against each (deploy/bench-isolation.sh; ISO_DURATION=8s for a smoke run).
bench-isolation: build
	@test -f $(BENCH_MODEL) || bin/warden testmodel --preset tinyllama $(BENCH_MODEL)
	WARDEN=bin/warden BENCH_MODEL=$(BENCH_MODEL) deploy/bench-isolation.sh

# bench-cpu compares the CPU kernels in one run on the TinyLlama-shape
# model: the built-in ones (CPU=v3), each variant this CPU can run
# (WARDEN_CPU_VARIANT), and a CPU=native build, for 1 and 8 streams.
BENCH_CPU_ARGS ?= --runs 2 --prompt-tokens 16 --gen-tokens 64
bench-cpu: build
	@test -f $(BENCH_MODEL) || bin/warden testmodel --preset tinyllama $(BENCH_MODEL)
	@$(MAKE) --no-print-directory CPU=native build-variant
	@grep -m1 'model name' /proc/cpuinfo; grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | \
		grep -E '^(avx|avx2|fma|f16c|avx_vnni|avx512.*|amx.*)$$' | tr '\n' ' '; echo
	@for v in built-in $$(ls lib/ollama/cpu 2>/dev/null | sed -n 's/^libggml-cpu-\(.*\)\.so$$/\1/p') native; do \
		bin=bin/warden; env="WARDEN_CPU_VARIANT=$$v"; \
		if [ $$v = native ]; then bin=build/flags/warden-native-repack$(REPACK); env=; fi; \
		for s in 1 8; do \
			out=$$(env $$env $$bin bench engine --model $(BENCH_MODEL) --log-level error $(BENCH_CPU_ARGS) --streams $$s 2>&1) \
				|| { echo "$$v: $$(echo "$$out" | tail -1)"; continue 2; }; \
			printf '%-16s %d stream(s): %s\n' $$v $$s "$$(echo "$$out" | grep '^best')"; \
		done; \
	done

# bench-peer serves the same model with Warden (as bench does) and with
# its peer, Ollama v0.17.4 built from its Go module under build/peer with
# -O3 -march=native and weight repacking (cached), and drives both in
# alternation with bench http: steady states of 1 and 8 streams, 64 tokens
# per request, PEER_ROUNDS rounds each; then prints them side by side.
# PEER_DURATION=10s makes a short smoke run; deploy/bench-peer.sh lists the
# other settings (PEER_CFLAGS sets the peer's compiler flags).
bench-peer: build
	@test -f $(BENCH_MODEL) || bin/warden testmodel --preset tinyllama $(BENCH_MODEL)
	WARDEN=bin/warden BENCH_MODEL=$(BENCH_MODEL) WARDEN_PORT=$(BENCH_PORT) deploy/bench-peer.sh

build-variant: deps
	$(GO) build -ldflags '$(LDFLAGS)' -o build/flags/warden-$(CPU)-repack$(REPACK) ./cmd/warden

clean:
	rm -rf bin build lib/ollama

# bench-guard times one streamed 64-token chat reply through the server with
# the guard off and on (defaults, a 2 KiB pinned prompt, ten secrets), on a
# model that answers at once: the difference is the guard's cost per request.
bench-guard:
	$(GO) test -run '^$$' -bench '^BenchmarkGuardStage$$' -benchtime $(or $(GUARD_BENCHTIME),2000x) -count 3 ./server/

# bench-docbase measures document-base search (store/docbase) over
# synthetic 384-dimension chunks: p95 latency (p95-ms) of vector, hybrid
# and filtered hybrid searches with 100,000 chunks in one compartment;
# WARDEN_BENCH_1M=1 adds 1,000,000 across 10 compartments (long to build).
# Needs no llama.cpp: only SQLite and sqlite-vec are compiled.
bench-docbase:
	$(GO) test -run '^$$' -bench '^BenchmarkSearch' -benchtime $(or $(DOCBASE_BENCHTIME),200x) -timeout 120m ./store/docbase/

# bench-ingest measures document ingest in the engine alone (engine/llamacpp
# BenchmarkEmbedChunks): chunks/s embedding 256 chunks of 100-200 tokens in
# calls of 64, as the document base does, one input at a time (parallel=1)
# against inputs decoded together, for the demo model and a MiniLM-shape
# BERT with random weights. It compiles llama.cpp with the flags above
# (minutes, the first time); INGEST_COUNT=3 repeats each for the spread.
bench-ingest: deps
	$(GO) test -run '^$$' -bench '^BenchmarkEmbedChunks' -benchtime $(or $(INGEST_BENCHTIME),1x) -count $(or $(INGEST_COUNT),1) -timeout 60m ./engine/llamacpp/

# bench-hash compares `warden models verify` (open, checks, full SHA-256,
# header parse) with sha256sum on the same page-cached file, alternating
# runs; docs/models-lock.md has the figures.
bench-hash: build
	@test -f $(BENCH_MODEL) || bin/warden testmodel --preset tinyllama $(BENCH_MODEL)
	@bin/warden models add --lock build/bench-hash.lock --name bench-hash $(BENCH_MODEL) >/dev/null 2>&1
	@size=$$(stat -c %s $(BENCH_MODEL)); \
	for i in 1 2 3; do for tool in sha256sum warden; do \
		start=$$(date +%s%N); \
		if [ $$tool = sha256sum ]; then sha256sum $(BENCH_MODEL) >/dev/null; \
		else bin/warden models verify --lock build/bench-hash.lock --dir $(dir $(BENCH_MODEL)) bench-hash >/dev/null 2>&1; fi || exit 1; \
		ms=$$(( ($$(date +%s%N) - start) / 1000000 )); \
		echo "$$tool run $$i: $$ms ms, $$(( size / 1000 / ms )) MB/s"; \
	done; done

# ---- GPU backends and images (docs/build-gpu.md, docs/deploy.md) ----------
#
# bin/warden holds ggml's CPU backend (and Metal on Apple Silicon). `make
# cuda` adds the CUDA one as a shared library, built with CMake and nvcc from
# the ggml sources of the pinned ollama module, and installs it in
# lib/ollama/: the llama package loads backends from <exe dir>/../lib/ollama
# at start, so bin/warden finds it there. Needs CMake >= 3.21 and the CUDA
# toolkit >= 12; without nvcc it configures what it can and says what to
# install.
#   CUDA_ARCHS      GPU architectures (CMake syntax): 80 A100, 86 RTX 30xx/A10,
#                   89 L4/L40/RTX 40xx, 90 H100/H200; more = longer build
#   BACKEND_PREFIX  installs into PREFIX/lib/ollama (for PREFIX/bin/warden)
#   CUDA_BUNDLE_RUNTIME=1  also copy cudart and cuBLAS there (driver-only hosts)
CUDA_ARCHS     ?= 80;86;89;90
BACKEND_PREFIX ?= $(CURDIR)
cuda: cuda-backend build

cuda-backend:
	CUDA_ARCHS='$(CUDA_ARCHS)' deploy/build-backend.sh cuda '$(BACKEND_PREFIX)'

# cuda-src copies the module's CMake project and ggml sources (about 9 MB)
# into build/ollama-src, for building the backend on a machine without Go:
#   OLLAMA_SRC=build/ollama-src deploy/build-backend.sh cuda .
# The module cache is read-only, hence the chmod.
CUDA_SRC ?= build/ollama-src
cuda-src:
	@src=$$($(GO) mod download -json github.com/ollama/ollama | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$$/\1/p'); \
	test -f "$$src/CMakeLists.txt" || { echo "cuda-src: ollama module not found" >&2; exit 1; }; \
	if [ -d $(CUDA_SRC) ]; then chmod -R u+w $(CUDA_SRC) && rm -rf $(CUDA_SRC); fi; \
	mkdir -p $(CUDA_SRC)/ml/backend/ggml && \
	cp "$$src/CMakeLists.txt" $(CUDA_SRC)/ && \
	cp -R "$$src/ml/backend/ggml/ggml" $(CUDA_SRC)/ml/backend/ggml/ && \
	chmod -R u+w $(CUDA_SRC) && echo "copied $$src's ggml build to $(CUDA_SRC)"

# docker builds the image: VARIANT=cuda (NVIDIA CUDA runtime base) or cpu
# (debian:bookworm-slim). Needs a Docker engine with BuildKit.
VARIANT ?= cuda
docker:
	docker build --build-arg VARIANT=$(VARIANT) --build-arg VERSION=$(VERSION) \
		--build-arg CUDA_ARCHS='$(CUDA_ARCHS)' -t warden:$(VERSION)-$(VARIANT) .
