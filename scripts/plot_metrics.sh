#!/usr/bin/env bash
# Plots a fedpp metrics CSV: accuracy vs round, and cumulative communicated bytes (up, down and
# total) vs round, into one PNG. Columns are found by header name (needs at least round,
# accuracy, bytes_up, bytes_down, in any order; others are ignored).
#
#   scripts/plot_metrics.sh metrics.csv [out.png] [title]
#
# Needs gnuplot (Debian: gnuplot-nox); uses the pngcairo terminal, else png.
set -euo pipefail

usage() { echo "usage: $0 metrics.csv [out.png] [title]" >&2; exit 2; }
[[ $# -ge 1 && $# -le 3 ]] || usage
csv=$1
png=${2:-${csv%.csv}.png}
title=${3:-$(basename "$csv")}
[[ -r $csv ]] || { echo "$0: cannot read '$csv'" >&2; exit 1; }
command -v gnuplot >/dev/null || { echo "$0: gnuplot not found (apt-get install gnuplot-nox)" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Extract round, accuracy, cumulative bytes_up/down/total (MiB) by header name. Fields are
# split on commas; the wanted columns are numeric, so quoted text elsewhere must not contain
# commas before them — we parse quotes properly anyway.
awk -v out="$tmp/data.tsv" '
function parse(line,   n, i, c, field, inq) {
  n = 0; field = ""; inq = 0
  for (i = 1; i <= length(line); i++) {
    c = substr(line, i, 1)
    if (inq) {
      if (c == "\"") { if (substr(line, i + 1, 1) == "\"") { field = field "\""; i++ } else inq = 0 }
      else field = field c
    } else if (c == "\"") inq = 1
    else if (c == ",") { F[++n] = field; field = "" }
    else if (c != "\r") field = field c
  }
  F[++n] = field
  return n
}
NR == 1 {
  n = parse($0)
  for (i = 1; i <= n; i++) col[F[i]] = i
  split("round accuracy bytes_up bytes_down", need, " ")
  for (j = 1; j <= 4; j++) if (!(need[j] in col)) { printf "missing column %s in header\n", need[j] > "/dev/stderr"; bad = 1 }
  if (bad) exit 3
  next
}
{
  parse($0)
  up += F[col["bytes_up"]]; down += F[col["bytes_down"]]
  if (F[col["round"]] == "") next
  printf "%s\t%s\t%.6f\t%.6f\t%.6f\n", F[col["round"]], F[col["accuracy"]], up / 1048576, down / 1048576, (up + down) / 1048576 > out
  rows++
}
END { if (!bad && rows == 0) { print "no data rows" > "/dev/stderr"; exit 4 } }
' "$csv" || { echo "$0: cannot plot '$csv'" >&2; exit 1; }

if gnuplot -e 'set terminal pngcairo' >/dev/null 2>&1; then
  terminal='pngcairo size 1200,500 font "Sans,10"'
else
  terminal='png size 1200,500'
fi

gnuplot <<GP
set terminal $terminal
set output "$png"
set datafile separator "\t"
set datafile missing ""
set multiplot layout 1,2 title "$(printf '%s' "$title" | sed 's/"/\\"/g')"
set grid
set key bottom right
set xlabel "round"
set ylabel "test accuracy"
set yrange [0:1]
plot "$tmp/data.tsv" using 1:2 with linespoints pt 7 ps 0.4 lw 2 title "accuracy"
set yrange [*:*]
set key top left
set ylabel "cumulative MiB"
plot "$tmp/data.tsv" using 1:3 with lines lw 2 title "up (clients → server)", \
     "" using 1:4 with lines lw 2 title "down (server → clients)", \
     "" using 1:5 with lines lw 2 dt 2 title "total"
unset multiplot
GP
echo "wrote $png"
