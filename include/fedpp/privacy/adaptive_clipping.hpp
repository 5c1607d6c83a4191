/// \file adaptive_clipping.hpp
/// Adaptive clipping by private quantile estimation (Andrew, Thakkar, McMahan, Ramaswamy 2021,
/// "Differentially Private Learning with Adaptive Clipping", Alg. 1): each round the server counts
/// the clients whose update norm was ≤ C (unclipped — the paper's convention b_i = 1[‖Δ_i‖ ≤ C]),
/// and releases the centred count Σ_{i∈S} (b_i − ½) + N(0, σ_b²): adding or removing one client
/// moves it by ½, the sensitivity the accounting below assumes (the plain count Σ b_i would have
/// sensitivity 1). Then b̄ = (that)/(qN) + ½ with the expected number of clients qN, and C moves
/// geometrically towards the target quantile γ:  C ← C · exp(−η (b̄ − γ)).
/// Privacy: releasing the noisy count costs privacy too; with update noise multiplier z_Δ and count
/// noise σ_b the pair is equivalent to one Gaussian step with noise multiplier
/// z = (z_Δ⁻² + (2σ_b)⁻²)^{−1/2} (paper, Thm. 1) — pass effective_noise_multiplier() to the
/// accountant.
#pragma once

#include "fedpp/error.hpp"
#include "fedpp/privacy/gaussian_noise.hpp"
#include "fedpp/privacy/secure_rng.hpp"

#include <array>
#include <cmath>
#include <string>

namespace fedpp::privacy {

/// The clipping bound C and its quantile-tracking update.
class adaptive_clipping {
public:
  /// Starts at C = initial; target quantile γ in (0, 1), learning rate η > 0, count noise σ_b ≥ 0.
  adaptive_clipping(double initial, double target_quantile, double learning_rate, double count_noise)
      : bound_(initial), gamma_(target_quantile), eta_(learning_rate), sigma_b_(count_noise) {
    if (!(initial > 0) || !(target_quantile > 0 && target_quantile < 1) || !(learning_rate > 0) ||
        !(count_noise >= 0))
      throw invalid_config(
          "adaptive_clipping: need C > 0, 0 < quantile < 1, learning rate > 0, count noise >= 0; got C = " +
          std::to_string(initial) + ", quantile = " + std::to_string(target_quantile) + ", learning rate = " +
          std::to_string(learning_rate) + ", count noise = " + std::to_string(count_noise));
  }

  /// The count noise σ_b.
  [[nodiscard]] double count_noise() const noexcept { return sigma_b_; }
  /// The current bound C.
  [[nodiscard]] double bound() const noexcept { return bound_; }

  /// One round: of `reports` clients, `unclipped` had norm ≤ C; `expected_clients` = qN.
  /// Returns the noisy b̄. Throws invalid_config (state unchanged) unless
  /// 0 ≤ unclipped ≤ reports and qN > 0.
  double update(double unclipped, double reports, double expected_clients, secure_rng& gen) {
    if (!(expected_clients > 0) || !(unclipped >= 0) || !(unclipped <= reports))
      throw invalid_config(
          "adaptive_clipping::update: need 0 <= unclipped <= reports and expected clients > 0, "
          "got unclipped = " +
          std::to_string(unclipped) + ", reports = " + std::to_string(reports) +
          ", expected clients = " + std::to_string(expected_clients));
    std::array<double, 1> noise{};
    fill_gaussian(gen, std::span<double>(noise), sigma_b_);
    const double b = (unclipped - 0.5 * reports + noise[0]) / expected_clients + 0.5;
    bound_ *= std::exp(-eta_ * (b - gamma_));
    return b;
  }

  /// The update noise multiplier the accountant must use when z_Δ is the update's:
  /// (z_Δ⁻² − (2σ_b)⁻²)^{−1/2} is what the update must carry for a total of z; here the inverse:
  /// given the update's z_Δ and σ_b, the combined mechanism's multiplier (z_Δ⁻² + (2σ_b)⁻²)^{−1/2}.
  [[nodiscard]] double effective_noise_multiplier(double update_noise_multiplier) const noexcept {
    if (sigma_b_ == 0) return 0; // a noiseless count is not private
    const double a = 1 / (update_noise_multiplier * update_noise_multiplier);
    const double b = 1 / (4 * sigma_b_ * sigma_b_);
    return 1 / std::sqrt(a + b);
  }

private:
  double bound_, gamma_, eta_, sigma_b_;
};

} // namespace fedpp::privacy
