/// \file dtype.hpp
/// Element types a tensor may hold, as a run-time tag (for layouts and the wire format) and as
/// C++ types (for views). Half and bfloat16 are storage types: kernels convert them to float.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <type_traits>

namespace fedpp {

/// IEEE 754 binary16, stored as its bit pattern.
struct float16 {
  std::uint16_t bits = 0;
  friend bool operator==(float16, float16) = default;
};

/// bfloat16 (the upper half of a binary32), stored as its bit pattern.
struct bfloat16 {
  std::uint16_t bits = 0;
  friend bool operator==(bfloat16, bfloat16) = default;

  /// Round-to-nearest-even conversion from float; NaN stays NaN.
  [[nodiscard]] static bfloat16 from_float(float value) noexcept {
    auto u = std::bit_cast<std::uint32_t>(value);
    if ((u & 0x7fffffffU) > 0x7f800000U) return {static_cast<std::uint16_t>((u >> 16) | 0x40U)};
    u += 0x7fffU + ((u >> 16) & 1U);
    return {static_cast<std::uint16_t>(u >> 16)};
  }
  /// Exact widening to float.
  [[nodiscard]] float to_float() const noexcept {
    return std::bit_cast<float>(static_cast<std::uint32_t>(bits) << 16);
  }
};

/// Run-time element type tag. The numeric values are part of the wire format: never reorder.
enum class dtype : std::uint8_t {
  f32 = 1,
  f64 = 2,
  f16 = 3,
  bf16 = 4,
  i8 = 5,
  u8 = 6,
  i16 = 7,
  u16 = 8,
  i32 = 9,
  u32 = 10,
  i64 = 11,
  u64 = 12,
};

/// Bytes per element of a dtype.
[[nodiscard]] constexpr std::size_t size_of(dtype type) noexcept {
  switch (type) {
  case dtype::i8:
  case dtype::u8:
    return 1;
  case dtype::f16:
  case dtype::bf16:
  case dtype::i16:
  case dtype::u16:
    return 2;
  case dtype::f32:
  case dtype::i32:
  case dtype::u32:
    return 4;
  case dtype::f64:
  case dtype::i64:
  case dtype::u64:
    return 8;
  }
  return 0;
}

/// Short name of a dtype ("f32", "bf16", ...), for error messages.
[[nodiscard]] constexpr const char* to_string(dtype type) noexcept {
  switch (type) {
  case dtype::f32:
    return "f32";
  case dtype::f64:
    return "f64";
  case dtype::f16:
    return "f16";
  case dtype::bf16:
    return "bf16";
  case dtype::i8:
    return "i8";
  case dtype::u8:
    return "u8";
  case dtype::i16:
    return "i16";
  case dtype::u16:
    return "u16";
  case dtype::i32:
    return "i32";
  case dtype::u32:
    return "u32";
  case dtype::i64:
    return "i64";
  case dtype::u64:
    return "u64";
  }
  return "?";
}

/// True for the dtype values this version knows (used to validate decoded bytes).
[[nodiscard]] constexpr bool is_known(dtype type) noexcept { return size_of(type) != 0; }

namespace detail {
template <class T>
struct dtype_of_impl;
template <>
struct dtype_of_impl<float> : std::integral_constant<dtype, dtype::f32> {};
template <>
struct dtype_of_impl<double> : std::integral_constant<dtype, dtype::f64> {};
template <>
struct dtype_of_impl<float16> : std::integral_constant<dtype, dtype::f16> {};
template <>
struct dtype_of_impl<bfloat16> : std::integral_constant<dtype, dtype::bf16> {};
template <>
struct dtype_of_impl<std::int8_t> : std::integral_constant<dtype, dtype::i8> {};
template <>
struct dtype_of_impl<std::uint8_t> : std::integral_constant<dtype, dtype::u8> {};
template <>
struct dtype_of_impl<std::int16_t> : std::integral_constant<dtype, dtype::i16> {};
template <>
struct dtype_of_impl<std::uint16_t> : std::integral_constant<dtype, dtype::u16> {};
template <>
struct dtype_of_impl<std::int32_t> : std::integral_constant<dtype, dtype::i32> {};
template <>
struct dtype_of_impl<std::uint32_t> : std::integral_constant<dtype, dtype::u32> {};
template <>
struct dtype_of_impl<std::int64_t> : std::integral_constant<dtype, dtype::i64> {};
template <>
struct dtype_of_impl<std::uint64_t> : std::integral_constant<dtype, dtype::u64> {};
} // namespace detail

/// Element types a tensor view may hold.
template <class T>
concept element_type = requires {
  detail::dtype_of_impl<std::remove_const_t<T>>::value;
};

/// The dtype tag of an element type (const ignored).
template <element_type T>
inline constexpr dtype dtype_of = detail::dtype_of_impl<std::remove_const_t<T>>::value;

} // namespace fedpp
