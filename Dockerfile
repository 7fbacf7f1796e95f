# syntax=docker/dockerfile:1
#
# Warden image, in two variants picked with --build-arg VARIANT:
#   cuda (default)  NVIDIA CUDA runtime base, with ggml's CUDA backend in
#                   /usr/local/lib/ollama (where /usr/local/bin/warden loads
#                   backends from). Without a GPU it runs on the CPU.
#   cpu             debian:bookworm-slim, CPU only, about 100 MB.
# The build stages run the Makefile's own targets (make cuda-backend, make
# build), so the image is built exactly as a checkout is.
#
#   docker build -t warden:cuda .                      (or: make docker)
#   docker build --build-arg VARIANT=cpu -t warden:cpu .
#
# docs/deploy.md: volumes and their permissions, TLS, GPUs, health check.

ARG VARIANT=cuda
ARG GO_VERSION=1.26.8
ARG CUDA_VERSION=12.8.1
ARG UBUNTU=ubuntu24.04

# The Go toolchain, copied into the CUDA build stage, which has none.
FROM golang:${GO_VERSION}-bookworm AS go

# ---- Build stages: the tools `make build` needs (third_party/setup.sh
# finds nlohmann-json and stb installed and fetches only miniaudio.h; CMake
# and Ninja build the CPU variant libraries).
FROM golang:${GO_VERSION}-bookworm AS build-cpu
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        g++ make cmake ninja-build nlohmann-json3-dev libstb-dev \
    && rm -rf /var/lib/apt/lists/*

FROM nvidia/cuda:${CUDA_VERSION}-devel-${UBUNTU} AS build-cuda
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        g++ make cmake ninja-build nlohmann-json3-dev libstb-dev git ca-certificates \
    && rm -rf /var/lib/apt/lists/*
COPY --from=go /usr/local/go /usr/local/go
ENV PATH=/usr/local/go/bin:$PATH

FROM build-${VARIANT} AS build
ARG VARIANT
WORKDIR /src
COPY go.mod go.sum ./
# Not a cache mount: build-backend.sh compiles ggml from the module cache.
RUN go mod download
# The CUDA backend depends only on the pinned ollama module and the build
# script, so it comes before the source: a code change does not recompile
# it (the longest step: minutes per GPU architecture).
# CUDA_ARCHS: 80 A100, 86 A10/RTX 30xx, 89 L4/L40/RTX 40xx, 90 H100/H200.
ARG CUDA_ARCHS="80;86;89;90"
ARG JOBS=
COPY Makefile ./
COPY deploy/build-backend.sh deploy/
# Both images carry every CPU variant (lib/ollama/cpu): the engine picks the
# one the host's CPU supports at start, so one image serves old and new CPUs.
RUN mkdir -p lib/ollama \
    && make cpu-variants JOBS="$JOBS" \
    && if [ "$VARIANT" = cuda ]; then \
        make cuda-backend CUDA_ARCHS="$CUDA_ARCHS" JOBS="$JOBS"; \
    fi
COPY . .
# CPU=portable for hosts without AVX2 (docs/build-flags.md).
ARG CPU=v3
ARG VERSION=dev
RUN --mount=type=cache,target=/root/.cache/go-build \
    make build CPU="$CPU" VERSION="$VERSION"

# ---- Runtime stages.
FROM nvidia/cuda:${CUDA_VERSION}-runtime-${UBUNTU} AS runtime-cuda
FROM debian:bookworm-slim AS runtime-cpu

FROM runtime-${VARIANT}
# curl serves the health check only (below). The service user has fixed ids,
# so host folders can be given to it: chown 10001:10001 (docs/deploy.md).
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        libstdc++6 curl ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 warden \
    && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/warden \
        --no-create-home --shell /usr/sbin/nologin warden \
    && install -d -o 10001 -g 10001 -m 0700 /var/lib/warden \
    && install -d -o root -g 10001 -m 0750 /models /etc/warden
COPY --from=build /src/bin/warden /usr/local/bin/warden
# The backends: lib/ollama/cpu/libggml-cpu-*.so (+ libggml-base.so) always,
# libggml-cuda.so in the CUDA image.
COPY --from=build /src/lib/ollama/ /usr/local/lib/ollama/
COPY --from=build /src/models.lock /etc/warden/models.lock
# Fail here, not at run time, if the CUDA backend needs a library this base
# lacks. libcuda.so.1 is the driver's: the NVIDIA container toolkit mounts it
# when the container starts with --gpus.
RUN if [ -e /usr/local/lib/ollama/libggml-cuda.so ]; then \
        missing=$(ldd /usr/local/lib/ollama/libggml-cuda.so | awk '/not found/ && $1 !~ /^libcuda\.so/ {print $1}'); \
        if [ -n "$missing" ]; then echo "libggml-cuda.so needs: $missing" >&2; exit 1; fi; \
    fi \
    && ls /usr/local/lib/ollama/cpu/libggml-cpu-*.so >/dev/null \
    && warden version

USER 10001:10001
WORKDIR /var/lib/warden
# State: signing keys, tokens, the audit log. Models are not here: mount
# them read-only at /models (docker run -v /srv/models:/models:ro).
VOLUME ["/var/lib/warden"]
EXPOSE 8080
# /healthz answers without a token. Plain HTTP first, then HTTPS for when
# --tls-cert is given; -k because this only asks whether this very process
# answers on loopback. Port 8080 is fixed here: with --port, pass
# docker run --health-cmd. Loading and hashing a large model takes minutes,
# hence the start period (a failure then does not count).
HEALTHCHECK --interval=30s --timeout=5s --start-period=5m --retries=3 \
    CMD curl -fsS -o /dev/null --max-time 4 http://127.0.0.1:8080/healthz \
     || curl -fsSk -o /dev/null --max-time 4 https://127.0.0.1:8080/healthz \
     || exit 1
# SIGTERM lets running requests finish (serve --grace, 30 s by default):
# give docker stop more than that, e.g. docker stop -t 45.
STOPSIGNAL SIGTERM
# Authentication is on by default, so listening beyond loopback is allowed.
# Arguments to docker run are added to these, e.g. --model /models/x.gguf.
ENTRYPOINT ["warden", "serve", "--host", "0.0.0.0", "--data-dir", "/var/lib/warden", "--lock", "/etc/warden/models.lock"]
CMD []
