/// \file scale.hpp
/// In-place scaling and L2-norm clipping (the clipping step of DP-FedAvg, McMahan et al. 2018,
/// "Learning Differentially Private Recurrent Language Models": x ← x · min(1, C / ‖x‖₂)).
#pragma once

#include "fedpp/config.hpp"
#include "fedpp/kernels/detail/host_span.hpp"
#include "fedpp/kernels/reductions.hpp"
#include "fedpp/kernels/simd.hpp"
#include "fedpp/tensor/tensor_view.hpp"

#include <cmath>
#include <cstddef>
#include <span>

namespace fedpp::kernels {

/// x[i] *= alpha.
template <class T>
requires detail::real_element<T>
void scale(std::span<T> x, T alpha) noexcept {
  constexpr std::size_t lanes = simd::width<T>;
  const auto a = simd::broadcast(alpha);
  T* p = x.data();
  const std::size_t n = x.size();
  std::size_t i = 0;
  for (; i + 2 * lanes <= n; i += 2 * lanes) {
    const auto v0 = simd::load_as<T>(p + i) * a;
    const auto v1 = simd::load_as<T>(p + i + lanes) * a;
    simd::store(p + i, v0);
    simd::store(p + i + lanes, v1);
  }
  for (; i + lanes <= n; i += lanes) simd::store(p + i, simd::load_as<T>(p + i) * a);
  for (; i < n; ++i) p[i] *= alpha;
}

/// Scales x so that its L2 norm is at most max_norm (max_norm >= 0); returns the norm before
/// clipping. A vector already within the bound (including the zero vector) is left untouched.
template <class T>
requires detail::real_element<T>
double clip_by_l2_norm(std::span<T> x, double max_norm) noexcept {
  FEDPP_ASSERT(max_norm >= 0);
  const double norm = std::sqrt(squared_norm(std::span<const T>(x)));
  if (norm > max_norm) scale(x, static_cast<T>(max_norm / norm));
  return norm;
}

/// scale over a host tensor view (device views do not compile).
template <class T, class Space>
void scale(const tensor_view<T, Space>& x, std::type_identity_t<T> alpha) noexcept {
  scale<T>(detail::host_span(x), alpha);
}

/// clip_by_l2_norm over a host tensor view (device views do not compile).
template <class T, class Space>
double clip_by_l2_norm(const tensor_view<T, Space>& x, double max_norm) noexcept {
  return clip_by_l2_norm<T>(detail::host_span(x), max_norm);
}

} // namespace fedpp::kernels
