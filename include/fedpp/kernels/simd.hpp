/// \file simd.hpp
/// The one shim that names xsimd: batches at the compile-time instruction set, or plain
/// one-lane "batches" when FEDPP_USE_XSIMD is 0, so every kernel is written once.
#pragma once

#include "fedpp/config.hpp"

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

#if FEDPP_USE_XSIMD
#include <xsimd/xsimd.hpp>
#if defined(__SSE2__)
#include <immintrin.h>
#endif
#endif

namespace fedpp::kernels::simd {

/// Unsigned integer of the same width as T (the bit view used by the finiteness test).
template <class T>
using bits_of = std::conditional_t<sizeof(T) == 8, std::uint64_t, std::uint32_t>;

/// The exponent field of T: all ones means Inf or NaN (IEEE 754-2008, §3.4).
template <class T>
inline constexpr bits_of<T> exponent_mask = sizeof(T) == 8 ? bits_of<T>(0x7ff0000000000000ULL)
                                                           : bits_of<T>(0x7f800000U);

#if FEDPP_USE_XSIMD

/// True when kernels use xsimd batches.
inline constexpr bool vectorized = true;

/// A register of T at the compile-time architecture (xsimd::default_arch).
template <class T>
using batch = xsimd::batch<T>;

/// Lanes of batch<T>.
template <class T>
inline constexpr std::size_t width = batch<T>::size;

/// Width in bytes of the compile-time vector registers (16 = SSE2, 32 = AVX2, 64 = AVX-512).
inline constexpr std::size_t register_bytes = sizeof(batch<float>);

/// Loads width<Acc> elements of T starting at p (unaligned) as a batch of Acc.
template <class Acc, class T>
[[nodiscard]] inline batch<Acc> load_as(const T* p) noexcept {
  if constexpr (std::is_same_v<Acc, T>) {
    return batch<Acc>::load_unaligned(p);
  } else {
    static_assert(std::is_same_v<Acc, double> && std::is_same_v<T, float>, "widening is float -> double");
    // xsimd 8.1 converts float -> double through memory; the widening instructions are one op.
#if defined(__AVX512F__)
    if constexpr (sizeof(batch<double>) == 64) return batch<double>(_mm512_cvtps_pd(_mm256_loadu_ps(p)));
#endif
#if defined(__AVX__)
    if constexpr (sizeof(batch<double>) == 32) return batch<double>(_mm256_cvtps_pd(_mm_loadu_ps(p)));
#endif
#if defined(__SSE2__)
    if constexpr (sizeof(batch<double>) == 16) {
      std::uint64_t two = 0;
      std::memcpy(&two, p, sizeof two);
      return batch<double>(_mm_cvtps_pd(_mm_castsi128_ps(_mm_cvtsi64_si128(static_cast<long long>(two)))));
    }
#endif
    return batch<double>::load_unaligned(p);
  }
}

/// Stores a batch at p (unaligned).
template <class T>
inline void store(T* p, const batch<T>& b) noexcept {
  b.store_unaligned(p);
}

/// Every lane set to v.
template <class T>
[[nodiscard]] inline batch<T> broadcast(T v) noexcept {
  return batch<T>(v);
}

/// a * b + c (fused where the architecture has it).
template <class T>
[[nodiscard]] inline batch<T> fma(const batch<T>& a, const batch<T>& b, const batch<T>& c) noexcept {
  return xsimd::fma(a, b, c);
}

/// Sum of the lanes.
template <class T>
[[nodiscard]] inline T reduce_add(const batch<T>& b) noexcept {
  return xsimd::hadd(b);
}

/// Per-lane "is NaN or Inf" as an integer mask (all ones where the exponent field is all ones).
template <class T>
[[nodiscard]] inline auto non_finite_mask(const batch<T>& b) noexcept {
  using ubatch = xsimd::batch<bits_of<T>>;
  const auto u = xsimd::bitwise_cast<ubatch>(b) & ubatch(exponent_mask<T>);
  return u == ubatch(exponent_mask<T>);
}

/// True when any lane of a non_finite_mask (or an OR of several) is set.
template <class Mask>
[[nodiscard]] inline bool any(const Mask& m) noexcept {
  return xsimd::any(m);
}

#else // plain loops

inline constexpr bool vectorized = false;

/// One-lane stand-in for a SIMD register.
template <class T>
struct batch {
  T value;
  friend batch operator+(batch a, batch b) noexcept { return {a.value + b.value}; }
  friend batch operator*(batch a, batch b) noexcept { return {a.value * b.value}; }
};

template <class T>
inline constexpr std::size_t width = 1;

inline constexpr std::size_t register_bytes = 0;

template <class Acc, class T>
[[nodiscard]] inline batch<Acc> load_as(const T* p) noexcept {
  return {static_cast<Acc>(*p)};
}

template <class T>
inline void store(T* p, const batch<T>& b) noexcept {
  *p = b.value;
}

template <class T>
[[nodiscard]] inline batch<T> broadcast(T v) noexcept {
  return {v};
}

template <class T>
[[nodiscard]] inline batch<T> fma(const batch<T>& a, const batch<T>& b, const batch<T>& c) noexcept {
  return {a.value * b.value + c.value};
}

template <class T>
[[nodiscard]] inline T reduce_add(const batch<T>& b) noexcept {
  return b.value;
}

template <class T>
[[nodiscard]] inline bool non_finite_mask(const batch<T>& b) noexcept {
  bits_of<T> u = 0;
  std::memcpy(&u, &b.value, sizeof u);
  return (u & exponent_mask<T>) == exponent_mask<T>;
}

[[nodiscard]] inline bool any(bool m) noexcept { return m; }

#endif

} // namespace fedpp::kernels::simd
