/// \file split_nn_cut_noise.hpp
/// Optional protection of what crosses the cut of a split neural network: per-example L2
/// clipping and Gaussian noise, on the activations a feature party sends and on the gradients
/// the label holder returns.
///
/// Activations: each example's row h_i (width k) is clipped to ‖h_i‖ ≤ C, then every coordinate
/// gets N(0, (σC)²) noise from privacy::add_gaussian_noise on a privacy::secure_rng (ChaCha20).
/// For one release of one row this is the Gaussian mechanism with L2 sensitivity C when a
/// neighbouring input changes one example's row arbitrarily (the clip bounds the difference by
/// 2C under replacement; C under add/remove of a row) — a per-example, per-release guarantee. It
/// is NOT a DP-SGD guarantee for training: the same example's activations are released every
/// epoch (composition), the bottom model's parameters themselves depend on the data, and the
/// backward pass is unprotected unless gradient noise is on too. Account the releases (e.g. with
/// privacy::rdp_accountant) before stating an ε.
///
/// Gradients: row i of the gradient the label holder returns is (1/n)·g_i, with g_i the gradient
/// of example i's own loss w.r.t. its activations. g_i is clipped to ‖g_i‖ ≤ C_g and
/// N(0, (σ_g C_g)²) noise is added to g_i, i.e. N(0, (σ_g C_g / n)²) to the sent row. This blunts
/// the label leakage of returned gradients (Li et al. 2021, "Label leakage and protection in
/// two-party split learning") at an accuracy cost; it is again per release, not an end-to-end ε.
#pragma once

#include "fedpp/error.hpp"
#include "fedpp/privacy/gaussian_noise.hpp"
#include "fedpp/privacy/secure_rng.hpp"
#include "fedpp/vertical/detail/split_nn_math.hpp"

#include <cmath>
#include <concepts>
#include <cstddef>
#include <span>
#include <string>

namespace fedpp::vertical {

/// Per-example clipping and Gaussian noise of a tensor crossing the cut. Off by default.
struct split_nn_cut_noise {
  double clip = 0;             ///< per-example L2 bound C; 0 = no clipping (and then no noise)
  double noise_multiplier = 0; ///< σ: the noise's standard deviation is σ·C per coordinate

  /// True when rows are clipped.
  [[nodiscard]] bool clips() const noexcept { return clip > 0; }
  /// True when noise is added.
  [[nodiscard]] bool adds_noise() const noexcept { return clip > 0 && noise_multiplier > 0; }

  /// Throws invalid_config for a negative or non-finite bound or multiplier, or for noise
  /// without a clipping bound (the noise is calibrated to it). `who` prefixes the message.
  void validate(const std::string& who) const {
    if (!(clip >= 0) || !std::isfinite(clip))
      throw invalid_config(who + ": clipping bound " + std::to_string(clip) + " must be finite and >= 0");
    if (!(noise_multiplier >= 0) || !std::isfinite(noise_multiplier))
      throw invalid_config(who + ": noise multiplier " + std::to_string(noise_multiplier) +
                           " must be finite and >= 0");
    if (noise_multiplier > 0 && !(clip > 0))
      throw invalid_config(who + ": noise multiplier " + std::to_string(noise_multiplier) +
                           " needs a clipping bound > 0 (the noise is sigma times the bound)");
  }
};

/// Clips the n rows of `h` (n × width) to norm `cut.clip` and adds N(0, (σC)²) noise (as
/// split_nn_cut_noise says); each row's clipping factor and norm before clipping go to
/// `factors` and `norms` (n values each) for the backward pass (split_nn_clip_backward).
template <std::floating_point T>
void split_nn_protect_activations(std::span<T> h, std::size_t n, std::size_t width,
                                  const split_nn_cut_noise& cut, privacy::secure_rng& gen,
                                  std::span<double> factors, std::span<double> norms) {
  if (!cut.clips()) return;
  detail::clip_rows(h, n, width, cut.clip, 1.0, factors, norms);
  if (cut.adds_noise()) privacy::add_gaussian_noise(gen, h.first(n * width), cut.noise_multiplier * cut.clip);
}

/// Backward pass of the activations' clipping: `g` (n × width), the gradient w.r.t. the
/// released (clipped, noised) rows, becomes the gradient w.r.t. the rows before clipping, `h`
/// (the noise is additive: its Jacobian is the identity). Uses the factors and norms that
/// split_nn_protect_activations recorded.
template <std::floating_point T>
void split_nn_clip_backward(std::span<const T> h, std::span<T> g, std::size_t n, std::size_t width,
                            std::span<const double> factors, std::span<const double> norms) noexcept {
  for (std::size_t r = 0; r < n; ++r)
    detail::clip_row_backward(h.data() + r * width, g.data() + r * width, width, factors[r], norms[r]);
}

/// Clips and noises the gradient rows `g` (n × width) of a batch-mean loss as per-example
/// gradients n·g_i (see the file comment): g_i ← g_i·min(1, C_g / (n‖g_i‖)), then N(0, (σ_g C_g / n)²).
template <std::floating_point T>
void split_nn_protect_gradients(std::span<T> g, std::size_t n, std::size_t width,
                                const split_nn_cut_noise& cut, privacy::secure_rng& gen,
                                std::span<double> factors, std::span<double> norms) {
  if (!cut.clips() || n == 0) return;
  const double unit = static_cast<double>(n);
  detail::clip_rows(g, n, width, cut.clip, unit, factors, norms);
  if (cut.adds_noise())
    privacy::add_gaussian_noise(gen, g.first(n * width), cut.noise_multiplier * cut.clip / unit);
}

} // namespace fedpp::vertical
