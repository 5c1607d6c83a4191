#!/usr/bin/env bash
# Reproduces the figures of docs/rl.md: example 14 (federated REINFORCE on CartPole) with 8 agents
# whose physics differ (half pole length 0.25-1 m, pole mass 0.05-0.3 kg, cart mass 0.5-2 kg,
# spaced evenly over the clients), 1000 episodes per agent, averaging every E = 5 episodes, seeds
# 1-3, federated and local (alone). Writes each seed's per-episode returns to OUT/seedN.csv and
# its report to OUT/seedN.txt, prints a table of episodes per agent until every environment is
# solved (gymnasium's criterion: mean of the agent's last 100 returns >= 475), and draws
# OUT/rl_returns.png with scripts/plot_rl.sh.
#
# Usage: scripts/rl_experiment.sh [BUILD_DIR] [OUT_DIR] [EPISODES] [SYNC_EVERY]
#        (defaults: build, rl_results, 1000, 5); FEDPP_RL_SEEDS="1 2 3" picks the seeds.
set -euo pipefail
build=${1:-build}
out=${2:-rl_results}
episodes=${3:-1000}
sync=${4:-5}
seeds=${FEDPP_RL_SEEDS:-1 2 3}
exe="$build/examples/14_federated_rl"
[[ -x "$exe" ]] || { echo "build $exe first (cmake --build $build --target 14_federated_rl)" >&2; exit 1; }
mkdir -p "$out"
for seed in $seeds; do
  "$exe" --clients 8 --episodes "$episodes" --sync-every "$sync" --seed "$seed" --mode both \
    --length-low 0.25 --length-high 1.0 --masspole-low 0.05 --masspole-high 0.3 \
    --masscart-low 0.5 --masscart-high 2.0 --eval-episodes 20 --csv "$out/seed$seed.csv" | tee "$out/seed$seed.txt"
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
