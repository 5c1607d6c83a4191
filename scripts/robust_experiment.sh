#!/usr/bin/env bash
# Fashion-MNIST under attack: every aggregator x {none, signflip, alie}, 20% attackers.
# Writes docs/img/robust_*.png and prints a markdown table. Usage: scripts/robust_experiment.sh [build-dir]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$root/build-robust-release}"
out="${ROBUST_OUT:-/tmp/robust_experiment}"
mkdir -p "$out" "$root/docs/img"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" --target 04_robust_aggregation -j2 >/dev/null
aggs="fedavg median trimmed krum multikrum bulyan geomed normbound"
attacks="none signflip alie"
echo "| aggregator | no attack | sign flip (20%) | ALIE (20%) |"
echo "|---|---|---|---|"
for a in $aggs; do
  row="| $a |"
  for t in $attacks; do
    acc=$("$build/examples/04_robust_aggregation" --aggregator "$a" --attack "$t" --fraction 0.2 --rounds 20 \
          --eval-every 2 --csv "$out/$a-$t.csv" | sed -n 's/^final accuracy //p')
    row="$row $acc |"
  done
  echo "$row"
done
for t in signflip alie; do
  plot="set terminal pngcairo size 800,480 font ',10'; set output '$root/docs/img/robust_$t.png';"
  plot+="set datafile separator ','; set key bottom right; set xlabel 'round'; set ylabel 'test accuracy';"
  plot+="set title 'Fashion-MNIST, softmax, 20 IID clients, 4 attack ($t)'; set yrange [0:0.9]; plot "
  sep=""
  for a in $aggs; do plot+="$sep'$out/$a-$t.csv' skip 1 using 1:2 with linespoints title '$a'"; sep=", "; done
  plot+=", '$out/fedavg-none.csv' skip 1 using 1:2 with lines dt 2 lc 'black' title 'fedavg, no attack'"
  gnuplot -e "$plot"
done
