#!/usr/bin/env bash
# Reproduces the figures of docs/rl.md: example 14 (federated REINFORCE on CartPole) with 8 agents
# whose physics differ (half pole length 0.25-1 m, pole mass 0.05-0.3 kg, cart mass 0.5-2 kg,
# spaced evenly over the clients), 1000 episodes per agent, averaging every E = 5 episodes, seeds
# 1-3, federated and local (alone). Writes each seed's per-episode returns to OUT/seedN.csv and
# its report to OUT/seedN.txt, prints a table of episodes per agent until every environment is
# solved (gymnasium's criterion: mean of the agent's last 100 returns >= 475), and draws
# OUT/rl_returns.png with scripts/plot_rl.sh. Then the same federated runs with other E
# (FEDPP_RL_SWEEP, default "1 10 20 50"; empty skips them): one more table, federated only (the
# local agents do not depend on E).
#
# Usage: scripts/rl_experiment.sh [BUILD_DIR] [OUT_DIR] [EPISODES] [SYNC_EVERY]
#        (defaults: build, rl_results, 1000, 5); FEDPP_RL_SEEDS="1 2 3" picks the seeds.
set -euo pipefail
build=${1:-build}
out=${2:-rl_results}
episodes=${3:-1000}
sync=${4:-5}
seeds=${FEDPP_RL_SEEDS:-1 2 3}
sweep=${FEDPP_RL_SWEEP-1 10 20 50}
physics=(--clients 8 --length-low 0.25 --length-high 1.0 --masspole-low 0.05 --masspole-high 0.3
         --masscart-low 0.5 --masscart-high 2.0)
exe="$build/examples/14_federated_rl"
[[ -x "$exe" ]] || { echo "build $exe first (cmake --build $build --target 14_federated_rl)" >&2; exit 1; }
mkdir -p "$out"
for seed in $seeds; do
  "$exe" "${physics[@]}" --episodes "$episodes" --sync-every "$sync" --seed "$seed" --mode both \
    --eval-episodes 20 --csv "$out/seed$seed.csv" | tee "$out/seed$seed.txt"
done
echo
echo "| seed | federated: episodes per agent until every environment is solved | local (alone) | local / federated |"
echo "|---|---|---|---|"
for seed in $seeds; do
  awk -v seed="$seed" -v episodes="$episodes" '
    /^federated: every environment solved after/ { fed = $6 }
    /^local: every environment solved after/ { loc = $6 }
    /^federated: not every/ { fed = "not within " episodes }
    /^local: not every/ { loc = "not within " episodes }
    END {
      ratio = (fed ~ /^[0-9]+$/ && loc ~ /^[0-9]+$/) ? sprintf("%.2f", loc / fed) : "-"
      printf "| %s | %s | %s | %s |\n", seed, fed, loc, ratio
    }' "$out/seed$seed.txt"
done
"$(dirname "$0")/plot_rl.sh" "$out" "$out/rl_returns.png"
[[ -n $sweep ]] || exit 0
echo
echo "| seed | E | federated: episodes per agent until every environment is solved |"
echo "|---|---|---|"
for e in $sweep; do
  for seed in $seeds; do
    if (( episodes % e != 0 )); then echo "| $seed | $e | skipped: $e does not divide $episodes |"; continue; fi
    n=$("$exe" "${physics[@]}" --episodes "$episodes" --sync-every "$e" --seed "$seed" --mode federated \
          --eval-episodes 0 | awk -v ep="$episodes" '/^federated: every/ { print $6 } /^federated: not every/ { print "not within " ep }')
    echo "| $seed | $e | $n |"
  done
done
