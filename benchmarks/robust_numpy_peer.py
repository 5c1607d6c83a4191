#!/usr/bin/env python3
"""numpy peer of benchmarks/robust_bench.cpp: coordinate-wise median (np.median(axis=0), as
Flower's FedMedian) and trimmed mean (np.partition as Flower's _trim_mean) over K x D float32,
single thread. Prints GB/s with bytes = K*D*4 (median of 5 runs). Run with /usr/bin/python3."""
import os
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
import time
import numpy as np

K, D = 32, 1 << 20
x = np.random.default_rng(32).standard_normal((K, D), dtype=np.float32)

def trimmed(a, beta=0.2):
    lo = int(beta * a.shape[0]); hi = a.shape[0] - lo
    return np.mean(np.partition(a, (lo, hi - 1), axis=0)[lo:hi], axis=0)

for name, fn in (("numpy_median", lambda: np.median(x, axis=0)), ("numpy_trimmed_mean", lambda: trimmed(x))):
    times = []
    for _ in range(5):
        t0 = time.perf_counter(); fn(); times.append(time.perf_counter() - t0)
    t = sorted(times)[2]
    print(f"{name} K={K} D={D}: {t*1e3:.1f} ms  {K*D*4/t/1e9:.3f} GB/s")
