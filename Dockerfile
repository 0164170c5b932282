# syntax=docker/dockerfile:1
# keyrotate for AnythingMCP's backend image: node:22-alpine (musl libc) on
# linux/amd64 and linux/arm64.
#
#   docker buildx build --platform linux/amd64,linux/arm64 --target keyrotate-runtime .
#
# keyrotate-build   builds the addon with scripts/docker-build-steps.sh, the
#                   same script the tests run outside Docker (no Docker engine
#                   runs on this project's build machines; docs/packaging.md
#                   says what was and was not verified). It runs on the target
#                   platform itself: natively on an amd64 builder, under QEMU
#                   emulation for arm64 unless the builder is arm64 (emulated,
#                   the release build takes tens of minutes).
#                   Result: /out, laid out as the backend's /app needs it:
#                     /out/node_modules/@anythingmcp/keyrotate/  (package with
#                         keyrotate.linux-<x64|arm64>-musl.node)
#                     /out/backend/dist/src/scripts/rotate-encryption-key.js
# keyrotate-runtime a stand-in for AnythingMCP's `runner` stage (WORKDIR /app)
#                   with /out copied in, and a smoke test that fails the build
#                   if the binary does not load there.
#
# Into AnythingMCP's own Dockerfile: build this file's keyrotate-build stage
# (for example `--target keyrotate-build -t anythingmcp/keyrotate-build`, or
# paste the stage in with this repository as a subfolder of the build context),
# then add one line to its `runner` stage, after `WORKDIR /app`:
#
#   COPY --from=anythingmcp/keyrotate-build --chown=appuser:appuser /out/ /app/
#
# after which, from the host:
#
#   docker compose exec app node /app/backend/dist/src/scripts/rotate-encryption-key.js --help
#
# the same path as where the backend's own build puts it once it depends on
# the package (docs/adopting.md). Node resolves @anythingmcp/keyrotate
# through /app/node_modules both for that script and for the backend's own
# code under /app/backend/dist. N-API is
# ABI-stable, so the addon built with Node 22 also loads in a runner on a newer
# Node (the upstream image's NODE_VERSION may be 24 or 26).

ARG NODE_VERSION=22-alpine
ARG RUST_VERSION=1.95.0

FROM --platform=$TARGETPLATFORM node:${NODE_VERSION} AS keyrotate-build
ARG RUST_VERSION
ARG TARGETARCH
# bash runs the build script; build-base brings gcc, musl-dev and make for
# ring's C and assembly; rustup installs the pinned toolchain, whose host on
# Alpine is <arch>-unknown-linux-musl. No OpenSSL: TLS is rustls.
RUN apk add --no-cache bash build-base rustup
ENV RUSTUP_HOME=/usr/local/rustup \
    CARGO_HOME=/usr/local/cargo \
    PATH=/usr/local/cargo/bin:$PATH
RUN rustup-init -y --no-modify-path --profile minimal --default-toolchain "${RUST_VERSION}" \
 && rustc -vV
WORKDIR /src
# .dockerignore lets in only the sources the build reads.
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/src/target,sharing=locked \
    --mount=type=cache,target=/root/.npm,sharing=locked \
    bash scripts/docker-build-steps.sh --stage /out

FROM node:${NODE_VERSION} AS keyrotate-runtime
WORKDIR /app
COPY --from=keyrotate-build /out/ /app/
RUN node -e "const k = require('@anythingmcp/keyrotate'); k.keyFingerprint(k.generateKey()); console.log('keyrotate loads on', process.platform, process.arch)" \
 && node backend/dist/src/scripts/rotate-encryption-key.js --help >/dev/null
