#!/usr/bin/env bash
# SecAgg vs SecAgg+ scaling (docs/secagg.md): one secure-aggregation round per (graph, n) with
# examples/08_secure_aggregation in its protocol-benchmark mode, D = 1,000 words, 10% of the
# clients dropping before the masked-input round (the costliest case for the server), SecAgg+
# parameters from secagg_plus_parameters::choose(n, 0.1, 0.0) (sigma 40, eta 20). Prints a
# Markdown table (CPU seconds; bytes per client are exact counts of the in-process transport).
#
# Usage: scripts/secagg_scaling.sh [BUILD_DIR]   (default build-secagg2-rel; a Release build)
#   SECAGG_SCALING_FULL=1 also runs the complete graph at n = 1000 (several CPU minutes).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$root/build-secagg2-rel}"
cmake --build "$build" --target 08_secure_aggregation -j2 >/dev/null
exe="$build/examples/08_secure_aggregation"
complete_sizes="50 100 200 500"
[[ "${SECAGG_SCALING_FULL:-0}" == 1 ]] && complete_sizes="$complete_sizes 1000"
rows=()
for n in $complete_sizes; do
  rows+=("$("$exe" --clients "$n" --dim 1000 --dropout 0.1 --graph complete --seed 1 --csv)")
done
for n in 50 100 200 500 1000; do
  rows+=("$("$exe" --clients "$n" --dim 1000 --dropout 0.1 --graph plus --seed 1 --csv)")
done
echo "| graph | n | degree k | threshold t | client CPU s / client | server CPU s | sent B / client | received B / client | exact |"
echo "|---|---|---|---|---|---|---|---|---|"
printf '%s\n' "${rows[@]}" | awk -F, '{ printf "| %s | %s | %s | %s | %.4f | %.3f | %s | %s | %s |\n", $2, $3, $5, $6, $8, $9, $11, $12, ($13 == 1 ? "yes" : "NO") }'
