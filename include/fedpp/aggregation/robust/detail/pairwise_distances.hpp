/// \file pairwise_distances.hpp
/// Squared Euclidean distances between every pair of rows of an update_matrix, through the
/// Gram matrix: G = X Xᵀ, d²_ij = G_ii + G_jj − 2 G_ij, so each update is read once per
/// column block and the work is K²/2 fused multiply-adds per coordinate (half of computing
/// the differences directly).
///
/// Precision: within a block of 256 coordinates the products are summed in float (8 or 16 lanes),
/// each block's sums are added in double. The Gram form cancels when two updates are close
/// relative to their norms (d² ≪ G_ii + G_jj); every pair with d² < 0.05 (G_ii + G_jj) is
/// therefore recomputed directly as Σ (x_i − x_j)² in double, which bounds the relative error
/// of every reported distance at about 1e-4.
#pragma once

#include "fedpp/aggregation/robust/update_matrix.hpp"
#include "fedpp/detail/aligned_buffer.hpp"
#include "fedpp/parallel/thread_pool.hpp"

#include <algorithm>
#include <cstddef>
#include <vector>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#endif

namespace fedpp::detail {

/// Pairs with d² below this fraction of G_ii + G_jj are recomputed directly.
inline constexpr double gram_refine_threshold = 0.05;
/// Coordinates per Gram block: K × 256 floats (64 KiB for K = 64) stay in L2 with the next block
/// being prefetched. Since the tile sums are added as vectors (two adds per tile and block), 256
/// reads memory 3–5 % faster than 512 and 7 % faster than 768 (D = 1M, K = 64, same runs).
inline constexpr std::size_t gram_block = 256;

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
      // Named accumulators: at -O2 an acc[2][4] array stayed in memory (a store-forwarded
      // read-modify-write per FMA).
      __m256 c00 = _mm256_setzero_ps(), c01 = c00, c02 = c00, c03 = c00;
      __m256 c10 = c00, c11 = c00, c12 = c00, c13 = c00;
      for (std::size_t d = begin; d < end; d += 8) {
        __m256 x0 = _mm256_load_ps(a0 + d), x1 = _mm256_load_ps(a1 + d);
        __m256 y0 = _mm256_load_ps(b[0] + d), y1 = _mm256_load_ps(b[1] + d);
        __m256 y2 = _mm256_load_ps(b[2] + d), y3 = _mm256_load_ps(b[3] + d);
        asm("" : "+x"(x0), "+x"(x1), "+x"(y0), "+x"(y1), "+x"(y2), "+x"(y3)); // no load folding
        c00 = _mm256_fmadd_ps(x0, y0, c00);
        c01 = _mm256_fmadd_ps(x0, y1, c01);
        c02 = _mm256_fmadd_ps(x0, y2, c02);
        c03 = _mm256_fmadd_ps(x0, y3, c03);
        c10 = _mm256_fmadd_ps(x1, y0, c10);
        c11 = _mm256_fmadd_ps(x1, y1, c11);
        c12 = _mm256_fmadd_ps(x1, y2, c12);
        c13 = _mm256_fmadd_ps(x1, y3, c13);
      }
      const __m256 acc[2][4] = {{c00, c01, c02, c03}, {c10, c11, c12, c13}};
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
/// The 16 horizontal sums of 16 vectors in one vector: lane t = Σ lanes of v[t]. 45 shuffles and
/// adds instead of 16 separate reductions (which cost as much as the block's FMAs did). The
/// maskz forms with a full mask: the plain ones trip GCC 12's -Wmaybe-uninitialized in its header.
__attribute__((target("avx512f"))) inline __m512 transpose_sum16(const __m512* v) {
  __m512 b[8];
#pragma GCC unroll 8
  for (std::size_t k = 0; k < 8; ++k) // per 128-bit lane: [v2k, v2k+1, v2k, v2k+1] partial sums
    b[k] = _mm512_add_ps(_mm512_maskz_unpacklo_ps(0xffff, v[2 * k], v[2 * k + 1]),
                         _mm512_maskz_unpackhi_ps(0xffff, v[2 * k], v[2 * k + 1]));
  __m512 c[4];
#pragma GCC unroll 4
  for (std::size_t k = 0; k < 4; ++k) // per 128-bit lane: [v4k, v4k+1, v4k+2, v4k+3]
    c[k] = _mm512_add_ps(_mm512_maskz_shuffle_ps(0xffff, b[2 * k], b[2 * k + 1], 0x44),
                         _mm512_maskz_shuffle_ps(0xffff, b[2 * k], b[2 * k + 1], 0xee));
  // Fold the four 128-bit lanes: d0 holds v0..7 as [L0+L2, L1+L3] pairs, d1 v8..15.
  const __m512 d0 = _mm512_add_ps(_mm512_maskz_shuffle_f32x4(0xffff, c[0], c[1], 0x44),
                                  _mm512_maskz_shuffle_f32x4(0xffff, c[0], c[1], 0xee));
  const __m512 d1 = _mm512_add_ps(_mm512_maskz_shuffle_f32x4(0xffff, c[2], c[3], 0x44),
                                  _mm512_maskz_shuffle_f32x4(0xffff, c[2], c[3], 0xee));
  return _mm512_add_ps(_mm512_maskz_shuffle_f32x4(0xffff, d0, d1, 0x88),
                       _mm512_maskz_shuffle_f32x4(0xffff, d0, d1, 0xdd));
}

/// Number of 4 × 4 tiles covering the upper triangle of a rows × rows Gram matrix.
[[nodiscard]] constexpr std::size_t gram_tile_count(std::size_t rows) noexcept {
  const std::size_t side = (rows + 3) / 4;
  return side * (side + 1) / 2;
}

/// AVX-512 version of gram_block_fma over [begin, end) (end − begin a multiple of 16): 4 × 4
/// register tiles (16 accumulators + 5 operands of the 32 registers), 16 FMAs per 8 loads, so
/// the FMA units rather than the loads set the pace. Each tile's 16 sums come out of one
/// transposing reduction and are added, widened to double, to that tile's 16 entries of
/// `tile_sums` (gram_tile_count(rows) × 16 doubles, 64-byte aligned, tiles in (i, j ≥ i) order):
/// two vector adds per tile, where adding them one by one into the K × K matrix had cost ≈ 8 % of
/// the block's time. While it computes, the kernel prefetches the next block
/// ([next_begin, next_end)), spread over the tiles, so the block's loads from memory overlap the
/// arithmetic.
__attribute__((target("avx512f"))) inline void
gram_block_avx512(const float* data, std::size_t stride, std::size_t rows, std::size_t begin, std::size_t end,
                  double* tile_sums, std::size_t next_begin = 0, std::size_t next_end = 0) {
  constexpr std::size_t tile = 4;
  const std::size_t tiles = gram_tile_count(rows);
  // Next block's cache lines, row by row; each tile issues its share during its loop.
  const std::size_t next_lines_per_row = next_end > next_begin ? (next_end - next_begin + 15) / 16 : 0;
  const std::size_t next_lines = next_lines_per_row * rows;
  const std::size_t lines_per_tile = (next_lines + tiles - 1) / tiles;
  std::size_t pf_row = 0, pf_col = 0, pf_left = next_lines;
  double* sums = tile_sums;
  for (std::size_t i = 0; i < rows; i += tile) {
    const float* a0 = data + std::min(i + 0, rows - 1) * stride;
    const float* a1 = data + std::min(i + 1, rows - 1) * stride;
    const float* a2 = data + std::min(i + 2, rows - 1) * stride;
    const float* a3 = data + std::min(i + 3, rows - 1) * stride;
    for (std::size_t j = i; j < rows; j += tile, sums += tile * tile) {
      const float* b0 = data + std::min(j + 0, rows - 1) * stride;
      const float* b1 = data + std::min(j + 1, rows - 1) * stride;
      const float* b2 = data + std::min(j + 2, rows - 1) * stride;
      const float* b3 = data + std::min(j + 3, rows - 1) * stride;
      __m512 acc[16];
#pragma GCC unroll 16
      for (auto& c : acc) c = _mm512_setzero_ps();
      std::size_t pf_budget = std::min(lines_per_tile, pf_left);
      pf_left -= pf_budget;
      const auto prefetch_share = [&] { // one line of the next block per iteration until the share is done
        if (pf_budget == 0) return;
        _mm_prefetch(reinterpret_cast<const char*>(data + pf_row * stride + next_begin + 16 * pf_col),
                     _MM_HINT_T0);
        if (++pf_col == next_lines_per_row) {
          pf_col = 0;
          ++pf_row;
        }
        --pf_budget;
      };
      if (j == i) { // diagonal tile: the rows are the same, only the 10 products with q ≥ r
        for (std::size_t d = begin; d < end; d += 16) {
          prefetch_share();
          __m512 x0 = _mm512_load_ps(a0 + d), x1 = _mm512_load_ps(a1 + d);
          __m512 x2 = _mm512_load_ps(a2 + d), x3 = _mm512_load_ps(a3 + d);
          asm("" : "+v"(x0), "+v"(x1), "+v"(x2), "+v"(x3));
          acc[0] = _mm512_fmadd_ps(x0, x0, acc[0]);
          acc[1] = _mm512_fmadd_ps(x0, x1, acc[1]);
          acc[2] = _mm512_fmadd_ps(x0, x2, acc[2]);
          acc[3] = _mm512_fmadd_ps(x0, x3, acc[3]);
          acc[5] = _mm512_fmadd_ps(x1, x1, acc[5]);
          acc[6] = _mm512_fmadd_ps(x1, x2, acc[6]);
          acc[7] = _mm512_fmadd_ps(x1, x3, acc[7]);
          acc[10] = _mm512_fmadd_ps(x2, x2, acc[10]);
          acc[11] = _mm512_fmadd_ps(x2, x3, acc[11]);
          acc[15] = _mm512_fmadd_ps(x3, x3, acc[15]);
        }
      } else {
        for (std::size_t d = begin; d < end; d += 16) {
          prefetch_share();
          __m512 x0 = _mm512_load_ps(a0 + d), x1 = _mm512_load_ps(a1 + d);
          __m512 x2 = _mm512_load_ps(a2 + d), x3 = _mm512_load_ps(a3 + d);
          __m512 y0 = _mm512_load_ps(b0 + d), y1 = _mm512_load_ps(b1 + d);
          __m512 y2 = _mm512_load_ps(b2 + d), y3 = _mm512_load_ps(b3 + d);
          // Keeps the operands in registers: -march tunings otherwise fold the loads into the
          // FMAs' memory operands, reading each four times (20 loads per 16 FMAs: load-bound).
          asm("" : "+v"(x0), "+v"(x1), "+v"(x2), "+v"(x3), "+v"(y0), "+v"(y1), "+v"(y2), "+v"(y3));
          acc[0] = _mm512_fmadd_ps(x0, y0, acc[0]);
          acc[1] = _mm512_fmadd_ps(x0, y1, acc[1]);
          acc[2] = _mm512_fmadd_ps(x0, y2, acc[2]);
          acc[3] = _mm512_fmadd_ps(x0, y3, acc[3]);
          acc[4] = _mm512_fmadd_ps(x1, y0, acc[4]);
          acc[5] = _mm512_fmadd_ps(x1, y1, acc[5]);
          acc[6] = _mm512_fmadd_ps(x1, y2, acc[6]);
          acc[7] = _mm512_fmadd_ps(x1, y3, acc[7]);
          acc[8] = _mm512_fmadd_ps(x2, y0, acc[8]);
          acc[9] = _mm512_fmadd_ps(x2, y1, acc[9]);
          acc[10] = _mm512_fmadd_ps(x2, y2, acc[10]);
          acc[11] = _mm512_fmadd_ps(x2, y3, acc[11]);
          acc[12] = _mm512_fmadd_ps(x3, y0, acc[12]);
          acc[13] = _mm512_fmadd_ps(x3, y1, acc[13]);
          acc[14] = _mm512_fmadd_ps(x3, y2, acc[14]);
          acc[15] = _mm512_fmadd_ps(x3, y3, acc[15]);
        }
      }
      // The maskz forms with a full mask, as in transpose_sum16 (GCC 12's header warnings).
      const __m512 s = transpose_sum16(acc);
      const __m256 s_lo = _mm256_castpd_ps(_mm512_maskz_extractf64x4_pd(0xff, _mm512_castps_pd(s), 0));
      const __m256 s_hi = _mm256_castpd_ps(_mm512_maskz_extractf64x4_pd(0xff, _mm512_castps_pd(s), 1));
      _mm512_store_pd(sums, _mm512_add_pd(_mm512_load_pd(sums), _mm512_maskz_cvtps_pd(0xff, s_lo)));
      _mm512_store_pd(sums + 8, _mm512_add_pd(_mm512_load_pd(sums + 8), _mm512_maskz_cvtps_pd(0xff, s_hi)));
    }
  }
}
#endif

/// Adds the tile-ordered sums of gram_block_avx512 into the K × K Gram matrix (upper triangle).
inline void add_tile_sums(const double* tile_sums, std::size_t rows, double* gram) {
  constexpr std::size_t tile = 4;
  for (std::size_t i = 0; i < rows; i += tile)
    for (std::size_t j = i; j < rows; j += tile, tile_sums += tile * tile)
      for (std::size_t r = 0; r < tile; ++r)
        for (std::size_t q = 0; q < tile; ++q) {
          const std::size_t ii = i + r, jj = j + q;
          if (ii < rows && jj < rows && jj >= ii) gram[ii * rows + jj] += tile_sums[r * tile + q];
        }
}

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

/// Adds the Gram sums over coordinates [begin, end) (begin a multiple of 16) to `gram` (K × K,
/// upper triangle), on the widest vector path the CPU has.
inline void gram_range(const update_matrix<float>& m, std::size_t begin, std::size_t end, double* gram) {
  const std::size_t k = m.rows();
  std::size_t done = begin;
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  if (__builtin_cpu_supports("avx512f")) {
    const std::size_t lanes_end = begin + (end - begin) / 16 * 16;
    aligned_buffer<double> tile_sums(gram_tile_count(k) * 16);
    for (std::size_t b = begin; b < lanes_end; b += gram_block) {
      const std::size_t e = std::min(b + gram_block, lanes_end);
      gram_block_avx512(m.data(), m.stride(), k, b, e, tile_sums.data(), e,
                        std::min(e + gram_block, lanes_end));
    }
    add_tile_sums(tile_sums.data(), k, gram);
    done = lanes_end;
  } else if (__builtin_cpu_supports("avx") && __builtin_cpu_supports("fma")) {
    const std::size_t lanes_end = begin + (end - begin) / 8 * 8;
    for (std::size_t b = begin; b < lanes_end; b += gram_block)
      gram_block_fma(m.data(), m.stride(), k, b, std::min(b + gram_block, lanes_end), gram);
    done = lanes_end;
  }
#endif
  gram_block_plain(m.data(), m.stride(), k, done, end, gram);
}

/// The K × K matrix of squared distances between rows (row-major, symmetric, zero diagonal).
/// With a pool of n > 1 threads the Gram phase is split into n contiguous coordinate ranges
/// (whole blocks), each summed into its own K × K partial, and the partials are added in range
/// order: deterministic for a given n, equal to the serial result up to double rounding.
template <class T>
[[nodiscard]] std::vector<double> pairwise_squared_distances(const update_matrix<T>& m,
                                                             parallel::thread_pool* pool = nullptr) {
  const std::size_t k = m.rows();
  std::vector<double> gram(k * k, 0.0);
  std::vector<double> dist(k * k, 0.0);
  if (k == 0) return dist;
  if constexpr (std::is_same_v<T, float>) {
    const std::size_t blocks = (m.dim() + gram_block - 1) / gram_block;
    const std::size_t parts = pool == nullptr ? 1 : std::min(pool->size(), blocks);
    if (parts <= 1) {
      gram_range(m, 0, m.dim(), gram.data());
    } else {
      std::vector<std::vector<double>> partial(parts, std::vector<double>(k * k, 0.0));
      pool->run(parts, [&](std::size_t p) {
        const std::size_t lo = blocks * p / parts * gram_block;
        const std::size_t hi = std::min(blocks * (p + 1) / parts * gram_block, m.dim());
        gram_range(m, lo, hi, partial[p].data());
      });
      for (const auto& g : partial)
        for (std::size_t i = 0; i < k * k; ++i) gram[i] += g[i];
    }
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
