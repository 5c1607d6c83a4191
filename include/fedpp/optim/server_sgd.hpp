/// \file server_sgd.hpp
/// Plain server learning rate: w ← w + η·Δ. With η = 1 the new global model is the clients'
/// weighted mean, i.e. FedAvg exactly (McMahan et al. 2017).
#pragma once

#include "fedpp/error.hpp"
#include "fedpp/kernels/kernels.hpp"
#include "fedpp/optim/server_optimizer.hpp"
#include "fedpp/tensor/dtype.hpp"

#include <cmath>
#include <span>
#include <string>

namespace fedpp {

/// Server SGD with learning rate η (stateless).
template <element_type T = float>
class server_sgd {
public:
  using value_type = T;

  /// η = 1: plain FedAvg.
  server_sgd() noexcept = default;

  /// η must be finite and > 0.
  explicit server_sgd(double learning_rate) : learning_rate_(learning_rate) {
    if (!(learning_rate > 0) || !std::isfinite(learning_rate))
      throw invalid_config("server_sgd: learning rate must be finite and > 0, got " +
                           std::to_string(learning_rate));
  }

  /// global += η·delta.
  void step(std::span<T> global, std::span<const T> delta) const {
    if (global.size() != delta.size())
      throw invalid_config("server_sgd::step: model has " + std::to_string(global.size()) +
                           " elements, delta " + std::to_string(delta.size()));
    kernels::scaled_accumulate(global, static_cast<T>(learning_rate_), delta);
  }

  [[nodiscard]] double learning_rate() const noexcept { return learning_rate_; }

private:
  double learning_rate_ = 1.0;
};

static_assert(server_optimizer<server_sgd<float>>);

} // namespace fedpp
