#!/usr/bin/env bash
# The addon's build as the Dockerfile's build stage runs it, and as tests run
# it outside Docker (no Docker engine runs on the build machines).
#
#   scripts/docker-build-steps.sh [--target TRIPLE] [--out DIR] [--stage DIR] [--skip-install]
#
# Steps, in order:
#   1. npm ci --ignore-scripts --no-audit --no-fund      (skipped with --skip-install)
#   2. npx napi build --platform --release --target TRIPLE --js binding.js --dts binding.d.ts
#        [--output-dir DIR]                           -> keyrotate.<platform>.node, binding.js, binding.d.ts
#   3. npx tsc -p packages/backend/tsconfig.json     -> packages/backend/dist/scripts/rotate-encryption-key.js
#   4. with --stage DIR, lay out what the backend image needs:
#        DIR/node_modules/@anythingmcp/keyrotate/   package.json index.js index.d.ts adopt.js locations.json
#                                                   cli/ binding.js binding.d.ts keyrotate.<platform>.node
#        DIR/backend/dist/src/scripts/rotate-encryption-key.js
#      Copied to /app in the backend image, `node /app/backend/dist/src/scripts/
#      rotate-encryption-key.js` (the path AnythingMCP's own build gives it)
#      finds the package through /app/node_modules, and so does the backend's
#      own code under /app/backend/dist.
#
# TRIPLE defaults to the host's (rustc -vV); under buildx, TARGETARCH (amd64,
# arm64) picks the architecture and the host's C library the ABI, so in
# node:22-alpine it is x86_64- or aarch64-unknown-linux-musl.
#
# Only what differs between hosts is conditional, and each branch says why:
# - On a musl host (Alpine), the C compiler is `gcc`. napi-rs would otherwise
#   link aarch64-unknown-linux-musl with `aarch64-linux-musl-gcc`, a
#   cross-compiler name that Alpine does not have.
# - On a glibc host building a musl target (how the musl build is exercised
#   outside Docker): Debian's musl-gcc (or <arch>-linux-musl-gcc for another
#   architecture) compiles and links against musl, and libgcc_s (the unwinder
#   the addon needs, which node:22-alpine has at run time) is taken from the
#   matching glibc GCC, since the musl specs hide it.
set -euo pipefail
cd "$(dirname "$0")/.."

TARGET="${KEYROTATE_TARGET:-}"
OUT=""
STAGE=""
INSTALL=1
while [ $# -gt 0 ]; do
  case "$1" in
    --target) TARGET="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    --stage) STAGE="$2"; shift 2 ;;
    --skip-install) INSTALL=0; shift ;;
    -h|--help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p;}' "$0"; exit 0 ;;
    *) echo "docker-build-steps: unknown argument $1 (try --help)" >&2; exit 2 ;;
  esac
done

step() { printf '== docker-build-steps: %s\n' "$*" >&2; }

HOST="$(rustc -vV | sed -n 's/^host: //p')"
host_arch="${HOST%%-*}"
host_libc=gnu
case "$HOST" in *-musl) host_libc=musl ;; esac

if [ -z "$TARGET" ]; then
  arch="$host_arch"
  case "${TARGETARCH:-}" in
    "") ;;
    amd64) arch=x86_64 ;;
    arm64) arch=aarch64 ;;
    *) echo "docker-build-steps: TARGETARCH=$TARGETARCH is not supported (amd64, arm64)" >&2; exit 2 ;;
  esac
  case "$HOST" in
    *-apple-darwin) TARGET="$arch-apple-darwin" ;;
    *) TARGET="$arch-unknown-linux-$host_libc" ;;
  esac
fi

case "$TARGET" in
  x86_64-unknown-linux-gnu) PLATFORM=linux-x64-gnu ;;
  x86_64-unknown-linux-musl) PLATFORM=linux-x64-musl ;;
  aarch64-unknown-linux-gnu) PLATFORM=linux-arm64-gnu ;;
  aarch64-unknown-linux-musl) PLATFORM=linux-arm64-musl ;;
  x86_64-apple-darwin) PLATFORM=darwin-x64 ;;
  aarch64-apple-darwin) PLATFORM=darwin-arm64 ;;
  *) echo "docker-build-steps: $TARGET is not in package.json napi.targets" >&2; exit 2 ;;
esac
target_env="$(printf '%s' "$TARGET" | tr 'a-z-' 'A-Z_')"
target_arch="${TARGET%%-*}"

if ! rustc --print target-libdir --target "$TARGET" >/dev/null 2>&1 ||
  [ ! -d "$(rustc --print target-libdir --target "$TARGET")" ]; then
  echo "docker-build-steps: the Rust standard library for $TARGET is not installed: rustup target add $TARGET" >&2
  exit 3
fi

case "$TARGET" in
  *-linux-musl)
    if [ "$host_libc" = musl ]; then
      export "CARGO_TARGET_${target_env}_LINKER=${CC:-gcc}"
    else
      # A musl-gcc style wrapper (gcc with musl's specs): Debian's musl-gcc
      # for the host's architecture, <arch>-linux-musl-gcc (napi-rs's name
      # for it) for another.
      linker_env="CARGO_TARGET_${target_env}_LINKER"
      musl_cc="${!linker_env:-}"
      if [ -z "$musl_cc" ]; then
        if [ "$target_arch" = "$host_arch" ]; then musl_cc=musl-gcc; else musl_cc="$target_arch-linux-musl-gcc"; fi
      fi
      if ! command -v "$musl_cc" >/dev/null; then
        echo "docker-build-steps: building $TARGET on a glibc host needs $musl_cc (Debian: apt-get install musl-tools" \
          "for the host's architecture); or build it in Docker, where buildx runs this stage on the target platform" >&2
        exit 3
      fi
      export "$linker_env=$musl_cc"
      export "CC_${TARGET//-/_}=$musl_cc"
      gnu_cc=gcc
      [ "$target_arch" = "$host_arch" ] || gnu_cc="$target_arch-linux-gnu-gcc"
      # A fixed directory: RUSTFLAGS are part of cargo's fingerprint, so a
      # new path each run would rebuild everything each run.
      shim="${CARGO_TARGET_DIR:-$PWD/target}/musl-host-libgcc/$TARGET"
      mkdir -p "$shim"
      libgcc_s="$("$gnu_cc" -print-file-name=libgcc_s.so.1)"
      if [ ! -f "$libgcc_s" ]; then
        echo "docker-build-steps: $gnu_cc has no libgcc_s.so.1 to link $TARGET against" >&2
        exit 3
      fi
      ln -sf "$libgcc_s" "$shim/libgcc_s.so.1"
      export RUSTFLAGS="${RUSTFLAGS:+$RUSTFLAGS }-C link-arg=-L$shim"
    fi
    ;;
  *-linux-gnu)
    if [ "$target_arch" != "$host_arch" ] && [ -z "$(printenv "CARGO_TARGET_${target_env}_LINKER" || true)" ]; then
      if command -v "$target_arch-linux-gnu-gcc" >/dev/null; then
        export "CARGO_TARGET_${target_env}_LINKER=$target_arch-linux-gnu-gcc"
        export "CC_${TARGET//-/_}=$target_arch-linux-gnu-gcc"
      else
        echo "docker-build-steps: cross-building $TARGET needs $target_arch-linux-gnu-gcc (Debian: gcc-$target_arch-linux-gnu)" >&2
        exit 3
      fi
    fi
    ;;
esac

if [ "$INSTALL" = 1 ]; then
  step "npm ci"
  npm ci --ignore-scripts --no-audit --no-fund
fi

step "napi build --target $TARGET"
napi_args=(build --platform --release --target "$TARGET" --js binding.js --dts binding.d.ts)
if [ -n "$OUT" ]; then
  mkdir -p "$OUT"
  napi_args+=(--output-dir "$OUT")
fi
npx napi "${napi_args[@]}"
OUT="${OUT:-.}"
if [ ! -f "$OUT/keyrotate.$PLATFORM.node" ]; then
  echo "docker-build-steps: napi build did not produce $OUT/keyrotate.$PLATFORM.node" >&2
  exit 1
fi

step "tsc (CLI shim)"
npx tsc -p packages/backend/tsconfig.json

if [ -n "$STAGE" ]; then
  step "stage into $STAGE"
  pkg="$STAGE/node_modules/@anythingmcp/keyrotate"
  # Where AnythingMCP's own build puts the command: one path in every image.
  scripts="$STAGE/backend/dist/src/scripts"
  mkdir -p "$pkg/cli" "$scripts"
  cp package.json index.js index.d.ts adopt.js locations.json "$pkg/"
  cp cli/*.js cli/index.d.ts cli/output.schema.json "$pkg/cli/"
  cp "$OUT/binding.js" "$OUT/binding.d.ts" "$OUT/keyrotate.$PLATFORM.node" "$pkg/"
  cp packages/backend/dist/scripts/rotate-encryption-key.js "$scripts/"
fi

step "built $OUT/keyrotate.$PLATFORM.node for $TARGET"
