# syntax=docker/dockerfile:1
# The operator image: `cygni` built in a Rust image, run from distroless with nothing else.
# Release recipe (build, tag with the crate version, push): docs/release.md.
#
# The binary links glibc and libgcc_s (aws-lc-rs and ring are C underneath), so the runtime is
# distroless "cc", whose Debian 12 glibc is the one the Debian 12 (bookworm) builder links
# against. It carries the CA bundle (/etc/ssl/certs) the AWS SDK, kube and webhook clients trust.
# Base images are pinned by exact tag; pin them by digest too with
# `--build-arg RUST_IMAGE=...@sha256:...` (docs/release.md shows how to look the digests up).
# tests/image.rs checks this file against the chart (binary path, user, port, version).

ARG RUST_IMAGE=rust:1.95.0-slim-bookworm
ARG RUNTIME_IMAGE=gcr.io/distroless/cc-debian12:nonroot

FROM ${RUST_IMAGE} AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY benches ./benches
# Symbols are stripped: a smaller image, and panics still print their message and location.
ENV CARGO_PROFILE_RELEASE_STRIP=symbols
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin cygni \
    && install -D -m 0755 target/release/cygni /out/cygni

FROM ${RUNTIME_IMAGE}
COPY --from=build /out/cygni /usr/local/bin/cygni
# distroless' nonroot user, by number so that runAsNonRoot can verify it; the chart's
# podSecurityContext.runAsUser/runAsGroup are the same.
USER 65532:65532
# /metrics, /healthz and /readyz (`cygni run --listen-addr`, default 0.0.0.0:8080).
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/cygni"]
CMD ["run"]
