#!/usr/bin/env bash
# clang-tidy over translation units that include the library's headers (.clang-tidy lists the checks).
# Usage: scripts/tidy.sh [build-dir]   (a configured build with compile_commands.json; made if absent)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-tidy}
[ -f "$build/compile_commands.json" ] || cmake -S . -B "$build" -DCMAKE_EXPORT_COMPILE_COMMANDS=ON -DFEDPP_WARNINGS_AS_ERRORS=ON >/dev/null
units=(tests/aggregation_fedavg_test.cpp tests/orchestration_server_test.cpp tests/orchestration_async_server_test.cpp
       tests/tensor_core_test.cpp tests/transport_wire_format_test.cpp tests/scheduling_samplers_test.cpp
       examples/02_fashion_mnist.cpp)
clang-tidy -p "$build" --quiet "${units[@]}" 2>/dev/null | grep -E "warning:|error:" | sort -u
