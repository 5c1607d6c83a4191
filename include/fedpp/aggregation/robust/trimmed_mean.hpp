/// \file trimmed_mean.hpp
/// Coordinate-wise trimmed mean (Yin et al. 2018, Definition 2): for each coordinate, drop the t
/// largest and t smallest of the n values and average the remaining n − 2t. As Flower's
/// FedTrimmedAvg (scipy's trim_mean), t = ⌊β·n⌋ for a cut proportion β per side. Unweighted.
#pragma once

#include "fedpp/aggregation/robust/detail/coordinate_kernels.hpp"
#include "fedpp/aggregation/robust/robust_aggregator.hpp"
#include "fedpp/aggregation/robust/update_matrix.hpp"
#include "fedpp/error.hpp"

#include <cmath>
#include <cstddef>
#include <span>
#include <string>

namespace fedpp {

/// The trimmed-mean rule: β ∈ [0, 0.5) is the proportion cut from each side.
struct trimmed_mean_rule {
  double beta = 0.2; ///< proportion cut per side (Flower's default 0.2)

  /// Throws invalid_config for β outside [0, 0.5).
  explicit trimmed_mean_rule(double cut = 0.2) : beta(cut) {
    if (!(beta >= 0 && beta < 0.5))
      throw invalid_config("trimmed_mean: beta must be in [0, 0.5), got " + std::to_string(beta));
  }
  /// Rule name for messages.
  [[nodiscard]] const char* name() const noexcept { return "trimmed_mean"; }
  /// t = ⌊β·n⌋ values cut from each side.
  [[nodiscard]] std::size_t trim(std::size_t n) const noexcept {
    return static_cast<std::size_t>(std::floor(beta * static_cast<double>(n)));
  }
  /// Needs 2t < n.
  void check(std::size_t n) const {
    const std::size_t t = trim(n);
    if (2 * t >= n)
      throw invalid_config("trimmed_mean: cutting t = floor(" + std::to_string(beta) + " * " +
                           std::to_string(n) + ") = " + std::to_string(t) +
                           " per side leaves nothing of n = " + std::to_string(n) + " (needs 2t < n)");
  }
  /// out[d] = mean of column d without its t smallest and t largest values.
  template <class T>
  void reduce(const update_matrix<T>& m, std::span<T> out) const {
    const std::size_t t = trim(m.rows());
    detail::coordinate_order_statistic(m, t, m.rows() - t, out);
  }
};

/// Coordinate-wise trimmed mean aggregator.
template <element_type T = float>
using trimmed_mean = robust_aggregator<T, trimmed_mean_rule>;

static_assert(robust_rule<trimmed_mean_rule, float>);
static_assert(aggregator<trimmed_mean<float>>);

} // namespace fedpp
