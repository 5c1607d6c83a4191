#!/usr/bin/env bash
# Runs example 05 (server optimizers and client-drift corrections on Fashion-MNIST, Dir(0.1))
# and plots the per-round test accuracy into docs/img/optim_accuracy.png.
#   scripts/optim_experiments.sh [build-dir] [out-dir] [extra flags for the example...]
# Env: PLOT (output PNG, default docs/img/optim_accuracy.png), EPOCHS (local epochs, default 1;
# also passed to the example). The client-drift comparison in docs/optimizers.md:
#   EPOCHS=5 PLOT=docs/img/optim_drift_e5.png scripts/optim_experiments.sh build-optim-rel OUT \
#     --algorithms fedavg,fedprox,scaffold --seed S
set -euo pipefail
build=${1:-build-optim-rel}
out=${2:-optim-results}
shift $(( $# > 2 ? 2 : $# ))
root=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$out"
cmake --build "$build" --target 05_server_optimizers -j2 >/dev/null
/usr/bin/time -v "$build/examples/05_server_optimizers" --model mlp --rounds 100 --alpha 0.1 \
  --clients 100 --clients-per-round 10 --local-epochs "${EPOCHS:-1}" --lr 0.05 --mu 0.1 --seed 1 \
  --csv-dir "$out" "$@" 2> "$out/time.txt" | tee "$out/summary.txt"
grep -E "Elapsed|Maximum resident|User time" "$out/time.txt" || true
"$root/scripts/optim_plot.sh" "$out" "${PLOT:-$root/docs/img/optim_accuracy.png}" "${EPOCHS:-1}"
