/// \file dense_kernels.hpp
/// The matrix products of the simulation models (forward and backward passes of mlp and
/// softmax_regression), with a bias/ReLU epilogue, on the code path of kernels/dispatch.hpp: a
/// baseline build (no -march) carries AVX2+FMA and AVX-512 versions compiled with
/// `__attribute__((target(...)))` and picks one at run time (kernels::active_isa()), like the
/// aggregation kernels. Tests run every path (`*_on(kernels::isa, ...)`).
///
/// Each output element is one sum over k in order; paths differ only in rounding (fused
/// multiply-add on AVX2/AVX-512, and gemm_nt's lane-wise partial sums).
#pragma once

#include "fedpp/config.hpp"
#include "fedpp/kernels/dispatch.hpp"

#include <cstddef>
#include <type_traits>
#include <utility>
#include <vector>

#if defined(__GNUC__)
#define FEDPP_SIM_VECTOR_KERNELS 1
#else
#define FEDPP_SIM_VECTOR_KERNELS 0
#endif

namespace fedpp::simulation::detail {

#if FEDPP_SIM_VECTOR_KERNELS

#define FEDPP_SIM_NS dense_compiled
#define FEDPP_SIM_ATTR
#define FEDPP_SIM_BYTES (static_cast<std::size_t>(::fedpp::kernels::detail::compiled_vector_bytes))
#include "fedpp/simulation/detail/dense_isa_kernels.ipp"
#undef FEDPP_SIM_NS
#undef FEDPP_SIM_ATTR
#undef FEDPP_SIM_BYTES

#if FEDPP_RUNTIME_DISPATCH
#define FEDPP_SIM_NS dense_avx2
#define FEDPP_SIM_ATTR __attribute__((target("avx2,fma")))
#define FEDPP_SIM_BYTES                                                                                      \
  std::size_t { 32 }
#include "fedpp/simulation/detail/dense_isa_kernels.ipp"
#undef FEDPP_SIM_NS
#undef FEDPP_SIM_ATTR
#undef FEDPP_SIM_BYTES

#define FEDPP_SIM_NS dense_avx512
#define FEDPP_SIM_ATTR __attribute__((target("avx512f,avx512dq,avx512vl,avx512bw,fma")))
#define FEDPP_SIM_BYTES                                                                                      \
  std::size_t { 64 }
#include "fedpp/simulation/detail/dense_isa_kernels.ipp"
#undef FEDPP_SIM_NS
#undef FEDPP_SIM_ATTR
#undef FEDPP_SIM_BYTES
#endif

#else // plain loops for compilers without GCC vector extensions

namespace dense_compiled {
template <class T>
void gemm_bcast(std::size_t m, std::size_t n, std::size_t depth, const T* a, std::size_t sai, std::size_t sak,
                const T* b, std::size_t ldb, T* c, std::size_t ldc, const T* bias, bool relu) noexcept {
  for (std::size_t i = 0; i < m; ++i)
    for (std::size_t j = 0; j < n; ++j) {
      T s = T(0);
      for (std::size_t k = 0; k < depth; ++k) s += a[i * sai + k * sak] * b[k * ldb + j];
      if (bias != nullptr) s += bias[j];
      c[i * ldc + j] = relu && !(s > T(0)) ? T(0) : s;
    }
}
template <class T>
void gemm_nt(std::size_t m, std::size_t n, std::size_t depth, const T* a, std::size_t lda, const T* b,
             std::size_t ldb, T* c, std::size_t ldc, const T* bias, bool relu) noexcept {
  for (std::size_t i = 0; i < m; ++i)
    for (std::size_t j = 0; j < n; ++j) {
      T s = T(0);
      for (std::size_t k = 0; k < depth; ++k) s += a[i * lda + k] * b[j * ldb + k];
      if (bias != nullptr) s += bias[j];
      c[i * ldc + j] = relu && !(s > T(0)) ? T(0) : s;
    }
}
} // namespace dense_compiled

#endif

/// A row-major matrix operand: element (i, k) at data[i·row_stride + k·col_stride].
template <class T>
struct strided {
  const T* data;
  std::size_t row_stride;
  std::size_t col_stride = 1;
};

/// c (m × n, row stride ldc) = act(a · b + bias): a(i, k) as `a` says (m × depth), b row-major
/// (depth × n, row stride ldb), bias n values or null, act ReLU or identity. Vectorized along
/// b's rows; any strides (a transposed operand is a stride swap).
template <class T>
void gemm_on(kernels::isa path, std::size_t m, std::size_t n, std::size_t depth, strided<T> a, const T* b,
             std::size_t ldb, T* c, std::size_t ldc, const T* bias = nullptr, bool relu = false) noexcept {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>);
  FEDPP_ASSERT(kernels::isa_available(path));
#if FEDPP_SIM_VECTOR_KERNELS && FEDPP_RUNTIME_DISPATCH
  if (path == kernels::isa::avx512)
    return dense_avx512::gemm_bcast(m, n, depth, a.data, a.row_stride, a.col_stride, b, ldb, c, ldc, bias,
                                    relu);
  if (path == kernels::isa::avx2)
    return dense_avx2::gemm_bcast(m, n, depth, a.data, a.row_stride, a.col_stride, b, ldb, c, ldc, bias,
                                  relu);
#endif
  (void)path;
  dense_compiled::gemm_bcast(m, n, depth, a.data, a.row_stride, a.col_stride, b, ldb, c, ldc, bias, relu);
}

/// c (m × n, row stride ldc) = act(a · bᵀ + bias) with a (m × depth) and b (n × depth) row-major
/// (row strides lda, ldb): dot products vectorized along k, so neither operand is repacked.
template <class T>
void gemm_nt_on(kernels::isa path, std::size_t m, std::size_t n, std::size_t depth, const T* a,
                std::size_t lda, const T* b, std::size_t ldb, T* c, std::size_t ldc, const T* bias = nullptr,
                bool relu = false) noexcept {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>);
  FEDPP_ASSERT(kernels::isa_available(path));
#if FEDPP_SIM_VECTOR_KERNELS && FEDPP_RUNTIME_DISPATCH
  if (path == kernels::isa::avx512)
    return dense_avx512::gemm_nt(m, n, depth, a, lda, b, ldb, c, ldc, bias, relu);
  if (path == kernels::isa::avx2) return dense_avx2::gemm_nt(m, n, depth, a, lda, b, ldb, c, ldc, bias, relu);
#endif
  (void)path;
  dense_compiled::gemm_nt(m, n, depth, a, lda, b, ldb, c, ldc, bias, relu);
}

/// dst (cols × rows, row stride ldd) = srcᵀ for src (rows × cols, row stride lds), in 16 × 16
/// blocks.
template <class T>
void transpose(std::size_t rows, std::size_t cols, const T* src, std::size_t lds, T* dst,
               std::size_t ldd) noexcept {
  constexpr std::size_t tile = 16;
  for (std::size_t i0 = 0; i0 < rows; i0 += tile)
    for (std::size_t j0 = 0; j0 < cols; j0 += tile) {
      const std::size_t i1 = rows - i0 < tile ? rows : i0 + tile;
      const std::size_t j1 = cols - j0 < tile ? cols : j0 + tile;
      for (std::size_t j = j0; j < j1; ++j)
        for (std::size_t i = i0; i < i1; ++i) dst[j * ldd + i] = src[i * lds + j];
    }
}

/// dst[j] = Σ_i src[i·cols + j] for a row-major rows × cols matrix (bias gradients).
template <class T>
void column_sums(std::size_t rows, std::size_t cols, const T* src, T* dst) noexcept {
  for (std::size_t j = 0; j < cols; ++j) dst[j] = T(0);
  for (std::size_t i = 0; i < rows; ++i)
    for (std::size_t j = 0; j < cols; ++j) dst[j] += src[i * cols + j];
}

/// Batches of at least this many rows repack the weights (dense_layer).
inline constexpr std::size_t pack_min_rows = 256;

/// A fully connected layer y = act(x Wᵀ + b) for n rows: x (n × in, row stride ldx), W (out × in,
/// row-major, as PyTorch's Linear), b (out), y (n × out, contiguous), act ReLU or identity. Large
/// batches with a wide output copy Wᵀ into `packed` once and broadcast x (gemm_on); others take
/// dot products against W's rows as they are (gemm_nt_on).
template <class T>
void dense_layer(kernels::isa path, std::size_t n, std::size_t out, std::size_t in, const T* x,
                 std::size_t ldx, const T* w, const T* b, T* y, bool relu, std::vector<T>& packed) {
  if (n >= pack_min_rows && out >= 16) {
    packed.resize(in * out);
    transpose(out, in, w, in, packed.data(), out);
    gemm_on(path, n, out, in, strided<T>{x, ldx, 1}, packed.data(), out, y, out, b, relu);
  } else {
    gemm_nt_on(path, n, out, in, x, ldx, w, in, y, out, b, relu);
  }
}

} // namespace fedpp::simulation::detail
