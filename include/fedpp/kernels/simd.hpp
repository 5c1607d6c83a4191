/// \file simd.hpp
/// The one shim that names xsimd: batches at the compile-time instruction set, or plain
/// one-lane "batches" when FEDPP_USE_XSIMD is 0, so every kernel is written once.
#pragma once

#include "fedpp/config.hpp"

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

#if FEDPP_USE_XSIMD
#include <xsimd/xsimd.hpp>
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

#if defined(__GNUC__)
namespace detail {
// Plain GCC vector types for the float -> double widening load (never passed by value).
typedef float f32x2 __attribute__((vector_size(8)));
typedef float f32x4 __attribute__((vector_size(16)));
typedef float f32x8 __attribute__((vector_size(32)));
typedef double f64x2 __attribute__((vector_size(16)));
typedef double f64x4 __attribute__((vector_size(32)));
typedef double f64x8 __attribute__((vector_size(64)));

// The float and double vector types of a double register of `Bytes` bytes (same lane count).
template <std::size_t Bytes>
struct widening;
template <>
struct widening<16> {
  using narrow = f32x2;
  using wide = f64x2;
};
template <>
struct widening<32> {
  using narrow = f32x4;
  using wide = f64x4;
};
template <>
struct widening<64> {
  using narrow = f32x8;
  using wide = f64x8;
};
} // namespace detail
#endif

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

// GCC 12 -Warray-bounds misfires on the never-taken vector loop over a small array of known
// size (e.g. std::vector of 5 floats, with -O3 -march=native): silence it for these two only.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Warray-bounds"
#endif

/// Loads width<Acc> elements of T starting at p (unaligned) as a batch of Acc.
template <class Acc, class T>
[[nodiscard]] inline batch<Acc> load_as(const T* p) noexcept {
  if constexpr (std::is_same_v<Acc, T>) {
    // memcpy of the register (the same instruction as load_unaligned) keeps the access in this
    // header, where the pragma above applies.
    typename batch<Acc>::register_type r;
    std::memcpy(&r, p, sizeof r);
    return batch<Acc>(r);
  } else {
    static_assert(std::is_same_v<Acc, double> && std::is_same_v<T, float>, "widening is float -> double");
    // xsimd 8.1 converts float -> double through memory; one widening instruction does it.
    // (GCC vector extensions rather than _mm512_cvtps_pd, which trips GCC 12's
    // -Wmaybe-uninitialized inside its own header.)
#if defined(__GNUC__)
    using reg = typename batch<Acc>::register_type; // dependent: discarded branches stay unchecked
    using types = detail::widening<sizeof(reg)>;
    typename types::narrow v;
    std::memcpy(&v, p, sizeof v);
    return batch<double>(reinterpret_cast<reg>(__builtin_convertvector(v, typename types::wide)));
#else
    return batch<double>::load_unaligned(p);
#endif
  }
}

/// Stores a batch at p (unaligned).
template <class T>
inline void store(T* p, const batch<T>& b) noexcept {
  const typename batch<T>::register_type r = b; // memcpy for the reason given in load_as
  std::memcpy(p, &r, sizeof r);
}

/// Stores a batch of Acc at p as T (unaligned): the same type, or double narrowed to float (rounded
/// to nearest, as static_cast<float>) — the counterpart of load_as.
template <class T, class Acc>
inline void store_as(T* p, const batch<Acc>& b) noexcept {
  if constexpr (std::is_same_v<Acc, T>) {
    store(p, b);
  } else {
    static_assert(std::is_same_v<Acc, double> && std::is_same_v<T, float>, "narrowing is double -> float");
#if defined(__GNUC__)
    using reg = typename batch<Acc>::register_type;
    using types = detail::widening<sizeof(reg)>;
    const reg r = b;
    const auto v =
        __builtin_convertvector(reinterpret_cast<const typename types::wide&>(r), typename types::narrow);
    std::memcpy(p, &v, sizeof v);
#else
    alignas(64) double lanes[width<double>];
    b.store_aligned(lanes);
    for (std::size_t i = 0; i < width<double>; ++i) p[i] = static_cast<float>(lanes[i]);
#endif
  }
}

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

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

/// Lane-wise square root. On AVX-512 the masked form with a full mask: xsimd's plain
/// _mm512_sqrt_ps/pd read an "undefined" register that GCC 12 warns about inside its own header.
template <class T>
[[nodiscard]] inline batch<T> sqrt(const batch<T>& b) noexcept {
#if defined(__AVX512F__)
  if constexpr (sizeof(b) == 64 && std::is_same_v<T, float>) {
    return batch<T>(_mm512_maskz_sqrt_ps(0xffff, b));
  } else if constexpr (sizeof(b) == 64 && std::is_same_v<T, double>) {
    return batch<T>(_mm512_maskz_sqrt_pd(0xff, b));
  } else {
    return xsimd::sqrt(b);
  }
#else
  return xsimd::sqrt(b);
#endif
}

/// Sum of the lanes.
template <class T>
[[nodiscard]] inline T reduce_add(const batch<T>& b) noexcept {
  // Through memory rather than xsimd::hadd, whose AVX-512 version trips GCC 12's -Wuninitialized
  // inside its own intrinsics header; called once per reduction, so the cost is nil.
  alignas(64) T lanes[width<T>];
  b.store_aligned(lanes);
  T sum = T(0);
  for (std::size_t i = 0; i < width<T>; ++i) sum += lanes[i];
  return sum;
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

template <class T, class Acc>
inline void store_as(T* p, const batch<Acc>& b) noexcept {
  *p = static_cast<T>(b.value);
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
[[nodiscard]] inline batch<T> sqrt(const batch<T>& b) noexcept {
  return {std::sqrt(b.value)};
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
