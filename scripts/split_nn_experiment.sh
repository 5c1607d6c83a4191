#!/usr/bin/env bash
# The split neural network on Fashion-MNIST image halves (docs/vertical_split_nn.md): for each seed,
# example 18_split_nn with its defaults (20 epochs, bottom 392-128-64 per party, top 128-64-10,
# concat) — the split run, the same network trained centrally and the label holder's half alone —
# then the split run with the feature party's activations clipped to per-example norm C and noised
# with multiplier sigma (std sigma*C per coordinate), for each sigma of SIGMAS (0 = clipping only).
# Prints a markdown table: test accuracy per seed and the mean, and the bytes per training epoch.
#
# usage: scripts/split_nn_experiment.sh BUILD_DIR OUT_DIR [SEEDS="1 2 3"] [SIGMAS="0 0.1 0.25 0.5 1"] [C=5]
#   FEDPP_SPLIT_FLAGS: extra flags for every run (e.g. "--epochs 5");
#   FEDPP_SPLIT_ANALYZE_ONLY=1 reads the logs already in OUT_DIR without running anything;
#   FEDPP_SPLIT_JOBS: runs at a time (default 2).
set -euo pipefail
build=${1:?build folder}
out=${2:?output folder}
seeds=${3:-1 2 3}
sigmas=${4:-0 0.1 0.25 0.5 1}
clip=${5:-5}
flags=${FEDPP_SPLIT_FLAGS:-}
jobs=${FEDPP_SPLIT_JOBS:-2}
exe="$build/examples/18_split_nn"
mkdir -p "$out"

if [[ ${FEDPP_SPLIT_ANALYZE_ONLY:-0} != 1 ]]; then
  [[ -x $exe ]] || { echo "no $exe: build target 18_split_nn first" >&2; exit 1; }
  pending=()
  for seed in $seeds; do
    pending+=("base-$seed|--seed $seed")
    for s in $sigmas; do
      if [[ $s == 0 ]]; then
        pending+=("dp-$s-$seed|--seed $seed --no-central --cut-clip $clip")
      else
        pending+=("dp-$s-$seed|--seed $seed --no-central --cut-clip $clip --cut-noise $s --reproducible-noise")
      fi
    done
  done
  for item in "${pending[@]}"; do
    while (($(jobs -rp | wc -l) >= jobs)); do wait -n; done
    name=${item%%|*}
    args=${item#*|}
    # shellcheck disable=SC2086
    (nice -n 19 "$exe" $args $flags >"$out/$name.log" 2>&1 || echo "run $name failed (see $out/$name.log)" >&2) &
  done
  wait
fi

acc() { # log, line prefix -> the accuracy on that line
  sed -n "s/^$2.*final test accuracy \([0-9.]*\).*/\1/p" "$out/$1.log" | head -n1
}
row() { # label, log stem, prefix
  local label=$1 stem=$2 prefix=$3 cells="" sum=0 n=0 a
  for seed in $seeds; do
    a=$(acc "$stem-$seed" "$prefix")
    [[ -n $a ]] || a="?"
    cells+=" $a |"
    if [[ $a != "?" ]]; then
      sum=$(awk -v s="$sum" -v a="$a" 'BEGIN { print s + a }')
      n=$((n + 1))
    fi
  done
  local mean="?"
  ((n > 0)) && mean=$(awk -v s="$sum" -v n="$n" 'BEGIN { printf "%.4f", s / n }')
  echo "| $label |$cells $mean |"
}
header="| run |"
rule="|---|"
for seed in $seeds; do
  header+=" seed $seed |"
  rule+="---|"
done
echo "$header mean |"
echo "$rule---|"
row "split (no protection)" base "split:"
row "central, same architecture" base "central"
row "label holder's half alone" base "label holder alone"
for s in $sigmas; do
  if [[ $s == 0 ]]; then
    row "split, activations clipped to C = $clip" "dp-$s" "split:"
  else
    row "split, C = $clip, sigma = $s (noise std $(awk -v s="$s" -v c="$clip" 'BEGIN { print s * c }'))" "dp-$s" "split:"
  fi
done
first=$(set -- $seeds; echo "$1")
bytes=$(sed -n 's/.*bytes per training epoch \([0-9.]*\) MiB (\([0-9]*\) bytes).*/\1 MiB (\2 bytes)/p' "$out/base-$first.log" | head -n1)
echo
echo "bytes exchanged per training epoch (both directions, counted by the label holder's endpoint): $bytes"
