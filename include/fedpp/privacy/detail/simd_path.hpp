/// \file simd_path.hpp
/// Runtime choice of the instruction set for the privacy samplers (ChaCha20 blocks, Box–Muller):
/// AVX-512F, AVX2 or the portable scalar reference. The vectorized kernels are GCC/Clang vector
/// extensions compiled inside `__attribute__((target(...)))` functions, so the library needs no
/// -march flag; `best_simd_path()` asks the CPU once (`__builtin_cpu_supports`). The kernels never
/// pass vectors by value (only by reference or through memory), so no vector ABI is involved.
#pragma once

#include <cstdint>

namespace fedpp::privacy::detail {

/// Which kernels the samplers run.
enum class simd_path { scalar, avx2, avx512 };

// One-lane vectors: the scalar reference runs the same generic kernels.
typedef std::uint32_t u32x1 __attribute__((vector_size(4)));
typedef std::int32_t i32x1 __attribute__((vector_size(4)));
typedef float f32x1 __attribute__((vector_size(4)));

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
inline constexpr bool x86_simd_available = true;

// Lane types of the vector kernels (GCC/Clang vector extensions; 8 lanes = AVX2, 16 = AVX-512).
typedef std::uint32_t u32x8 __attribute__((vector_size(32)));
typedef std::int32_t i32x8 __attribute__((vector_size(32)));
typedef float f32x8 __attribute__((vector_size(32)));
typedef std::uint32_t u32x16 __attribute__((vector_size(64)));
typedef std::int32_t i32x16 __attribute__((vector_size(64)));
typedef float f32x16 __attribute__((vector_size(64)));

/// The best path this CPU runs (asked once).
inline simd_path best_simd_path() noexcept {
  static const simd_path path = [] {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) return simd_path::avx512;
    if (__builtin_cpu_supports("avx2")) return simd_path::avx2;
    return simd_path::scalar;
  }();
  return path;
}

/// Whether this CPU can run `p`.
inline bool cpu_supports(simd_path p) noexcept {
  __builtin_cpu_init();
  switch (p) {
  case simd_path::avx512:
    return __builtin_cpu_supports("avx512f") != 0;
  case simd_path::avx2:
    return __builtin_cpu_supports("avx2") != 0;
  default:
    return true;
  }
}
#else
inline constexpr bool x86_simd_available = false;
inline simd_path best_simd_path() noexcept { return simd_path::scalar; }
inline bool cpu_supports(simd_path p) noexcept { return p == simd_path::scalar; }
#endif

} // namespace fedpp::privacy::detail
