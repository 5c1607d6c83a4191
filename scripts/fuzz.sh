#!/usr/bin/env bash
# Builds and runs fedpp's libFuzzer harnesses (tests/fuzz, docs/fuzzing.md).
#
#   scripts/fuzz.sh --ci                 build, replay tests/fuzz/findings, fuzz each harness
#                                        for FUZZ_CI_SECONDS (default 5) seconds; non-zero exit
#                                        on any finding (an open one replayed, or a new one)
#   scripts/fuzz.sh --campaign SECONDS   build, then fuzz each harness for SECONDS seconds, two
#                                        harnesses at a time, keeping the corpus in build/fuzz/corpus;
#                                        prints executions, coverage, corpus size and findings
#   scripts/fuzz.sh --replay             build, replay tests/fuzz/findings only
#   scripts/fuzz.sh --corpus             build, rewrite the committed seeds tests/fuzz/corpus
#
# Optional arguments after the mode: harness names (e.g. wire_decode secagg_server) to run only
# those. Environment: FEDPP_FUZZ_CXX (default clang++), FEDPP_FUZZ_JOBS (build and fuzz
# processes, default 2), FEDPP_FUZZ_BUILD (build folder, default build/fuzz), FUZZ_CI_SECONDS.
#
# While fuzzing, the invariants of the open findings (first column of tests/fuzz/findings/open.txt)
# are waived (FEDPP_FUZZ_WAIVE) so that a known bug does not stop a run; the findings themselves
# are replayed with nothing waived, so they fail until they are fixed.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${FEDPP_FUZZ_BUILD:-$root/build/fuzz}"
fuzz_dir="$root/tests/fuzz"
jobs="${FEDPP_FUZZ_JOBS:-2}"
cxx="${FEDPP_FUZZ_CXX:-clang++}"

usage() { sed -n '2,20p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 2; }

mode="${1:-}"
[[ -n "$mode" ]] || usage
shift
seconds=""
if [[ "$mode" == "--campaign" ]]; then
  seconds="${1:-}"
  [[ "$seconds" =~ ^[0-9]+$ ]] || usage
  shift
fi
case "$mode" in --ci | --campaign | --replay | --corpus) ;; *) usage ;; esac
only=("$@")

all_harnesses() {
  local f
  for f in "$build"/tests/fuzz/*_fuzz; do
    [[ -x "$f" ]] && basename "$f" _fuzz
  done
}

build_all() {
  local t0=$SECONDS
  if [[ ! -f "$build/CMakeCache.txt" ]]; then
    local generator=()
    command -v ninja >/dev/null && generator=(-G Ninja)
    cmake -S "$root" -B "$build" "${generator[@]}" -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_BUILD_TYPE= \
      -DFEDPP_BUILD_FUZZERS=ON -DFEDPP_BUILD_TESTS=ON -DFEDPP_BUILD_EXAMPLES=OFF \
      -DFEDPP_BUILD_BENCHMARKS=OFF -DFEDPP_BUILD_TOOLS=OFF -DFEDPP_INSTALL=OFF >"$build/configure.log" 2>&1 ||
      { cat "$build/configure.log"; exit 1; }
  fi
  cmake --build "$build" --target fedpp_fuzzers -j"$jobs" >"$build/build.log" 2>&1 ||
    { tail -50 "$build/build.log"; exit 1; }
  echo "fuzz: built the harnesses in $((SECONDS - t0)) s ($build)"
}

waivers() {
  [[ -f "$fuzz_dir/findings/open.txt" ]] || return 0
  grep -v '^[[:space:]]*\(#\|$\)' "$fuzz_dir/findings/open.txt" | awk '{print $1}' | paste -sd, -
}

# Replays every committed finding against its harness with nothing waived.
replay() {
  local failed=0 f name harness
  shopt -s nullglob
  for f in "$fuzz_dir"/findings/*-[0-9]*; do
    name="$(basename "$f")"
    harness="${name%-*}"
    if [[ ! -x "$build/tests/fuzz/${harness}_fuzz" ]]; then
      echo "fuzz: finding $name: no harness ${harness}_fuzz" >&2
      failed=1
      continue
    fi
    if env -u FEDPP_FUZZ_WAIVE "$build/tests/fuzz/${harness}_fuzz" "$f" >"$build/replay-$name.log" 2>&1; then
      if grep -v '^[[:space:]]*#' "$fuzz_dir/findings/open.txt" 2>/dev/null | grep -qw -- "$name"; then
        echo "fuzz: finding $name: passes now — delete its line in findings/open.txt (keep the file as a regression input)"
      else
        echo "fuzz: regression input $name: passes"
      fi
    else
      echo "fuzz: finding $name: OPEN — $(grep -m1 -E 'invariant broken|ERROR: (AddressSanitizer|UndefinedBehavior|libFuzzer)|runtime error' "$build/replay-$name.log" || echo 'see the log')"
      echo "      log: $build/replay-$name.log"
      failed=1
    fi
  done
  shopt -u nullglob
  return $failed
}

# run_one <harness> <seconds> <corpus dir>: one libFuzzer run; prints one summary line.
run_one() {
  local h="$1" secs="$2" corpus="$3"
  local exe="$build/tests/fuzz/${h}_fuzz" log="$build/logs/$h.log" art="$build/findings/$h-"
  local seeds=("$build/seeds/$h")
  [[ -d "$fuzz_dir/corpus/$h" ]] && seeds+=("$fuzz_dir/corpus/$h")
  mkdir -p "$corpus" "$build/logs" "$build/findings"
  local rc=0 t0=$SECONDS
  FEDPP_FUZZ_WAIVE="$(waivers)" TMPDIR="${FUZZ_TMPDIR:-/tmp}" \
    UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" \
    "$exe" -max_total_time="$secs" -timeout=10 -print_final_stats=1 -artifact_prefix="$art" \
    "$corpus" "${seeds[@]}" >"$log" 2>&1 || rc=$?
  local execs cov ft corp
  execs="$(grep -m1 'stat::number_of_executed_units' "$log" | awk '{print $2}')"
  cov="$(grep -E '^#[0-9]+.*cov: ' "$log" | tail -1 | sed -n 's/.*cov: \([0-9]*\).*/\1/p')"
  ft="$(grep -E '^#[0-9]+.*ft: ' "$log" | tail -1 | sed -n 's/.*ft: \([0-9]*\).*/\1/p')"
  corp="$(find "$corpus" -type f | wc -l)"
  local verdict="ok"
  if [[ $rc -ne 0 ]]; then
    verdict="FINDING (exit $rc): $(grep -m1 -E 'invariant broken|ERROR: (AddressSanitizer|UndefinedBehavior|LeakSanitizer|libFuzzer)|runtime error' "$log" || echo "see $log") — input: $(ls -t "$art"* 2>/dev/null | head -1)"
  fi
  printf '%-26s %12s execs  cov %5s  ft %6s  corpus %5s  %4ss  %s\n' "$h" "${execs:-?}" "${cov:-?}" "${ft:-?}" \
    "$corp" "$((SECONDS - t0))" "$verdict"
  [[ $rc -eq 0 ]]
}
export -f run_one waivers
export build fuzz_dir

fuzz_all() { # fuzz_all <seconds> <corpus root>
  local secs="$1" corpus_root="$2" list
  if ((${#only[@]})); then list=("${only[@]}"); else mapfile -t list < <(all_harnesses); fi
  printf '%-26s %12s        %-9s %-10s %-12s %s\n' harness executions coverage features corpus time
  printf '%s\n' "${list[@]}" |
    xargs -P "$jobs" -I{} bash -c 'run_one "$1" "$2" "$3/$1"' _ {} "$secs" "$corpus_root"
}

mkdir -p "$build"
build_all
rm -rf "$build/seeds"
"$build/tests/fuzz/fedpp_make_corpus" "$build/seeds"

status=0
case "$mode" in
--corpus)
  rm -rf "$fuzz_dir/corpus"
  "$build/tests/fuzz/fedpp_make_corpus" "$fuzz_dir/corpus"
  echo "fuzz: wrote $(find "$fuzz_dir/corpus" -type f | wc -l) seeds to tests/fuzz/corpus"
  ;;
--replay)
  replay || status=1
  ;;
--ci)
  t0=$SECONDS
  replay || status=1
  rm -rf "$build/ci-corpus"
  fuzz_all "${FUZZ_CI_SECONDS:-5}" "$build/ci-corpus" || status=1
  echo "fuzz: replay and fuzzing took $((SECONDS - t0)) s"
  ;;
--campaign)
  replay || true # open findings are reported above; the campaign fuzzes past them (waived)
  fuzz_all "$seconds" "$build/corpus" || status=1
  ;;
esac
if [[ $status -ne 0 ]]; then
  echo "fuzz: FAILED — findings above (new inputs are in $build/findings; commit a reproducer as tests/fuzz/findings/<harness>-<n>)"
fi
exit $status
