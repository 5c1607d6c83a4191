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
/// accountant; update_noise_multiplier(z) is the inverse (the z_Δ that gives a combined z).
///
/// The target: fedpp's convention is the paper's γ, the fraction of clients whose update norm is
/// at most C (unclipped), so C settles at the γ-quantile of the norms. The same target can be
/// given as the fraction of clients to clip, 1 − γ (clipping_target::clipped_fraction). Flower's
/// `target_clipped_quantile` is γ, not 1 − γ, despite its name: its own test
/// (dp_adaptive_clipping_test.py, 2026) has C settle at np.quantile(norms, target_clipped_quantile)
/// and grow by exp(lr · target) when every update is clipped — pass it as the default
/// unclipped_fraction. docs/flower.md lists the other differences (Flower divides the count by
/// the number of results, not qN; its noise uses the updated C).
#pragma once

#include "fedpp/error.hpp"
#include "fedpp/privacy/gaussian_noise.hpp"
#include "fedpp/privacy/secure_rng.hpp"

#include <array>
#include <cmath>
#include <cstdint>
#include <span>
#include <string>

namespace fedpp::privacy {

/// How adaptive_clipping's target is expressed.
enum class clipping_target : std::uint8_t {
  unclipped_fraction = 0, ///< γ = the fraction of clients with ‖Δ‖ ≤ C (Andrew et al.; fedpp's default;
                          ///< Flower's target_clipped_quantile)
  clipped_fraction = 1 ///< the fraction of clients with ‖Δ‖ > C, i.e. 1 − γ
};

/// The clipping bound C and its quantile-tracking update.
class adaptive_clipping {
public:
  /// Starts at C = initial; target in (0, 1) — γ, or 1 − γ when `kind` is clipped_fraction —,
  /// learning rate η > 0, count noise σ_b ≥ 0, all finite. Throws invalid_config naming them.
  adaptive_clipping(double initial, double target, double learning_rate, double count_noise,
                    clipping_target kind = clipping_target::unclipped_fraction)
      : bound_(initial), gamma_(kind == clipping_target::clipped_fraction ? 1 - target : target),
        eta_(learning_rate), sigma_b_(count_noise), kind_(kind) {
    if (!(initial > 0) || !std::isfinite(initial) || !(target > 0 && target < 1) || !(learning_rate > 0) ||
        !std::isfinite(learning_rate) || !(count_noise >= 0) || !std::isfinite(count_noise) ||
        (kind != clipping_target::unclipped_fraction && kind != clipping_target::clipped_fraction))
      throw invalid_config(
          std::string("adaptive_clipping: need finite C > 0, 0 < ") +
          (kind == clipping_target::clipped_fraction ? "clipped fraction" : "quantile") +
          " < 1, learning rate > 0, count noise >= 0; got C = " + std::to_string(initial) + ", " +
          (kind == clipping_target::clipped_fraction ? "clipped fraction" : "quantile") + " = " +
          std::to_string(target) + ", learning rate = " + std::to_string(learning_rate) + ", count noise = " +
          std::to_string(count_noise) + ", target kind " + std::to_string(static_cast<unsigned>(kind)));
  }

  /// The count noise σ_b.
  [[nodiscard]] double count_noise() const noexcept { return sigma_b_; }
  /// The current bound C.
  [[nodiscard]] double bound() const noexcept { return bound_; }
  /// γ: the target fraction of clients with ‖Δ‖ ≤ C.
  [[nodiscard]] double target_quantile() const noexcept { return gamma_; }
  /// 1 − γ: the target fraction of clients with ‖Δ‖ > C.
  [[nodiscard]] double target_clipped_fraction() const noexcept { return 1 - gamma_; }
  /// How the target was given.
  [[nodiscard]] clipping_target target_kind() const noexcept { return kind_; }
  /// The learning rate η.
  [[nodiscard]] double learning_rate() const noexcept { return eta_; }
  /// The same settings with the bound C = `bound` (a restored checkpoint's); throws
  /// invalid_config unless it is finite and > 0.
  [[nodiscard]] adaptive_clipping with_bound(double bound) const {
    if (!(bound > 0) || !std::isfinite(bound))
      throw invalid_config("adaptive_clipping::with_bound: C must be finite and > 0, got " +
                           std::to_string(bound));
    adaptive_clipping out = *this;
    out.bound_ = bound;
    return out;
  }

  /// One round: of `reports` clients, `unclipped` had norm ≤ C; `expected_clients` = qN
  /// (central_dp_hooks passes qN; Flower divides by the number of results: pass `reports`).
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

  /// The update noise multiplier z_Δ = (z⁻² − (2σ_b)⁻²)^{−1/2} that, with this count noise σ_b,
  /// gives the combined multiplier z (the inverse of effective_noise_multiplier; Flower's
  /// `compute_adaptive_noise_params`, which takes the user's noise_multiplier as this z). Throws
  /// invalid_config, naming the values, unless z is finite and > 0 and z < 2σ_b (otherwise the
  /// count alone costs more than z allows).
  [[nodiscard]] double update_noise_multiplier(double effective_noise_multiplier) const {
    const double z = effective_noise_multiplier;
    if (!(z > 0) || !std::isfinite(z) || !(z < 2 * sigma_b_))
      throw invalid_config(
          "adaptive_clipping::update_noise_multiplier: need 0 < z < 2·σ_b, got z = " + std::to_string(z) +
          ", σ_b = " + std::to_string(sigma_b_) + " (raise the count noise or lower z)");
    return std::pow(std::pow(z, -2.0) - std::pow(2 * sigma_b_, -2.0), -0.5);
  }

private:
  double bound_, gamma_, eta_, sigma_b_;
  clipping_target kind_;
};

} // namespace fedpp::privacy
