#!/usr/bin/env bash
# Robust-aggregation benchmarks and their numpy peer in one invocation (single thread, Release).
# Usage: scripts/robust_bench.sh [build-dir]   (default build-robust-release)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$root/build-robust-release}"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" --target fedpp_bench -j2 >/dev/null
"$build/benchmarks/fedpp_bench" --benchmark_filter='BM_reference_read_bandwidth|BM_robust_' \
  --benchmark_repetitions=3 --benchmark_report_aggregates_only=true --benchmark_min_time=0.5
/usr/bin/python3 "$root/benchmarks/robust_numpy_peer.py"
