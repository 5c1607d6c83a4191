/// \file update_helpers.hpp
/// What clients commonly add to their training: the delta to upload, and FedProx's proximal term.
#pragma once

#include "fedpp/error.hpp"
#include "fedpp/tensor/flat_model.hpp"

#include <cmath>
#include <span>
#include <string>

namespace fedpp {

/// delta[i] = trained[i] − global[i]. Throws invalid_config when the sizes differ.
template <element_type T>
void compute_delta(std::span<const T> trained, std::span<const T> global, std::span<T> delta) {
  if (trained.size() != global.size() || delta.size() != global.size())
    throw invalid_config("compute_delta: sizes differ (trained " + std::to_string(trained.size()) +
                         ", global " + std::to_string(global.size()) + ", delta " +
                         std::to_string(delta.size()) + ")");
  for (std::size_t i = 0; i < delta.size(); ++i) delta[i] = trained[i] - global[i];
}

/// The delta as a new model with the trained model's layout.
template <element_type T>
[[nodiscard]] flat_model<T> compute_delta(const flat_model<T>& trained, std::span<const T> global) {
  flat_model<T> delta(trained.layout());
  compute_delta(trained.span(), global, delta.span());
  return delta;
}

/// FedProx (Li et al. 2020, "Federated Optimization in Heterogeneous Networks", eq. 2): the local
/// objective gains (μ/2)‖w − w_global‖², whose gradient μ(w − w_global) this adds to `gradient`.
/// Throws invalid_config for μ < 0 (or non-finite) or mismatched sizes.
template <element_type T>
void add_proximal_term(std::span<T> gradient, std::span<const T> weights, std::span<const T> global,
                       double mu) {
  if (!(mu >= 0) || !std::isfinite(mu))
    throw invalid_config("add_proximal_term: mu must be finite and >= 0, got " + std::to_string(mu));
  if (gradient.size() != weights.size() || weights.size() != global.size())
    throw invalid_config("add_proximal_term: sizes differ (gradient " + std::to_string(gradient.size()) +
                         ", weights " + std::to_string(weights.size()) + ", global " +
                         std::to_string(global.size()) + ")");
  const T m = static_cast<T>(mu);
  for (std::size_t i = 0; i < gradient.size(); ++i) gradient[i] += m * (weights[i] - global[i]);
}

} // namespace fedpp
