#!/usr/bin/env bash
# Reproduces the table of docs/personalization.md: example 10 under Dir(0.1) and 2 shards per
# client, seeds 1-3, every method; prints each run and then, per partition and method, the
# per-client accuracy (mean and 10th percentile over the clients' own test splits) averaged over
# the seeds, with the spread (min-max) across seeds.
# Usage: scripts/personalization_experiment.sh [BUILD_DIR] [ROUNDS]   (defaults: build, 100)
set -euo pipefail
build=${1:-build}
rounds=${2:-100}
exe="$build/examples/10_personalization"
[[ -x "$exe" ]] || { echo "build $exe first (cmake --build $build --target 10_personalization)" >&2; exit 1; }
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for partition in dirichlet shards; do
  for seed in 1 2 3; do
    echo "# $partition seed $seed" | tee -a "$out"
    "$exe" --partition "$partition" --seed "$seed" --rounds "$rounds" \
      --methods fedavg,fedavg+finetune,fedper,fedrep,ditto | tee -a "$out"
  done
done
echo
echo "| partition | method | mean accuracy (seeds 1-3) | range | 10th percentile | range | MB up / down per run |"
echo "|---|---|---|---|---|---|---|"
awk '
  /^# / { partition = $2; next }
  $1 ~ /^(fedavg|fedavg\+finetune|fedper|fedrep|ditto)$/ && NF >= 7 {
    key = partition SUBSEP $1
    if (!(key in n)) { order[++k] = key; lo_m[key] = 2; lo_p[key] = 2; hi_m[key] = -1; hi_p[key] = -1 }
    n[key]++; sm[key] += $2; sp[key] += $3
    if ($2 < lo_m[key]) lo_m[key] = $2; if ($2 > hi_m[key]) hi_m[key] = $2
    if ($3 < lo_p[key]) lo_p[key] = $3; if ($3 > hi_p[key]) hi_p[key] = $3
    up[key] = $6; down[key] = $7
  }
  END {
    for (i = 1; i <= k; ++i) {
      split(order[i], f, SUBSEP)
      key = order[i]
      printf "| %s | %s | %.4f | %.4f-%.4f | %.4f | %.4f-%.4f | %s / %s |\n", f[1], f[2], sm[key] / n[key],
             lo_m[key], hi_m[key], sp[key] / n[key], lo_p[key], hi_p[key], up[key], down[key]
    }
  }' "$out"
