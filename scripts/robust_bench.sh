#!/usr/bin/env bash
# Robust-aggregation benchmarks and their numpy peer in one invocation (Release). Every
# benchmark measures the read-bandwidth reference pass by pass with the rule, on as many threads
# (benchmarks/read_bandwidth_reference.hpp), so its x_read_bw ratio holds on a shared machine.
# Prints Google Benchmark's report, then one table of medians: time, GB/s (1e9 bytes/s), the
# reference's GB/s in the same passes, and the ratio.
# Usage: scripts/robust_bench.sh [build-dir]   (default build-robust-release)
#        REPETITIONS=5 scripts/robust_bench.sh  (default 3)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$root/build-robust-release}"
repetitions="${REPETITIONS:-3}"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" --target fedpp_bench -j2 >/dev/null
json="$(mktemp)"
trap 'rm -f "$json"' EXIT
"$build/benchmarks/fedpp_bench" --benchmark_filter='BM_robust_' \
  --benchmark_repetitions="$repetitions" --benchmark_report_aggregates_only=true --benchmark_min_time=0.5 \
  --benchmark_out="$json" --benchmark_out_format=json
/usr/bin/python3 - "$json" <<'PY'
import json, sys
rows = [b for b in json.load(open(sys.argv[1]))["benchmarks"] if b.get("aggregate_name") == "median"]
print(f"\n{'benchmark (medians of the repetitions)':46} {'time ms':>8} {'GB/s':>6} {'ref GB/s':>8} {'x read bw':>9}")
for b in rows:
    print(f"{b['run_name']:46} {b['real_time']:8.2f} {b['bytes_per_second'] / 1e9:6.2f} "
          f"{b['read_GBps']:8.2f} {b['x_read_bw']:9.3f}")
PY
/usr/bin/python3 "$root/benchmarks/robust_numpy_peer.py"
