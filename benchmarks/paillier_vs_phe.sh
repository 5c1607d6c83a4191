#!/usr/bin/env bash
# Paillier, 2048-bit keys: fedpp (benchmarks/paillier.cpp, Google Benchmark) and python-paillier
# (phe with gmpy2) one after the other in one invocation on this machine; prints per-value times
# and the ratios as a table (docs/vertical.md).
#
#   benchmarks/paillier_vs_phe.sh [BUILD_DIR]     (default: build, a Release build)
#
# phe and gmpy2 come from PyPI into a virtual environment outside the tree (FEDPP_PHE_VENV,
# default ~/.cache/fedpp-phe-venv). Nothing in CI or the test suite depends on it. REPS=N sets the
# repetitions of each measurement (default 3; medians reported). Single-thread rows compare CPU
# time per value (Google Benchmark's default; time.process_time for phe), so other tenants' load
# on a shared machine does not skew the ratio; the 2-thread batch rows are wall time (real_time)
# and only mean something on an otherwise idle machine.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
venv=${FEDPP_PHE_VENV:-$HOME/.cache/fedpp-phe-venv}
reps=${REPS:-3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if [[ ! -f $build/CMakeCache.txt ]]; then
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
cmake --build "$build" -j2 --target fedpp_paillier_bench >/dev/null

if [[ ! -x $venv/bin/python ]] || ! "$venv/bin/python" -c 'import phe, gmpy2' 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q phe gmpy2
fi

echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); load before: $(cut -d' ' -f1-3 /proc/loadavg)"

"$build/benchmarks/fedpp_paillier_bench" --benchmark_repetitions="$reps" --benchmark_report_aggregates_only=true \
  --benchmark_format=json --benchmark_out="$work/fedpp.json" --benchmark_out_format=json >/dev/null

"$venv/bin/python" - "$work/fedpp.json" "$reps" <<'PY'
import json, statistics, sys, time
import gmpy2  # noqa: F401  (phe uses it when importable)
from phe import paillier
import phe.util

fedpp_json, reps = sys.argv[1], int(sys.argv[2])
assert phe.util.HAVE_GMPY2 if hasattr(phe.util, "HAVE_GMPY2") else True

pk, sk = paillier.generate_paillier_keypair(n_length=2048)
values = [(i % 1000 - 500) * 0.0137 for i in range(64)]

def per_value(fn, n):
    # CPU time of this (single-threaded) process, as Google Benchmark's single-thread rows: on a
    # shared, loaded machine wall time would charge either side for the other tenants' load.
    times = []
    for _ in range(reps):
        t0 = time.process_time()
        fn()
        times.append((time.process_time() - t0) / n)
    return statistics.median(times)

enc = per_value(lambda: [pk.encrypt(v) for v in values], len(values))
cts = [pk.encrypt(v) for v in values]
dec = per_value(lambda: [sk.decrypt(c) for c in cts], len(cts))
add = per_value(lambda: [cts[i] + cts[i + 1] for i in range(63)], 63)
mul = per_value(lambda: [c * -0.731 for c in cts], len(cts))

rows = {}
for b in json.load(open(fedpp_json))["benchmarks"]:
    if b.get("aggregate_name") != "median":
        continue
    name = b["run_name"]
    rows[name] = 1.0 / b["items_per_second"]  # seconds per value

def line(label, ours, theirs, note=""):
    print(f"| {label} | {ours * 1e3:.3f} ms | {theirs * 1e3:.3f} ms | {theirs / ours:.2f}x | {note} |")

import importlib.metadata as md
print(f"\n2048-bit keys, per value (median of {reps}); phe {md.version('phe')} with gmpy2 {gmpy2.version()}")
print("| operation | fedpp | phe | phe time / fedpp time | note |")
print("|---|---|---|---|---|")
line("encrypt (public key, fresh r)", rows["BM_paillier_encrypt/min_time:2.000"], enc, "like for like, 1 thread")
line("encrypt, key holder (CRT obfuscator)", rows["BM_paillier_encrypt_key_holder/min_time:2.000"], enc, "same distribution, needs p and q")
line("encrypt, batch of 64 on 2 threads", rows["BM_paillier_encrypt_batch/2/real_time"], enc, "phe: 1 thread")
line("encrypt, key holder, batch on 2 threads", rows["BM_paillier_encrypt_key_holder_batch/2/real_time"], enc, "phe: 1 thread")
line("encrypt, obfuscator precomputed", rows["BM_paillier_encrypt_precomputed_obfuscator"], enc, "NOT like for like: r^n computed beforehand")
line("decrypt (CRT)", rows["BM_paillier_decrypt/min_time:2.000"], dec, "like for like, 1 thread")
line("decrypt, batch of 64 on 2 threads", rows["BM_paillier_decrypt_batch/2/real_time"], dec, "phe: 1 thread")
line("encrypt + decrypt, packed (48 x 32-bit per plaintext)", rows["BM_paillier_packed_encrypt_decrypt"], enc + dec, "per value; phe: one value per ciphertext")
line("add two ciphertexts", rows["BM_paillier_add"], add, "")
line("multiply by a float", rows["BM_paillier_multiply_scalar"], mul, "")
PY
