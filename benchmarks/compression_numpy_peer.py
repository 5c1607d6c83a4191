#!/usr/bin/python3
"""numpy peers of fedpp_bench's compression benchmarks, D = 4M float32:
top-k 1% by magnitude with np.argpartition (indices, as BM_compression_top_k_select), and 8-bit
min-max stochastic quantization per 4096-element chunk (as BM_compression_quantize/8/1/4096).
Prints median GB/s counting 4*D bytes, as the C++ benchmarks do.
Run with Debian's /usr/bin/python3 (it has numpy). Usage: compression_numpy_peer.py [repetitions]
"""
import statistics
import sys
import time

import numpy as np

D = 4 << 20
CHUNK = 4096


def top_k(x, k):
    idx = np.argpartition(np.abs(x), D - k)[D - k:]
    idx.sort()
    return idx


def quantize8(x, rng):
    c = x.reshape(-1, CHUNK)
    lo = c.min(axis=1, keepdims=True)
    step = (c.max(axis=1, keepdims=True) - lo) / 255.0
    step[step == 0] = 1.0
    q = np.floor((c - lo) / step + rng.random(c.shape, dtype=np.float32))
    return np.minimum(q, 255).astype(np.uint8), lo, step


def bench(name, fn, reps):
    fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    print(f"numpy_{name:<28} {med * 1e3:9.2f} ms  {4 * D / med / 1e9:7.3f} GB/s")


def main():
    reps = int(sys.argv[1]) if len(sys.argv) > 1 else 7
    rng = np.random.default_rng(7)
    x = rng.standard_normal(D).astype(np.float32)
    k = D // 100
    ref = np.sort(np.argsort(-np.abs(x))[:k])
    assert np.array_equal(top_k(x, k), ref), "peer top-k is wrong"
    bench("top_k_argpartition_1pct", lambda: top_k(x, k), reps)
    bench("quantize8_stochastic", lambda: quantize8(x, rng), reps)


if __name__ == "__main__":
    main()
