#!/usr/bin/env bash
# "A Little Is Enough" at and beyond the paper's z: 50 clients, all 50 train each round, 10 attack
# (20%), f = 10, 20 rounds. For each z (the paper's z_max for n = 50, f = 10, then larger shifts)
# and each aggregator, the final test accuracy; prints a markdown table and writes
# docs/img/robust_alie_sweep.png. Usage: scripts/alie_sweep.sh [build-dir]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$root/build-robust-release}"
out="${ROBUST_OUT:-/tmp/alie_sweep}"
mkdir -p "$out" "$root/docs/img"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" --target 04_robust_aggregation -j2 >/dev/null
aggs="fedavg median trimmed krum multikrum bulyan geomed"
zs="paper 1 3 10 30 100"
common=(--fraction 0.2 --clients 50 --clients-per-round 50 --f 10 --rounds 20 --eval-every 20)
run() { "$build/examples/04_robust_aggregation" "$@" "${common[@]}" | sed -n 's/^final accuracy //p'; }
header="| aggregator | no attack |"
rule="|---|---|"
for z in $zs; do header+=" ALIE z = $z |"; rule+="---|"; done
echo "$header"
echo "$rule"
for a in $aggs; do
  : >"$out/sweep-$a.dat"
  row="| $a | $(run --aggregator "$a" --attack none) |"
  for z in $zs; do
    if [ "$z" = paper ]; then acc=$(run --aggregator "$a" --attack alie); else
      acc=$(run --aggregator "$a" --attack alie --alie-z "$z"); fi
    row+=" $acc |"
    echo "$z $acc" >>"$out/sweep-$a.dat"
  done
  echo "$row"
done
if command -v gnuplot >/dev/null; then
  plot="set terminal pngcairo size 800,480 font ',10'; set output '$root/docs/img/robust_alie_sweep.png';"
  plot+="set key bottom left; set xlabel 'ALIE z (0.47 = Baruch et al. for n = 50, f = 10)'; set ylabel 'final test accuracy';"
  plot+="set title 'Fashion-MNIST, softmax, 50 IID clients, 10 attack (ALIE), 20 rounds'; set yrange [0:0.9];"
  plot+="set xtics ('0.47' 0, '1' 1, '3' 2, '10' 3, '30' 4, '100' 5); plot "
  sep=""
  for a in $aggs; do
    plot+="$sep'$out/sweep-$a.dat' using 0:2 with linespoints title '$a'"
    sep=", "
  done
  gnuplot -e "$plot"
fi
