#!/usr/bin/env bash
# The synchronous server's per-round cost at 10^4, 10^5 and 10^6 registered clients (docs/scale.md):
# runs fedpp_scale_bench once per sampler and population (peak RSS is process-wide) with 5 repetitions and
# prints the medians as a table.
#   benchmarks/server_scale.sh [BUILD_DIR]     (default: build; needs -DFEDPP_BUILD_BENCHMARKS=ON, Release)
set -euo pipefail
build="${1:-build}"
exe="$build/benchmarks/fedpp_scale_bench"
[[ -x "$exe" ]] || { echo "no $exe: cmake --build $build --target fedpp_scale_bench" >&2; exit 2; }
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
# One process per (sampler, population): the peak RSS is process-wide.
for s in uniform weighted poisson_per_client poisson_geometric; do
  for n in 10000 100000 1000000; do
    "$exe" --benchmark_filter="BM_server_round_$s/$n/" --benchmark_out="$out/$s-$n.json" \
           --benchmark_out_format=json > /dev/null
  done
done
python3 - "$out" <<'PY'
import json, sys, glob, os
rows = []
for path in glob.glob(os.path.join(sys.argv[1], "*.json")):
    for b in json.load(open(path))["benchmarks"]:
        if b.get("aggregate_name") != "median":
            continue
        name, n = b["run_name"].split("/")[0], int(b["run_name"].split("/")[1])
        rows.append((name.replace("BM_server_round_", ""), n, b["round_ms"], b["round_alloc_KiB"],
                     b["round_peak_KiB"], b["registered_B_per_client"], b["peak_rss_MiB"]))
print("| sampler | registered clients | round (ms) | allocated per round (KiB) | heap peak in a round (KiB) |"
      " setup heap per client (B) | process peak RSS (MiB) |")
print("|---|---|---|---|---|---|---|")
for r in sorted(rows, key=lambda r: (r[0], r[1])):
    print(f"| {r[0]} | {r[1]:,} | {r[2]:.2f} | {r[3]:,.0f} | {r[4]:,.0f} | {r[5]:.3f} | {r[6]:.1f} |")
PY
