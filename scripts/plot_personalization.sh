#!/usr/bin/env bash
# Plots the table scripts/personalization_experiment.sh prints (docs/personalization.md): per method,
# the per-client accuracy on the clients' own test splits, mean and 10th percentile averaged over
# the seeds, under Dir(0.1) and 2 shards per client, as grouped bars into one PNG.
#
#   scripts/personalization_experiment.sh build 100 > personalization.txt
#   scripts/plot_personalization.sh personalization.txt [out.png]
#
# Needs gnuplot (Debian: gnuplot-nox) and awk.
set -euo pipefail

usage() { echo "usage: $0 table.txt [out.png]" >&2; exit 2; }
[[ $# -ge 1 && $# -le 2 ]] || usage
log=$1
png=${2:-${log%.*}.png}
[[ -r $log ]] || { echo "$0: cannot read '$log'" >&2; exit 1; }
command -v gnuplot >/dev/null || { echo "$0: gnuplot not found (apt-get install gnuplot-nox)" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Rows "| partition | method | mean | range | p10 | range | bytes |" -> method, Dir mean, Dir p10, shards mean, shards p10.
awk -F'|' '
  NF >= 8 && $2 ~ /(dirichlet|shards)/ {
    gsub(/ /, "", $2); gsub(/ /, "", $3); gsub(/ /, "", $4); gsub(/ /, "", $6)
    if (!($3 in seen)) { seen[$3] = 1; order[++k] = $3 }
    mean[$2, $3] = $4; p10[$2, $3] = $6
  }
  END {
    for (i = 1; i <= k; ++i) {
      m = order[i]
      printf "%s\t%s\t%s\t%s\t%s\n", m, mean["dirichlet", m], p10["dirichlet", m], mean["shards", m], p10["shards", m]
    }
  }' "$log" > "$tmp/table.tsv"
[[ -s $tmp/table.tsv ]] || { echo "$0: no table rows in '$log' (the output of scripts/personalization_experiment.sh)" >&2; exit 1; }

gnuplot <<EOF
set terminal pngcairo size 900,480 font ",10"
set output "$png"
set title "Per-client accuracy on the clients' own test splits (Fashion-MNIST, MLP, 100 rounds, mean of seeds 1-3)"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set yrange [0.4:1.0]
set ytics 0.1
set grid ytics
set ylabel "accuracy"
set key below horizontal
plot "$tmp/table.tsv" using 2:xtic(1) title "Dir(0.1): mean" lc rgb "#1f77b4", \
     "" using 3 title "Dir(0.1): 10th percentile" lc rgb "#9ecae1", \
     "" using 4 title "2 shards: mean" lc rgb "#d62728", \
     "" using 5 title "2 shards: 10th percentile" lc rgb "#fc9272"
EOF
echo "wrote $png"
