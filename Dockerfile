# Minimal CPU image. GPU builds (CUDA base image, make cuda) come later.
FROM golang:1.26-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends \
        nlohmann-json3-dev libstb-dev g++ make \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# CPU=portable for hosts without AVX2 (see docs/build-flags.md).
ARG CPU=v3
RUN make build CPU=${CPU}

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends libstdc++6 curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home /var/lib/warden --create-home --shell /usr/sbin/nologin warden
COPY --from=build /src/bin/warden /usr/local/bin/warden
COPY --from=build /src/models.lock /etc/warden/models.lock
USER warden
WORKDIR /var/lib/warden
# Warden binds loopback only until authentication exists, so a published
# port does not reach it: put an authenticating proxy in the same network
# namespace (a sidecar) in front of it.
EXPOSE 8080
HEALTHCHECK CMD curl -fsS http://127.0.0.1:8080/healthz || exit 1
ENTRYPOINT ["warden", "--lock", "/etc/warden/models.lock", "--data-dir", "/var/lib/warden"]
CMD ["serve"]
