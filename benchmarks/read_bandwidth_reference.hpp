// The read-bandwidth reference every kernel figure is read against (/work/shared/PERF.md), and a
// helper that measures a kernel and the reference in the same benchmark, one pass of each per
// iteration, so that both see the same machine load (this machine is shared: absolute figures
// drift with the other jobs, ratios taken pass by pass much less).
//
// The reference sums a 512 MiB float array with eight independent 8-lane accumulators, compiled
// for AVX2 on x86-64 whatever the build flags (the machine's figure, not the flags'); on a pool
// of P threads each thread sums one contiguous P-th of it (the limit for kernels on that pool).
#pragma once

#include "fedpp/detail/aligned_buffer.hpp"
#include "fedpp/kernels/simd.hpp"
#include "fedpp/parallel/thread_pool.hpp"

#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <ctime>
#include <random>
#include <thread>
#include <vector>

namespace fedpp_bench {

/// Floats summed by the reference (512 MiB, far beyond the 32 MiB L3).
inline constexpr std::size_t reference_floats = std::size_t{128} << 20;
static_assert(reference_floats % 64 == 0);

/// Threads of "all cores": what the pooled benchmarks use.
[[nodiscard]] inline std::size_t all_cores() noexcept {
  return std::max<std::size_t>(1, std::thread::hardware_concurrency());
}

#if defined(__x86_64__) && defined(__GNUC__)
// Named accumulators, not an array: at -O2 GCC would keep an array on the stack.
__attribute__((target("avx2"))) inline float sum_floats_avx2(const float* p, std::size_t n) {
  typedef float v8 __attribute__((vector_size(32)));
  v8 s0 = {}, s1 = {}, s2 = {}, s3 = {}, s4 = {}, s5 = {}, s6 = {}, s7 = {}, v;
  for (std::size_t i = 0; i < n; i += 64) {
    __builtin_memcpy(&v, p + i, sizeof v);
    s0 += v;
    __builtin_memcpy(&v, p + i + 8, sizeof v);
    s1 += v;
    __builtin_memcpy(&v, p + i + 16, sizeof v);
    s2 += v;
    __builtin_memcpy(&v, p + i + 24, sizeof v);
    s3 += v;
    __builtin_memcpy(&v, p + i + 32, sizeof v);
    s4 += v;
    __builtin_memcpy(&v, p + i + 40, sizeof v);
    s5 += v;
    __builtin_memcpy(&v, p + i + 48, sizeof v);
    s6 += v;
    __builtin_memcpy(&v, p + i + 56, sizeof v);
    s7 += v;
  }
  const v8 s = ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7));
  float total = 0;
  for (std::size_t l = 0; l < 8; ++l) total += s[l];
  return total;
}
#endif

/// Sum of n floats (n a multiple of 64).
inline float sum_floats(const float* p, std::size_t n) {
#if defined(__x86_64__) && defined(__GNUC__)
  if (__builtin_cpu_supports("avx2")) return sum_floats_avx2(p, n);
#endif
  namespace simd = fedpp::kernels::simd;
  constexpr std::size_t lanes = simd::width<float>;
  auto s0 = simd::broadcast(0.0f), s1 = s0, s2 = s0, s3 = s0;
  std::size_t i = 0;
  for (; i + 4 * lanes <= n; i += 4 * lanes) {
    s0 = s0 + simd::load_as<float>(p + i);
    s1 = s1 + simd::load_as<float>(p + i + lanes);
    s2 = s2 + simd::load_as<float>(p + i + 2 * lanes);
    s3 = s3 + simd::load_as<float>(p + i + 3 * lanes);
  }
  return simd::reduce_add((s0 + s1) + (s2 + s3));
}

/// The reference's array (random values in [-1, 1)), allocated and filled on first use.
inline const fedpp::detail::aligned_buffer<float>& reference_data() {
  static const fedpp::detail::aligned_buffer<float> data = [] {
    fedpp::detail::aligned_buffer<float> b(reference_floats);
    std::mt19937_64 rng(1);
    std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
    for (std::size_t i = 0; i < reference_floats; ++i) b[i] = dist(rng);
    return b;
  }();
  return data;
}

/// One pass of the reference: serial (pool == nullptr) or one contiguous part per pool thread.
/// Returns the sum (to keep it alive).
inline float reference_pass(fedpp::parallel::thread_pool* pool) {
  const auto& data = reference_data();
  if (pool == nullptr || pool->size() == 1) return sum_floats(data.data(), reference_floats);
  const std::size_t threads = pool->size();
  std::vector<float> partial(threads);
  pool->run(threads, [&](std::size_t t) {
    const std::size_t lo = reference_floats / 64 * t / threads * 64;
    const std::size_t hi = reference_floats / 64 * (t + 1) / threads * 64;
    partial[t] = sum_floats(data.data() + lo, hi - lo);
  });
  float total = 0;
  for (float v : partial) total += v;
  return total;
}

/// Seconds of CPU time used by this process so far (all its threads).
inline double process_cpu_seconds() noexcept {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

/// A kernel and the reference measured pass by pass in one benchmark (register it with
/// ->UseManualTime()): every iteration() runs one reference pass (serial or on `pool`), then the
/// kernel, and only the kernel's time is the iteration time. finish() sets the bytes processed
/// and the counters
///   read_GBps          the reference's rate over all its passes (bytes/s / 1e9),
///   x_read_bw          the kernel's bytes/s over the reference's (`bytes` per iteration),
///   x_traffic_bound    (when traffic_bytes > 0) traffic_bytes per iteration over the kernel's
///                      time, over the reference's rate: the fraction of the reference rate at
///                      which the kernel moves the bytes it has to move,
///   x_read_bw_cpu      x_read_bw with both rates per second of process CPU time instead of
///                      wall-clock time (same thread count on both sides): on a machine shared
///                      with other jobs, time spent descheduled counts in neither. A cross-check,
///                      not the target's unit (the pool's idle threads poll for 100 µs after each
///                      batch, which counts as CPU time).
class same_run {
public:
  explicit same_run(benchmark::State& state, fedpp::parallel::thread_pool* pool = nullptr)
      : state_(&state), pool_(pool) {
    benchmark::DoNotOptimize(reference_pass(pool_)); // warm-up (allocation, page faults)
  }

  template <class Kernel>
  void iteration(Kernel&& kernel) {
    using clock = std::chrono::steady_clock;
    const double c0 = process_cpu_seconds();
    const auto r0 = clock::now();
    benchmark::DoNotOptimize(reference_pass(pool_));
    const double c1 = process_cpu_seconds();
    const auto k0 = clock::now();
    kernel();
    benchmark::ClobberMemory();
    const auto k1 = clock::now();
    const double c2 = process_cpu_seconds();
    const double kernel_seconds = std::chrono::duration<double>(k1 - k0).count();
    reference_seconds_ += std::chrono::duration<double>(k0 - r0).count();
    kernel_seconds_ += kernel_seconds;
    reference_cpu_ += c1 - c0;
    kernel_cpu_ += c2 - c1;
    ++passes_;
    state_->SetIterationTime(kernel_seconds);
  }

  void finish(double bytes, double traffic_bytes = 0) {
    state_->SetBytesProcessed(static_cast<std::int64_t>(bytes * static_cast<double>(state_->iterations())));
    if (passes_ == 0) return;
    const double reference_rate =
        static_cast<double>(passes_) * reference_floats * sizeof(float) / reference_seconds_;
    const double kernel_rate = static_cast<double>(passes_) * bytes / kernel_seconds_;
    state_->counters["read_GBps"] = reference_rate / 1e9;
    state_->counters["x_read_bw"] = kernel_rate / reference_rate;
    if (traffic_bytes > 0)
      state_->counters["x_traffic_bound"] =
          static_cast<double>(passes_) * traffic_bytes / kernel_seconds_ / reference_rate;
    if (reference_cpu_ > 0 && kernel_cpu_ > 0)
      state_->counters["x_read_bw_cpu"] =
          (bytes / kernel_cpu_) / (static_cast<double>(reference_floats * sizeof(float)) / reference_cpu_);
  }

private:
  benchmark::State* state_;
  fedpp::parallel::thread_pool* pool_;
  double reference_seconds_ = 0;
  double kernel_seconds_ = 0;
  double reference_cpu_ = 0;
  double kernel_cpu_ = 0;
  std::size_t passes_ = 0;
};

} // namespace fedpp_bench
