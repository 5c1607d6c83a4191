/// \file tanh_mlp.hpp
/// The two-layer tanh MLP under the policy-gradient learner's networks (policy_network.hpp,
/// value_network.hpp), over parameters held in a flat float vector the caller owns (so a whole
/// agent is one fedpp model: one payload for the wire, one vector for FedAvg). Arithmetic is in
/// double. Weights are stored row-major: W₁ is H × I, W₂ is O × H.
#pragma once

#include "fedpp/error.hpp"
#include "fedpp/random/rng.hpp"
#include "fedpp/tensor/model_layout.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <span>
#include <string>
#include <utility>

namespace fedpp::rl {

/// A two-layer tanh MLP x ↦ W₂·tanh(W₁·x + b₁) + b₂ whose four tensors are named
/// `<prefix>.w1`, `<prefix>.b1`, `<prefix>.w2`, `<prefix>.b2` in a model_layout.
class tanh_mlp {
public:
  /// Sizes: inputs I, hidden H, outputs O, each in [1, 4096]; throws invalid_config otherwise.
  tanh_mlp(std::string prefix, std::size_t inputs, std::size_t hidden, std::size_t outputs)
      : prefix_(std::move(prefix)), in_(inputs), hidden_(hidden), out_(outputs) {
    for (const std::size_t n : {inputs, hidden, outputs})
      if (n < 1 || n > 4096)
        throw invalid_config("tanh_mlp '" + prefix_ + "': sizes must be in [1, 4096], got " +
                             std::to_string(inputs) + "-" + std::to_string(hidden) + "-" +
                             std::to_string(outputs));
  }

  /// Appends the four tensors to `layout` and remembers where they start (the first tensor's
  /// offset; the four are contiguous, in the order w1, b1, w2, b2).
  void add_to(model_layout& layout) {
    layout.add(prefix_ + ".w1", {hidden_, in_}).add(prefix_ + ".b1", {hidden_});
    layout.add(prefix_ + ".w2", {out_, hidden_}).add(prefix_ + ".b2", {out_});
    offset_ = layout.at(prefix_ + ".w1").offset;
  }

  /// Parameters in the flat vector: H·I + H + O·H + O.
  [[nodiscard]] std::size_t size() const noexcept { return hidden_ * in_ + hidden_ + out_ * hidden_ + out_; }
  /// First element in the model's flat vector (after add_to).
  [[nodiscard]] std::size_t offset() const noexcept { return offset_; }
  [[nodiscard]] std::size_t inputs() const noexcept { return in_; }
  [[nodiscard]] std::size_t hidden() const noexcept { return hidden_; }
  [[nodiscard]] std::size_t outputs() const noexcept { return out_; }

  /// Initialises this network's slice of `params`: W₁ uniform in ±1/√I and W₂ uniform in
  /// ±gain/√H (the fan-in bound of PyTorch's nn.Linear default), biases 0. A small `gain` on the
  /// output layer starts a policy near uniform.
  void initialize(std::span<float> params, rng& gen, double output_gain = 1.0) const {
    auto p = params.subspan(offset_, size());
    const double bound1 = 1.0 / std::sqrt(static_cast<double>(in_));
    const double bound2 = output_gain / std::sqrt(static_cast<double>(hidden_));
    std::size_t k = 0;
    for (std::size_t i = 0; i < hidden_ * in_; ++i)
      p[k++] = static_cast<float>(bound1 * (2 * gen.uniform() - 1));
    for (std::size_t i = 0; i < hidden_; ++i) p[k++] = 0.F;
    for (std::size_t i = 0; i < out_ * hidden_; ++i)
      p[k++] = static_cast<float>(bound2 * (2 * gen.uniform() - 1));
    for (std::size_t i = 0; i < out_; ++i) p[k++] = 0.F;
  }

  /// Forward pass: hidden activations h = tanh(W₁x + b₁) into `h` (H values) and outputs
  /// W₂h + b₂ into `y` (O values).
  void forward(std::span<const float> params, std::span<const double> x, std::span<double> h,
               std::span<double> y) const noexcept {
    const float* w1 = params.data() + offset_;
    const float* b1 = w1 + hidden_ * in_;
    const float* w2 = b1 + hidden_;
    const float* b2 = w2 + out_ * hidden_;
    for (std::size_t j = 0; j < hidden_; ++j) {
      double a = b1[j];
      for (std::size_t i = 0; i < in_; ++i) a += static_cast<double>(w1[j * in_ + i]) * x[i];
      h[j] = std::tanh(a);
    }
    for (std::size_t o = 0; o < out_; ++o) {
      double a = b2[o];
      for (std::size_t j = 0; j < hidden_; ++j) a += static_cast<double>(w2[o * hidden_ + j]) * h[j];
      y[o] = a;
    }
  }

  /// Backward pass: adds ∂L/∂θ to this network's slice of `grad` (same layout as the parameters),
  /// given the input x, the hidden activations h of forward(), and dy = ∂L/∂y. `scratch` holds H
  /// values.
  void backward(std::span<const float> params, std::span<const double> x, std::span<const double> h,
                std::span<const double> dy, std::span<double> grad,
                std::span<double> scratch) const noexcept {
    const float* w2 = params.data() + offset_ + hidden_ * in_ + hidden_;
    double* g_w1 = grad.data() + offset_;
    double* g_b1 = g_w1 + hidden_ * in_;
    double* g_w2 = g_b1 + hidden_;
    double* g_b2 = g_w2 + out_ * hidden_;
    std::fill(scratch.begin(), scratch.begin() + static_cast<std::ptrdiff_t>(hidden_), 0.0);
    for (std::size_t o = 0; o < out_; ++o) {
      g_b2[o] += dy[o];
      for (std::size_t j = 0; j < hidden_; ++j) {
        g_w2[o * hidden_ + j] += dy[o] * h[j];
        scratch[j] += static_cast<double>(w2[o * hidden_ + j]) * dy[o];
      }
    }
    for (std::size_t j = 0; j < hidden_; ++j) {
      const double d = scratch[j] * (1 - h[j] * h[j]); // tanh' = 1 − tanh²
      g_b1[j] += d;
      for (std::size_t i = 0; i < in_; ++i) g_w1[j * in_ + i] += d * x[i];
    }
  }

private:
  std::string prefix_;
  std::size_t in_, hidden_, out_;
  std::size_t offset_ = 0;
};

} // namespace fedpp::rl
