#!/usr/bin/env bash
# Builds a compression-only benchmark binary (benchmarks/compression_bench.cpp plus
# kernels_bench.cpp for BM_reference_read_bandwidth) twice in Release -- -O2 (the x86-64 SSE2
# baseline) and -O3 -march=native -- runs it with the read-bandwidth reference, then the numpy
# peer, all in one invocation. (It compiles the two sources directly so that other families'
# benchmarks do not have to build.)
# Usage: scripts/compression_bench.sh [build-dir]   (default: <repo>/build-compression-bench)
# Env: REPETITIONS (default 3)
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
root="${1:-$repo/build-compression-bench}"
reps="${REPETITIONS:-3}"
mkdir -p "$root"
declare -A flags=([O2]="-O2 -DNDEBUG" [native]="-O3 -march=native -DNDEBUG")
for config in O2 native; do
  g++ -std=c++20 ${flags[$config]} -I"$repo/include" "$repo/benchmarks/kernels_bench.cpp" \
    "$repo/benchmarks/compression_bench.cpp" -o "$root/compression_bench_$config" -lbenchmark -lbenchmark_main -pthread
done
echo "== $(date -u +%Y-%m-%dT%H:%MZ), $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores, load: $(cut -d' ' -f1-3 /proc/loadavg)"
for config in O2 native; do
  echo "== compression_bench ($config: ${flags[$config]}), median of $reps"
  "$root/compression_bench_$config" --benchmark_filter='BM_reference_read_bandwidth|BM_compression' \
    --benchmark_repetitions="$reps" --benchmark_report_aggregates_only=true 2>/dev/null |
    grep -E '_median|^Benchmark|^---' || true
done
echo "== numpy peer"
/usr/bin/python3 "$repo/benchmarks/compression_numpy_peer.py" "$reps"
