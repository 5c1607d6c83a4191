/// \file coordinate_kernels.hpp
/// Coordinate-wise order statistics over the rows of an update_matrix: for every coordinate d,
/// out[d] = mean of the sorted values at positions [lo, hi) (median: the middle one or two;
/// trimmed mean: all but t on each side).
///
/// Fast path (x86-64): 8 (AVX) or 4 (SSE2) consecutive coordinates are the lanes of a vector;
/// the K rows become K vectors (padded with +inf to a power of two P ≤ 64) and are sorted lane by
/// lane with Batcher's odd–even merge sorting network (Knuth, TAOCP vol. 3, §5.3.4), i.e. with
/// branch-free min/max only; each update is read exactly once, in row order. Padding with +inf
/// is exact: the pads stay above every real value, so positions 0..K−1 hold the sorted inputs.
/// Other coordinates (tails, K > 64, other CPUs) use a scalar gather + sort.
#pragma once

#include "fedpp/aggregation/robust/update_matrix.hpp"

#include <algorithm>
#include <array>
#include <cstddef>
#include <limits>
#include <span>
#include <utility>
#include <vector>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define FEDPP_ROBUST_X86 1
#else
#define FEDPP_ROBUST_X86 0
#endif

namespace fedpp::detail {

/// Number of comparators of Batcher's odd–even merge sort on n = 2^k inputs.
constexpr std::size_t batcher_size(std::size_t n) noexcept {
  std::size_t count = 0;
  for (std::size_t p = 1; p < n; p <<= 1)
    for (std::size_t k = p; k >= 1; k >>= 1)
      for (std::size_t j = k % p; j + k < n; j += 2 * k)
        for (std::size_t i = 0; i < std::min(k, n - j - k); ++i)
          if ((i + j) / (2 * p) == (i + j + k) / (2 * p)) ++count;
  return count;
}

/// The comparators (a, b), a < b, of Batcher's odd–even merge sort on N = 2^k inputs.
template <std::size_t N>
constexpr auto batcher_network() noexcept {
  std::array<std::pair<unsigned short, unsigned short>, batcher_size(N)> net{};
  std::size_t c = 0;
  for (std::size_t p = 1; p < N; p <<= 1)
    for (std::size_t k = p; k >= 1; k >>= 1)
      for (std::size_t j = k % p; j + k < N; j += 2 * k)
        for (std::size_t i = 0; i < std::min(k, N - j - k); ++i)
          if ((i + j) / (2 * p) == (i + j + k) / (2 * p))
            net[c++] = {static_cast<unsigned short>(i + j), static_cast<unsigned short>(i + j + k)};
  return net;
}

template <std::size_t N>
inline constexpr auto batcher_network_v = batcher_network<N>();

/// Scalar reference path for coordinates [begin, end): gather, sort, average [lo, hi).
template <class T>
void order_statistic_scalar(const update_matrix<T>& m, std::size_t lo, std::size_t hi, std::span<T> out,
                            std::size_t begin, std::size_t end) {
  const std::size_t k_rows = m.rows();
  std::vector<T> column(k_rows);
  for (std::size_t d = begin; d < end; ++d) {
    for (std::size_t k = 0; k < k_rows; ++k) column[k] = m.data()[k * m.stride() + d];
    std::sort(column.begin(), column.end());
    T sum = 0;
    for (std::size_t i = lo; i < hi; ++i) sum += column[i];
    out[d] = hi - lo == 2 ? sum * T(0.5) : sum / static_cast<T>(hi - lo);
  }
}

#if FEDPP_ROBUST_X86
/// AVX lanes: returns the number of coordinates done (a multiple of 8).
template <std::size_t P>
__attribute__((target("avx"))) std::size_t order_statistic_avx(const float* data, std::size_t stride,
                                                               std::size_t rows, std::size_t dim,
                                                               std::size_t lo, std::size_t hi, float* out) {
  constexpr auto& net = batcher_network_v<P>;
  const __m256 inf = _mm256_set1_ps(std::numeric_limits<float>::infinity());
  const __m256 scale = _mm256_set1_ps(hi - lo == 2 ? 0.5F : 1.0F);
  const __m256 count = _mm256_set1_ps(static_cast<float>(hi - lo));
  const bool divide = hi - lo != 2 && hi - lo != 1;
  std::size_t d = 0;
  for (; d + 8 <= dim; d += 8) {
    __m256 v[P];
    for (std::size_t k = 0; k < P; ++k) v[k] = k < rows ? _mm256_load_ps(data + k * stride + d) : inf;
#pragma GCC unroll 1024
    for (std::size_t c = 0; c < net.size(); ++c) {
      const __m256 a = v[net[c].first];
      const __m256 b = v[net[c].second];
      v[net[c].first] = _mm256_min_ps(a, b);
      v[net[c].second] = _mm256_max_ps(a, b);
    }
    __m256 sum = _mm256_setzero_ps();
    for (std::size_t i = lo; i < hi; ++i) sum = _mm256_add_ps(sum, v[i]);
    sum = divide ? _mm256_div_ps(sum, count) : _mm256_mul_ps(sum, scale);
    _mm256_storeu_ps(out + d, sum);
  }
  return d;
}

/// SSE2 lanes (every x86-64 CPU): returns the number of coordinates done (a multiple of 4).
template <std::size_t P>
std::size_t order_statistic_sse(const float* data, std::size_t stride, std::size_t rows, std::size_t dim,
                                std::size_t lo, std::size_t hi, float* out) {
  constexpr auto& net = batcher_network_v<P>;
  const __m128 inf = _mm_set1_ps(std::numeric_limits<float>::infinity());
  const __m128 scale = _mm_set1_ps(hi - lo == 2 ? 0.5F : 1.0F);
  const __m128 count = _mm_set1_ps(static_cast<float>(hi - lo));
  const bool divide = hi - lo != 2 && hi - lo != 1;
  std::size_t d = 0;
  for (; d + 4 <= dim; d += 4) {
    __m128 v[P];
    for (std::size_t k = 0; k < P; ++k) v[k] = k < rows ? _mm_load_ps(data + k * stride + d) : inf;
#pragma GCC unroll 1024
    for (std::size_t c = 0; c < net.size(); ++c) {
      const __m128 a = v[net[c].first];
      const __m128 b = v[net[c].second];
      v[net[c].first] = _mm_min_ps(a, b);
      v[net[c].second] = _mm_max_ps(a, b);
    }
    __m128 sum = _mm_setzero_ps();
    for (std::size_t i = lo; i < hi; ++i) sum = _mm_add_ps(sum, v[i]);
    sum = divide ? _mm_div_ps(sum, count) : _mm_mul_ps(sum, scale);
    _mm_storeu_ps(out + d, sum);
  }
  return d;
}

template <std::size_t P>
std::size_t order_statistic_lanes(const update_matrix<float>& m, std::size_t lo, std::size_t hi, float* out) {
  if (__builtin_cpu_supports("avx"))
    return order_statistic_avx<P>(m.data(), m.stride(), m.rows(), m.dim(), lo, hi, out);
  return order_statistic_sse<P>(m.data(), m.stride(), m.rows(), m.dim(), lo, hi, out);
}
#endif

/// out[d] = mean of the sorted column d at positions [lo, hi), 0 ≤ lo < hi ≤ rows.
template <class T>
void coordinate_order_statistic(const update_matrix<T>& m, std::size_t lo, std::size_t hi, std::span<T> out) {
  std::size_t done = 0;
#if FEDPP_ROBUST_X86
  if constexpr (std::is_same_v<T, float>) {
    const std::size_t k = m.rows();
    if (k <= 2)
      done = order_statistic_lanes<2>(m, lo, hi, out.data());
    else if (k <= 4)
      done = order_statistic_lanes<4>(m, lo, hi, out.data());
    else if (k <= 8)
      done = order_statistic_lanes<8>(m, lo, hi, out.data());
    else if (k <= 16)
      done = order_statistic_lanes<16>(m, lo, hi, out.data());
    else if (k <= 32)
      done = order_statistic_lanes<32>(m, lo, hi, out.data());
    else if (k <= 64)
      done = order_statistic_lanes<64>(m, lo, hi, out.data());
  }
#endif
  order_statistic_scalar(m, lo, hi, out, done, m.dim());
}

} // namespace fedpp::detail
