#!/usr/bin/env bash
# The figures of docs/transfer_learning.md: example 21 (federated transfer learning on Fashion-MNIST
# halves) in plaintext mode for seeds 1-3 per configuration (FTL vs B alone on the overlap's labels,
# accuracy on B's non-overlapping images, the margin and its mean), then the Paillier mode's time per step on a
# small configuration with 1024- and 2048-bit keys.
#   scripts/ftl_experiment.sh [build dir]   (default: build; FEDPP_FTL_FLAGS adds flags to the plaintext runs)
set -euo pipefail
build="${1:-build}"
exe="$build/examples/21_transfer_learning"
[ -x "$exe" ] || { echo "build example 21 first: cmake --build $build --target 21_transfer_learning" >&2; exit 1; }
out="${FEDPP_FTL_OUT:-ftl_runs}"
mkdir -p "$out"
# Configurations: overlap 300 and 100, with the paper's loss (--self-weight 0) and with A's own
# supervised term (--self-weight 1, the example's default).
configs=${FEDPP_FTL_CONFIGS:-"300:0 300:1 100:0 100:1"}
for cfg in $configs; do
  for seed in ${FEDPP_FTL_SEEDS:-1 2 3}; do
    echo "== overlap ${cfg%%:*} self-weight ${cfg##*:} seed $seed" >&2
    "$exe" --overlap "${cfg%%:*}" --self-weight "${cfg##*:}" --seed "$seed" ${FEDPP_FTL_FLAGS:-} \
      | tee "$out/o${cfg%%:*}_a${cfg##*:}_seed_$seed.txt" >&2
  done
done
echo "| overlap | A's own term α | seed | FTL accuracy | B alone (overlap labels) | margin | s per step |"
echo "|---|---|---|---|---|---|---|"
for cfg in $configs; do
  sum=0
  count=0
  for seed in ${FEDPP_FTL_SEEDS:-1 2 3}; do
    f="$out/o${cfg%%:*}_a${cfg##*:}_seed_$seed.txt"
    line=$(grep '^accuracy' "$f")
    ftl=$(sed -E 's/.*FTL ([0-9.]+),.*/\1/' <<<"$line")
    alone=$(sed -E 's/.*labels ([0-9.]+),.*/\1/' <<<"$line")
    margin=$(sed -E 's/.*margin ([-+0-9.]+).*/\1/' <<<"$line")
    step=$(grep '^time' "$f" | sed -E 's/.*\(([0-9.]+) s per step.*/\1/')
    echo "| ${cfg%%:*} | ${cfg##*:} | $seed | $ftl | $alone | $margin | $step |"
    sum=$(awk -v a="$sum" -v b="$margin" 'BEGIN { print a + b }')
    count=$((count + 1))
  done
  echo "| ${cfg%%:*} | ${cfg##*:} | mean | | | $(awk -v a="$sum" -v n="$count" 'BEGIN { printf "%+.4f", a / n }') | |"
done
echo
echo "| Paillier key | s per step (overlap 40, d 8, hidden 16) | KiB per step |"
echo "|---|---|---|"
for bits in ${FEDPP_FTL_KEYS:-1024 2048}; do
  "$exe" --mode paillier --key-bits "$bits" --a-rows 400 --b-rows 200 --overlap 40 --hidden 16 --dim 8 --steps 2 \
    --eval-rows 20 > "$out/paillier_$bits.txt"
  t=$(grep '^time' "$out/paillier_$bits.txt" | sed -E 's/.*\(([0-9.]+) s per step.*KiB.*/\1/; s/.*\(([0-9.]+) s per step.*/\1/')
  k=$(grep '^time' "$out/paillier_$bits.txt" | sed -E 's/.*\(([0-9.]+) KiB per step\).*/\1/')
  echo "| $bits | $t | $k |"
done
