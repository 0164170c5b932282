#!/usr/bin/env bash
# The binaries of the per-platform npm packages, built on this machine into
# npm/<platform>/keyrotate.<platform>.node.
#
#   scripts/artifacts.sh [PLATFORM...]        (npm run artifacts -- [PLATFORM...])
#
# PLATFORM is a folder under npm/: linux-x64-gnu, linux-x64-musl,
# linux-arm64-gnu, linux-arm64-musl, darwin-x64, darwin-arm64 (the default on
# Linux: all six; on macOS: the two darwin ones).
#
# Linux: every target, the host's included, is cross-compiled with napi's
# cross-compile mode (`napi build --cross-compile`: cargo-zigbuild, with zig
# as C compiler and linker), so one x64 or arm64 Linux host builds all six.
# The gnu binaries are linked against glibc 2.17 symbols, so they load on any
# glibc from 2.17 on (Node 22 itself needs 2.28); the musl ones need only
# musl's libc (zig links its own unwinder in). zig and cargo-zigbuild come
# from PyPI (ziglang, cargo-zigbuild), pinned below, into .cache/tools/; the
# Rust standard libraries from `rustup target add`.
#
# The darwin binaries link only libSystem (zig ships its stubs): the one
# dependency that wanted an Apple framework, whoami, is replaced by
# patches/whoami (see the root Cargo.toml). They are built for macOS 11, the
# oldest Node 22 runs on, and name themselves @rpath/<file> rather than a
# path of this machine. On a Mac they build natively, without zig.
#
# Cargo's files go to target/artifacts/ (apart from the development build's,
# whose settings differ), each .node first to target/artifacts/out/<platform>/.
set -euo pipefail
cd "$(dirname "$0")/.."

ZIGLANG_VERSION=0.15.2
CARGO_ZIGBUILD_VERSION=0.24.1
GLIBC_VERSION=2.17
# Node 22's own minimum (its macOS binaries are built for 11.0).
export MACOSX_DEPLOYMENT_TARGET=11.0

TARGET_DIR=target/artifacts
TOOLS="$PWD/.cache/tools"

step() { printf '== artifacts: %s\n' "$*" >&2; }
die() { printf 'artifacts: %s\n' "$1" >&2; exit "${2:-1}"; }

# platform<TAB>triple for every package.json napi.targets entry, named as
# napi-rs names them.
mapfile -t TARGETS < <(node -e '
  const { parseTriple } = require("@napi-rs/cli");
  for (const t of require("./package.json").napi.targets) console.log(`${parseTriple(t).platformArchABI}\t${t}`);
')
triple_of() {
  local entry
  for entry in "${TARGETS[@]}"; do
    [ "${entry%%$'\t'*}" = "$1" ] && { printf '%s' "${entry#*$'\t'}"; return 0; }
  done
  return 1
}

host_os="$(uname -s)"
platforms=("$@")
if [ ${#platforms[@]} -eq 0 ]; then
  case "$host_os" in
    Linux) platforms=(linux-x64-gnu linux-x64-musl linux-arm64-gnu linux-arm64-musl darwin-x64 darwin-arm64) ;;
    Darwin) platforms=(darwin-x64 darwin-arm64) ;;
    *) die "no default platforms on $host_os; name them (see --help)" 2 ;;
  esac
fi
case "${platforms[0]}" in
  -h|--help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p;}' "$0"; exit 0 ;;
esac

triples=()
for p in "${platforms[@]}"; do
  t="$(triple_of "$p")" || die "$p is not a package.json napi.targets platform (${TARGETS[*]%%$'\t'*})" 2
  [ -f "npm/$p/package.json" ] || die "npm/$p/package.json is missing (npx napi create-npm-dirs)"
  case "$t:$host_os" in
    *-linux-*:Linux | *-apple-darwin:Linux | *-apple-darwin:Darwin) ;;
    *) die "$p cannot be built on $host_os here: build the Linux packages on a Linux host" 3 ;;
  esac
  triples+=("$t")
done

step "rustup target add ${triples[*]}"
rustup target add "${triples[@]}" >/dev/null 2>&1 || die "rustup target add ${triples[*]} failed" 3

if [ "$host_os" = Linux ]; then
  if [ ! -x "$TOOLS/bin/cargo-zigbuild" ] || [ ! -x "$TOOLS/ziglang/zig" ] ||
    [ "$(cat "$TOOLS/versions" 2>/dev/null)" != "$ZIGLANG_VERSION $CARGO_ZIGBUILD_VERSION" ]; then
    step "zig $ZIGLANG_VERSION and cargo-zigbuild $CARGO_ZIGBUILD_VERSION from PyPI into ${TOOLS#"$PWD"/}"
    rm -rf "$TOOLS"
    python3 -m pip install --quiet --disable-pip-version-check --no-warn-script-location --target "$TOOLS" \
      "ziglang==$ZIGLANG_VERSION" "cargo-zigbuild==$CARGO_ZIGBUILD_VERSION" ||
      die "could not install ziglang and cargo-zigbuild from PyPI" 3
    ln -sf ../ziglang/zig "$TOOLS/bin/zig"
    echo "$ZIGLANG_VERSION $CARGO_ZIGBUILD_VERSION" >"$TOOLS/versions"
  fi
  export PATH="$TOOLS/bin:$PATH"
fi

for i in "${!platforms[@]}"; do
  p="${platforms[$i]}"
  t="${triples[$i]}"
  out="$TARGET_DIR/out/$p"
  args=(build --platform --release --target-dir "$TARGET_DIR" --output-dir "$out" --no-js)
  case "$t:$host_os" in
    *-linux-gnu:*) args+=(--cross-compile --target "$t.$GLIBC_VERSION") ;;
    *-linux-*:* | *-apple-darwin:Linux) args+=(--cross-compile --target "$t") ;;
    *) args+=(--target "$t") ;;
  esac
  case "$t" in
    *-apple-darwin)
      var="CARGO_TARGET_$(printf '%s' "$t" | tr 'a-z-' 'A-Z_')_RUSTFLAGS"
      export "$var=-C link-arg=-Wl,-install_name,@rpath/keyrotate.$p.node"
      ;;
  esac
  step "napi ${args[*]}"
  mkdir -p "$out"
  npx napi "${args[@]}"
  [ -f "$out/keyrotate.$p.node" ] || die "napi build did not produce $out/keyrotate.$p.node"
  cp "$out/keyrotate.$p.node" "npm/$p/keyrotate.$p.node"
  step "npm/$p/keyrotate.$p.node ($t)"
done
