/// \file coordinate_kernels.hpp
/// Coordinate-wise order statistics over the rows of an update_matrix: for every coordinate d,
/// out[d] = mean of the sorted values at positions [lo, hi) (median: the middle one or two;
/// trimmed mean: all but t on each side).
///
/// Fast path (x86-64): 16 (AVX-512), 8 (AVX) or 4 (SSE2) consecutive coordinates, chosen at run
/// time, are the lanes of a vector;
/// the K rows become K vectors (padded with +inf to a power of two P ≤ 64) and are sorted lane by
/// lane with Batcher's odd–even merge sorting network (Knuth, TAOCP vol. 3, §5.3.4), i.e. with
/// branch-free min/max only; each update is read exactly once, in row order. Padding with +inf
/// is exact: the pads stay above every real value, so positions 0..K−1 hold the sorted inputs.
/// Other coordinates (tails, K > 64, other CPUs) use a scalar gather + sort.
#pragma once

#include "fedpp/aggregation/robust/update_matrix.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <type_traits>
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

/// Comparator c of a network orders positions lo[c] < hi[c]: min to lo, max to hi.
template <std::size_t Size>
struct comparator_network {
  static constexpr std::size_t size = Size;
  unsigned short lo[Size == 0 ? 1 : Size];
  unsigned short hi[Size == 0 ? 1 : Size];
};

/// The comparators of Batcher's odd–even merge sort on N inputs: for N = 2^k the classic network;
/// for other N the one for the next power of two without the comparators that touch positions
/// ≥ N (those would only compare +inf pads, which never move).
template <std::size_t N>
constexpr auto batcher_network() noexcept {
  comparator_network<batcher_size(N)> net{};
  std::size_t c = 0;
  for (std::size_t p = 1; p < N; p <<= 1)
    for (std::size_t k = p; k >= 1; k >>= 1)
      for (std::size_t j = k % p; j + k < N; j += 2 * k)
        for (std::size_t i = 0; i < std::min(k, N - j - k); ++i)
          if ((i + j) / (2 * p) == (i + j + k) / (2 * p)) {
            net.lo[c] = static_cast<unsigned short>(i + j);
            net.hi[c] = static_cast<unsigned short>(i + j + k);
            ++c;
          }
  return net;
}

template <std::size_t N>
inline constexpr auto batcher_network_v = batcher_network<N>();

/// True when every comparator of `net` orders two positions below n (lo < hi < n).
template <std::size_t Size>
constexpr bool network_in_range(const comparator_network<Size>& net, std::size_t n) noexcept {
  for (std::size_t c = 0; c < Size; ++c)
    if (!(net.lo[c] < net.hi[c] && net.hi[c] < n)) return false;
  return true;
}

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
namespace order_statistic_x86 {
typedef float f32x4 __attribute__((vector_size(16)));
typedef float f32x8 __attribute__((vector_size(32)));
typedef float f32x16 __attribute__((vector_size(64)));

/// Sorts P rows lane by lane for every group of `sizeof(V) / 4` coordinates and averages the
/// sorted positions [lo, hi); returns the number of coordinates done. Written once with GCC
/// vector extensions: `a < b ? a : b` is exactly the x86 min instruction (the second operand
/// when either is NaN), so each comparator is one min and one max. Always inlined into the
/// target-specific entry points below, which pick the instruction set (and register count:
/// AVX-512's 32 registers hold a whole 32-row column group without spilling).
// Not UBSan-instrumented: the fully unrolled network holds thousands of indexings whose bounds,
// null and overflow checks took a sanitized build minutes per instantiation; the indices come
// from a constexpr table checked against the array size at compile time (network_in_range).
template <std::size_t P, class V>
__attribute__((always_inline, no_sanitize("undefined"))) inline std::size_t
sort_lanes(const float* data, std::size_t stride, std::size_t rows, std::size_t dim, std::size_t lo,
           std::size_t hi, float* out) {
  constexpr std::size_t lanes = sizeof(V) / sizeof(float);
  // 4 iterations ahead of AVX-512 lanes; 128 to 2048 bytes measured on Zen 5, 256 best.
  constexpr std::uintptr_t prefetch_bytes = 256;
  constexpr auto& net = batcher_network_v<P>;
  static_assert(network_in_range(net, P)); // the indexing below stays within v[P]
  const V inf = V{} + std::numeric_limits<float>::infinity();
  const std::size_t count = hi - lo;
  // The median of an even count halves a sum of two (exact); other counts divide.
  const V factor = V{} + (count == 2 ? 0.5F : 1.0F);
  const V divisor = V{} + static_cast<float>(count);
  const bool divide = count > 2;
  std::size_t d = 0;
  for (; d + lanes <= dim; d += lanes) {
    V v[P];
    for (std::size_t k = 0; k < P; ++k) {
      if (k < rows) {
        const float* p = data + k * stride + d;
        // K streams at once are more than the hardware prefetchers follow; a prefetch per row
        // (never faulting, even past the end) keeps the loads ahead.
        const std::uintptr_t ahead = reinterpret_cast<std::uintptr_t>(p) + prefetch_bytes;
        // NOLINTNEXTLINE(performance-no-int-to-ptr): integer arithmetic, no UB past the end
        __builtin_prefetch(reinterpret_cast<const void*>(ahead));
        __builtin_memcpy(&v[k], p, sizeof(V));
      } else {
        v[k] = inf;
      }
    }
#pragma GCC unroll 1024
    for (std::size_t c = 0; c < net.size; ++c) {
      const V a = v[net.lo[c]];
      const V b = v[net.hi[c]];
      v[net.lo[c]] = a < b ? a : b;
      v[net.hi[c]] = a < b ? b : a;
    }
    V sum = V{};
    for (std::size_t i = lo; i < hi; ++i) sum += v[i];
    sum = divide ? sum / divisor : sum * factor;
    __builtin_memcpy(out + d, &sum, sizeof(V));
  }
  return d;
}

template <std::size_t P>
__attribute__((target("avx512f"))) std::size_t avx512(const float* data, std::size_t stride, std::size_t rows,
                                                      std::size_t dim, std::size_t lo, std::size_t hi,
                                                      float* out) {
  return sort_lanes<P, f32x16>(data, stride, rows, dim, lo, hi, out);
}

template <std::size_t P>
__attribute__((target("avx"))) std::size_t avx(const float* data, std::size_t stride, std::size_t rows,
                                               std::size_t dim, std::size_t lo, std::size_t hi, float* out) {
  return sort_lanes<P, f32x8>(data, stride, rows, dim, lo, hi, out);
}

/// SSE2: every x86-64 CPU.
template <std::size_t P>
std::size_t sse2(const float* data, std::size_t stride, std::size_t rows, std::size_t dim, std::size_t lo,
                 std::size_t hi, float* out) {
  return sort_lanes<P, f32x4>(data, stride, rows, dim, lo, hi, out);
}
} // namespace order_statistic_x86

/// The widest lanes this CPU has (checked at run time; the build flags do not matter).
template <std::size_t P>
std::size_t order_statistic_lanes(const update_matrix<float>& m, std::size_t lo, std::size_t hi, float* out) {
  if (__builtin_cpu_supports("avx512f"))
    return order_statistic_x86::avx512<P>(m.data(), m.stride(), m.rows(), m.dim(), lo, hi, out);
  if (__builtin_cpu_supports("avx"))
    return order_statistic_x86::avx<P>(m.data(), m.stride(), m.rows(), m.dim(), lo, hi, out);
  return order_statistic_x86::sse2<P>(m.data(), m.stride(), m.rows(), m.dim(), lo, hi, out);
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
