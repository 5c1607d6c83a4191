#!/usr/bin/env bash
# Guided client selection on the main Fashion-MNIST job (docs/selection.md): for each seed, runs
# example 02 with --sampler uniform, oort and power-of-choice in the simulated heterogeneous fleet
# (--deadline), then reports, per seed and sampler, the simulated seconds to reach the accuracy
# uniform sampling reaches at its end.
#
# Accuracy is smoothed over a trailing window of W rounds (the test accuracy of one round moves by
# about ±0.01): the target is uniform's mean accuracy over its last W rounds; a run reaches it at the
# first round whose trailing W-round mean is at least the target, and its time is the sum of the
# rounds' simulated seconds (the slowest accepted client of each round) up to that round.
#
# The guided samplers' rounds are shorter (they avoid slow devices), so they run GUIDED_ROUNDS
# rounds (default 2 x ROUNDS) — what counts is simulated time, not rounds; a run that has not
# reached the target by its last round reports "never".
#
# usage: scripts/selection_experiment.sh BUILD_DIR OUT_DIR [SEEDS="1 2 3"] [ROUNDS=300] [W=10] [GUIDED_ROUNDS]
#   extra flags for every run: FEDPP_SELECTION_FLAGS (default "--deadline 10");
#   FEDPP_SELECTION_ANALYZE_ONLY=1 reads the CSVs already in OUT_DIR without running anything;
#   FEDPP_SELECTION_SAMPLERS="oort" runs only those samplers (the others' CSVs must be in OUT_DIR)
set -euo pipefail
build=${1:?build folder}
out=${2:?output folder}
seeds=${3:-1 2 3}
rounds=${4:-300}
window=${5:-10}
guided_rounds=${6:-$((2 * rounds))}
flags=${FEDPP_SELECTION_FLAGS:---deadline 10}
exe="$build/examples/02_fashion_mnist"
mkdir -p "$out"
samplers="uniform oort power-of-choice"
for seed in $seeds; do
  [[ ${FEDPP_SELECTION_ANALYZE_ONLY:-0} == 1 ]] && break
  for s in ${FEDPP_SELECTION_SAMPLERS:-$samplers}; do
    r=$rounds
    [[ $s != uniform ]] && r=$guided_rounds
    # shellcheck disable=SC2086
    nice -n 19 "$exe" --sampler "$s" --seed "$seed" --rounds "$r" $flags --no-central --hosts 1 \
      --csv "$out/$s-$seed.csv" >"$out/$s-$seed.log" 2>&1 &
  done
  wait
done

# first round whose trailing mean reaches target; prints "round seconds" (or "never total")
reach() {
  awk -F, -v target="$2" -v w="$window" '
    NR > 1 { n++; t += $12; a[n] = $2; s += $2; if (n > w) s -= a[n - w]
             if (!hit && n >= w && s / w >= target) { hit = 1; r = $1; tt = t } }
    END { if (hit) printf "%d %.1f\n", r, tt; else printf "never %.1f\n", t }' "$1"
}
# mean accuracy of the last w rounds
tail_mean() { awk -F, -v w="$window" 'NR > 1 { n++; a[n] = $2 } END { for (i = n - w + 1; i <= n; i++) s += a[i]; printf "%.4f\n", s / w }' "$1"; }

printf "%-5s %-16s %-8s %-10s %-12s %-8s\n" seed sampler target round sim_seconds speedup
for seed in $seeds; do
  target=$(tail_mean "$out/uniform-$seed.csv")
  read -r _ base <<<"$(reach "$out/uniform-$seed.csv" "$target")"
  for s in $samplers; do
    read -r r t <<<"$(reach "$out/$s-$seed.csv" "$target")"
    speedup=$(awk -v b="$base" -v t="$t" -v r="$r" 'BEGIN { if (r == "never") print "-"; else printf "%.2f", b / t }')
    printf "%-5s %-16s %-8s %-10s %-12s %-8s\n" "$seed" "$s" "$target" "$r" "$t" "$speedup"
  done
done
