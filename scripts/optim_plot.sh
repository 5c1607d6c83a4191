#!/usr/bin/env bash
# Plots test accuracy per round from example 05's CSVs (one per algorithm) with gnuplot.
#   scripts/optim_plot.sh <csv-dir> <out.png> [local epochs, default 1]
set -euo pipefail
dir=$1
png=$2
epochs=${3:-1}
plots=""
for a in fedavg fedprox scaffold fedavgm fedadam fedyogi fednova; do
  [ -f "$dir/$a.csv" ] || continue
  plots+="${plots:+, }'$dir/$a.csv' using 1:2 with lines lw 2 title '$a'"
done
gnuplot <<GP
set terminal pngcairo size 800,480 font ",10"
set output '$png'
set datafile separator ','
set key autotitle columnhead bottom right
set xlabel 'round'
set ylabel 'test accuracy'
set title 'Fashion-MNIST, MLP 784-200-10, 100 clients Dir(0.1), 10 per round, E=$epochs'
set grid
plot $plots
GP
