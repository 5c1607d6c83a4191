/// \file geometric_median.hpp
/// Geometric median by the smoothed Weiszfeld algorithm (RFA: Pillutla, Kakade & Harchaoui
/// 2022, "Robust Aggregation for Federated Learning", Algorithm 2): minimises
///     g(v) = Σ_k α_k max(ν, ‖v − x_k‖)
/// by v ← Σ_k β_k x_k / Σ_k β_k with β_k = α_k / max(ν, ‖v − x_k‖), starting from the weighted
/// mean, until the relative decrease of g is at most `tolerance` or `max_iterations` passed.
/// α_k = the client's weight (its examples) or 1. Iterates and distances are in double.
#pragma once

#include "fedpp/aggregation/fedavg.hpp"
#include "fedpp/aggregation/robust/robust_aggregator.hpp"
#include "fedpp/aggregation/robust/update_matrix.hpp"
#include "fedpp/error.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <span>
#include <string>
#include <vector>

namespace fedpp {

/// The smoothed-Weiszfeld geometric-median rule.
struct geometric_median_rule {
  double nu = 1e-6;                        ///< ν: smoothing (distances below ν count as ν)
  std::size_t max_iterations = 100;        ///< Weiszfeld steps at most
  double tolerance = 1e-6;                 ///< stop when g decreases by less than this, relatively
  weighting mode = weighting::by_examples; ///< α_k: examples or uniform

  /// Throws invalid_config for ν ≤ 0, tolerance < 0 or max_iterations = 0.
  explicit geometric_median_rule(double smoothing = 1e-6, std::size_t iterations = 100, double tol = 1e-6,
                                 weighting w = weighting::by_examples)
      : nu(smoothing), max_iterations(iterations), tolerance(tol), mode(w) {
    if (!(nu > 0) || !(tolerance >= 0) || max_iterations == 0)
      throw invalid_config("geometric_median: needs nu > 0, tolerance >= 0, max_iterations >= 1 (got nu = " +
                           std::to_string(nu) + ", tolerance = " + std::to_string(tolerance) +
                           ", max_iterations = " + std::to_string(max_iterations) + ")");
  }
  /// Rule name for messages.
  [[nodiscard]] const char* name() const noexcept { return "geometric_median"; }
  /// Every n ≥ 1 works.
  void check(std::size_t) const noexcept {}

  /// Runs Weiszfeld; returns the number of iterations taken.
  template <class T>
  std::size_t solve(const update_matrix<T>& x, std::vector<double>& v) const {
    const std::size_t n = x.rows(), dim = x.dim();
    std::vector<double> alpha(n);
    for (std::size_t k = 0; k < n; ++k) alpha[k] = mode == weighting::by_examples ? x.weights()[k] : 1.0;
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
      for (std::size_t k = 0; k < n; ++k) g += alpha[k] * std::max(nu, dist[k]);
      return g;
    };
    v = weighted_sum(alpha);
    auto dist = distances(v);
    double g = objective(dist);
    std::size_t it = 0;
    while (it < max_iterations) {
      std::vector<double> beta(n);
      for (std::size_t k = 0; k < n; ++k) beta[k] = alpha[k] / std::max(nu, dist[k]);
      v = weighted_sum(beta);
      dist = distances(v);
      const double g_new = objective(dist);
      ++it;
      const bool converged = std::abs(g - g_new) <= tolerance * g;
      g = g_new;
      if (converged) break;
    }
    return it;
  }
  /// The smoothed geometric median.
  template <class T>
  void reduce(const update_matrix<T>& x, std::span<T> out) const {
    std::vector<double> v;
    (void)solve(x, v);
    for (std::size_t d = 0; d < out.size(); ++d) out[d] = static_cast<T>(v[d]);
  }
};

/// Geometric-median (RFA) aggregator.
template <element_type T = float>
using geometric_median = robust_aggregator<T, geometric_median_rule>;

static_assert(robust_rule<geometric_median_rule, float>);
static_assert(aggregator<geometric_median<float>>);

} // namespace fedpp
