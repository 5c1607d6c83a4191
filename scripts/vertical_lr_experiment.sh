#!/usr/bin/env bash
# The figures of docs/vertical_lr.md: example 20 (PSI + hetero-LR on the breast cancer data) with
# 1024- and 2048-bit Paillier keys, the same seed and schedule, and the table of accuracy/AUC
# (vertical, central Taylor, central exact logistic), time per epoch and bytes per epoch.
#   scripts/vertical_lr_experiment.sh [build dir]   (default: build; FEDPP_VLR_FLAGS adds flags)
set -euo pipefail
build="${1:-build}"
exe="$build/examples/20_vertical_lr"
[ -x "$exe" ] || { echo "build example 20 first: cmake --build $build --target 20_vertical_lr" >&2; exit 1; }
out="${FEDPP_VLR_OUT:-vertical_lr_runs}"
mkdir -p "$out"
for bits in ${FEDPP_VLR_KEYS:-1024 2048}; do
  echo "== $bits-bit key" >&2
  "$exe" --key-bits "$bits" --epochs 30 --seed 1 ${FEDPP_VLR_FLAGS:-} | tee "$out/keys_$bits.txt" >&2
done
echo "| key | epochs | vertical acc / AUC | central Taylor acc / AUC | central exact acc / AUC | s per epoch | KiB per epoch |"
echo "|---|---|---|---|---|---|---|"
for bits in ${FEDPP_VLR_KEYS:-1024 2048}; do
  f="$out/keys_$bits.txt"
  acc=$(grep '^test accuracy' "$f" | sed -E 's/.*vertical ([0-9.]+) \/ ([0-9.]+); central Taylor ([0-9.]+) \/ ([0-9.]+); central exact logistic ([0-9.]+) \/ ([0-9.]+)/\1 \/ \2|\3 \/ \4|\5 \/ \6/')
  ep=$(grep '^epochs:' "$f" | sed -E 's/epochs: ([0-9]+) .*time per epoch ([0-9.]+) s.*\(([0-9.]+) KiB per epoch\)/\1|\2|\3/')
  IFS='|' read -r e t k <<<"$ep"
  IFS='|' read -r v c x <<<"$acc"
  echo "| $bits | $e | $v | $c | $x | $t | $k |"
done
