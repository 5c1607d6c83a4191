/// \file pairwise_distances.hpp
/// Squared Euclidean distances between every pair of rows of an update_matrix, through the
/// Gram matrix: G = X Xᵀ, d²_ij = G_ii + G_jj − 2 G_ij, so each update is read once per
/// column block and the work is K²/2 fused multiply-adds per coordinate (half of computing
/// the differences directly).
///
/// Precision: within a block of 1024 coordinates the products are summed in float (8 or 16 lanes),
/// each block's sums are added in double. The Gram form cancels when two updates are close
/// relative to their norms (d² ≪ G_ii + G_jj); every pair with d² < 0.05 (G_ii + G_jj) is
/// therefore recomputed directly as Σ (x_i − x_j)² in double, which bounds the relative error
/// of every reported distance at about 1e-4.
#pragma once

#include "fedpp/aggregation/robust/update_matrix.hpp"

#include <algorithm>
#include <cstddef>
#include <vector>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#endif

namespace fedpp::detail {

/// Pairs with d² below this fraction of G_ii + G_jj are recomputed directly.
inline constexpr double gram_refine_threshold = 0.05;
/// Coordinates per Gram block (K × 1024 floats stay in L2 for K ≤ 128).
inline constexpr std::size_t gram_block = 1024;
/// Coordinates per Gram block on the AVX-512 path (K × 1024 floats stay in L2 for K ≤ 128).
inline constexpr std::size_t gram_block_avx512_coordinates = 1024;

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
/// Adds Σ_d x_i[d] x_j[d] over [begin, end) (end − begin a multiple of 8) to gram (K × K, upper
/// triangle) for every i ≤ j, in 2 × 4 register tiles.
__attribute__((target("avx,fma"))) inline void gram_block_fma(const float* data, std::size_t stride,
                                                              std::size_t rows, std::size_t begin,
                                                              std::size_t end, double* gram) {
  for (std::size_t i = 0; i < rows; i += 2) {
    const float* a0 = data + i * stride;
    const float* a1 = data + std::min(i + 1, rows - 1) * stride;
    for (std::size_t j = i / 4 * 4; j < rows; j += 4) {
      const float* b[4];
      for (std::size_t q = 0; q < 4; ++q) b[q] = data + std::min(j + q, rows - 1) * stride;
      __m256 acc[2][4];
      for (auto& r : acc)
        for (auto& c : r) c = _mm256_setzero_ps();
      for (std::size_t d = begin; d < end; d += 8) {
        const __m256 x0 = _mm256_load_ps(a0 + d);
        const __m256 x1 = _mm256_load_ps(a1 + d);
        for (std::size_t q = 0; q < 4; ++q) {
          const __m256 y = _mm256_load_ps(b[q] + d);
          acc[0][q] = _mm256_fmadd_ps(x0, y, acc[0][q]);
          acc[1][q] = _mm256_fmadd_ps(x1, y, acc[1][q]);
        }
      }
      for (std::size_t r = 0; r < 2; ++r)
        for (std::size_t q = 0; q < 4; ++q) {
          const std::size_t ii = i + r, jj = j + q;
          if (ii >= rows || jj >= rows || jj < ii) continue;
          alignas(32) float lanes[8];
          _mm256_store_ps(lanes, acc[r][q]);
          double s = 0;
          for (float l : lanes) s += static_cast<double>(l);
          gram[ii * rows + jj] += s;
        }
    }
  }
}
/// AVX-512 version of gram_block_fma over [begin, end) (end − begin a multiple of 16): 4 × 4
/// register tiles (16 accumulators + 5 operands of the 32 registers), 16 FMAs per 8 loads, so
/// the FMA units rather than the loads set the pace; each tile's lanes are summed in double.
__attribute__((target("avx512f"))) inline void gram_block_avx512(const float* data, std::size_t stride,
                                                                 std::size_t rows, std::size_t begin,
                                                                 std::size_t end, double* gram) {
  constexpr std::size_t tile_rows = 4, tile_cols = 4; // 4 × 6 and 6 × 4 measured within noise (FMA-bound)
  for (std::size_t i = 0; i < rows; i += tile_rows) {
    const float* a[tile_rows];
    for (std::size_t r = 0; r < tile_rows; ++r) a[r] = data + std::min(i + r, rows - 1) * stride;
    for (std::size_t j = i; j < rows; j += tile_cols) {
      const float* b[tile_cols];
      for (std::size_t q = 0; q < tile_cols; ++q) b[q] = data + std::min(j + q, rows - 1) * stride;
      __m512 acc[tile_rows][tile_cols];
      for (auto& r : acc)
        for (auto& c : r) c = _mm512_setzero_ps();
      for (std::size_t d = begin; d < end; d += 16) {
        __m512 x[tile_rows];
        for (std::size_t r = 0; r < tile_rows; ++r) x[r] = _mm512_load_ps(a[r] + d);
        for (std::size_t q = 0; q < tile_cols; ++q) {
          const __m512 y = _mm512_load_ps(b[q] + d);
          for (std::size_t r = 0; r < tile_rows; ++r) acc[r][q] = _mm512_fmadd_ps(x[r], y, acc[r][q]);
        }
      }
      for (std::size_t r = 0; r < tile_rows; ++r)
        for (std::size_t q = 0; q < tile_cols; ++q) {
          const std::size_t ii = i + r, jj = j + q;
          if (ii >= rows || jj >= rows || jj < ii) continue;
          // Through memory: the widening intrinsics trip GCC 12's -Wmaybe-uninitialized in its
          // own header; once per tile and block, so the cost is nil.
          alignas(64) float lanes[16];
          _mm512_store_ps(lanes, acc[r][q]);
          double sum = 0;
          for (float l : lanes) sum += static_cast<double>(l);
          gram[ii * rows + jj] += sum;
        }
    }
  }
}
#endif

/// Plain path for coordinates [begin, end): double accumulation.
inline void gram_block_plain(const float* data, std::size_t stride, std::size_t rows, std::size_t begin,
                             std::size_t end, double* gram) {
  for (std::size_t i = 0; i < rows; ++i)
    for (std::size_t j = i; j < rows; ++j) {
      double s = 0;
      for (std::size_t d = begin; d < end; ++d)
        s += static_cast<double>(data[i * stride + d]) * static_cast<double>(data[j * stride + d]);
      gram[i * rows + j] += s;
    }
}

template <class T>
[[nodiscard]] double direct_squared_distance(const update_matrix<T>& m, std::size_t i, std::size_t j) {
  const auto a = m.row(i);
  const auto b = m.row(j);
  double s0 = 0, s1 = 0;
  std::size_t d = 0;
  for (; d + 2 <= a.size(); d += 2) {
    const double e0 = static_cast<double>(a[d]) - static_cast<double>(b[d]);
    const double e1 = static_cast<double>(a[d + 1]) - static_cast<double>(b[d + 1]);
    s0 += e0 * e0;
    s1 += e1 * e1;
  }
  if (d < a.size()) {
    const double e = static_cast<double>(a[d]) - static_cast<double>(b[d]);
    s0 += e * e;
  }
  return s0 + s1;
}

/// The K × K matrix of squared distances between rows (row-major, symmetric, zero diagonal).
template <class T>
[[nodiscard]] std::vector<double> pairwise_squared_distances(const update_matrix<T>& m) {
  const std::size_t k = m.rows();
  std::vector<double> gram(k * k, 0.0);
  std::vector<double> dist(k * k, 0.0);
  if (k == 0) return dist;
  std::size_t done = 0;
  if constexpr (std::is_same_v<T, float>) {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    if (__builtin_cpu_supports("avx512f")) {
      const std::size_t lanes_end = m.dim() / 16 * 16;
      for (std::size_t b = 0; b < lanes_end; b += gram_block_avx512_coordinates)
        gram_block_avx512(m.data(), m.stride(), k, b, std::min(b + gram_block_avx512_coordinates, lanes_end),
                          gram.data());
      done = lanes_end;
    } else if (__builtin_cpu_supports("avx") && __builtin_cpu_supports("fma")) {
      const std::size_t lanes_end = m.dim() / 8 * 8;
      for (std::size_t b = 0; b < lanes_end; b += gram_block)
        gram_block_fma(m.data(), m.stride(), k, b, std::min(b + gram_block, lanes_end), gram.data());
      done = lanes_end;
    }
#endif
    gram_block_plain(m.data(), m.stride(), k, done, m.dim(), gram.data());
  } else {
    for (std::size_t i = 0; i < k; ++i)
      for (std::size_t j = i + 1; j < k; ++j)
        dist[i * k + j] = dist[j * k + i] = direct_squared_distance(m, i, j);
    return dist;
  }
  for (std::size_t i = 0; i < k; ++i)
    for (std::size_t j = i + 1; j < k; ++j) {
      const double norms = gram[i * k + i] + gram[j * k + j];
      double d2 = norms - 2 * gram[i * k + j];
      if (d2 < gram_refine_threshold * norms) d2 = direct_squared_distance(m, i, j);
      dist[i * k + j] = dist[j * k + i] = d2;
    }
  return dist;
}

} // namespace fedpp::detail
