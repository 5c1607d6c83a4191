#!/usr/bin/env bash
# Reproduces the figures of docs/privacy_attacks.md with example 17 (Fashion-MNIST): the one-run
# DP audit (correct and sigma/10 mechanisms, seeds 1-3), gradient inversion (table and
# docs/img/audit_inversion.png), membership inference (FedAvg and DP-FedAvg), backdoor poisoning
# (plain and boosted attackers under each defense, docs/img/audit_backdoor_trigger.png).
# Usage: scripts/audit_experiment.sh [BUILD_DIR] [IMG_DIR] [PARTS]
#   defaults: build, docs/img, "audit inversion membership backdoor"
set -euo pipefail
build=${1:-build}
img=${2:-docs/img}
parts=${3:-audit inversion membership backdoor}
exe="$build/examples/17_privacy_audit"
[[ -x "$exe" ]] || { echo "build $exe first (cmake --build $build --target 17_privacy_audit)" >&2; exit 1; }
mkdir -p "$img"
for part in $parts; do
  case "$part" in
  audit)
    # DP-FedAvg: 100 real clients + 1000 canary clients (about 500 included), q = 0.1, 50 rounds,
    # sigma 2, C 1; k = 100 guesses each way, 95 % confidence, delta 1e-5
    for broken in 1 10; do
      for seed in 1 2 3; do
        echo "# audit broken-noise $broken seed $seed"
        "$exe" --attack audit --seed "$seed" --clients 100 --rounds 50 --local-epochs 1 --sampling-rate 0.1 \
          --noise-multiplier 2 --clip 1 --canaries 1000 --guesses 100 --broken-noise "$broken"
      done
    done
    ;;
  inversion)
    echo "# inversion"
    "$exe" --attack inversion --seed 1 --out-dir "$img"
    ;;
  membership)
    # 2,000 member examples on 20 clients (all train every round), 30 rounds x 5 local epochs,
    # MLP 784-64-10; 4 OUT shadow federations; DP-FedAvg with q = 1, C = 1 and two noise levels
    echo "# membership fedavg"
    "$exe" --attack membership --seed 1
    for sigma in 0.05 0.5 2; do
      echo "# membership dp sigma $sigma"
      "$exe" --attack membership --seed 1 --dp --noise-multiplier "$sigma" --clip 1
    done
    ;;
  backdoor)
    # 100 clients, 10 a round, 40 rounds x 1 local epoch; 10 % attackers stamp half their images
    for boost in 1 10; do
      echo "# backdoor boost $boost"
      "$exe" --attack backdoor --seed 1 --clients 100 --clients-per-round 10 --rounds 40 --local-epochs 1 \
        --boost "$boost" --max-norm 1 --defenses fedavg,normbound,median,trimmed,krum,dp \
        --sampling-rate 0.1 --noise-multiplier 0.02 --clip 1 --out-dir "$img"
    done
    ;;
  *)
    echo "unknown part '$part' (audit, inversion, membership, backdoor)" >&2
    exit 1
    ;;
  esac
done
