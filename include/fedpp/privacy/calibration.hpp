/// \file calibration.hpp
/// The inverse problem: the smallest noise multiplier σ whose ε(δ) after `steps` Poisson-subsampled
/// Gaussian steps at rate q is ≤ a target ε — bisection on log σ (ε is decreasing in σ).
#pragma once

#include "fedpp/error.hpp"
#include "fedpp/privacy/pld_accountant.hpp"
#include "fedpp/privacy/rdp_accountant.hpp"

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>

namespace fedpp::privacy {

/// ε(δ) for `steps` steps with a fresh Accountant.
template <class Accountant>
[[nodiscard]] double epsilon_for(double q, double sigma, std::uint64_t steps, double delta,
                                 Accountant accountant = Accountant{}) {
  accountant.compose(q, sigma, steps);
  try {
    return accountant.epsilon(delta);
  } catch (const invalid_config&) { // e.g. a PLD grid too large: σ this small is far from any target
    return std::numeric_limits<double>::infinity();
  }
}

/// σ with ε(σ) ≤ target, within a relative 1e-4 of the smallest such σ. Throws invalid_config
/// for a target ≤ 0, or when even σ = 1000 does not reach it.
template <class Accountant = rdp_accountant>
[[nodiscard]] double noise_multiplier_for_epsilon(double target_epsilon, double q, std::uint64_t steps,
                                                  double delta, Accountant accountant = Accountant{}) {
  if (!(target_epsilon > 0))
    throw invalid_config("noise_multiplier_for_epsilon: target epsilon " + std::to_string(target_epsilon) +
                         " must be > 0");
  double lo = 0.05, hi = 1000;
  if (epsilon_for(q, hi, steps, delta, accountant) > target_epsilon)
    throw invalid_config("noise_multiplier_for_epsilon: epsilon " + std::to_string(target_epsilon) +
                         " is out of reach even with sigma = 1000");
  if (epsilon_for(q, lo, steps, delta, accountant) <= target_epsilon) return lo;
  while (hi / lo > 1 + 1e-4) {
    const double mid = std::sqrt(lo * hi);
    (epsilon_for(q, mid, steps, delta, accountant) > target_epsilon ? lo : hi) = mid;
  }
  return hi;
}

} // namespace fedpp::privacy
