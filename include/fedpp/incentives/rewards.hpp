/// \file rewards.hpp
/// Dividing a budget among clients in proportion to their contributions.
///
///   reward_i = B · φ_i⁺ / Σ_j φ_j⁺,     φ⁺ = max(φ, 0)
///
/// Negative contributions (a client whose presence made the model worse: a free-rider diluting the
/// mean, a poisoner) earn 0 — they are not charged, and they do not reduce anyone else's share.
/// When no client has a positive contribution nothing is paid: every reward is 0 and the whole
/// budget is returned as `unallocated`.
///
/// Fairness properties (for φ a Shapley value, shapley.hpp; the tests check them on games with
/// known values):
/// - efficiency: Σ_i reward_i = B whenever some φ_i > 0 (the budget is spent, up to rounding);
///   and with B = v(N) − v(∅) and every φ_i ≥ 0 the rewards are exactly the Shapley values;
/// - symmetry: equal contributions get equal rewards (interchangeable players have equal φ);
/// - null player: φ_i = 0 (a player who adds nothing to any coalition) earns 0;
/// - monotonicity: a larger φ_i never earns less.
/// With negative values present, the clipping breaks additivity across games (rewards of a sum of
/// rounds ≠ sum of rewards): sum the contributions over rounds first, then allocate once.
#pragma once

#include "fedpp/error.hpp"

#include <cmath>
#include <cstddef>
#include <span>
#include <string>
#include <vector>

namespace fedpp::incentives {

/// One allocation.
struct reward_allocation {
  std::vector<double> rewards; ///< one per contribution, ≥ 0
  double allocated = 0;        ///< Σ rewards
  double unallocated = 0;      ///< budget − allocated (the whole budget when no φ > 0; else rounding)
};

/// Splits `budget` (finite, ≥ 0) in proportion to the positive parts of `contributions` (each
/// finite). Throws invalid_config for an empty list, a non-finite contribution or a bad budget.
[[nodiscard]] inline reward_allocation allocate_rewards(std::span<const double> contributions,
                                                        double budget) {
  if (contributions.empty()) throw invalid_config("allocate_rewards: no contributions");
  if (!(std::isfinite(budget) && budget >= 0))
    throw invalid_config("allocate_rewards: budget " + std::to_string(budget) + " must be finite and >= 0");
  double positive = 0;
  for (std::size_t i = 0; i < contributions.size(); ++i) {
    if (!std::isfinite(contributions[i]))
      throw invalid_config("allocate_rewards: contribution " + std::to_string(i) + " is " +
                           std::to_string(contributions[i]) + ", not finite");
    if (contributions[i] > 0) positive += contributions[i];
  }
  reward_allocation a;
  a.rewards.assign(contributions.size(), 0.0);
  if (positive > 0 && std::isfinite(positive)) {
    for (std::size_t i = 0; i < contributions.size(); ++i)
      if (contributions[i] > 0) a.rewards[i] = budget * (contributions[i] / positive);
  } else if (!std::isfinite(positive)) { // Σ overflowed: scale down first (same proportions)
    double scaled = 0;
    for (const double c : contributions)
      if (c > 0) scaled += c * 0x1p-64;
    for (std::size_t i = 0; i < contributions.size(); ++i)
      if (contributions[i] > 0) a.rewards[i] = budget * (contributions[i] * 0x1p-64 / scaled);
  }
  for (const double r : a.rewards) a.allocated += r;
  a.unallocated = budget - a.allocated;
  return a;
}

} // namespace fedpp::incentives
