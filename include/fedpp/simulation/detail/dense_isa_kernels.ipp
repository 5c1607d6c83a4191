// Body of the simulation models' dense kernels (matrix products with a bias/ReLU epilogue),
// included once per code path by dense_kernels.hpp with FEDPP_SIM_NS (namespace), FEDPP_SIM_ATTR
// (a function attribute: `__attribute__((target("...")))`, or empty for the compile-time path) and
// FEDPP_SIM_BYTES (vector width in bytes) defined. Written with GCC vector extensions so one text
// serves every width; `a * b + c` is contracted to a fused multiply-add where the path has one.
// Every function is a template or `inline` in its own namespace, so no symbol is compiled for two
// targets (ODR).
//
// Blocking: a tile of MR rows × NV vectors of the output lives in registers for the whole sum
// over k and is written once, with the epilogue (bias, ReLU) applied on the way out. Each output
// element is one sequential sum over k in order (k = 0, 1, ...), whatever the tile it falls in.

namespace FEDPP_SIM_NS {

/// Vector of Bytes / sizeof(T) lanes of T.
template <class T, std::size_t Bytes>
struct vec {
  typedef T type __attribute__((vector_size(Bytes)));
};

inline constexpr std::size_t bytes = FEDPP_SIM_BYTES;
/// Rows × vectors of a register tile: 24 accumulators with 32 vector registers (AVX-512),
/// 12 with 16.
inline constexpr std::size_t tile_rows = 6;
inline constexpr std::size_t tile_vectors = bytes >= 64 ? 4 : 2;
/// Rows × columns of a dot-product tile (gemm_nt): 24 / 12 accumulators.
inline constexpr std::size_t dot_rows = bytes >= 64 ? 4 : 3;
inline constexpr std::size_t dot_cols = bytes >= 64 ? 6 : 4;

template <class V, class T>
FEDPP_SIM_ATTR __attribute__((always_inline)) inline V load(const T* p) noexcept {
  V v;
  __builtin_memcpy(&v, p, sizeof v);
  return v;
}

template <class V, class T>
FEDPP_SIM_ATTR __attribute__((always_inline)) inline void store(T* p, V v) noexcept {
  __builtin_memcpy(p, &v, sizeof v);
}

/// Sum of the lanes of v, halving the vector down to 16 bytes, then lane by lane.
template <class T, std::size_t Bytes>
FEDPP_SIM_ATTR __attribute__((always_inline)) inline T lane_sum(typename vec<T, Bytes>::type v) noexcept {
  if constexpr (Bytes > 16) {
    using half = typename vec<T, Bytes / 2>::type;
    half lo, hi;
    __builtin_memcpy(&lo, &v, sizeof lo);
    __builtin_memcpy(&hi, reinterpret_cast<const char*>(&v) + sizeof lo, sizeof hi);
    return lane_sum<T, Bytes / 2>(lo + hi);
  } else {
    T s = v[0];
    for (std::size_t l = 1; l < Bytes / sizeof(T); ++l) s += v[l];
    return s;
  }
}

/// out = max(s + bias, 0) / s + bias / s as the epilogue asks.
template <class V>
FEDPP_SIM_ATTR __attribute__((always_inline)) inline V finish(V s, const V* bias, bool relu) noexcept {
  if (bias != nullptr) s += *bias;
  if (relu) s = s > V{} ? s : V{};
  return s;
}

// --- c = a·b with a(i, k) = a[i·sai + k·sak] and b row-major (vectorized along b's rows) --------

/// One MR × NV-vector tile: c[i][j] = epilogue(Σ_k a(i, k) b[k][j]).
template <std::size_t MR, std::size_t NV, std::size_t Bytes, class T>
FEDPP_SIM_ATTR void bcast_tile(std::size_t depth, const T* a, std::size_t sai, std::size_t sak, const T* b,
                               std::size_t ldb, T* c, std::size_t ldc, const T* bias, bool relu) noexcept {
  using V = typename vec<T, Bytes>::type;
  constexpr std::size_t lanes = Bytes / sizeof(T);
  V acc[MR][NV];
#pragma GCC unroll 8
  for (std::size_t i = 0; i < MR; ++i)
#pragma GCC unroll 8
    for (std::size_t v = 0; v < NV; ++v) acc[i][v] = V{};
  for (std::size_t k = 0; k < depth; ++k) {
    V bv[NV];
#pragma GCC unroll 8
    for (std::size_t v = 0; v < NV; ++v) bv[v] = load<V>(b + k * ldb + v * lanes);
#pragma GCC unroll 8
    for (std::size_t i = 0; i < MR; ++i) {
      const V ai = a[i * sai + k * sak] - V{}; // a broadcast (x − 0 is exactly x)
#pragma GCC unroll 8
      for (std::size_t v = 0; v < NV; ++v) acc[i][v] = ai * bv[v] + acc[i][v];
    }
  }
#pragma GCC unroll 8
  for (std::size_t v = 0; v < NV; ++v) {
    V bias_v{};
    if (bias != nullptr) bias_v = load<V>(bias + v * lanes);
#pragma GCC unroll 8
    for (std::size_t i = 0; i < MR; ++i)
      store(c + i * ldc + v * lanes, finish(acc[i][v], bias != nullptr ? &bias_v : nullptr, relu));
  }
}

/// The same for `cols` (< one vector) columns, one scalar at a time.
template <class T>
FEDPP_SIM_ATTR void bcast_scalar(std::size_t rows, std::size_t cols, std::size_t depth, const T* a,
                                 std::size_t sai, std::size_t sak, const T* b, std::size_t ldb, T* c,
                                 std::size_t ldc, const T* bias, bool relu) noexcept {
  for (std::size_t i = 0; i < rows; ++i)
    for (std::size_t j = 0; j < cols; ++j) {
      T s = T(0);
      for (std::size_t k = 0; k < depth; ++k) s = a[i * sai + k * sak] * b[k * ldb + j] + s;
      if (bias != nullptr) s += bias[j];
      if (relu) s = s > T(0) ? s : T(0);
      c[i * ldc + j] = s;
    }
}

/// Rows [i0, i1) of one column block (NV vectors of Bytes): full MR-row tiles, then the rest.
template <std::size_t NV, std::size_t Bytes, class T>
FEDPP_SIM_ATTR void bcast_rows(std::size_t i0, std::size_t i1, std::size_t depth, const T* a, std::size_t sai,
                               std::size_t sak, const T* b, std::size_t ldb, T* c, std::size_t ldc,
                               const T* bias, bool relu) noexcept {
  std::size_t i = i0;
  for (; i + tile_rows <= i1; i += tile_rows)
    bcast_tile<tile_rows, NV, Bytes>(depth, a + i * sai, sai, sak, b, ldb, c + i * ldc, ldc, bias, relu);
  const auto rest = [&]<std::size_t R>(std::integral_constant<std::size_t, R>) {
    bcast_tile<R, NV, Bytes>(depth, a + i * sai, sai, sak, b, ldb, c + i * ldc, ldc, bias, relu);
  };
  switch (i1 - i) {
  case 5:
    rest(std::integral_constant<std::size_t, 5>{});
    break;
  case 4:
    rest(std::integral_constant<std::size_t, 4>{});
    break;
  case 3:
    rest(std::integral_constant<std::size_t, 3>{});
    break;
  case 2:
    rest(std::integral_constant<std::size_t, 2>{});
    break;
  case 1:
    rest(std::integral_constant<std::size_t, 1>{});
    break;
  default:
    break;
  }
}

/// c (m × n, row stride ldc) = epilogue(a · b), a(i, k) = a[i·sai + k·sak] (m × depth), b
/// (depth × n, row stride ldb); bias: n values or null.
template <class T>
FEDPP_SIM_ATTR void gemm_bcast(std::size_t m, std::size_t n, std::size_t depth, const T* a, std::size_t sai,
                               std::size_t sak, const T* b, std::size_t ldb, T* c, std::size_t ldc,
                               const T* bias, bool relu) noexcept {
  constexpr std::size_t lanes = bytes / sizeof(T);
  constexpr std::size_t block = tile_vectors * lanes;
  // A column block of b small enough for L1 stays there while every row tile passes over it;
  // otherwise each row tile sweeps all columns, keeping its rows of a in L1.
  const bool columns_outer = depth * block * sizeof(T) <= 24576;
  const std::size_t row_step = columns_outer ? m : tile_rows;
  for (std::size_t i0 = 0; i0 < m; i0 += row_step) {
    const std::size_t i1 = m - i0 < row_step ? m : i0 + row_step;
    std::size_t j = 0;
    for (; j + block <= n; j += block)
      bcast_rows<tile_vectors, bytes>(i0, i1, depth, a, sai, sak, b + j, ldb, c + j, ldc,
                                      bias != nullptr ? bias + j : nullptr, relu);
    for (; j + lanes <= n; j += lanes)
      bcast_rows<1, bytes>(i0, i1, depth, a, sai, sak, b + j, ldb, c + j, ldc,
                           bias != nullptr ? bias + j : nullptr, relu);
    if constexpr (bytes >= 32)
      if (j + lanes / 2 <= n) {
        bcast_rows<1, bytes / 2>(i0, i1, depth, a, sai, sak, b + j, ldb, c + j, ldc,
                                 bias != nullptr ? bias + j : nullptr, relu);
        j += lanes / 2;
      }
    if constexpr (bytes >= 64)
      if (j + lanes / 4 <= n) {
        bcast_rows<1, bytes / 4>(i0, i1, depth, a, sai, sak, b + j, ldb, c + j, ldc,
                                 bias != nullptr ? bias + j : nullptr, relu);
        j += lanes / 4;
      }
    if (j < n)
      bcast_scalar(i1 - i0, n - j, depth, a + i0 * sai, sai, sak, b + j, ldb, c + i0 * ldc + j, ldc,
                   bias != nullptr ? bias + j : nullptr, relu);
  }
}

// --- c = a·bᵀ with a and b row-major (dot products vectorized along k) ------------------------

/// One MR × NR tile: c[i][j] = epilogue(Σ_k a[i][k] b[j][k]).
template <std::size_t MR, std::size_t NR, class T>
FEDPP_SIM_ATTR void dot_tile(std::size_t depth, const T* a, std::size_t lda, const T* b, std::size_t ldb,
                             T* c, std::size_t ldc, const T* bias, bool relu) noexcept {
  using V = typename vec<T, bytes>::type;
  constexpr std::size_t lanes = bytes / sizeof(T);
  V acc[MR][NR];
#pragma GCC unroll 8
  for (std::size_t i = 0; i < MR; ++i)
#pragma GCC unroll 8
    for (std::size_t j = 0; j < NR; ++j) acc[i][j] = V{};
  std::size_t k = 0;
  for (; k + lanes <= depth; k += lanes) {
    V av[MR];
#pragma GCC unroll 8
    for (std::size_t i = 0; i < MR; ++i) av[i] = load<V>(a + i * lda + k);
#pragma GCC unroll 8
    for (std::size_t j = 0; j < NR; ++j) {
      const V bj = load<V>(b + j * ldb + k);
#pragma GCC unroll 8
      for (std::size_t i = 0; i < MR; ++i) acc[i][j] = av[i] * bj + acc[i][j];
    }
  }
  const std::size_t tail = depth - k;
  for (std::size_t i = 0; i < MR; ++i)
    for (std::size_t j = 0; j < NR; ++j) {
      T s = lane_sum<T, bytes>(acc[i][j]);
      const T* ai = a + i * lda + k;
      const T* bj = b + j * ldb + k;
      for (std::size_t t = 0; t < tail; ++t) s = ai[t] * bj[t] + s;
      if (bias != nullptr) s += bias[j];
      if (relu) s = s > T(0) ? s : T(0);
      c[i * ldc + j] = s;
    }
}

/// Columns [0, n) for MR rows: full NR-column tiles, then the rest.
template <std::size_t MR, class T>
FEDPP_SIM_ATTR void dot_row_block(std::size_t n, std::size_t depth, const T* a, std::size_t lda, const T* b,
                                  std::size_t ldb, T* c, std::size_t ldc, const T* bias, bool relu) noexcept {
  std::size_t j = 0;
  for (; j + dot_cols <= n; j += dot_cols)
    dot_tile<MR, dot_cols>(depth, a, lda, b + j * ldb, ldb, c + j, ldc, bias != nullptr ? bias + j : nullptr,
                           relu);
  const auto rest = [&]<std::size_t R>(std::integral_constant<std::size_t, R>) {
    dot_tile<MR, R>(depth, a, lda, b + j * ldb, ldb, c + j, ldc, bias != nullptr ? bias + j : nullptr, relu);
  };
  switch (n - j) {
  case 5:
    rest(std::integral_constant<std::size_t, 5>{});
    break;
  case 4:
    rest(std::integral_constant<std::size_t, 4>{});
    break;
  case 3:
    rest(std::integral_constant<std::size_t, 3>{});
    break;
  case 2:
    rest(std::integral_constant<std::size_t, 2>{});
    break;
  case 1:
    rest(std::integral_constant<std::size_t, 1>{});
    break;
  default:
    break;
  }
}

/// c (m × n, row stride ldc) = epilogue(a · bᵀ), a (m × depth, row stride lda), b (n × depth,
/// row stride ldb); bias: n values or null.
template <class T>
FEDPP_SIM_ATTR void gemm_nt(std::size_t m, std::size_t n, std::size_t depth, const T* a, std::size_t lda,
                            const T* b, std::size_t ldb, T* c, std::size_t ldc, const T* bias,
                            bool relu) noexcept {
  std::size_t i = 0;
  for (; i + dot_rows <= m; i += dot_rows)
    dot_row_block<dot_rows>(n, depth, a + i * lda, lda, b, ldb, c + i * ldc, ldc, bias, relu);
  const auto rest = [&]<std::size_t R>(std::integral_constant<std::size_t, R>) {
    dot_row_block<R>(n, depth, a + i * lda, lda, b, ldb, c + i * ldc, ldc, bias, relu);
  };
  switch (m - i) {
  case 3:
    rest(std::integral_constant<std::size_t, 3>{});
    break;
  case 2:
    rest(std::integral_constant<std::size_t, 2>{});
    break;
  case 1:
    rest(std::integral_constant<std::size_t, 1>{});
    break;
  default:
    break;
  }
}

} // namespace FEDPP_SIM_NS
