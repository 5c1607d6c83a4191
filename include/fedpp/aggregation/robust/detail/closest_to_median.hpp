/// \file closest_to_median.hpp
/// Bulyan's coordinate-wise step (El Mhamdi et al. 2018, "The Hidden Vulnerability of
/// Distributed Learning in Byzantium", Algorithm 1 step 2): for every coordinate d, the mean of
/// the β values of column d that lie closest to the column's median.
///
/// In the sorted column c[0..n) the β values closest to the median m form a window c[w..w+β).
/// Sliding the window from w to w + 1 trades c[w] for c[w+β]; that brings a value strictly
/// closer to m exactly when c[w] + c[w+β] < 2m (both sums grow with w), so the window starts at
/// w* = #{w < n − β : c[w] + c[w+β] < 2m}: every value strictly closer than the farthest one
/// taken is in the window, and of equally far values the lower ones are taken. 2m = 2c[n/2] for
/// odd n and c[n/2−1] + c[n/2] for even n. Sums and comparisons are in double from the float
/// values, the window summed in ascending order from +0 and divided by β, so the vector path and
/// the scalar path give the same bits.
///
/// Vector path (x86-64, float, n ≤ 64): 16 (AVX-512), 8 (AVX) or 4 (SSE2) consecutive
/// coordinates are the lanes of a vector; the n rows are sorted lane by lane with Batcher's
/// odd–even merge network for N inputs (N = n rounded up to a multiple of 16, the rows past
/// n padded with +inf; see coordinate_kernels.hpp), then scanned per lane: the slides counted
/// with compares and masked adds (in float where that decides exactly, see closest_lanes), the
/// window summed in double with masked adds.
/// Tails, n > 64, double values and other CPUs take the scalar path (gather, sort, scan).
#pragma once

#include "fedpp/aggregation/robust/detail/coordinate_kernels.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <type_traits>
#include <vector>

namespace fedpp::detail {

/// Scalar path for coordinates [begin, end) of the `count` rows (each row a pointer to its
/// element 0): out[d] = mean of the β values of column d closest to its median.
template <class T>
void closest_to_median_scalar(const T* const* rows, std::size_t count, std::size_t beta, std::size_t begin,
                              std::size_t end, T* out) {
  std::vector<double> c(count);
  for (std::size_t d = begin; d < end; ++d) {
    for (std::size_t k = 0; k < count; ++k) c[k] = static_cast<double>(rows[k][d]);
    std::sort(c.begin(), c.end());
    const double twice_median = count % 2 == 1 ? 2 * c[count / 2] : c[count / 2 - 1] + c[count / 2];
    std::size_t best = 0;
    for (std::size_t w = 0; w + beta < count; ++w) best += c[w] + c[w + beta] < twice_median ? 1 : 0;
    double sum = 0;
    for (std::size_t i = best; i < best + beta; ++i) sum += c[i];
    out[d] = static_cast<T>(sum / static_cast<double>(beta));
  }
}

#if FEDPP_ROBUST_X86
namespace closest_x86 {
typedef double f64x2 __attribute__((vector_size(16)));
typedef double f64x4 __attribute__((vector_size(32)));
typedef double f64x8 __attribute__((vector_size(64)));

/// `to` = the low (h = 0) or high (h = 1) half of a float vector's lanes, widened to double.
/// (An out-parameter: vectors returned by value from a function without the target attribute
/// draw GCC's -Wpsabi.)
template <class H, class V>
[[gnu::always_inline]] inline void widen_half(H& to, const V& v, std::size_t h) {
  typedef float half_float __attribute__((vector_size(sizeof(V) / 2)));
  half_float part;
  __builtin_memcpy(&part, reinterpret_cast<const char*>(&v) + h * sizeof(half_float), sizeof(half_float));
  to = __builtin_convertvector(part, H);
}

/// True when any lane of the comparison mask `m` is set.
template <class M>
[[gnu::always_inline]] inline bool any_lane(const M& m) {
  std::uint64_t words[sizeof(M) / 8];
  __builtin_memcpy(words, &m, sizeof(M));
  std::uint64_t any = 0;
  for (std::uint64_t w : words) any |= w;
  return any != 0;
}

/// Sorts the rows lane by lane for every group of `sizeof(V) / 4` coordinates in [begin, end)
/// and writes each lane's mean of the β closest to the median; returns the first coordinate not
/// done. `H` is a double vector of half V's lanes. Always inlined into the target-specific entry
/// points below (as coordinate_kernels.hpp's sort_lanes).
///
/// The window's start counts the slides with c[w] + c[w+β] < 2m. The count is taken on the
/// float values first: rounding is monotone, so a float sum strictly below (above) the float 2m
/// means the exact one is below (above) too; only when some lane's float sums are equal (ties,
/// or a difference rounded away) is the group's count redone in double.
// Not UBSan-instrumented, as coordinate_kernels.hpp's sort_lanes (compile time of sanitized
// builds; the network's indices are checked at compile time).
template <std::size_t N, class V, class H>
__attribute__((always_inline, no_sanitize("undefined"))) inline std::size_t
closest_lanes(const float* const* rows, std::size_t count, std::size_t beta, std::size_t begin,
              std::size_t end, float* out) {
  constexpr std::size_t lanes = sizeof(V) / sizeof(float);
  constexpr std::size_t half = lanes / 2;
  typedef float half_float __attribute__((vector_size(sizeof(V) / 2)));
  constexpr std::uintptr_t prefetch_bytes = 256; // as the median kernel
  constexpr auto& net = batcher_network_v<N>;
  static_assert(network_in_range(net, N)); // the indexing below stays within v[N]
  const V inf = V{} + std::numeric_limits<float>::infinity();
  const H beta_d = H{} + static_cast<double>(beta);
  const std::size_t mid = count / 2;
  // The sorted column group: indexed at run time, so it lives in memory (L1); the network
  // before it works on v[], indexed only by constants.
  alignas(64) V sorted[N];
  std::size_t d = begin;
  for (; d + lanes <= end; d += lanes) {
    V v[N];
    for (std::size_t k = 0; k < N; ++k) {
      if (k < count) {
        const float* p = rows[k] + d;
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
#pragma GCC unroll 64
    for (std::size_t k = 0; k < N; ++k) sorted[k] = v[k];

    // Window starts (small integers, exact in float and double), on the float values.
    const V twice_median = count % 2 == 1 ? sorted[mid] + sorted[mid] : sorted[mid - 1] + sorted[mid];
    V starts = V{};
    auto ties = twice_median < twice_median; // all false, of the comparison's mask type
    for (std::size_t w = 0; w + beta < count; ++w) {
      const V sum = sorted[w] + sorted[w + beta];
      starts = sum < twice_median ? starts + 1.0F : starts;
      ties |= sum == twice_median;
    }
    H best[2];
    widen_half(best[0], starts, 0);
    widen_half(best[1], starts, 1);
    if (any_lane(ties)) // the exact count, in double
      for (std::size_t h = 0; h < 2; ++h) {
        H lower, upper;
        widen_half(lower, sorted[count % 2 == 1 ? mid : mid - 1], h);
        widen_half(upper, sorted[mid], h);
        const H twice = lower + upper;
        H start = H{};
        for (std::size_t w = 0; w + beta < count; ++w) {
          widen_half(lower, sorted[w], h);
          widen_half(upper, sorted[w + beta], h);
          start = lower + upper < twice ? start + 1.0 : start;
        }
        best[h] = start;
      }

    for (std::size_t h = 0; h < 2; ++h) {
      const H stop = best[h] + beta_d;
      // Only the rows some lane's window covers: [min start, max start + β).
      double first = best[h][0], last = best[h][0];
      for (std::size_t j = 1; j < half; ++j) {
        first = best[h][j] < first ? best[h][j] : first;
        last = best[h][j] > last ? best[h][j] : last;
      }
      const auto from = static_cast<std::size_t>(first), to = static_cast<std::size_t>(last) + beta;
      H sum = H{}, at = H{} + first;
      for (std::size_t i = from; i < to; ++i, at += 1.0) {
        // Adding +0 leaves a sum that started at +0 unchanged: the same bits as summing
        // c[best..best+β) alone, in order. (Each condition a plain compare: GCC turns a
        // compare-and-select into a masked move, a select on `&` of two masks into lane loops.)
        H value;
        widen_half(value, sorted[i], h);
        const H inside = at < stop ? value : H{};
        sum = at >= best[h] ? sum + inside : sum;
      }
      const half_float mean = __builtin_convertvector(sum / beta_d, half_float);
      __builtin_memcpy(out + d + h * half, &mean, sizeof(half_float));
    }
  }
  return d;
}

template <std::size_t N>
__attribute__((target("avx512f"))) std::size_t avx512(const float* const* rows, std::size_t count,
                                                      std::size_t beta, std::size_t begin, std::size_t end,
                                                      float* out) {
  return closest_lanes<N, order_statistic_x86::f32x16, f64x8>(rows, count, beta, begin, end, out);
}

template <std::size_t N>
__attribute__((target("avx"))) std::size_t avx(const float* const* rows, std::size_t count, std::size_t beta,
                                               std::size_t begin, std::size_t end, float* out) {
  return closest_lanes<N, order_statistic_x86::f32x8, f64x4>(rows, count, beta, begin, end, out);
}

/// SSE2: every x86-64 CPU.
template <std::size_t N>
std::size_t sse2(const float* const* rows, std::size_t count, std::size_t beta, std::size_t begin,
                 std::size_t end, float* out) {
  return closest_lanes<N, order_statistic_x86::f32x4, f64x2>(rows, count, beta, begin, end, out);
}

/// The widest lanes this CPU has, for a network of N inputs.
template <std::size_t N>
std::size_t dispatch(const float* const* rows, std::size_t count, std::size_t beta, std::size_t begin,
                     std::size_t end, float* out) {
  if (__builtin_cpu_supports("avx512f")) return avx512<N>(rows, count, beta, begin, end, out);
  if (__builtin_cpu_supports("avx")) return avx<N>(rows, count, beta, begin, end, out);
  return sse2<N>(rows, count, beta, begin, end, out);
}
} // namespace closest_x86
#endif

/// out[d] for d in [begin, end): the mean of the β values of column d (over `count` rows) closest
/// to its median; 1 ≤ β ≤ count. Vector path where it applies, the scalar path for the rest.
template <class T>
void closest_to_median(const T* const* rows, std::size_t count, std::size_t beta, std::size_t begin,
                       std::size_t end, T* out) {
  std::size_t done = begin;
#if FEDPP_ROBUST_X86
  if constexpr (std::is_same_v<T, float>) {
    switch ((count + 15) / 16) { // networks for 16, 32, 48, 64 inputs (compile time: 4 per ISA)
    case 1:
      done = closest_x86::dispatch<16>(rows, count, beta, begin, end, out);
      break;
    case 2:
      done = closest_x86::dispatch<32>(rows, count, beta, begin, end, out);
      break;
    case 3:
      done = closest_x86::dispatch<48>(rows, count, beta, begin, end, out);
      break;
    case 4:
      done = closest_x86::dispatch<64>(rows, count, beta, begin, end, out);
      break;
    default:
      break; // more than 64 rows: scalar
    }
  }
#endif
  closest_to_median_scalar(rows, count, beta, done, end, out);
}

} // namespace fedpp::detail
