/// \file kernels.hpp
/// Inner loops shared by the quantizers: min/max, stochastic/nearest code computation, dequantize-
/// and-accumulate. Written so that GCC and Clang vectorize them at -O2/-O3 (independent lanes, no
/// data-dependent branches).
#pragma once

#include "fedpp/compression/counter_hash.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>

namespace fedpp::compression::detail {

/// Block of elements the quantizers process at once (codes live on the stack).
inline constexpr std::size_t code_block = 512;

struct min_max {
  float lo;
  float hi;
};

/// Min and max of n floats (n ≥ 1) in 16 independent lanes. NaN makes the result NaN-free but
/// the caller checks finiteness of the inputs separately.
inline min_max find_min_max(const float* x, std::size_t n) noexcept {
  constexpr std::size_t lanes = 16;
  float lo[lanes], hi[lanes];
  for (std::size_t j = 0; j < lanes; ++j) lo[j] = hi[j] = x[0];
  std::size_t i = 0;
  for (; i + lanes <= n; i += lanes)
    for (std::size_t j = 0; j < lanes; ++j) {
      lo[j] = x[i + j] < lo[j] ? x[i + j] : lo[j];
      hi[j] = x[i + j] > hi[j] ? x[i + j] : hi[j];
    }
  for (; i < n; ++i) {
    lo[0] = x[i] < lo[0] ? x[i] : lo[0];
    hi[0] = x[i] > hi[0] ? x[i] : hi[0];
  }
  min_max r{lo[0], hi[0]};
  for (std::size_t j = 1; j < lanes; ++j) {
    r.lo = std::min(r.lo, lo[j]);
    r.hi = std::max(r.hi, hi[j]);
  }
  return r;
}

/// True when all n floats are finite (exponent bits not all ones), vectorized on the bit patterns.
inline bool all_finite(const float* x, std::size_t n) noexcept {
  std::uint32_t bad = 0;
  for (std::size_t i = 0; i < n; ++i) {
    std::uint32_t b;
    std::memcpy(&b, x + i, 4);
    bad |= static_cast<std::uint32_t>((b & 0x7f800000U) == 0x7f800000U);
  }
  return bad == 0;
}

/// codes[i] = min(L, ⌊(x[i] − lo)·inv + u_i⌋) with u_i = 1/2 (nearest) or the counter hash of
/// (key, first + i) (stochastic). The caller keeps [first, first + n) within one 2^32 block.
template <bool Stochastic>
inline void quantize_codes(const float* x, std::size_t n, float lo, float inv, std::uint32_t levels,
                           counter_key key, std::uint64_t first, std::uint8_t* codes) noexcept {
  const auto base = static_cast<std::uint32_t>(first);
  const std::uint32_t hi_term = static_cast<std::uint32_t>(first >> 32) * 0x9e3779b9U;
  const auto top = static_cast<float>(levels);
  for (std::size_t i = 0; i < n; ++i) {
    float u = 0.5F;
    if constexpr (Stochastic) {
      std::uint32_t h = ((base + static_cast<std::uint32_t>(i)) ^ key.lo) + hi_term;
      h *= key.hi;
      h ^= h >> 16;
      h *= 0x85ebca6bU;
      h ^= h >> 13;
      h *= 0xc2b2ae35U;
      h ^= h >> 16;
      u = static_cast<float>(h >> 8) * 0x1.0p-24F;
    }
    float t = (x[i] - lo) * inv + u;
    t = t < top ? t : top; // x = hi may round up past L
    codes[i] = static_cast<std::uint8_t>(static_cast<std::int32_t>(t));
  }
}

/// acc[i] += a + b·codes[i].
inline void dequantize_accumulate(const std::uint8_t* codes, std::size_t n, float a, float b,
                                  float* acc) noexcept {
  for (std::size_t i = 0; i < n; ++i) acc[i] += a + b * static_cast<float>(codes[i]);
}

} // namespace fedpp::compression::detail
