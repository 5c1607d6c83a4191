/// \file trimmed_mean.hpp
/// Coordinate-wise trimmed mean (Yin et al. 2018, Definition 2): for each coordinate, drop the t
/// largest and t smallest of the n values and average the remaining n − 2t. As Flower's
/// FedTrimmedAvg (scipy's trim_mean), t = ⌊β·n⌋ for a cut proportion β per side. Unweighted.
///
/// ```cpp
/// fedpp::trimmed_mean<float> agg(layout, {.beta = 0.1});
/// ```
#pragma once

#include "fedpp/aggregation/robust/detail/coordinate_kernels.hpp"
#include "fedpp/aggregation/robust/robust_aggregator.hpp"
#include "fedpp/aggregation/robust/update_matrix.hpp"
#include "fedpp/error.hpp"

#include <cmath>
#include <cstddef>
#include <optional>
#include <span>
#include <string>

namespace fedpp {

/// Options of the trimmed-mean rule.
struct trimmed_mean_options {
  double beta = 0.2; ///< proportion cut from each side, in [0, 0.5) (Flower's default 0.2)
};

/// The trimmed-mean rule: t = ⌊β·n⌋ values cut from each side of every coordinate.
class trimmed_mean_rule {
public:
  using options_type = trimmed_mean_options;

  /// Throws invalid_config for β outside [0, 0.5).
  explicit trimmed_mean_rule(trimmed_mean_options options = {}) : options_(options) {
    if (!(options_.beta >= 0 && options_.beta < 0.5))
      throw invalid_config("trimmed_mean: beta must be in [0, 0.5), got " + std::to_string(options_.beta));
  }
  [[nodiscard]] const trimmed_mean_options& options() const noexcept { return options_; }
  /// Rule name for messages.
  [[nodiscard]] const char* name() const noexcept { return "trimmed_mean"; }
  /// t = ⌊β·n⌋ values cut from each side.
  [[nodiscard]] std::size_t trim(std::size_t n) const noexcept {
    return static_cast<std::size_t>(std::floor(options_.beta * static_cast<double>(n)));
  }
  /// Why the rule cannot run on n updates (it needs 2t < n, which β < 0.5 gives for every
  /// n ≥ 1), or nullopt when it can.
  [[nodiscard]] std::optional<std::string> problem(std::size_t n) const {
    const std::size_t t = trim(n);
    if (n == 0 || 2 * t >= n)
      return "trimmed_mean: cutting t = floor(" + std::to_string(options_.beta) + " * " + std::to_string(n) +
             ") = " + std::to_string(t) + " per side leaves nothing of n = " + std::to_string(n) +
             " (needs 2t < n)";
    return std::nullopt;
  }
  /// out[d] = mean of column d without its t smallest and t largest values. Throws
  /// invalid_config when problem(m.rows()).
  template <class T>
  void reduce(const update_matrix<T>& m, std::span<T> out) const {
    if (auto why = problem(m.rows())) throw invalid_config(*why);
    const std::size_t t = trim(m.rows());
    detail::coordinate_order_statistic(m, t, m.rows() - t, out);
  }

private:
  trimmed_mean_options options_;
};

/// Coordinate-wise trimmed mean aggregator.
template <element_type T = float>
using trimmed_mean = robust_aggregator<T, trimmed_mean_rule>;

static_assert(robust_rule<trimmed_mean_rule, float>);
static_assert(aggregator<trimmed_mean<float>>);

} // namespace fedpp
