/// \file clipping.hpp
/// L2 clipping of client updates, flat (the whole update, McMahan et al. 2018) or per layer
/// (each tensor i to its own bound C_i; the update's sensitivity is then √Σ C_i²).
#pragma once

#include "fedpp/error.hpp"
#include "fedpp/kernels/reductions.hpp"
#include "fedpp/kernels/scale.hpp"
#include "fedpp/parallel/kernels.hpp"
#include "fedpp/tensor/model_layout.hpp"

#include <cmath>
#include <concepts>
#include <span>
#include <string>
#include <vector>

namespace fedpp::privacy {

/// ‖x‖₂ accumulated in double.
template <std::floating_point T>
[[nodiscard]] double l2_norm(std::span<const T> x) noexcept {
  return std::sqrt(kernels::squared_norm(x)); // vectorized, double accumulators
}

/// ‖x‖₂ on `pool`'s threads (deterministic for a given pool size; see kernels::squared_norm).
template <std::floating_point T>
[[nodiscard]] double l2_norm(parallel::thread_pool& pool, std::span<const T> x) {
  return std::sqrt(kernels::squared_norm(pool, x));
}

/// Scales x to norm `bound` when ‖x‖₂ > bound (x ← x·min(1, C/‖x‖)); returns the norm before.
template <std::floating_point T>
double clip_flat(std::span<T> x, double bound) {
  if (!(bound > 0) || !std::isfinite(bound))
    throw invalid_config("clip_flat: clipping bound " + std::to_string(bound) +
                         " must be positive and finite");
  const double norm = l2_norm(std::span<const T>(x));
  if (norm > bound) {
    kernels::scale(x, static_cast<T>(bound / norm));
  }
  return norm;
}

/// Clips each tensor of `layout` in x to its own bound; returns the norms before clipping.
/// Throws invalid_config (x unchanged) when sizes or the number of bounds disagree.
template <std::floating_point T>
std::vector<double> clip_per_layer(std::span<T> x, const model_layout& layout,
                                   std::span<const double> bounds) {
  if (x.size() != layout.total_size() || bounds.size() != layout.num_tensors())
    throw invalid_config("clip_per_layer: " + std::to_string(x.size()) + " values and " +
                         std::to_string(bounds.size()) + " bounds for a layout of " +
                         std::to_string(layout.total_size()) + " values in " +
                         std::to_string(layout.num_tensors()) + " tensors");
  for (double b : bounds)
    if (!(b > 0) || !std::isfinite(b))
      throw invalid_config("clip_per_layer: clipping bound " + std::to_string(b) +
                           " must be positive and finite");
  std::vector<double> norms;
  std::size_t i = 0;
  for (const auto& e : layout.entries()) {
    norms.push_back(clip_flat(x.subspan(e.offset, e.size()), bounds[i++]));
  }
  return norms;
}

/// The L2 sensitivity of per-layer clipping: √Σ C_i².
inline double per_layer_sensitivity(std::span<const double> bounds) noexcept {
  double s = 0;
  for (double b : bounds) s += b * b;
  return std::sqrt(s);
}

} // namespace fedpp::privacy
