/// \file policy_network.hpp
/// The policy of the policy-gradient learner: a softmax policy π(a|s) = softmax(W₂·tanh(W₁·s + b₁)
/// + b₂), s ∈ R^I, a ∈ {0, …, A−1} (CartPole: 4-32-2), a view over a flat parameter vector
/// (tanh_mlp.hpp): it knows the shapes and where its tensors sit in a model_layout, and reads
/// parameters from (and writes gradients to) spans the caller owns.
#pragma once

#include "fedpp/error.hpp"
#include "fedpp/random/rng.hpp"
#include "fedpp/rl/tanh_mlp.hpp"
#include "fedpp/tensor/model_layout.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <span>

namespace fedpp::rl {

/// Softmax policy over a tanh MLP: π(·|s) = softmax(mlp(s)).
class policy_network {
public:
  /// A policy with `inputs` observation values, `hidden` units and `actions` actions (≥ 2).
  policy_network(std::size_t inputs, std::size_t hidden, std::size_t actions)
      : mlp_("policy", inputs, hidden, actions) {
    if (actions < 2) throw invalid_config("policy_network: needs at least 2 actions");
  }

  /// Adds the tensors policy.w1, policy.b1, policy.w2, policy.b2 to `layout`.
  void add_to(model_layout& layout) { mlp_.add_to(layout); }
  /// The underlying MLP (shapes, offset).
  [[nodiscard]] const tanh_mlp& mlp() const noexcept { return mlp_; }
  [[nodiscard]] std::size_t actions() const noexcept { return mlp_.outputs(); }

  /// Initial parameters: the output layer scaled by 0.01, so π starts close to uniform.
  void initialize(std::span<float> params, rng& gen) const { mlp_.initialize(params, gen, 0.01); }

  /// π(·|s) into `probs` (A values), hidden activations into `h` (H values). The softmax is
  /// computed as exp(z − max z) / Σ, so no logit overflows.
  void probabilities(std::span<const float> params, std::span<const double> s, std::span<double> h,
                     std::span<double> probs) const noexcept {
    mlp_.forward(params, s, h, probs);
    const double top =
        *std::max_element(probs.begin(), probs.begin() + static_cast<std::ptrdiff_t>(actions()));
    double sum = 0;
    for (std::size_t a = 0; a < actions(); ++a) sum += (probs[a] = std::exp(probs[a] - top));
    for (std::size_t a = 0; a < actions(); ++a) probs[a] /= sum;
  }

  /// Samples an action from `probs` with one uniform draw of `gen` (inverse CDF, actions in order).
  [[nodiscard]] std::size_t sample(std::span<const double> probs, rng& gen) const noexcept {
    const double u = gen.uniform();
    double cumulative = 0;
    for (std::size_t a = 0; a + 1 < actions(); ++a)
      if (u < (cumulative += probs[a])) return a;
    return actions() - 1;
  }

  /// Adds `weight`·∇_θ log π(a|s) to `grad`: with z the logits, ∂ log π(a|s)/∂z = e_a − π(·|s).
  /// `h`, `probs` from probabilities(); `dz` holds A values and `scratch` H values.
  void add_log_prob_gradient(std::span<const float> params, std::span<const double> s,
                             std::span<const double> h, std::span<const double> probs, std::size_t action,
                             double weight, std::span<double> grad, std::span<double> dz,
                             std::span<double> scratch) const noexcept {
    for (std::size_t a = 0; a < actions(); ++a) dz[a] = weight * ((a == action ? 1.0 : 0.0) - probs[a]);
    mlp_.backward(params, s, h, dz, grad, scratch);
  }

private:
  tanh_mlp mlp_;
};

} // namespace fedpp::rl
