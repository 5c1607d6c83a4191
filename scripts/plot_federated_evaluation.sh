#!/usr/bin/env bash
# Plots the federated evaluation of a 02_fashion_mnist run (--federated-eval-every K): the clients'
# example-weighted and unweighted mean accuracy, 10th percentile and worst client per evaluation,
# over the global test-set accuracy of every round, into one PNG (docs/evaluation.md).
#
#   build/examples/02_fashion_mnist --federated-eval-every 5 --no-central > run.txt
#   scripts/plot_federated_evaluation.sh run.txt [out.png]
#
# Needs gnuplot (Debian: gnuplot-nox) and perl.
set -euo pipefail

usage() { echo "usage: $0 run.txt [out.png]" >&2; exit 2; }
[[ $# -ge 1 && $# -le 2 ]] || usage
log=$1
png=${2:-${log%.*}.png}
[[ -r $log ]] || { echo "$0: cannot read '$log'" >&2; exit 1; }
command -v gnuplot >/dev/null || { echo "$0: gnuplot not found (apt-get install gnuplot-nox)" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
perl -ne 'print "$1\t$2\t$3\t$4\t$5\n"
            if /^federated eval after round (\d+):.*accuracy weighted ([0-9.]+) mean ([0-9.]+) p10 ([0-9.]+) worst ([0-9.]+)/' \
  "$log" > "$tmp/eval.tsv"
perl -ne 'print "$1\t$2\n" if /^round\s+(\d+)\s+acc\s+([0-9.]+)/' "$log" > "$tmp/global.tsv"
[[ -s $tmp/eval.tsv ]] || { echo "$0: no 'federated eval' lines in '$log' (run with --federated-eval-every K)" >&2; exit 1; }

gnuplot <<EOF
set terminal pngcairo size 900,520 font ",10"
set output "$png"
set title "Federated evaluation on the clients' own test splits"
set xlabel "training round"
set ylabel "accuracy"
set yrange [0.2:0.95]
set key below horizontal maxcols 3
set grid
plot "$tmp/global.tsv" using 1:2 with lines lw 1 lc rgb "#bbbbbb" title "global test set (10,000 images)", \
     "$tmp/eval.tsv" using 1:2 with linespoints lw 2 pt 7 ps 0.5 lc rgb "#1f77b4" title "clients: example-weighted mean", \
     "$tmp/eval.tsv" using 1:3 with lines lw 1 dt 2 lc rgb "#1f77b4" title "clients: unweighted mean", \
     "$tmp/eval.tsv" using 1:4 with linespoints lw 2 pt 5 ps 0.5 lc rgb "#ff7f0e" title "clients: 10th percentile", \
     "$tmp/eval.tsv" using 1:5 with linespoints lw 1 pt 9 ps 0.5 lc rgb "#d62728" title "worst client"
EOF
echo "wrote $png"
