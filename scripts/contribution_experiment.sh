#!/usr/bin/env bash
# Contribution evaluation and reputation-aware sampling on Fashion-MNIST (docs/incentives.md):
# example 15 with 20 % free-riders (half send the global model back, half add noise) and 20 % label
# flippers, 50 clients, 10 a round.
#
# 1. For each partition (iid, dirichlet with alpha 0.5) and seed: uniform sampling with GTG-Shapley
#    each round, then the reputation sampler; collects the contribution AUC (honest vs bad), the
#    reputation AUC, GTG's cost per round, and both runs' test accuracy (mean of the last 10
#    evaluations, one every 2 rounds).
# 2. On the first seed, IID: the four methods (gtg, tmc, loo, exact) on the same rounds, each
#    compared with exact Shapley on the same reconstructed models where it is not exact itself;
#    and GTG's cost with the MLP (784-200-10) instead of softmax regression.
#
# usage: scripts/contribution_experiment.sh BUILD_DIR OUT_DIR [SEEDS="1 2 3"] [ROUNDS=60]
#   FEDPP_CONTRIBUTION_ANALYZE_ONLY=1 reads the logs already in OUT_DIR without running anything;
#   FEDPP_CONTRIBUTION_PARTS="1 2" picks the parts to run; FEDPP_CONTRIBUTION_PARTITIONS="iid
#   dirichlet" the partitions of part 1; extra flags for every run: FEDPP_CONTRIBUTION_FLAGS.
set -euo pipefail
build=${1:?build folder}
out=${2:?output folder}
seeds=${3:-1 2 3}
rounds=${4:-60}
parts=${FEDPP_CONTRIBUTION_PARTS:-1 2}
partitions=${FEDPP_CONTRIBUTION_PARTITIONS:-iid dirichlet}
extra=${FEDPP_CONTRIBUTION_FLAGS:-}
exe="$build/examples/15_contribution"
mkdir -p "$out"
first_seed=${seeds%% *}

run() { # log-name, flags...
  local name=$1
  shift
  [[ ${FEDPP_CONTRIBUTION_ANALYZE_ONLY:-0} == 1 ]] && return 0
  echo "running $name" >&2
  # shellcheck disable=SC2086
  nice -n 19 "$exe" "$@" $extra >"$out/$name.log" 2>&1
}

if [[ " $parts " == *" 1 "* ]]; then
  for partition in $partitions; do
    for seed in $seeds; do
      run "main-$partition-$seed" --partition "$partition" --alpha 0.5 --seed "$seed" --rounds "$rounds" \
        --eval-every 2 --last 10 --scores-csv "$out/scores-$partition-$seed.csv"
    done
  done
fi
if [[ " $parts " == *" 2 "* ]]; then
  for method in gtg tmc loo; do
    run "method-$method" --method "$method" --seed "$first_seed" --rounds "$rounds" --samplers uniform --compare-exact
  done
  run "method-exact" --method exact --seed "$first_seed" --rounds "$rounds" --samplers uniform
  run "mlp-gtg" --model mlp --seed "$first_seed" --rounds 10 --samplers uniform --eval-every 10
fi

# --- tables ---------------------------------------------------------------------------------------
num() { # file, line pattern, awk field after the pattern's match -> the number
  grep -m1 "$2" "$1" | sed -E "s/.*$3 ([-+0-9.]+).*/\1/"
}
if [[ " $parts " == *" 1 "* ]]; then
  printf "%-9s %-4s %-9s %-9s %-9s %-9s %-9s %-9s %-9s %-12s\n" partition seed gtg_auc vs_rider vs_flip rep_auc \
    acc_unif acc_rep gain gtg_s/round
  for partition in $partitions; do
    for seed in $seeds; do
      f="$out/main-$partition-$seed.log"
      [[ -f $f ]] || continue
      line=$(grep -m1 "uniform contribution" "$f")
      auc=$(sed -E 's/.*honest vs bad ([0-9.]+).*/\1/' <<<"$line")
      rider=$(sed -E 's/.*vs free-riders ([0-9.]+).*/\1/' <<<"$line")
      flip=$(sed -E 's/.*vs label flippers ([0-9.]+).*/\1/' <<<"$line")
      rep=$(grep -m1 "^uniform reputation:" "$f" | sed -E 's/.*honest vs bad ([0-9.]+).*/\1/')
      acc_u=$(grep -m1 "^uniform    test accuracy" "$f" | sed -E 's/.*evaluations ([0-9.]+).*/\1/')
      acc_r=$(grep -m1 "^reputation test accuracy" "$f" | sed -E 's/.*evaluations ([0-9.]+).*/\1/')
      gain=$(num "$f" "reputation-aware sampling vs uniform" "uniform:")
      cost=$(num "$f" "gtg cost per round" "round:")
      printf "%-9s %-4s %-9s %-9s %-9s %-9s %-9s %-9s %-9s %-12s\n" "$partition" "$seed" "$auc" "$rider" "$flip" \
        "$rep" "$acc_u" "$acc_r" "$gain" "$cost"
    done
  done
fi
if [[ " $parts " == *" 2 "* ]]; then
  printf "\n%-8s %-9s %-12s %-14s %-12s %-10s\n" method auc s/round evaluations corr_exact max_err
  for method in gtg tmc loo exact; do
    f="$out/method-$method.log"
    [[ -f $f ]] || continue
    auc=$(grep -m1 "uniform contribution" "$f" | sed -E 's/.*honest vs bad ([0-9.]+).*/\1/')
    cost=$(grep -m1 "cost per round" "$f")
    secs=$(sed -E 's/.*round: ([0-9.]+) s.*/\1/' <<<"$cost")
    evals=$(sed -E 's/.* s, ([0-9.]+) utility.*/\1/' <<<"$cost")
    corr=$(grep -m1 "vs exact Shapley" "$f" | sed -E 's/.*correlation ([-0-9.]+).*/\1/' || true)
    err=$(grep -m1 "vs exact Shapley" "$f" | sed -E 's/.*largest error ([0-9.]+).*/\1/' || true)
    printf "%-8s %-9s %-12s %-14s %-12s %-10s\n" "$method" "$auc" "$secs" "$evals" "${corr:--}" "${err:--}"
  done
  f="$out/mlp-gtg.log"
  [[ -f $f ]] && printf "\nMLP: %s\n" "$(grep -m1 'gtg cost per round' "$f")"
fi
