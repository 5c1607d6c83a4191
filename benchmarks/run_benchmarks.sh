#!/usr/bin/env bash
# Builds fedpp_bench twice in Release -- plain -O2 (the x86-64 SSE2 baseline users get by default)
# and -O3 -march=native -- runs both with repetitions, runs the numpy peer in the same
# invocation, and prints medians as GB/s, as a fraction of the read bandwidth measured in the
# same run (BM_reference_read_bandwidth), and FedAvg against numpy.
#
# Usage: benchmarks/run_benchmarks.sh [build-root]   (default: <repo>/build-bench)
# Env:   REPETITIONS (default 5), BENCH_FILTER (default: all), JOBS (default 2), OUT (JSON dir)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
root="${1:-$repo/build-bench}"
repetitions="${REPETITIONS:-5}"
filter="${BENCH_FILTER:-.}"
jobs="${JOBS:-2}"
out="${OUT:-$root/results}"
python=/usr/bin/python3 # Debian's python has numpy; the pyenv python3 on PATH does not
mkdir -p "$out"

declare -A flags=([O2]="-O2 -DNDEBUG" [native]="-O3 -march=native -DNDEBUG")
for config in O2 native; do
  build="$root/$config"
  cmake -S "$repo" -B "$build" -DCMAKE_BUILD_TYPE=Release "-DCMAKE_CXX_FLAGS_RELEASE=${flags[$config]}" \
    -DFEDPP_BUILD_TESTS=OFF -DFEDPP_BUILD_EXAMPLES=OFF -DFEDPP_BUILD_BENCHMARKS=ON >/dev/null
  cmake --build "$build" --target fedpp_bench -j "$jobs" >/dev/null
done

echo "== $(date -u +%Y-%m-%dT%H:%MZ), $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores, load: $(cut -d' ' -f1-3 /proc/loadavg)"
for config in O2 native; do
  echo "== fedpp_bench ($config: ${flags[$config]}), $repetitions repetitions"
  "$root/$config/benchmarks/fedpp_bench" --benchmark_filter="$filter" \
    --benchmark_repetitions="$repetitions" --benchmark_report_aggregates_only=true \
    --benchmark_out="$out/fedpp_bench_$config.json" --benchmark_out_format=json >/dev/null
done
echo "== numpy peer (Flower-style aggregate)"
"$python" "$repo/benchmarks/fedavg_numpy_peer.py" "$((repetitions + 2))" --json >"$out/numpy_peer.json"

"$python" - "$out" <<'PY'
import json, sys
out = sys.argv[1]
numpy = json.load(open(f"{out}/numpy_peer.json"))
print(f"numpy {numpy['numpy']} (OPENBLAS_CORETYPE={numpy['OPENBLAS_CORETYPE']}): "
      f"{numpy['median_gb_per_s']:.2f} GB/s median over {numpy['repetitions']} runs\n")
for config, flags in (("O2", "-O2"), ("native", "-O3 -march=native")):
    data = json.load(open(f"{out}/fedpp_bench_{config}.json"))
    medians = [b for b in data["benchmarks"] if b.get("aggregate_name") == "median"]
    ref = next((b["bytes_per_second"] for b in medians if b["run_name"].startswith("BM_reference_read_bandwidth")), None)
    print(f"### {flags}")
    print("| kernel | path | GB/s (median) | x read bandwidth | x numpy |")
    print("|---|---|---:|---:|---:|")
    for b in medians:
        name = b["run_name"].replace("/real_time", "")
        gbs = b["bytes_per_second"] / 1e9
        ratio = f"{b['bytes_per_second'] / ref:.2f}" if ref else "-"
        vs_numpy = f"{gbs / numpy['median_gb_per_s']:.2f}" if "fedavg" in name or "weighted_sum" in name else ""
        print(f"| {name} | {b.get('label', '')} | {gbs:.2f} | {ratio} | {vs_numpy} |")
    print()
PY
