#!/usr/bin/env bash
# Plots the returns scripts/rl_experiment.sh records (docs/rl.md): for federated and local agents,
# the mean over agents of each agent's trailing mean return (last 100 episodes, fewer at the
# start) and the worst agent's, against episodes per agent, averaged over the seeds' CSV files
# (OUT/seed*.csv: mode,client,episode,return), with gymnasium's 475 threshold.
#
#   scripts/plot_rl.sh OUT_DIR [out.png]
#
# Needs gnuplot (Debian: gnuplot-nox) and awk.
set -euo pipefail

usage() { echo "usage: $0 results_dir [out.png]" >&2; exit 2; }
[[ $# -ge 1 && $# -le 2 ]] || usage
dir=$1
png=${2:-$dir/rl_returns.png}
shopt -s nullglob
files=("$dir"/seed*.csv)
[[ ${#files[@]} -gt 0 ]] || { echo "$0: no seed*.csv in '$dir' (run scripts/rl_experiment.sh)" >&2; exit 1; }
command -v gnuplot >/dev/null || { echo "$0: gnuplot not found (apt-get install gnuplot-nox)" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# episode, federated mean, federated worst, local mean, local worst (each averaged over the files)
awk -F, '
  FNR == 1 { ++nf; delete sum; delete hist; next }
  {
    mode = $1; c = $2; e = $3 + 0; r = $4 + 0
    key = mode SUBSEP c
    hist[key, e] = r
    sum[key] += r
    if (e > 100) sum[key] -= hist[key, e - 100]
    w = e < 100 ? e : 100
    trailing = sum[key] / w
    m[mode, e] += trailing
    n[mode, e]++
    if (!((nf, mode, e) in worst) || trailing < worst[nf, mode, e]) worst[nf, mode, e] = trailing
    if (e > last) last = e
    modes[mode] = 1
  }
  END {
    for (e = 1; e <= last; ++e) {
      line = e
      split("federated local", ms, " ")
      for (i = 1; i <= 2; ++i) {
        mode = ms[i]
        if (!((mode, e) in n)) { line = line "\tNaN\tNaN"; continue }
        # mean over agents and files of the trailing mean; worst agent, averaged over files
        ws = 0; wn = 0
        for (f = 1; f <= nf; ++f) if ((f, mode, e) in worst) { ws += worst[f, mode, e]; ++wn }
        line = line sprintf("\t%.2f\t%.2f", m[mode, e] / n[mode, e], ws / wn)
      }
      print line
    }
  }' "${files[@]}" > "$tmp/curves.tsv"

gnuplot <<GP
set terminal pngcairo size 900,480 font ",10"
set output "$png"
set title "CartPole-v1 physics varied over 8 agents: trailing-100 mean return (mean of ${#files[@]} seeds)"
set xlabel "episodes per agent"
set ylabel "return (mean of the last 100 episodes)"
set yrange [0:520]
set grid
set key bottom right
plot "$tmp/curves.tsv" using 1:2 with lines lw 2 lc rgb "#1f77b4" title "federated (FedAvg): mean of agents", \
     "" using 1:3 with lines lw 1 dt 2 lc rgb "#1f77b4" title "federated: worst agent", \
     "" using 1:4 with lines lw 2 lc rgb "#d62728" title "local (alone): mean of agents", \
     "" using 1:5 with lines lw 1 dt 2 lc rgb "#d62728" title "local: worst agent", \
     475 with lines lw 1 lc rgb "#444444" title "475 (solved)"
GP
echo "wrote $png"
