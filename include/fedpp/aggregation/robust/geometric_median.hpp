/// \file geometric_median.hpp
/// Geometric median by the smoothed Weiszfeld algorithm (RFA: Pillutla, Kakade & Harchaoui
/// 2022, "Robust Aggregation for Federated Learning", Algorithm 2): minimises
///     g(v) = Σ_k α_k max(ν, ‖v − x_k‖)
/// by v ← Σ_k β_k x_k / Σ_k β_k with β_k = α_k / max(ν, ‖v − x_k‖), starting from the weighted
/// mean, until the relative decrease of g is at most `tolerance` or `max_iterations` passed.
/// α_k = the client's weight (its examples) or 1. Iterates and distances are in double.
///
/// ```cpp
/// fedpp::geometric_median<float> agg(layout, {.max_iterations = 3, .tolerance = 0}); // RFA's 3 steps
/// ```
#pragma once

#include "fedpp/aggregation/fedavg.hpp"
#include "fedpp/aggregation/robust/robust_aggregator.hpp"
#include "fedpp/aggregation/robust/update_matrix.hpp"
#include "fedpp/error.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace fedpp {

/// Options of the geometric-median rule.
struct geometric_median_options {
  double smoothing = 1e-6;          ///< ν: distances below ν count as ν (> 0)
  std::size_t max_iterations = 100; ///< Weiszfeld steps at most (≥ 1)
  /// Stop when an iteration lowers g by at most tolerance·g (≥ 0). 0 runs exactly
  /// max_iterations steps: RFA's fixed-iteration variant (Pillutla et al. use a few, e.g. 3).
  double tolerance = 1e-6;
  weighting weights = weighting::by_examples; ///< α_k: the client's examples, or 1
};

/// The smoothed-Weiszfeld geometric-median rule.
class geometric_median_rule {
public:
  using options_type = geometric_median_options;

  /// Throws invalid_config for smoothing ≤ 0, tolerance < 0 (or NaN) or max_iterations = 0.
  explicit geometric_median_rule(geometric_median_options options = {}) : options_(options) {
    if (!(options_.smoothing > 0) || !(options_.tolerance >= 0) || options_.max_iterations == 0)
      throw invalid_config(
          "geometric_median: needs smoothing > 0, tolerance >= 0, max_iterations >= 1 (got smoothing = " +
          std::to_string(options_.smoothing) + ", tolerance = " + std::to_string(options_.tolerance) +
          ", max_iterations = " + std::to_string(options_.max_iterations) + ")");
  }
  [[nodiscard]] const geometric_median_options& options() const noexcept { return options_; }
  /// Rule name for messages.
  [[nodiscard]] const char* name() const noexcept { return "geometric_median"; }
  /// Every n ≥ 1 works.
  [[nodiscard]] std::optional<std::string> problem(std::size_t n) const {
    if (n == 0) return std::string("geometric_median: no updates");
    return std::nullopt;
  }

  /// Runs Weiszfeld into `v` (D values); returns the number of iterations taken. Throws
  /// invalid_config for no rows.
  template <class T>
  std::size_t solve(const update_matrix<T>& x, std::vector<double>& v) const {
    if (auto why = problem(x.rows())) throw invalid_config(*why);
    const std::size_t n = x.rows(), dim = x.dim();
    std::vector<double> alpha(n);
    for (std::size_t k = 0; k < n; ++k)
      alpha[k] = options_.weights == weighting::by_examples ? x.weights()[k] : 1.0;
    auto weighted_sum = [&](const std::vector<double>& coef) {
      std::vector<double> s(dim, 0.0);
      double total = 0;
      for (std::size_t k = 0; k < n; ++k) {
        const auto r = x.row(k);
        for (std::size_t d = 0; d < dim; ++d) s[d] += coef[k] * static_cast<double>(r[d]);
        total += coef[k];
      }
      for (double& e : s) e /= total;
      return s;
    };
    auto distances = [&](const std::vector<double>& at) {
      std::vector<double> dist(n);
      for (std::size_t k = 0; k < n; ++k) {
        const auto r = x.row(k);
        double s = 0;
        for (std::size_t d = 0; d < dim; ++d) {
          const double e = at[d] - static_cast<double>(r[d]);
          s += e * e;
        }
        dist[k] = std::sqrt(s);
      }
      return dist;
    };
    auto objective = [&](const std::vector<double>& dist) {
      double g = 0;
      for (std::size_t k = 0; k < n; ++k) g += alpha[k] * std::max(options_.smoothing, dist[k]);
      return g;
    };
    v = weighted_sum(alpha);
    auto dist = distances(v);
    double g = objective(dist);
    std::size_t it = 0;
    while (it < options_.max_iterations) {
      std::vector<double> beta(n);
      for (std::size_t k = 0; k < n; ++k) beta[k] = alpha[k] / std::max(options_.smoothing, dist[k]);
      v = weighted_sum(beta);
      dist = distances(v);
      const double g_new = objective(dist);
      ++it;
      const bool converged = options_.tolerance > 0 && std::abs(g - g_new) <= options_.tolerance * g;
      g = g_new;
      if (converged) break;
    }
    return it;
  }
  /// The smoothed geometric median. Throws invalid_config for no rows.
  template <class T>
  void reduce(const update_matrix<T>& x, std::span<T> out) const {
    std::vector<double> v;
    (void)solve(x, v);
    for (std::size_t d = 0; d < out.size(); ++d) out[d] = static_cast<T>(v[d]);
  }

private:
  geometric_median_options options_;
};

/// Geometric-median (RFA) aggregator.
template <element_type T = float>
using geometric_median = robust_aggregator<T, geometric_median_rule>;

static_assert(robust_rule<geometric_median_rule, float>);
static_assert(aggregator<geometric_median<float>>);

} // namespace fedpp
