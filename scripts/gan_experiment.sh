#!/usr/bin/env bash
# Reproduces the figures of docs/gan.md: example 19 (federated GAN on Fashion-MNIST, 10 clients,
# every client every round, 1 local epoch a round, G and D aggregated separately) for each
# configuration in FEDPP_GAN_CONFIGS (default: the unconditional and the conditional GAN, each on
# an IID and a Dir(0.5) split), with the centrally trained GAN in the same run. Writes each run's
# report to OUT/<config>.txt, its checkpoints to OUT/<config>.csv and its sample grids to
# OUT/<config>_png/, then prints one table: the Fréchet distance (classifier feature space) of the
# federated and the central GAN at the last round beside noise and real images, the collapse
# measures and, for conditional runs, train-on-synthetic-test-on-real accuracy.
#
# Usage: scripts/gan_experiment.sh [BUILD_DIR] [OUT_DIR] [ROUNDS]   (defaults: build, gan_results, 20)
#        FEDPP_GAN_SEED (default 1), FEDPP_GAN_CONFIGS (default "iid dirichlet iid-cond dirichlet-cond"),
#        FEDPP_GAN_JOBS (runs at once, default 1), FEDPP_GAN_EXTRA (flags for every run, default
#        "--hidden 128": the networks of docs/gan.md).
set -euo pipefail
build=${1:-build}
out=${2:-gan_results}
rounds=${3:-20}
seed=${FEDPP_GAN_SEED:-1}
configs=${FEDPP_GAN_CONFIGS:-iid dirichlet iid-cond dirichlet-cond}
jobs=${FEDPP_GAN_JOBS:-1}
extra=${FEDPP_GAN_EXTRA---hidden 128}
exe="$build/examples/19_federated_gan"
[[ -x "$exe" ]] || { echo "build $exe first (cmake --build $build --target 19_federated_gan)" >&2; exit 1; }
mkdir -p "$out"

run_config() {
  local config=$1 flags=()
  case "$config" in
    iid) flags=(--partition iid) ;;
    dirichlet) flags=(--partition dirichlet --alpha 0.5) ;;
    iid-cond) flags=(--partition iid --conditional) ;;
    dirichlet-cond) flags=(--partition dirichlet --alpha 0.5 --conditional) ;;
    *) echo "unknown configuration '$config'" >&2; return 1 ;;
  esac
  # shellcheck disable=SC2086
  "$exe" "${flags[@]}" --clients 10 --rounds "$rounds" --eval-every 5 --seed "$seed" \
    --csv "$out/$config.csv" --png-dir "$out/${config}_png" $extra > "$out/$config.txt"
}

running=0
for config in $configs; do
  run_config "$config" &
  running=$((running + 1))
  if (( running >= jobs )); then wait -n; running=$((running - 1)); fi
done
wait

echo "| configuration | FID federated | FID central | FID noise | FID real | classes covered fed / central | H ratio fed / central | TSTR fed / central / real | wall s |"
echo "|---|---|---|---|---|---|---|---|---|"
for config in $configs; do
  f="$out/$config.txt"
  awk -v config="$config" -v rounds="$rounds" '
    /^Frechet distance after/ { gsub(",", ""); fed = $7; cen = $9; noise = $11; real = $13 }
    $1 == "federated" && $2 == rounds { fcls = $9; fh = $7 }
    $1 == "central" && $2 == rounds { ccls = $9; ch = $7 }
    /^train on synthetic/ { gsub(",", ""); tf = $10; tc = $12; tr = $15 }
    /^wall time/ { wall = $3 }
    END {
      tstr = tf == "" ? "-" : tf " / " tc " / " tr
      printf "| %s | %s | %s | %s | %s | %s / %s | %s / %s | %s | %s |\n", config, fed, cen, noise, real, fcls, ccls, fh, ch, tstr, wall
    }' "$f"
done
