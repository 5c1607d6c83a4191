/// \file top_k.hpp
/// Exact top-k selection by magnitude for large vectors, far faster than a full nth_element:
///  1. estimate a threshold t from a strided sample, chosen so that about 1.5·k + 4σ elements
///     exceed it (σ: the sampling error of the quantile);
///  2. one vectorized filtering pass keeps the candidates with |x_i| ≥ t (comparing the IEEE bit
///     patterns of |x| as integers, which order like the magnitudes for non-NaN floats);
///  3. exact selection (nth_element) among the candidates, then sorting of the k indices.
/// If the sample was unlucky and fewer than k candidates pass, it falls back to an exact
/// selection over the whole vector, so the result is always exact (ties broken arbitrarily).
#pragma once

#include "fedpp/error.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <vector>

namespace fedpp::compression {

namespace detail {
[[nodiscard]] inline std::uint32_t abs_bits(float f) noexcept {
  std::uint32_t b;
  std::memcpy(&b, &f, 4);
  return b & 0x7fffffffU;
}

/// Indices i (ascending) with abs_bits(x[i]) ≥ t, appended to out.
inline void filter_at_least(const float* x, std::size_t n, std::uint32_t t, std::vector<std::uint32_t>& out) {
  constexpr std::size_t block = 16;
  std::size_t i = 0;
  for (; i + block <= n; i += block) {
    std::uint32_t hits = 0; // a vectorizable test of the whole block first
    for (std::size_t j = 0; j < block; ++j) hits += abs_bits(x[i + j]) >= t ? 1U : 0U;
    if (hits == 0) continue;
    for (std::size_t j = 0; j < block; ++j)
      if (abs_bits(x[i + j]) >= t) out.push_back(static_cast<std::uint32_t>(i + j));
  }
  for (; i < n; ++i)
    if (abs_bits(x[i]) >= t) out.push_back(static_cast<std::uint32_t>(i));
}

/// Keeps the k largest-magnitude entries of `idx` (k ≤ idx.size()) and sorts them ascending.
inline void select_largest(const float* x, std::vector<std::uint32_t>& idx, std::size_t k) {
  if (k < idx.size()) {
    std::nth_element(idx.begin(), idx.begin() + static_cast<std::ptrdiff_t>(k), idx.end(),
                     [x](std::uint32_t a, std::uint32_t b) { return abs_bits(x[a]) > abs_bits(x[b]); });
    idx.resize(k);
  }
  std::sort(idx.begin(), idx.end());
}
} // namespace detail

/// Writes into `out` the ascending indices of the k largest |x_i| (exact; ties arbitrary).
/// Requires x.size() < 2^32 and finite values (NaN compares as larger than any number).
inline void top_k_indices(std::span<const float> x, std::size_t k, std::vector<std::uint32_t>& out) {
  const std::size_t d = x.size();
  if (d >= (std::size_t{1} << 32))
    throw invalid_config("top_k_indices: " + std::to_string(d) + " elements exceed the 2^32 index range");
  out.clear();
  if (k == 0) return;
  if (k >= d) {
    out.resize(d);
    for (std::size_t i = 0; i < d; ++i) out[i] = static_cast<std::uint32_t>(i);
    return;
  }
  constexpr std::size_t sample_size = 16384;
  const double frac = static_cast<double>(k) / static_cast<double>(d);
  if (d < 8 * sample_size || frac > 0.2) { // small or dense: exact selection over everything
    out.resize(d);
    for (std::size_t i = 0; i < d; ++i) out[i] = static_cast<std::uint32_t>(i);
    detail::select_largest(x.data(), out, k);
    return;
  }
  // 1. threshold from a strided sample (stride co-prime-ish with typical layer sizes)
  std::vector<std::uint32_t> sample(sample_size);
  const std::size_t stride = d / sample_size;
  for (std::size_t s = 0; s < sample_size; ++s)
    sample[s] = detail::abs_bits(x[s * stride + (s * 7919) % stride]);
  const double above = std::min(1.0, 1.5 * frac + 4.0 * std::sqrt(frac / sample_size));
  const auto rank = static_cast<std::size_t>(std::floor((1.0 - above) * sample_size));
  std::nth_element(sample.begin(), sample.begin() + static_cast<std::ptrdiff_t>(rank), sample.end());
  const std::uint32_t t = sample[rank];
  // 2. filtering pass
  out.reserve(static_cast<std::size_t>(2.0 * above * static_cast<double>(d)) + 64);
  detail::filter_at_least(x.data(), d, t, out);
  if (out.size() < k) { // unlucky sample: exact fallback
    out.resize(d);
    for (std::size_t i = 0; i < d; ++i) out[i] = static_cast<std::uint32_t>(i);
  }
  // 3. exact selection among the candidates
  detail::select_largest(x.data(), out, k);
}

} // namespace fedpp::compression
