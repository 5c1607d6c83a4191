#!/usr/bin/env bash
# The main job (examples/02_fashion_mnist with its defaults) in fedpp and in Flower's simulation,
# one after the other in one run, on the same machine, the same Fashion-MNIST files and the same
# client partition; prints wall times, evaluation shares and final accuracies as a table.
#
#   benchmarks/flower_main_job.sh [BUILD_DIR]        (default: build, a Release build)
#
# Flower comes from PyPI into a virtual environment outside the tree (FEDPP_FLOWER_VENV, default
# ~/.cache/fedpp-flower-venv): flwr[simulation] 1.42 (Ray backend) and numpy. Nothing in CI or the
# test suite depends on it. ROUNDS=N shortens both runs (a smoke test); FEDPP_ARGS adds flags to
# fedpp's run (e.g. --no-central).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
venv=${FEDPP_FLOWER_VENV:-$HOME/.cache/fedpp-flower-venv}
rounds=${ROUNDS:-300}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if [[ ! -f $build/CMakeCache.txt ]]; then
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
cmake --build "$build" -j2 --target 02_fashion_mnist flower_partition >/dev/null

if [[ ! -x $venv/bin/python ]] || ! "$venv/bin/python" -c 'import flwr, numpy, ray' 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "flwr[simulation]==1.42.*" numpy
fi

"$build/benchmarks/flower_partition" "$work/partition.txt"

echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); load before: $(cut -d' ' -f1-3 /proc/loadavg)"

# fedpp, its defaults (the centrally trained comparison included unless FEDPP_ARGS says otherwise).
start=$(date +%s.%N)
# shellcheck disable=SC2086 # FEDPP_ARGS is a list of flags
"$build/examples/02_fashion_mnist" --rounds "$rounds" ${FEDPP_ARGS:-} >"$work/fedpp.log"
fedpp_wall=$(echo "$(date +%s.%N) - $start" | bc)
fedpp_acc=$(sed -n 's/^federated: test accuracy \([0-9.]*\).*/\1/p' "$work/fedpp.log")
fedpp_rounds=$(sed -n 's/^time: *\([0-9.]*\) s federated.*/\1/p' "$work/fedpp.log")
fedpp_eval=$(sed -n 's/^time:.*of which \([0-9.]*\) s.*/\1/p' "$work/fedpp.log")
central=$(sed -n 's/^central: *test accuracy \([0-9.]*\).*, \([0-9.]*\) s)$/\1 (\2 s)/p' "$work/fedpp.log")

# Flower.
flower_json=$("$venv/bin/python" "$root/benchmarks/flower_main_job.py" --partition "$work/partition.txt" \
  --rounds "$rounds" 2>"$work/flower.log" | tail -n 1)
field() { "$venv/bin/python" -c "import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])" "$flower_json" "$1"; }
flower_wall=$(field wall_seconds)
flower_rounds=$(field rounds_seconds)
flower_eval=$(field eval_seconds)
flower_acc=$(field final_accuracy)
flower_system=$(field system)

pct() { echo "scale=1; 100 * $1 / $2" | bc; }
ratio() { echo "scale=2; $1 / $2" | bc; }
printf '\n%s rounds, 100 clients Dir(0.5), 10 per round, MLP 784-200-10, test-set evaluation every round\n' "$rounds"
printf '| | wall, whole process | rounds (training + evaluation) | evaluation | evaluation share of the rounds | final test accuracy |\n'
printf '|---|---|---|---|---|---|\n'
printf '| fedpp (02_fashion_mnist %s) | %.1f s | %.1f s | %.1f s | %s%% | %s |\n' "${FEDPP_ARGS:-defaults}" \
  "$fedpp_wall" "$fedpp_rounds" "$fedpp_eval" "$(pct "$fedpp_eval" "$fedpp_rounds")" "$fedpp_acc"
printf '| %s | %.1f s | %.1f s | %.1f s | %s%% | %s |\n' "$flower_system" "$flower_wall" "$flower_rounds" \
  "$flower_eval" "$(pct "$flower_eval" "$flower_rounds")" "$flower_acc"
printf '\nFlower / fedpp: whole process %sx, rounds %sx, evaluation %sx\n' "$(ratio "$flower_wall" "$fedpp_wall")" \
  "$(ratio "$flower_rounds" "$fedpp_rounds")" "$(ratio "$flower_eval" "$fedpp_eval")"
if [[ -n $central ]]; then
  printf 'fedpp wall includes the centrally trained comparison: accuracy %s\n' "$central"
  printf 'fedpp evaluation share of the whole process: %s%%\n' "$(pct "$fedpp_eval" "$fedpp_wall")"
fi
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
