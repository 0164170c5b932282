#!/usr/bin/env bash
# Bounded fuzzing smoke run: every cargo-fuzz target in fuzz/ for a fixed
# time each (default 25 s), starting from the committed seeds in fuzz/seeds
# plus whatever corpus earlier runs left in fuzz/corpus (not committed).
#
#   bash scripts/fuzz.sh                      # every target, 25 s each
#   FUZZ_SECONDS=300 bash scripts/fuzz.sh     # longer
#   bash scripts/fuzz.sh connection_parse     # one target
#
# Needs a nightly toolchain (rustup toolchain install nightly) and
# cargo-fuzz, which is installed here if missing. A crash stops the run with
# exit status 1 and leaves the input in fuzz/artifacts/<target>/; reproduce it
# with `cargo +nightly fuzz run <target> <file>`, fix it, and keep the input as
# a test in core/tests/regressions.rs.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

seconds="${FUZZ_SECONDS:-25}"
toolchain="${FUZZ_TOOLCHAIN:-nightly}"

if ! rustup run "$toolchain" rustc --version >/dev/null 2>&1; then
  echo "fuzz.sh: the $toolchain toolchain is missing; install it with: rustup toolchain install $toolchain" >&2
  exit 2
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi

dict_for() {
  case "$1" in
    connection_parse) echo "dict/connection_parse.dict" ;;
    envelope_*) echo "dict/base64.dict" ;;
    json_documents) echo "dict/json.dict" ;;
    *) echo "" ;;
  esac
}

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(cargo "+$toolchain" fuzz list)
fi

# One build for all targets, outside the timed runs.
cargo "+$toolchain" fuzz build >/dev/null

for target in "${targets[@]}"; do
  mkdir -p "corpus/$target" "seeds/$target"
  args=(-max_total_time="$seconds" -rss_limit_mb=2048 -print_final_stats=1)
  dict="$(dict_for "$target")"
  [ -n "$dict" ] && args+=(-dict="$dict")
  echo "== fuzz $target (${seconds}s)"
  # New inputs go to corpus/<target> (the first directory); seeds are read only.
  if ! cargo "+$toolchain" fuzz run "$target" "corpus/$target" "seeds/$target" -- "${args[@]}" \
      > "corpus/$target.log" 2>&1; then
    tail -n 40 "corpus/$target.log" >&2
    echo "fuzz.sh: $target found a crash; the input is in fuzz/artifacts/$target/" >&2
    exit 1
  fi
  grep -E '^(Done|stat::number_of_executed_units|stat::new_units_added)' "corpus/$target.log" || true
done
echo "fuzz.sh: no crashes"
