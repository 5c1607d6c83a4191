/// \file privacy_budget.hpp
/// A user's (ε, δ) budget, checked BEFORE each round: `can_afford(accountant, q, σ)` says whether one
/// more Poisson-subsampled Gaussian step keeps ε(δ) within the budget. The training loop asks it
/// before `server.run_round` and stops cleanly when it says no.
#pragma once

#include "fedpp/error.hpp"

#include <string>

namespace fedpp::privacy {

/// (ε, δ) budget.
class privacy_budget {
public:
  /// Throws invalid_config unless ε > 0 and 0 < δ < 1.
  privacy_budget(double epsilon, double delta) : epsilon_(epsilon), delta_(delta) {
    if (!(epsilon > 0) || !(delta > 0 && delta < 1))
      throw invalid_config("privacy_budget: need epsilon > 0 and 0 < delta < 1, got epsilon = " +
                           std::to_string(epsilon) + ", delta = " + std::to_string(delta));
  }
  /// Whether one more step (rate q, noise multiplier σ) keeps ε within budget (the accountant is copied).
  template <class Accountant>
  [[nodiscard]] bool can_afford(const Accountant& accountant, double q, double sigma) const {
    Accountant next = accountant;
    next.compose(q, sigma, 1);
    return next.epsilon(delta_) <= epsilon_;
  }
  /// ε of the budget.
  [[nodiscard]] double epsilon() const noexcept { return epsilon_; }
  /// δ of the budget.
  [[nodiscard]] double delta() const noexcept { return delta_; }

private:
  double epsilon_, delta_;
};

} // namespace fedpp::privacy
