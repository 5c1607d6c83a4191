/// \file reductions.hpp
/// dot and squared_norm, accumulated in double with several independent accumulators (so the
/// sum is not one serial dependency chain; the order differs from a plain loop only by rounding).
#pragma once

#include "fedpp/config.hpp"
#include "fedpp/kernels/detail/host_span.hpp"
#include "fedpp/kernels/detail/x86_kernels.hpp"
#include "fedpp/kernels/dispatch.hpp"
#include "fedpp/kernels/simd.hpp"
#include "fedpp/tensor/tensor_view.hpp"

#include <cstddef>
#include <span>
#include <type_traits>

namespace fedpp::kernels {

namespace detail {

template <class T>
concept real_element = std::is_same_v<T, float> || std::is_same_v<T, double>;

/// Σ x[i]·y[i] in double (compile-time-architecture path).
template <class T>
[[nodiscard]] double dot_compiled(const T* x, const T* y, std::size_t n) noexcept {
  constexpr std::size_t lanes = simd::width<double>;
  auto s0 = simd::broadcast(0.0), s1 = s0, s2 = s0, s3 = s0;
  std::size_t i = 0;
  for (; i + 4 * lanes <= n; i += 4 * lanes) {
    s0 = simd::fma(simd::load_as<double>(x + i), simd::load_as<double>(y + i), s0);
    s1 = simd::fma(simd::load_as<double>(x + i + lanes), simd::load_as<double>(y + i + lanes), s1);
    s2 = simd::fma(simd::load_as<double>(x + i + 2 * lanes), simd::load_as<double>(y + i + 2 * lanes), s2);
    s3 = simd::fma(simd::load_as<double>(x + i + 3 * lanes), simd::load_as<double>(y + i + 3 * lanes), s3);
  }
  for (; i + lanes <= n; i += lanes)
    s0 = simd::fma(simd::load_as<double>(x + i), simd::load_as<double>(y + i), s0);
  double s = simd::reduce_add((s0 + s1) + (s2 + s3));
  for (; i < n; ++i) s += static_cast<double>(x[i]) * static_cast<double>(y[i]);
  return s;
}

} // namespace detail

/// Σ x[i]·y[i], accumulated in double, on an explicit code path (which must be available).
template <class T>
requires detail::real_element<T>
[[nodiscard]] double dot_on(isa path, std::span<const T> x, std::span<const T> y) noexcept {
  FEDPP_ASSERT(x.size() == y.size());
  FEDPP_ASSERT(isa_available(path));
#if FEDPP_RUNTIME_DISPATCH
  if (path == isa::avx512) return detail::x86_avx512::dot(x.data(), y.data(), x.size());
  if (path == isa::avx2) return detail::x86_avx2::dot(x.data(), y.data(), x.size());
#endif
  (void)path;
  return detail::dot_compiled(x.data(), y.data(), x.size());
}

/// Σ x[i]·y[i], accumulated in double, on the best path for this CPU. Sizes must match. Paths
/// differ only by rounding (their summation orders differ).
template <class T>
requires detail::real_element<T>
[[nodiscard]] double dot(std::span<const T> x, std::span<const T> y) noexcept {
  return dot_on<T>(active_isa(), x, y);
}

/// Σ x[i]², accumulated in double, on an explicit code path (which must be available).
template <class T>
requires detail::real_element<T>
[[nodiscard]] double squared_norm_on(isa path, std::span<const T> x) noexcept {
  return dot_on<T>(path, x, x);
}

/// Σ x[i]², accumulated in double, on the best path for this CPU.
template <class T>
requires detail::real_element<T>
[[nodiscard]] double squared_norm(std::span<const T> x) noexcept { return dot_on<T>(active_isa(), x, x); }

/// dot over host tensor views (device views do not compile).
template <class U, class SpaceX, class V, class SpaceY>
[[nodiscard]] double dot(const tensor_view<U, SpaceX>& x, const tensor_view<V, SpaceY>& y) noexcept {
  using T = std::remove_const_t<U>;
  static_assert(std::is_same_v<T, std::remove_const_t<V>>, "fedpp::kernels::dot: element types differ");
  return dot<T>(std::span<const T>(detail::host_span(x)), std::span<const T>(detail::host_span(y)));
}

/// squared_norm over a host tensor view (device views do not compile).
template <class U, class Space>
[[nodiscard]] double squared_norm(const tensor_view<U, Space>& x) noexcept {
  using T = std::remove_const_t<U>;
  return squared_norm<T>(std::span<const T>(detail::host_span(x)));
}

} // namespace fedpp::kernels
