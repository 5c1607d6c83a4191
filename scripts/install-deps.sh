#!/usr/bin/env bash
# Installs the Debian 12 packages fedpp's build, tests, examples and benchmarks use (run as root).
# Idempotent: does nothing when every package is already installed.
set -euo pipefail
packages=(
  build-essential cmake pkg-config git
  libeigen3-dev xtensor-dev libxsimd-dev        # tensor adapters and the SIMD layer
  googletest libgtest-dev libgmock-dev libbenchmark-dev
  libsodium-dev                                  # secure aggregation (fedpp::secagg), PSI (fedpp::psi)
  libgmp-dev                                     # Paillier encryption (fedpp::paillier)
  openmpi-bin libopenmpi-dev                     # MPI transport (fedpp::mpi)
  zlib1g-dev dataset-fashion-mnist               # the Fashion-MNIST simulation
  python3-sklearn                                # breast_cancer.csv for vertical LR (example 20)
  python3-numpy gnuplot-nox                      # benchmark peer, metric plots
  libcli11-dev                                   # fedpp-privacy's flag parsing (CLI11)
  clang-format clang-tidy
  clang libclang-rt-14-dev                       # libFuzzer harnesses (scripts/fuzz.sh, tests/fuzz)
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "fedpp: installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
