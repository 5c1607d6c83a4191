/// \file calibration.hpp
/// The inverse problem: the smallest noise multiplier σ whose ε(δ) after `steps` Poisson-subsampled
/// Gaussian steps at rate q is ≤ a target ε — bracketing by doubling from σ = 1, then bisection on
/// log σ (ε is non-increasing in σ).
#pragma once

#include "fedpp/error.hpp"
#include "fedpp/privacy/pld_accountant.hpp"
#include "fedpp/privacy/rdp_accountant.hpp"

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>

namespace fedpp::privacy {

/// ε(δ) for `steps` steps with a fresh Accountant (a copy of `accountant`, usually empty).
/// +∞ when the accountant cannot represent the composition (e.g. too many steps for the PLD).
template <class Accountant>
[[nodiscard]] double epsilon_for(double q, double sigma, std::uint64_t steps, double delta,
                                 Accountant accountant = Accountant{}) {
  accountant.compose(q, sigma, steps);
  return accountant.epsilon(delta);
}

/// Smallest and largest noise multipliers the solver considers.
inline constexpr double calibration_sigma_min = 1e-3;
inline constexpr double calibration_sigma_max = 1e4;

/// σ with ε(σ) ≤ target, within a relative 1e-4 of the smallest such σ (the returned σ always
/// satisfies the target). Throws invalid_config for a target ≤ 0 or non-finite, a bad q / δ / steps,
/// or when even σ = 1e4 does not reach the target. Returns calibration_sigma_min when even that
/// σ meets the target.
template <class Accountant = rdp_accountant>
[[nodiscard]] double noise_multiplier_for_epsilon(double target_epsilon, double q, std::uint64_t steps,
                                                  double delta, Accountant accountant = Accountant{}) {
  if (!(target_epsilon > 0) || !std::isfinite(target_epsilon))
    throw invalid_config("noise_multiplier_for_epsilon: target epsilon " + std::to_string(target_epsilon) +
                         " must be positive and finite");
  if (!(delta > 0 && delta < 1))
    throw invalid_config("noise_multiplier_for_epsilon: delta = " + std::to_string(delta) + " must be in (0, 1)");
  detail::check_sgm(q, 1.0, "noise_multiplier_for_epsilon");
  auto eps = [&](double sigma) { return epsilon_for(q, sigma, steps, delta, accountant); };
  // bracket [lo, hi] with ε(lo) > target ≥ ε(hi), doubling from σ = 1
  double lo = 1, hi = 1;
  if (eps(1.0) > target_epsilon) {
    while (true) {
      lo = hi;
      hi = std::min(2 * hi, calibration_sigma_max);
      if (eps(hi) <= target_epsilon) break;
      if (hi >= calibration_sigma_max)
        throw invalid_config("noise_multiplier_for_epsilon: epsilon " + std::to_string(target_epsilon) +
                             " is out of reach even with sigma = 1e4");
    }
  } else {
    while (true) {
      hi = lo;
      lo = std::max(lo / 2, calibration_sigma_min);
      if (eps(lo) > target_epsilon) break;
      if (lo <= calibration_sigma_min) return lo;
    }
  }
  while (hi / lo > 1 + 1e-4) {
    const double mid = std::sqrt(lo * hi);
    (eps(mid) > target_epsilon ? lo : hi) = mid;
  }
  return hi;
}

} // namespace fedpp::privacy
