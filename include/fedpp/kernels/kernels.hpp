/// \file kernels.hpp
/// Host kernels over contiguous elements (scalar first version; vectorized versions follow).
#pragma once

#include "fedpp/config.hpp"
#include "fedpp/tensor/tensor_view.hpp"

#include <cmath>
#include <cstddef>
#include <span>

namespace fedpp::kernels {

/// How a kernel writes its output: add into it, or overwrite it.
enum class write_mode { accumulate, overwrite };

/// acc[i] += alpha * x[i].
template <class Acc, class T>
void scaled_accumulate(std::span<Acc> acc, Acc alpha, std::span<const T> x) noexcept {
  FEDPP_ASSERT(acc.size() == x.size());
  for (std::size_t i = 0; i < x.size(); ++i) acc[i] += alpha * static_cast<Acc>(x[i]);
}

/// out[i] (+)= Σ_k weights[k] * inputs[k][i].
template <class Acc, class T>
void weighted_sum(std::span<Acc> out, std::span<const std::span<const T>> inputs,
                  std::span<const Acc> weights, write_mode mode = write_mode::accumulate) noexcept {
  FEDPP_ASSERT(inputs.size() == weights.size());
  if (mode == write_mode::overwrite)
    for (auto& o : out) o = Acc(0);
  for (std::size_t k = 0; k < inputs.size(); ++k) scaled_accumulate(out, weights[k], inputs[k]);
}

/// Σ x[i] * y[i], accumulated in double.
template <class T>
[[nodiscard]] double dot(std::span<const T> x, std::span<const T> y) noexcept {
  FEDPP_ASSERT(x.size() == y.size());
  double s = 0;
  for (std::size_t i = 0; i < x.size(); ++i) s += static_cast<double>(x[i]) * static_cast<double>(y[i]);
  return s;
}

/// Σ x[i]², accumulated in double.
template <class T>
[[nodiscard]] double squared_norm(std::span<const T> x) noexcept {
  return dot(x, x);
}

/// x[i] *= alpha.
template <class T>
void scale(std::span<T> x, T alpha) noexcept {
  for (auto& v : x) v *= alpha;
}

/// Scales x so its L2 norm is at most max_norm; returns the norm before clipping.
template <class T>
double clip_by_l2_norm(std::span<T> x, double max_norm) noexcept {
  const double norm = std::sqrt(squared_norm(std::span<const T>(x)));
  if (norm > max_norm) scale(x, static_cast<T>(max_norm / norm));
  return norm;
}

/// Index of the first NaN or Inf in x, or x.size() when all are finite.
template <class T>
[[nodiscard]] std::size_t find_non_finite(std::span<const T> x) noexcept {
  for (std::size_t i = 0; i < x.size(); ++i)
    if (!std::isfinite(x[i])) return i;
  return x.size();
}

/// True when no element of x is NaN or Inf.
template <class T>
[[nodiscard]] bool all_finite(std::span<const T> x) noexcept {
  return find_non_finite(x) == x.size();
}

} // namespace fedpp::kernels
