/// \file top_k.hpp
/// Exact top-k selection by magnitude for large vectors, far faster than a full nth_element:
///  1. estimate a threshold t from a strided sample, chosen so that about 1.2·k + 4σ elements
///     exceed it (σ: the sampling error of the quantile);
///  2. one vectorized filtering pass collects the magnitudes |x_i| ≥ t (compared as the IEEE bit
///     patterns of |x|, which order like the magnitudes for non-NaN floats);
///  3. nth_element among those candidate magnitudes (plain integers, no indirection) gives the
///     k-th largest magnitude v and how many elements equal to v are needed;
///  4. a second pass over x (still in cache for a model of up to tens of MiB) emits the indices
///     with |x_i| > v, and the first needed ones with |x_i| = v, in ascending order: no sort.
/// If the sample was unlucky and fewer than k candidates pass, step 3 runs over every element,
/// so the result is always exact (among equal magnitudes, the lowest indices win).
#pragma once

#include "fedpp/error.hpp"
#include "fedpp/kernels/dispatch.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <span>
#include <string>
#include <vector>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif

namespace fedpp::compression {

namespace detail {
[[nodiscard]] inline std::uint32_t abs_bits(float f) noexcept {
  std::uint32_t b;
  std::memcpy(&b, &f, 4);
  return b & 0x7fffffffU;
}

/// Calls visit(i, abs_bits(x[i])) for every i (ascending) with abs_bits(x[i]) ≥ t; whole blocks
/// without a hit are skipped after one vectorizable test.
template <class Visit>
inline void for_each_at_least(const float* x, std::size_t n, std::uint32_t t, Visit&& visit) {
  constexpr std::size_t block = 16;
  std::size_t i = 0;
  for (; i + block <= n; i += block) {
    std::uint32_t hits = 0;
    for (std::size_t j = 0; j < block; ++j) hits += abs_bits(x[i + j]) >= t ? 1U : 0U;
    if (hits == 0) continue;
    for (std::size_t j = 0; j < block; ++j)
      if (const auto a = abs_bits(x[i + j]); a >= t) visit(i + j, a);
  }
  for (; i < n; ++i)
    if (const auto a = abs_bits(x[i]); a >= t) visit(i, a);
}

/// Appends to `out` the indices i (ascending) with abs_bits(x[i]) ≥ t (threshold sparsification).
inline void filter_at_least(const float* x, std::size_t n, std::uint32_t t, std::vector<std::uint32_t>& out) {
  for_each_at_least(x, n, t,
                    [&](std::size_t i, std::uint32_t) { out.push_back(static_cast<std::uint32_t>(i)); });
}

/// Makes room for `more` elements past `used` in `out` (size, not just capacity: the vector
/// loops store whole registers) and returns where they go.
inline std::uint32_t* room_for(std::vector<std::uint32_t>& out, std::size_t used, std::size_t more) {
  if (out.size() < used + more) out.resize(std::max(used + more, 2 * out.size()));
  return out.data() + used;
}

#if defined(__x86_64__) && defined(__GNUC__)
/// collect_at_least with AVX-512: each 16-lane compare's hits are compressed into one register
/// and stored whole (no branch per element); returns the new count of used elements.
__attribute__((target("avx512f"))) inline std::size_t collect_at_least_avx512(const float* x, std::size_t n,
                                                                              std::uint32_t t,
                                                                              std::vector<std::uint32_t>& out,
                                                                              std::size_t used) {
  constexpr std::size_t step = 4096; // elements between capacity checks
  const __m512i abs_mask = _mm512_set1_epi32(0x7fffffff);
  const __m512i vt = _mm512_set1_epi32(static_cast<int>(t));
  std::size_t i = 0;
  while (i + 16 <= n) {
    const std::size_t stop = std::min(n / 16 * 16, i + step);
    std::uint32_t* dst = room_for(out, used, stop - i + 16);
    std::size_t w = 0;
    for (; i < stop; i += 16) {
      const __m512i a = _mm512_and_si512(_mm512_loadu_si512(x + i), abs_mask);
      const __mmask16 hit = _mm512_cmpge_epu32_mask(a, vt);
      _mm512_storeu_si512(dst + w, _mm512_maskz_compress_epi32(hit, a));
      w += static_cast<std::size_t>(__builtin_popcount(hit));
    }
    used += w;
  }
  std::uint32_t* dst = room_for(out, used, n - i);
  for (; i < n; ++i)
    if (const auto a = abs_bits(x[i]); a >= t) {
      *dst++ = a;
      ++used;
    }
  return used;
}
#endif

/// Appends to `out` every abs_bits(x[i]) ≥ t, in index order.
inline void collect_at_least(const float* x, std::size_t n, std::uint32_t t,
                             std::vector<std::uint32_t>& out) {
#if defined(__x86_64__) && defined(__GNUC__)
  if (kernels::active_isa() == kernels::isa::avx512 || kernels::detail::compiled_vector_bytes == 64) {
    const std::size_t used = collect_at_least_avx512(x, n, t, out, out.size());
    out.resize(used);
    return;
  }
#endif
  for_each_at_least(x, n, t, [&](std::size_t, std::uint32_t a) { out.push_back(a); });
}

/// The k-th largest magnitude (as abs bits) among `values` (1 ≤ k ≤ values.size()) and how many
/// values equal to it belong to the top k. Reorders `values`.
struct kth_magnitude {
  std::uint32_t value;
  std::size_t ties_taken;
};
[[nodiscard]] inline kth_magnitude find_kth_largest(std::vector<std::uint32_t>& values, std::size_t k) {
  const auto kth = values.begin() + static_cast<std::ptrdiff_t>(k - 1);
  std::nth_element(values.begin(), kth, values.end(), std::greater<>());
  const std::uint32_t v = *kth;
  // values[0, k−1) are ≥ v: those equal to v, plus the k-th itself, are the ties taken.
  const auto equal = static_cast<std::size_t>(std::count(values.begin(), kth, v));
  return {v, equal + 1};
}

#if defined(__x86_64__) && defined(__GNUC__)
/// emit_top's whole vectors with AVX-512: indices with |x| > v are compressed and stored per
/// register; a register holding a tie (|x| = v, rare) is walked lane by lane to keep the order.
/// Returns the first index not processed (the tail); `ties` counts down.
__attribute__((target("avx512f"))) inline std::size_t emit_top_avx512(const float* x, std::size_t n,
                                                                      std::uint32_t v, std::size_t& ties,
                                                                      std::vector<std::uint32_t>& out) {
  const __m512i abs_mask = _mm512_set1_epi32(0x7fffffff);
  const __m512i vv = _mm512_set1_epi32(static_cast<int>(v));
  const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  std::size_t used = out.size();
  const std::size_t end = n / 16 * 16;
  std::uint32_t* dst = room_for(out, used, 16);
  std::size_t room = out.size() - used;
  for (std::size_t i = 0; i < end; i += 16) {
    const __m512i a = _mm512_and_si512(_mm512_loadu_si512(x + i), abs_mask);
    const __mmask16 above = _mm512_cmpgt_epu32_mask(a, vv);
    const __mmask16 equal = _mm512_cmpeq_epu32_mask(a, vv);
    if (room < 16) {
      dst = room_for(out, used, 4096);
      room = out.size() - used;
    }
    if (equal == 0 || ties == 0) {
      const __m512i idx = _mm512_add_epi32(lane, _mm512_set1_epi32(static_cast<int>(i)));
      _mm512_storeu_si512(dst, _mm512_maskz_compress_epi32(above, idx));
      const auto w = static_cast<std::size_t>(__builtin_popcount(above));
      dst += w, used += w, room -= w;
      continue;
    }
    for (unsigned l = 0; l < 16; ++l) {
      bool take = ((above >> l) & 1U) != 0;
      if (!take && ((equal >> l) & 1U) != 0 && ties > 0) {
        take = true;
        --ties;
      }
      if (take) {
        *dst++ = static_cast<std::uint32_t>(i + l);
        ++used;
        --room;
      }
    }
  }
  out.resize(used);
  return end;
}
#endif

/// Appends the ascending indices i with abs_bits(x[i]) > v, and the first `ties` with = v.
inline void emit_top(const float* x, std::size_t n, kth_magnitude kth, std::vector<std::uint32_t>& out) {
  std::size_t ties = kth.ties_taken;
  const std::uint32_t v = kth.value;
  auto take = [&](std::size_t i, std::uint32_t a) { // a ≥ v
    if (a > v) {
      out.push_back(static_cast<std::uint32_t>(i));
    } else if (ties > 0) {
      out.push_back(static_cast<std::uint32_t>(i));
      --ties;
    }
  };
  std::size_t done = 0;
#if defined(__x86_64__) && defined(__GNUC__)
  if (kernels::active_isa() == kernels::isa::avx512 || kernels::detail::compiled_vector_bytes == 64)
    done = emit_top_avx512(x, n, v, ties, out);
#endif
  for_each_at_least(x + done, n - done, v, [&](std::size_t i, std::uint32_t a) { take(done + i, a); });
}
} // namespace detail

/// Writes into `out` the ascending indices of the k largest |x_i| (exact; among equal
/// magnitudes the lowest indices). Requires x.size() < 2^32 and finite values (NaN would count
/// as larger than any number).
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
  std::vector<std::uint32_t> candidates;
  if (d >= 8 * sample_size && frac <= 0.2) {
    // 1. threshold from a strided sample (stride co-prime-ish with typical layer sizes)
    std::vector<std::uint32_t> sample(sample_size);
    const std::size_t stride = d / sample_size;
    for (std::size_t s = 0; s < sample_size; ++s)
      sample[s] = detail::abs_bits(x[s * stride + (s * 7919) % stride]);
    const double above = std::min(1.0, 1.2 * frac + 4.0 * std::sqrt(frac / sample_size));
    const auto rank = static_cast<std::size_t>(std::floor((1.0 - above) * sample_size));
    std::nth_element(sample.begin(), sample.begin() + static_cast<std::ptrdiff_t>(rank), sample.end());
    // 2. filtering pass
    candidates.reserve(static_cast<std::size_t>(2.0 * above * static_cast<double>(d)) + 64);
    detail::collect_at_least(x.data(), d, sample[rank], candidates);
  }
  if (candidates.size() < k) { // small or dense input, or an unlucky sample: every element
    candidates.clear();
    detail::collect_at_least(x.data(), d, 0, candidates);
  }
  // 3. the k-th largest magnitude, 4. the indices in order
  const auto kth = detail::find_kth_largest(candidates, k);
  out.reserve(k);
  detail::emit_top(x.data(), d, kth, out);
}

} // namespace fedpp::compression
