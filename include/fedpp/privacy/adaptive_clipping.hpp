/// \file adaptive_clipping.hpp
/// Adaptive clipping by private quantile estimation (Andrew, Thakkar, McMahan, Ramaswamy 2021,
/// "Differentially Private Learning with Adaptive Clipping", Alg. 1): each round the server counts
/// the clients whose update norm was ≤ C (unclipped — the paper's convention b_i = 1[‖Δ_i‖ ≤ C]),
/// adds N(0, σ_b²) to the count, divides by the expected number of clients qN, and moves C
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

  /// The current bound C.
  [[nodiscard]] double bound() const noexcept { return bound_; }

  /// One round: `unclipped` clients had norm ≤ C, `expected_clients` = qN. Returns the noisy b̄.
  double update(double unclipped, double expected_clients, secure_rng& gen) {
    if (!(expected_clients > 0))
      throw invalid_config("adaptive_clipping::update: expected clients " + std::to_string(expected_clients) +
                           " must be > 0");
    std::array<double, 1> noise{};
    fill_gaussian(gen, std::span<double>(noise), sigma_b_);
    const double b = (unclipped + noise[0]) / expected_clients;
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
