#!/usr/bin/python3
"""FedAvg the way Flower's server-side `aggregate` computes it, as the numpy peer of fedpp_bench.

Each client's arrays are multiplied by its number of examples, the products are summed with
functools.reduce(np.add, ...), and the sum is divided by the total number of examples.
K = 32 clients, D = 4M float32 (one array per client). Prints the median throughput in GB/s,
counting K*D*4 input bytes as fedpp_bench's BM_fedavg_* do.

Run with Debian's /usr/bin/python3 (it has numpy). Usage: fedavg_numpy_peer.py [repetitions] [--json]
"""
import functools
import json
import os
import statistics
import sys
import time

import numpy as np

CLIENTS = 32
MODEL_SIZE = 4 << 20


def flower_style_fedavg(results):
    """results: list of (list of np.ndarray, num_examples). Returns the weighted mean arrays."""
    total_examples = sum(n for _, n in results)
    scaled = [[layer * n for layer in arrays] for arrays, n in results]
    return [functools.reduce(np.add, layers) / total_examples for layers in zip(*scaled)]


def main():
    repetitions = int(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1].isdigit() else 7
    rng = np.random.default_rng(7)
    results = [([rng.uniform(-1.0, 1.0, MODEL_SIZE).astype(np.float32)], 100 + k) for k in range(CLIENTS)]
    # Check the result once against a direct float64 computation.
    mean = flower_style_fedavg(results)[0]
    direct = sum(a[0].astype(np.float64) * n for a, n in results) / sum(n for _, n in results)
    assert np.allclose(mean, direct, rtol=1e-4, atol=1e-5), "peer result is wrong"
    times = []
    flower_style_fedavg(results)  # warm-up
    for _ in range(repetitions):
        start = time.perf_counter()
        flower_style_fedavg(results)
        times.append(time.perf_counter() - start)
    seconds = statistics.median(times)
    gbps = CLIENTS * MODEL_SIZE * 4 / seconds / 1e9
    info = {
        "name": "numpy_flower_style_fedavg",
        "clients": CLIENTS,
        "model_size": MODEL_SIZE,
        "repetitions": repetitions,
        "median_seconds": seconds,
        "median_gb_per_s": gbps,
        "numpy": np.__version__,
        "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE", "unset"),
    }
    if "--json" in sys.argv:
        print(json.dumps(info))
    else:
        print(f"numpy Flower-style FedAvg K={CLIENTS} D={MODEL_SIZE}: median {seconds * 1e3:.1f} ms, "
              f"{gbps:.2f} GB/s (numpy {np.__version__}, OPENBLAS_CORETYPE={info['OPENBLAS_CORETYPE']})")


if __name__ == "__main__":
    main()
