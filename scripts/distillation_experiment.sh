#!/usr/bin/env bash
# Reproduces the figures of docs/distillation.md with example 13_distillation: FedAvg vs FedDF on
# Fashion-MNIST (MLP 784-200-10, 100 clients under Dir(0.1), 10 per round, 5,000 training examples
# held unlabeled by the server as proxy data) for 3 seeds, test accuracy every round; then teacher ->
# student compression of each final model into an MLP 784-32-10 (and, from FedAvg's model, into
# softmax regression), beside the same students trained without the teacher on the proxy labels.
#
#   scripts/distillation_experiment.sh [build-dir] [out-dir]     (defaults: build, distillation-results)
#
# Environment: SEEDS (default "1 2 3"), ROUNDS (default 50), EXTRA (more flags for every run).
# Writes <out>/seed<S>.csv and .log per seed, <out>/mean.tsv (round, FedAvg and FedDF accuracy
# averaged over the seeds), prints the tables of docs/distillation.md, and plots <out>/distillation.png
# when gnuplot is installed (Debian: gnuplot-nox). About 3 minutes per seed on 2 cores.
set -euo pipefail

build=${1:-build}
out=${2:-distillation-results}
seeds=${SEEDS:-"1 2 3"}
rounds=${ROUNDS:-50}
exe=$build/examples/13_distillation
[[ -x $exe ]] || { echo "$0: $exe not found (build the target 13_distillation)" >&2; exit 1; }
mkdir -p "$out"

for s in $seeds; do
  echo "seed $s: fedavg, feddf, mlp-32 student ..." >&2
  # shellcheck disable=SC2086
  "$exe" --rounds "$rounds" --seed "$s" --student mlp --csv "$out/seed$s.csv" ${EXTRA:-} > "$out/seed$s.log"
  echo "seed $s: softmax student of fedavg's model ..." >&2
  # shellcheck disable=SC2086
  "$exe" --rounds "$rounds" --seed "$s" --methods fedavg --student softmax --eval-every "$rounds" ${EXTRA:-} \
    > "$out/seed$s-softmax.log"
done

# Accuracy per round averaged over the seeds.
awk -F, 'FNR > 1 { acc[$1, $2] += $3; n[$1, $2]++; if ($2 > last) last = $2 }
  END { for (r = 1; r <= last; ++r)
          if (n["fedavg", r] && n["feddf", r])
            printf "%d\t%.4f\t%.4f\n", r, acc["fedavg", r] / n["fedavg", r], acc["feddf", r] / n["feddf", r] }' \
  "$out"/seed*.csv > "$out/mean.tsv"

echo
echo "### Test accuracy (mean over seeds $seeds; min-max in brackets)"
echo
awk -F, -v rounds="$rounds" '
  FNR > 1 {
    m = $1; r = $2; a = $3; seed = FILENAME
    acc[m, seed, r] = a; seeds[seed] = 1
    if (r > rounds - 10) { tail[m, seed] += a; tn[m, seed]++ }
    if (a >= 0.75 && !((m, seed) in first)) first[m, seed] = r
  }
  END {
    split("10 20 30 40 50", marks, " ")
    printf "| method |"; for (i = 1; i <= 5; ++i) if (marks[i] <= rounds) printf " round %d |", marks[i]
    printf " mean of the last 10 rounds | first round >= 0.75 |\n|---|"
    for (i = 1; i <= 5; ++i) if (marks[i] <= rounds) printf "---|"
    printf "---|---|\n"
    split("fedavg feddf", methods, " ")
    for (k = 1; k <= 2; ++k) {
      m = methods[k]; printf "| %s |", (m == "fedavg" ? "FedAvg" : "FedDF")
      for (i = 1; i <= 5; ++i) {
        if (marks[i] > rounds) continue
        s = 0; n = 0; lo = 2; hi = -1
        for (seed in seeds) { v = acc[m, seed, marks[i]]; s += v; n++; if (v < lo) lo = v; if (v > hi) hi = v }
        printf " %.3f (%.3f-%.3f) |", s / n, lo, hi
      }
      s = 0; n = 0; lo = 2; hi = -1
      for (seed in seeds) { v = tail[m, seed] / tn[m, seed]; s += v; n++; if (v < lo) lo = v; if (v > hi) hi = v }
      printf " %.3f (%.3f-%.3f) |", s / n, lo, hi
      list = ""
      for (seed in seeds) list = list (list == "" ? "" : ", ") ((m, seed) in first ? first[m, seed] : "-")
      printf " %s |\n", list
    }
  }' "$out"/seed*.csv

echo
echo "### Teacher -> student (mean over seeds $seeds)"
echo
echo "| model | architecture | parameters | bytes (float32) | test accuracy |"
echo "|---|---|---|---|---|"
# Lines "  <who> <arch> <P> parameters <B> bytes  test accuracy <A>" after "<method>: teacher -> student".
awk '
  /: teacher -> student/ { method = $1; sub(":", "", method) }
  / parameters .* bytes .*test accuracy/ {
    who = $0; sub(/^  /, "", who); sub(/ +[a-z]+(-[0-9]+)? +[0-9]+ parameters.*/, "", who)
    n = split($0, f, " ")
    arch = f[n - 7]; params = f[n - 6]; bytes = f[n - 4]; a = f[n]
    label = (who ~ /without teacher/) ? who : method ": " who
    key = label SUBSEP arch
    if (!(key in sum)) { order[++k] = key; lab[key] = label; ar[key] = arch; pa[key] = params; by[key] = bytes }
    sum[key] += a; cnt[key]++
  }
  END { for (i = 1; i <= k; ++i) { key = order[i]
          printf "| %s | %s | %d | %d | %.4f |\n", lab[key], ar[key], pa[key], by[key], sum[key] / cnt[key] } }' \
  "$out"/seed*.log

if command -v gnuplot > /dev/null; then
  gnuplot <<EOF
set terminal pngcairo size 900,480 font ",10"
set output "$out/distillation.png"
set title "Fashion-MNIST, MLP, 100 clients under Dir(0.1), 10 per round: test accuracy (mean of seeds $(echo $seeds | tr ' ' ','))"
set xlabel "round"
set ylabel "test accuracy"
set yrange [0.3:0.9]
set grid
set key bottom right
plot "$out/mean.tsv" using 1:2 with linespoints pt 7 ps 0.5 lw 2 lc rgb "#1f77b4" title "FedAvg", \
     "" using 1:3 with linespoints pt 5 ps 0.5 lw 2 lc rgb "#d62728" title "FedDF (5,000 unlabeled proxy examples)"
EOF
  echo
  echo "wrote $out/distillation.png"
fi
