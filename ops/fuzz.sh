#!/usr/bin/env bash
# The libFuzzer targets of tests/fuzz (issue 8): a separate clang tree (ASan, UBSan, libFuzzer), cached by ccache.
#   ops/fuzz.sh build [DIR]                   configure and build the fuzz tree in DIR (default build/fuzz)
#   ops/fuzz.sh run DIR TARGET [SECONDS]      replay TARGET's committed inputs (tests/fuzz/regressions/TARGET and
#                                             tests/fuzz/corpus/TARGET), then fuzz it for SECONDS (default 30)
# TARGET is one of event_json, event_fb, segment_log, policy. `run` fails on any crash, sanitizer report or finding;
# the input that caused it is left in DIR/artifacts/TARGET/: copy it into tests/fuzz/regressions/TARGET/ with the
# fix, so that every later run replays it. New inputs the fuzzer finds go to a scratch folder, never into the
# committed corpus. ctest runs `run` for each target, serially (CMakeLists.txt, GONGJI_FUZZ_BIN_DIR).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
scratch=""

build() {
  local dir="${1:-$root/build/fuzz}"
  export CCACHE_BASEDIR="$root" CCACHE_NOHASHDIR=1
  CC=clang-19 CXX=clang++-19 cmake -S "$root/tests/fuzz" -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    >/dev/null
  cmake --build "$dir" -j2
}

run() {
  local dir="$1" target="$2" seconds="${3:-30}"
  local bin="$dir/fuzz_$target" corpus="$root/tests/fuzz/corpus/$target" regr="$root/tests/fuzz/regressions/$target"
  [ -x "$bin" ] || { echo "fuzz: no $bin (build it with ops/fuzz.sh build $dir)" >&2; exit 1; }
  [ -d "$corpus" ] || { echo "fuzz: no seed corpus $corpus" >&2; exit 1; }
  # Leaks are findings too; UBSan reports end the run (the tree is built with -fno-sanitize-recover).
  export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}"
  export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
  # Readable stacks: any llvm-symbolizer will do (clang-19 does not bring one; Debian's llvm-NN packages do).
  local sym
  for sym in llvm-symbolizer-19 /usr/lib/llvm-19/bin/llvm-symbolizer llvm-symbolizer llvm-symbolizer-14; do
    sym="$(command -v "$sym" || true)"
    [ -n "$sym" ] && { export ASAN_SYMBOLIZER_PATH="${ASAN_SYMBOLIZER_PATH:-$sym}"; break; }
  done
  local art="$dir/artifacts/$target"
  mkdir -p "$art"
  scratch="$(mktemp -d)"
  trap 'rm -rf "$scratch"' EXIT
  export TMPDIR="$scratch"
  local inputs=()
  [ -d "$regr" ] && mapfile -t inputs < <(find "$regr" -type f | sort)
  mapfile -t -O "${#inputs[@]}" inputs < <(find "$corpus" -type f | sort)
  echo "== fuzz $target: replaying ${#inputs[@]} committed inputs"
  "$bin" -artifact_prefix="$art/" "${inputs[@]}" >"$scratch/replay.log" 2>&1 || {
    tail -n 200 "$scratch/replay.log"; echo "fuzz $target: a committed input fails" >&2; exit 1; }
  echo "== fuzz $target: fuzzing for ${seconds} s"
  mkdir -p "$scratch/new"
  local dirs=("$scratch/new" "$corpus")
  [ -d "$regr" ] && dirs+=("$regr")
  # A fixed seed in the suite: every run walks the same inputs (only how far it gets depends on the machine's speed),
  # so a test run never fails on a finding the previous run could not have made. GONGJI_FUZZ_SEED=0: a random seed.
  local opts=(-max_total_time="$seconds" -seed="${GONGJI_FUZZ_SEED:-20261201}" -timeout=10 -rss_limit_mb=2048
              -print_final_stats=1 -artifact_prefix="$art/")
  [ -f "$root/tests/fuzz/$target.dict" ] && opts+=(-dict="$root/tests/fuzz/$target.dict")
  if ! "$bin" "${opts[@]}" "${dirs[@]}" >"$scratch/fuzz.log" 2>&1; then
    # The report of the failing input, without the progress and the log's warnings before it (noise); then, last,
    # so that a log cut in the middle still shows it, what broke: the finding or sanitizer error and its stack.
    grep -v -E '^#[0-9]+ |^gongji: warning: ' "$scratch/fuzz.log" | tail -n 120
    echo "== fuzz $target: what broke"
    grep -m1 -A30 -E 'FUZZ FINDING|==[0-9]+==ERROR|terminate called|runtime error|deadly signal' "$scratch/fuzz.log" \
      | grep -v -E '^gongji: warning: ' || true
    echo "fuzz $target: FAILED; the input is in $art/ (keep it in tests/fuzz/regressions/$target/ with the fix)" >&2
    exit 1
  fi
  grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb)|^Done ' "$scratch/fuzz.log" || true
  echo "fuzz $target: no crash in ${seconds} s"
}

case "${1:-}" in
  build) shift; build "$@" ;;
  run) shift; [ $# -ge 2 ] || { echo "usage: ops/fuzz.sh run DIR TARGET [SECONDS]" >&2; exit 2; }; run "$@" ;;
  *) echo "usage: ops/fuzz.sh build [DIR] | run DIR TARGET [SECONDS]" >&2; exit 2 ;;
esac
