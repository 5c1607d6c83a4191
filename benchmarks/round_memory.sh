#!/usr/bin/env bash
# Peak memory of a round vs clients per round and model size (one process per configuration).
# Usage: benchmarks/round_memory.sh [path to round_memory]   (default: build-bench/native/benchmarks/round_memory)
set -euo pipefail
bin="${1:-$(dirname "$0")/../build-bench/native/benchmarks/round_memory}"
echo "clients_per_round,parameters,model_MiB,peak_rss_MiB,round_seconds"
for clients in 10 100 1000; do
  for params in 1048576 4194304; do
    "$bin" "$clients" "$params"
  done
done
