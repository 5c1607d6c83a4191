/// \file value_network.hpp
/// The learned state-value baseline of REINFORCE: v(s) = w₂·tanh(W₁·s + b₁) + b₂ (CartPole: 4-32-1),
/// a view over a flat parameter vector (tanh_mlp.hpp).
#pragma once

#include "fedpp/random/rng.hpp"
#include "fedpp/rl/tanh_mlp.hpp"
#include "fedpp/tensor/model_layout.hpp"

#include <cstddef>
#include <span>

namespace fedpp::rl {

/// State-value baseline over a tanh MLP with one output: v(s).
class value_network {
public:
  value_network(std::size_t inputs, std::size_t hidden) : mlp_("value", inputs, hidden, 1) {}

  /// Adds the tensors value.w1, value.b1, value.w2, value.b2 to `layout`.
  void add_to(model_layout& layout) { mlp_.add_to(layout); }
  [[nodiscard]] const tanh_mlp& mlp() const noexcept { return mlp_; }

  /// Initial parameters (fan-in uniform, biases 0).
  void initialize(std::span<float> params, rng& gen) const { mlp_.initialize(params, gen, 1.0); }

  /// v(s); hidden activations into `h`.
  [[nodiscard]] double value(std::span<const float> params, std::span<const double> s,
                             std::span<double> h) const noexcept {
    double v = 0;
    mlp_.forward(params, s, h, std::span<double>(&v, 1));
    return v;
  }

  /// Adds `dv`·∇_θ v(s) to `grad` (dv = ∂L/∂v, e.g. v(s) − G for L = ½(v(s) − G)²).
  void add_gradient(std::span<const float> params, std::span<const double> s, std::span<const double> h,
                    double dv, std::span<double> grad, std::span<double> scratch) const noexcept {
    mlp_.backward(params, s, h, std::span<const double>(&dv, 1), grad, scratch);
  }

private:
  tanh_mlp mlp_;
};

} // namespace fedpp::rl
