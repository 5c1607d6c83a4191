/// \file scaffold_server_optimizer.hpp
/// SCAFFOLD's server update on the doubled (x, c) model of aggregation/scaffold_aggregator.hpp
/// (Karimireddy et al. 2020, Algorithm 1, lines 16–17):
///   x ← x + η_g · mean Δy      (delegated to an inner server optimizer: server_sgd(η_g) by
///                               default, or FedAdam/FedAvgM… over the first half)
///   c ← c + (|S|/N) mean Δc    (the aggregator already scaled the second half by |S|/N)
#pragma once

#include "fedpp/error.hpp"
#include "fedpp/kernels/kernels.hpp"
#include "fedpp/optim/server_optimizer.hpp"
#include "fedpp/optim/server_sgd.hpp"

#include <cstddef>
#include <span>
#include <string>
#include <utility>

namespace fedpp {

/// Server optimizer for SCAFFOLD's doubled model of 2·D elements (x then c).
template <server_optimizer Inner = server_sgd<float>>
class scaffold_server_optimizer {
public:
  using value_type = typename Inner::value_type;
  using inner_type = Inner;

  /// `model_size` is D (the size of x, half the doubled model); `inner` steps x.
  explicit scaffold_server_optimizer(std::size_t model_size, Inner inner = Inner{})
      : model_size_(model_size), inner_(std::move(inner)) {}

  /// Steps x with the inner optimizer and adds the control half to c. Throws invalid_config
  /// (nothing changed) unless both spans have 2·D elements.
  void step(std::span<value_type> global, std::span<const value_type> delta) {
    if (global.size() != 2 * model_size_ || delta.size() != 2 * model_size_)
      throw invalid_config("scaffold_server_optimizer::step: expected the doubled model of 2 x " +
                           std::to_string(model_size_) + " elements, got a model of " +
                           std::to_string(global.size()) + " and a delta of " + std::to_string(delta.size()));
    inner_.step(global.first(model_size_), delta.first(model_size_));
    kernels::scaled_accumulate(global.subspan(model_size_), value_type(1), delta.subspan(model_size_));
  }

  /// The inner optimizer's state_is_finite() where it has one (true otherwise).
  [[nodiscard]] bool state_is_finite() const noexcept {
    if constexpr (requires(const Inner& i) {
                    { i.state_is_finite() } -> std::convertible_to<bool>;
                  })
      return inner_.state_is_finite();
    else
      return true;
  }

  /// D.
  [[nodiscard]] std::size_t model_size() const noexcept { return model_size_; }
  /// The optimizer of x (e.g. to save its state).
  [[nodiscard]] Inner& inner() noexcept { return inner_; }
  [[nodiscard]] const Inner& inner() const noexcept { return inner_; }

private:
  std::size_t model_size_;
  Inner inner_;
};

static_assert(server_optimizer<scaffold_server_optimizer<>>);

} // namespace fedpp
