/// \file kernels.hpp
/// Threaded overloads of the hot kernels (weighted_sum, weighted_sum_checked, scaled_accumulate) on a user's
/// thread_pool. D is split into chunks aligned to parallel_tuning::chunk_granularity and every
/// chunk runs the serial kernel on the path active when the call starts, so each element is
/// computed by exactly one thread with the same operations in the same order as a serial call:
/// the result is bitwise equal to the serial one, whatever the number of threads.
#pragma once

#include "fedpp/kernels/checked_weighted_sum.hpp"
#include "fedpp/kernels/dispatch.hpp"
#include "fedpp/kernels/reductions.hpp"
#include "fedpp/kernels/scaled_accumulate.hpp"
#include "fedpp/kernels/tuning.hpp"
#include "fedpp/kernels/weighted_sum.hpp"
#include "fedpp/kernels/write_mode.hpp"
#include "fedpp/parallel/parallel_for.hpp"
#include "fedpp/parallel/thread_pool.hpp"

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <optional>
#include <span>
#include <vector>

namespace fedpp::kernels {

/// acc[i] += alpha * x[i] on `pool`'s threads (bitwise equal to the serial call).
template <class Acc, class T>
requires detail::accumulable<Acc, T>
void scaled_accumulate(parallel::thread_pool& pool, std::span<Acc> acc, Acc alpha, std::span<const T> x) {
  FEDPP_ASSERT(acc.size() == x.size());
  const isa path = active_isa();
  parallel::parallel_for(
      pool, 0, acc.size(), parallel_tuning::chunk_granularity, [&](std::size_t lo, std::size_t hi) {
        scaled_accumulate_on<Acc, T>(path, acc.subspan(lo, hi - lo), alpha, x.subspan(lo, hi - lo));
      });
}

/// out[i] (+)= Σ_k weights[k] * inputs[k][i] on `pool`'s threads (bitwise equal to the serial call).
template <class Acc, class T>
requires detail::accumulable<Acc, T>
void weighted_sum(parallel::thread_pool& pool, std::span<Acc> out, std::span<const std::span<const T>> inputs,
                  std::span<const Acc> weights, write_mode mode = write_mode::accumulate) {
  FEDPP_ASSERT(inputs.size() == weights.size());
  const isa path = active_isa();
  parallel::parallel_for(pool, 0, out.size(), parallel_tuning::chunk_granularity,
                         [&](std::size_t lo, std::size_t hi) {
                           std::vector<std::span<const T>> slices(inputs.size());
                           for (std::size_t k = 0; k < inputs.size(); ++k)
                             slices[k] = inputs[k].subspan(lo, hi - lo);
                           weighted_sum_on<Acc, T>(path, out.subspan(lo, hi - lo), slices, weights, mode);
                         });
}

/// out[i] = base[i] + Σ_k weights[k] * inputs[k][i] on `pool`'s threads, unless some input holds a
/// NaN or Inf: then the first one in (input, index) order, as the serial weighted_sum_checked
/// (whose contract this keeps: with `out` distinct from `base`, `base` is untouched and `out`
/// unspecified after a refusal; in place, some blocks may have been updated). On success `out` is
/// bitwise equal to the serial call's. Each thread folds one contiguous chunk of whole blocks and
/// reads that chunk of every input once; the rare refusal path scans the inputs again to name the
/// first bad element.
template <class Acc, class T>
requires detail::accumulable<Acc, T>
[[nodiscard]] std::optional<non_finite_element>
weighted_sum_checked(parallel::thread_pool& pool, std::span<Acc> out, std::span<const Acc> base,
                     std::span<const std::span<const T>> inputs, std::span<const Acc> weights) {
  FEDPP_ASSERT(inputs.size() == weights.size());
  FEDPP_ASSERT(out.size() == base.size());
  const isa path = active_isa();
  std::atomic<bool> refused{false};
  parallel::parallel_for(pool, 0, out.size(), parallel_tuning::chunk_granularity,
                         [&](std::size_t lo, std::size_t hi) {
                           std::vector<std::span<const T>> slices(inputs.size());
                           for (std::size_t k = 0; k < inputs.size(); ++k)
                             slices[k] = inputs[k].subspan(lo, hi - lo);
                           if (weighted_sum_checked_on<Acc, T>(path, out.subspan(lo, hi - lo),
                                                               base.subspan(lo, hi - lo), slices, weights))
                             refused.store(true, std::memory_order_relaxed);
                         });
  if (refused.load(std::memory_order_relaxed)) return detail::first_non_finite(inputs);
  return std::nullopt;
}

/// Σ x[i]² in double on `pool`'s threads: one contiguous range per thread (whole
/// chunk_granularity units) summed by the serial kernel, the range sums added in range order.
/// Deterministic for a given pool size; equal to the serial result up to double rounding (a
/// reduction, unlike the element-wise kernels above, cannot keep the serial order).
template <class T>
[[nodiscard]] double squared_norm(parallel::thread_pool& pool, std::span<const T> x) {
  constexpr std::size_t unit = parallel_tuning::chunk_granularity;
  const std::size_t units = (x.size() + unit - 1) / unit;
  const std::size_t parts = std::min(pool.size(), units);
  if (parts <= 1) return squared_norm(x);
  std::vector<double> partial(parts, 0.0);
  pool.run(parts, [&](std::size_t p) {
    const std::size_t lo = units * p / parts * unit;
    const std::size_t hi = std::min(units * (p + 1) / parts * unit, x.size());
    partial[p] = squared_norm(x.subspan(lo, hi - lo));
  });
  double sum = 0;
  for (double v : partial) sum += v;
  return sum;
}

} // namespace fedpp::kernels
