/// \file finite.hpp
/// NaN/Inf detection by the exponent bits (all ones ⇔ Inf or NaN, IEEE 754), vectorized but exact:
/// a hit in a vector block is located by a scalar rescan of that block.
#pragma once

#include "fedpp/kernels/detail/host_span.hpp"
#include "fedpp/kernels/reductions.hpp"
#include "fedpp/kernels/simd.hpp"
#include "fedpp/tensor/tensor_view.hpp"

#include <cstddef>
#include <cstring>
#include <span>

namespace fedpp::kernels {

namespace detail {

template <class T>
[[nodiscard]] inline bool is_non_finite_scalar(T v) noexcept {
  simd::bits_of<T> u = 0;
  std::memcpy(&u, &v, sizeof u);
  return (u & simd::exponent_mask<T>) == simd::exponent_mask<T>;
}

} // namespace detail

/// Index of the first NaN or Inf in x, or x.size() when every element is finite.
template <class T>
requires detail::real_element<T>
[[nodiscard]] std::size_t find_non_finite(std::span<const T> x) noexcept {
  constexpr std::size_t lanes = simd::width<T>;
  constexpr std::size_t step = 4 * lanes;
  const T* p = x.data();
  const std::size_t n = x.size();
  std::size_t i = 0;
  for (; i + step <= n; i += step) {
    const auto m0 = simd::non_finite_mask(simd::load_as<T>(p + i));
    const auto m1 = simd::non_finite_mask(simd::load_as<T>(p + i + lanes));
    const auto m2 = simd::non_finite_mask(simd::load_as<T>(p + i + 2 * lanes));
    const auto m3 = simd::non_finite_mask(simd::load_as<T>(p + i + 3 * lanes));
    if (simd::any((m0 || m1) || (m2 || m3))) break; // located exactly below
  }
  for (; i < n; ++i)
    if (detail::is_non_finite_scalar(p[i])) return i;
  return n;
}

/// True when no element of x is NaN or Inf.
template <class T>
requires detail::real_element<T>
[[nodiscard]] bool all_finite(std::span<const T> x) noexcept { return find_non_finite(x) == x.size(); }

/// find_non_finite over a host tensor view (device views do not compile).
template <class U, class Space>
[[nodiscard]] std::size_t find_non_finite(const tensor_view<U, Space>& x) noexcept {
  using T = std::remove_const_t<U>;
  return find_non_finite<T>(std::span<const T>(detail::host_span(x)));
}

/// all_finite over a host tensor view (device views do not compile).
template <class U, class Space>
[[nodiscard]] bool all_finite(const tensor_view<U, Space>& x) noexcept {
  using T = std::remove_const_t<U>;
  return all_finite<T>(std::span<const T>(detail::host_span(x)));
}

} // namespace fedpp::kernels
