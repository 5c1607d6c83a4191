#!/usr/bin/env bash
# Plots accuracy vs MiB uploaded from example 06's CSV (scheme,round,bytes_up,accuracy).
# Usage: scripts/compression_plot.sh runs.csv out.png
set -euo pipefail
csv="$1"
out="$2"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
schemes=$(tail -n +2 "$csv" | cut -d, -f1 | awk '!seen[$0]++')
plot=""
for s in $schemes; do
  awk -F, -v s="$s" 'NR > 1 && $1 == s { print $3 / 1048576, $4 }' "$csv" >"$tmp/$s.dat"
  plot+="'$tmp/$s.dat' using 1:2 with linespoints title '$s', "
done
gnuplot <<GP
set terminal pngcairo size 800,500 font ",10"
set output '$out'
set logscale x
set xlabel 'MiB uploaded by clients (log scale)'
set ylabel 'test accuracy'
set key bottom right
set grid
set title 'Fashion-MNIST, MLP 784-200-10, 100 clients Dir(0.5), 10 per round, 100 rounds'
plot ${plot%, }
GP
