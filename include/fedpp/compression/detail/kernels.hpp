/// \file kernels.hpp
/// Inner loops shared by the quantizers: finiteness and range of a chunk, stochastic/nearest code
/// computation, dequantize-and-accumulate.
///
/// Each loop is written once with GCC vector extensions over `Bytes`-wide vectors and compiled
/// for the instruction set the build targets (`compiled`) and, on x86-64, for AVX2 and AVX-512
/// with function target attributes, chosen at run time by kernels::active_isa() as the core
/// kernels are (a plain `-O2` build would otherwise run SSE2 code with its 32-bit multiplies
/// emulated). The `*_on(isa, ...)` forms let tests run every path.
#pragma once

#include "fedpp/compression/counter_hash.hpp"
#include "fedpp/config.hpp"
#include "fedpp/kernels/dispatch.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif

namespace fedpp::compression::detail {

/// Block of elements the quantizers process at once (codes live on the stack).
inline constexpr std::size_t code_block = 512;

/// Min, max and finiteness of a range of floats.
struct chunk_range {
  float lo;
  float hi;
  bool finite; ///< false when some element is NaN or Inf (lo and hi are then meaningless)
};

namespace simd_body {

#if defined(__GNUC__)
/// GCC vector types of `Bytes` bytes.
template <std::size_t Bytes>
struct vec {
  typedef float f32 __attribute__((vector_size(Bytes)));
  typedef std::int32_t i32 __attribute__((vector_size(Bytes)));
  typedef std::uint32_t u32 __attribute__((vector_size(Bytes)));
  typedef std::uint8_t u8 __attribute__((vector_size(Bytes / 4)));
  static constexpr std::size_t lanes = Bytes / 4;
};

/// Range and finiteness of x[0, n), n ≥ 1, in one read.
template <std::size_t Bytes>
[[gnu::always_inline]] inline chunk_range scan_range(const float* x, std::size_t n) noexcept {
  using v = vec<Bytes>;
  typename v::f32 lo = typename v::f32{} + x[0];
  typename v::f32 hi = lo;
  typename v::u32 bad{};
  const typename v::u32 exponent = typename v::u32{} + 0x7f800000U;
  std::size_t i = 0;
  for (; i + v::lanes <= n; i += v::lanes) {
    typename v::f32 a;
    __builtin_memcpy(&a, x + i, Bytes);
    lo = a < lo ? a : lo;
    hi = a > hi ? a : hi;
    typename v::u32 bits;
    __builtin_memcpy(&bits, &a, Bytes);
    bad |= (bits & exponent) == exponent; // all ones exactly where the exponent is (Inf/NaN)
  }
  chunk_range r{lo[0], hi[0], true};
  std::uint32_t any_bad = 0;
  for (std::size_t l = 0; l < v::lanes; ++l) {
    r.lo = std::min(r.lo, lo[l]);
    r.hi = std::max(r.hi, hi[l]);
    any_bad |= bad[l];
  }
  for (; i < n; ++i) {
    std::uint32_t b;
    std::memcpy(&b, x + i, 4);
    any_bad |= static_cast<std::uint32_t>((b & 0x7f800000U) == 0x7f800000U);
    r.lo = std::min(r.lo, x[i]);
    r.hi = std::max(r.hi, x[i]);
  }
  r.finite = any_bad == 0;
  return r;
}

/// codes[i] = min(L, ⌊(x[i] − lo)·inv + u_i⌋); see quantize_codes.
template <std::size_t Bytes, bool Stochastic>
[[gnu::always_inline]] inline void quantize(const float* x, std::size_t n, float lo, float inv,
                                            std::uint32_t levels, counter_key key, std::uint64_t first,
                                            std::uint8_t* codes, const float* prefetch) noexcept {
  using v = vec<Bytes>;
  const auto base = static_cast<std::uint32_t>(first);
  const std::uint32_t hi_term = counter_high_term(first);
  const auto top = static_cast<float>(levels);
  typename v::u32 lane_index;
  for (std::size_t l = 0; l < v::lanes; ++l) lane_index[l] = base + static_cast<std::uint32_t>(l);
  const typename v::f32 vlo = typename v::f32{} + lo, vinv = typename v::f32{} + inv,
                        vtop = typename v::f32{} + top;
  std::size_t i = 0;
  for (; i + v::lanes <= n; i += v::lanes) {
    typename v::f32 u = typename v::f32{} + 0.5F;
    if constexpr (Stochastic) {
      typename v::u32 h = lane_index + static_cast<std::uint32_t>(i);
      counter_mix_in_place(h, key, hi_term);
      u = __builtin_convertvector(reinterpret_cast<typename v::i32>(h >> 8), typename v::f32) * 0x1.0p-24F;
    }
    if (prefetch != nullptr && i % 16 == 0) __builtin_prefetch(prefetch + i);
    typename v::f32 a;
    __builtin_memcpy(&a, x + i, Bytes);
    typename v::f32 t = (a - vlo) * vinv + u;
    t = t < vtop ? t : vtop; // x = hi may round up past L
    const auto c = __builtin_convertvector(__builtin_convertvector(t, typename v::i32), typename v::u8);
    __builtin_memcpy(codes + i, &c, v::lanes);
  }
  for (; i < n; ++i) {
    float u = 0.5F;
    if constexpr (Stochastic) u = unit_uniform(counter_hash(key, first + i));
    float t = (x[i] - lo) * inv + u;
    t = t < top ? t : top;
    codes[i] = static_cast<std::uint8_t>(static_cast<std::int32_t>(t));
  }
}

#endif

} // namespace simd_body

#if defined(__x86_64__) && defined(__GNUC__)
// Dequantize-and-accumulate needs the byte → int32 widening instructions, which GCC's vector
// extensions do not emit (it widens lane by lane); written with intrinsics per instruction set.

/// acc[i] += a + b·codes[i] with AVX-512.
__attribute__((target("avx512f"))) inline void dequantize_avx512(const std::uint8_t* codes, std::size_t n,
                                                                 float a, float b, float* acc) noexcept {
  const __m512 va = _mm512_set1_ps(a), vb = _mm512_set1_ps(b);
  std::size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m128i c = _mm_loadu_si128(reinterpret_cast<const __m128i*>(codes + i));
    // The maskz forms: GCC 12's plain ones read an "undefined" register it then warns about.
    const __m512 f = _mm512_maskz_cvtepi32_ps(0xffff, _mm512_maskz_cvtepu8_epi32(0xffff, c));
    _mm512_storeu_ps(acc + i, _mm512_add_ps(_mm512_loadu_ps(acc + i), _mm512_fmadd_ps(vb, f, va)));
  }
  for (; i < n; ++i) acc[i] += a + b * static_cast<float>(codes[i]);
}

/// acc[i] += a + b·codes[i] with AVX2 + FMA.
__attribute__((target("avx2,fma"))) inline void dequantize_avx2(const std::uint8_t* codes, std::size_t n,
                                                                float a, float b, float* acc) noexcept {
  const __m256 va = _mm256_set1_ps(a), vb = _mm256_set1_ps(b);
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m128i c = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(codes + i));
    const __m256 f = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(c));
    _mm256_storeu_ps(acc + i, _mm256_add_ps(_mm256_loadu_ps(acc + i), _mm256_fmadd_ps(vb, f, va)));
  }
  for (; i < n; ++i) acc[i] += a + b * static_cast<float>(codes[i]);
}
#endif

#if defined(__GNUC__)
/// The loops at the instruction set the build targets.
namespace compiled_path {
inline chunk_range scan_range(const float* x, std::size_t n) noexcept {
  return simd_body::scan_range<static_cast<std::size_t>(kernels::detail::compiled_vector_bytes)>(x, n);
}
template <bool Stochastic>
void quantize(const float* x, std::size_t n, float lo, float inv, std::uint32_t levels, counter_key key,
              std::uint64_t first, std::uint8_t* codes, const float* prefetch) noexcept {
  simd_body::quantize<static_cast<std::size_t>(kernels::detail::compiled_vector_bytes), Stochastic>(
      x, n, lo, inv, levels, key, first, codes, prefetch);
}
} // namespace compiled_path
#if FEDPP_RUNTIME_DISPATCH
/// AVX2 (+ FMA), chosen at run time.
namespace avx2_path {
__attribute__((target("avx2,fma"))) inline chunk_range scan_range(const float* x, std::size_t n) noexcept {
  return simd_body::scan_range<32>(x, n);
}
template <bool Stochastic>
__attribute__((target("avx2,fma"))) void quantize(const float* x, std::size_t n, float lo, float inv,
                                                  std::uint32_t levels, counter_key key, std::uint64_t first,
                                                  std::uint8_t* codes, const float* prefetch) noexcept {
  simd_body::quantize<32, Stochastic>(x, n, lo, inv, levels, key, first, codes, prefetch);
}
} // namespace avx2_path

/// AVX-512, chosen at run time.
namespace avx512_path {
__attribute__((target("avx512f,avx512dq,avx512vl,avx512bw"))) inline chunk_range
scan_range(const float* x, std::size_t n) noexcept {
  return simd_body::scan_range<64>(x, n);
}
template <bool Stochastic>
__attribute__((target("avx512f,avx512dq,avx512vl,avx512bw"))) void
quantize(const float* x, std::size_t n, float lo, float inv, std::uint32_t levels, counter_key key,
         std::uint64_t first, std::uint8_t* codes, const float* prefetch) noexcept {
  simd_body::quantize<64, Stochastic>(x, n, lo, inv, levels, key, first, codes, prefetch);
}
} // namespace avx512_path
#endif
#endif

/// Range and finiteness of x[0, n) (n ≥ 1) on an explicit path, in one read.
[[nodiscard]] inline chunk_range scan_range_on(kernels::isa path, const float* x, std::size_t n) noexcept {
#if defined(__GNUC__)
#if FEDPP_RUNTIME_DISPATCH
  if (path == kernels::isa::avx512) return avx512_path::scan_range(x, n);
  if (path == kernels::isa::avx2) return avx2_path::scan_range(x, n);
#endif
  (void)path;
  return compiled_path::scan_range(x, n);
#else
  (void)path;
  chunk_range r{x[0], x[0], true};
  for (std::size_t i = 0; i < n; ++i) {
    r.finite = r.finite && std::isfinite(x[i]);
    r.lo = std::min(r.lo, x[i]);
    r.hi = std::max(r.hi, x[i]);
  }
  return r;
#endif
}

/// Range and finiteness of x[0, n) (n ≥ 1) on the active path.
[[nodiscard]] inline chunk_range scan_range(const float* x, std::size_t n) noexcept {
  return scan_range_on(kernels::active_isa(), x, n);
}

/// True when all n floats are finite.
[[nodiscard]] inline bool all_finite(const float* x, std::size_t n) noexcept {
  return n == 0 || scan_range(x, n).finite;
}

/// codes[i] = min(L, ⌊(x[i] − lo)·inv + u_i⌋) with u_i = 1/2 (nearest) or unit_uniform of the
/// counter hash of (key, first + i) (stochastic), on an explicit path. The caller keeps
/// [first, first + n) within one 2^32 block. `prefetch` (optional) names n floats the caller
/// reads next: the code loop is compute bound, so it pulls them into cache meanwhile.
template <bool Stochastic>
inline void quantize_codes_on(kernels::isa path, const float* x, std::size_t n, float lo, float inv,
                              std::uint32_t levels, counter_key key, std::uint64_t first, std::uint8_t* codes,
                              const float* prefetch = nullptr) noexcept {
#if defined(__GNUC__)
#if FEDPP_RUNTIME_DISPATCH
  if (path == kernels::isa::avx512)
    return avx512_path::quantize<Stochastic>(x, n, lo, inv, levels, key, first, codes, prefetch);
  if (path == kernels::isa::avx2)
    return avx2_path::quantize<Stochastic>(x, n, lo, inv, levels, key, first, codes, prefetch);
#endif
  (void)path;
  compiled_path::quantize<Stochastic>(x, n, lo, inv, levels, key, first, codes, prefetch);
#else
  (void)path;
  (void)prefetch;
  const auto top = static_cast<float>(levels);
  for (std::size_t i = 0; i < n; ++i) {
    const float u = Stochastic ? unit_uniform(counter_hash(key, first + i)) : 0.5F;
    float t = (x[i] - lo) * inv + u;
    t = t < top ? t : top;
    codes[i] = static_cast<std::uint8_t>(static_cast<std::int32_t>(t));
  }
#endif
}

/// quantize_codes_on the active path.
template <bool Stochastic>
inline void quantize_codes(const float* x, std::size_t n, float lo, float inv, std::uint32_t levels,
                           counter_key key, std::uint64_t first, std::uint8_t* codes,
                           const float* prefetch = nullptr) noexcept {
  quantize_codes_on<Stochastic>(kernels::active_isa(), x, n, lo, inv, levels, key, first, codes, prefetch);
}

/// acc[i] += a + b·codes[i] on an explicit path (`compiled` uses the widest set the flags allow).
inline void dequantize_accumulate_on(kernels::isa path, const std::uint8_t* codes, std::size_t n, float a,
                                     float b, float* acc) noexcept {
#if defined(__x86_64__) && defined(__GNUC__)
  constexpr int compiled_bytes = kernels::detail::compiled_vector_bytes;
  if (path == kernels::isa::avx512 || (path == kernels::isa::compiled && compiled_bytes == 64))
    return dequantize_avx512(codes, n, a, b, acc);
  if (path == kernels::isa::avx2 || (path == kernels::isa::compiled && compiled_bytes == 32))
    return dequantize_avx2(codes, n, a, b, acc);
#endif
  (void)path;
  for (std::size_t i = 0; i < n; ++i) acc[i] += a + b * static_cast<float>(codes[i]);
}

/// acc[i] += a + b·codes[i] on the active path.
inline void dequantize_accumulate(const std::uint8_t* codes, std::size_t n, float a, float b,
                                  float* acc) noexcept {
  dequantize_accumulate_on(kernels::active_isa(), codes, n, a, b, acc);
}

} // namespace fedpp::compression::detail
