/// \file weight_policy.hpp
/// How far a server trusts the weight a client reports (its number of examples). FedAvg weighs
/// each update by that number, so an unchecked weight lets one client decide the aggregate
/// (weight 1e30 moves the model by that client's delta alone) or overflow it (1e300 times a
/// large delta is Inf). The server admits a weight only through this policy: it must be finite
/// and > 0, and above `max_weight` it is refused (the default) or clipped to the bound.
///
/// The default bound, 10^6 examples, is above the local datasets of cross-device deployments
/// and of the bundled simulations (Fashion-MNIST clients hold ~600); cross-silo deployments with
/// larger silos raise it. Any bound ≤ 10^12 keeps the weighted sums finite for every finite float
/// update (10^12 · FLT_MAX ≈ 3.4e50, far below DBL_MAX) — the finite check of the round's mean does the rest.
#pragma once

#include "fedpp/error.hpp"

#include <cmath>
#include <cstdint>
#include <optional>
#include <string>

namespace fedpp {

/// What the server does with a weight above weight_policy::max_weight.
enum class weight_overflow_action : std::uint8_t {
  reject, ///< the report is refused (counted in round_metrics::weight_rejected)
  clip    ///< the report counts with max_weight (counted in round_metrics::weight_clipped)
};

/// The bound on one client's weight and what happens above it (see the file comment).
struct weight_policy {
  /// Largest weight admitted as reported; finite and > 0.
  double max_weight = 1e6;
  /// What a larger weight gets.
  weight_overflow_action above_max = weight_overflow_action::reject;

  /// Throws invalid_config unless max_weight is finite and > 0.
  void validate() const {
    if (!(std::isfinite(max_weight) && max_weight > 0))
      throw invalid_config("weight_policy: max_weight must be finite and > 0, got " + std::to_string(max_weight));
  }

  /// The outcome of admitting one weight.
  struct verdict {
    std::optional<double> weight; ///< the weight to aggregate with; nullopt = refused
    bool clipped = false;         ///< true when the reported weight was above the bound and clipped
  };

  /// Judges a reported weight: non-finite or ≤ 0 is refused; above max_weight it is refused or
  /// clipped as `above_max` says; otherwise admitted unchanged.
  [[nodiscard]] verdict admit(double reported) const noexcept {
    if (!(std::isfinite(reported) && reported > 0)) return {};
    if (reported <= max_weight) return {reported, false};
    if (above_max == weight_overflow_action::clip) return {max_weight, true};
    return {};
  }
};

} // namespace fedpp
