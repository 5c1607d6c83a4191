#!/usr/bin/env bash
# The whole test suite, exactly as CI runs it (.ci/run). Usage: scripts/test.sh [build-root]
# Stages, each in <build-root>/<stage>, each a suite_<stage> function below:
#   release  the build users make (CMAKE_BUILD_TYPE=Release: -O3 -DNDEBUG) of every target — tests,
#            examples, benchmarks, tools, header checks — with warnings as errors, then the whole
#            CTest suite on it (unit tests, examples' smoke runs, MPI, package, compile-fail tests).
#            GCC's flow-based warnings depend on -O3 inlining, so this is the build that must be clean.
#   asan     the library's tests built with clang++ at -O2 -g with assertions on, under
#            AddressSanitizer + UndefinedBehaviorSanitizer (so FEDPP_ASSERT is exercised even though
#            release drops it). clang compiles these instrumented tests about 2.5x faster than GCC, and
#            the stage doubles as the second compiler's warnings-as-errors build of every test.
#   tsan     the suites that run threads (ctest label "threads", see tests/CMakeLists.txt:
#            orchestration, transport, the thread pool and its users) at -O2 -g with assertions on,
#            under ThreadSanitizer, built with clang++ (the stage takes about 3/4 of its GCC time);
#            only those targets are built.
#   fuzz     the libFuzzer harnesses (tests/fuzz, built with clang): every committed finding replayed,
#            then each harness fuzzed for FUZZ_CI_SECONDS (default 5) seconds (scripts/fuzz.sh --ci).
# FEDPP_TEST_STAGES="asan tsan" scripts/test.sh runs a subset (default: all of them, in that order).
# Adding a stage: write suite_<name> (configure/build/ctest helpers below; a compiler is one more
# cmake argument, -DCMAKE_CXX_COMPILER=clang++) and append its name to default_stages.
set -euo pipefail
cd "$(dirname "$0")/.."
root=${1:-build}
jobs=$(nproc)
default_stages="release asan tsan fuzz"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1

# --- helpers -----------------------------------------------------------------------------------------
configure() { # dir, extra cmake args...: every stage builds fedpp's own targets with -Werror
  local dir=$1; shift
  cmake -S . -B "$dir" -DFEDPP_WARNINGS_AS_ERRORS=ON "$@" >/dev/null
}
build() { # dir, extra `cmake --build` args (e.g. --target t)...
  local dir=$1; shift
  cmake --build "$dir" -j"$jobs" "$@"
}
run_ctest() { # dir, extra ctest args (e.g. -L label)...
  local dir=$1; shift
  ctest --test-dir "$dir" -j"$jobs" --output-on-failure --timeout 600 "$@"
}
# Sanitized stages: -O2 -g without -DNDEBUG (assertions on).
sanitized=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -g")

# --- stages ------------------------------------------------------------------------------------------
suite_release() {
  local dir="$root/release"
  configure "$dir" -DCMAKE_BUILD_TYPE=Release -DFEDPP_BUILD_TESTS=ON -DFEDPP_BUILD_EXAMPLES=ON \
    -DFEDPP_BUILD_BENCHMARKS=ON -DFEDPP_BUILD_TOOLS=ON
  build "$dir"
  run_ctest "$dir"
}

suite_asan() {
  # The library's tests only: header self-containment and package-consumer checks are
  # compile/install-only, examples and benchmarks run (or build) in the release stage.
  local dir="$root/asan"
  configure "$dir" -DCMAKE_CXX_COMPILER=clang++ "${sanitized[@]}" -DFEDPP_SANITIZE=address,undefined -DFEDPP_CHECK_HEADERS=OFF \
    -DFEDPP_PACKAGE_TESTS=OFF -DFEDPP_BUILD_EXAMPLES=OFF -DFEDPP_BUILD_BENCHMARKS=OFF
  build "$dir"
  ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 run_ctest "$dir"
}

suite_tsan() {
  local dir="$root/tsan"
  configure "$dir" -DCMAKE_CXX_COMPILER=clang++ "${sanitized[@]}" -DFEDPP_SANITIZE=thread -DFEDPP_CHECK_HEADERS=OFF \
    -DFEDPP_PACKAGE_TESTS=OFF -DFEDPP_BUILD_EXAMPLES=OFF -DFEDPP_BUILD_BENCHMARKS=OFF -DFEDPP_BUILD_TOOLS=OFF
  # GCC 12's TSan runtime aborts ("unexpected memory mapping") under the high address-randomization
  # entropy of some recent kernels (vm.mmap_rnd_bits = 32), and clang 14's runtime (LLVM releases
  # before 18) maps memory the same fixed way: the build (whose test discovery runs the executables)
  # and the tests run without randomization where the kernel lets us turn it off.
  local no_aslr=()
  if setarch "$(uname -m)" -R true 2>/dev/null; then no_aslr=(setarch "$(uname -m)" -R); fi
  "${no_aslr[@]}" cmake --build "$dir" -j"$jobs" --target fedpp_threaded_tests
  TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 ${TSAN_OPTIONS:-}" \
    "${no_aslr[@]}" ctest --test-dir "$dir" -j"$jobs" --output-on-failure --timeout 600 -L threads
}

suite_fuzz() {
  FEDPP_FUZZ_BUILD="$(realpath -m "$root/fuzz")" FEDPP_FUZZ_JOBS="$jobs" scripts/fuzz.sh --ci
}

# --- driver ------------------------------------------------------------------------------------------
timings=() current=""
report() {
  local status=$?
  [ -z "$current" ] || timings+=("$current FAILED after $((SECONDS - start)) s")
  [ ${#timings[@]} -eq 0 ] || printf '== fedpp tests: %s\n' "${timings[@]}"
  return $status
}
trap report EXIT
for stage in ${FEDPP_TEST_STAGES:-$default_stages}; do
  declare -F "suite_$stage" >/dev/null || { echo "scripts/test.sh: no stage '$stage'" >&2; exit 2; }
  echo "== fedpp tests: $stage ($root/$stage)"
  start=$SECONDS current=$stage
  "suite_$stage"
  timings+=("$stage passed in $((SECONDS - start)) s") current=""
done
