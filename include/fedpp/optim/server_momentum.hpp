/// \file server_momentum.hpp
/// FedAvgM: server momentum on the pseudo-gradient Δ_t = mean client delta (Hsu et al. 2019,
/// "Measuring the Effects of Non-Identical Data Distribution for Federated Visual
/// Classification"; Reddi et al. 2021 §2):  m_t = β m_{t−1} + Δ_t,  x_{t+1} = x_t + η m_t.
/// With β = 0 and η = 1 it is FedAvg. m starts at 0.
#pragma once

#include "fedpp/detail/aligned_buffer.hpp"
#include "fedpp/error.hpp"
#include "fedpp/kernels/finite.hpp"
#include "fedpp/optim/detail/state_codec.hpp"
#include "fedpp/optim/server_optimizer.hpp"
#include "fedpp/tensor/dtype.hpp"

#include <array>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

namespace fedpp {

/// Server momentum (FedAvgM) over a model of D elements of type T; the momentum buffer is kept
/// in `State` (T by default: D·sizeof(T) bytes of state, the fastest step; `double` removes the
/// float rounding of the running sum over many rounds at twice the memory).
template <element_type T = float, class State = T>
class server_momentum {
  static_assert(std::is_floating_point_v<T> && std::is_floating_point_v<State>,
                "server_momentum works on floating-point models and state");

public:
  using value_type = T;
  using state_type = State;

  /// D elements, server learning rate η (finite, > 0), momentum β ∈ [0, 1); throws
  /// invalid_config naming the bad value.
  server_momentum(std::size_t size, double learning_rate, double momentum = 0.9)
      : learning_rate_(learning_rate), momentum_(momentum), m_(size) {
    detail::check_positive("server_momentum", "learning rate", learning_rate);
    detail::check_beta("server_momentum", "momentum β", momentum);
  }

  /// m ← β m + Δ, global ← global + η m. Throws invalid_config (nothing changed) when the
  /// spans do not have D elements.
  void step(std::span<T> global, std::span<const T> delta) {
    detail::check_step_sizes("server_momentum", m_.size(), global.size(), delta.size());
    const auto beta = static_cast<State>(momentum_), eta = static_cast<State>(learning_rate_);
    State* m = m_.data();
    T* x = global.data();
    const T* d = delta.data();
    const std::size_t n = m_.size();
    // Plain loop: no calls, no aliasing between the distinct buffers → GCC/Clang vectorize it.
    for (std::size_t i = 0; i < n; ++i) {
      const State mi = beta * m[i] + static_cast<State>(d[i]);
      m[i] = mi;
      x[i] = static_cast<T>(static_cast<State>(x[i]) + eta * mi);
    }
    ++steps_;
  }

  /// Model size D.
  [[nodiscard]] std::size_t size() const noexcept { return m_.size(); }
  /// Steps taken (restored ones included).
  [[nodiscard]] std::uint64_t steps() const noexcept { return steps_; }
  /// η.
  [[nodiscard]] double learning_rate() const noexcept { return learning_rate_; }
  /// β.
  [[nodiscard]] double momentum() const noexcept { return momentum_; }
  /// The momentum buffer m.
  [[nodiscard]] std::span<const State> momentum_buffer() const noexcept { return m_.span(); }
  /// True when the momentum buffer holds only finite values (fedpp::server checks it after each
  /// step and restores the previous state when false).
  [[nodiscard]] bool state_is_finite() const noexcept { return kernels::all_finite(momentum_buffer()); }

  /// Serialization hook: the state as bytes (see optim/detail/state_codec.hpp: kind 1, D,
  /// steps, η, β, then m) handed to `sink(std::span<const std::byte>)`.
  template <class Sink>
  requires std::invocable<Sink&, std::span<const std::byte>>
  void save(Sink&& sink) const { sink(std::span<const std::byte>(to_bytes())); }

  /// The state as bytes (what save hands the sink).
  [[nodiscard]] std::vector<std::byte> to_bytes() const {
    std::vector<std::byte> out;
    const std::array<std::span<const State>, 1> buffers{m_.span()};
    detail::write_optimizer_state<State>(out, header(), buffers);
    return out;
  }

  /// Rebuilds an optimizer from to_bytes()'s output; throws malformed_message (and nothing
  /// else) for bytes that are not a server_momentum<T, State> state: magic, version, kind, width,
  /// a length other than header + D·sizeof(State), bad or non-finite hyper-parameters, the two
  /// unused hyper-parameter slots not +0.0, non-finite momentum. Checks the length before it
  /// allocates; accepted bytes re-encode (to_bytes) to the same bytes.
  [[nodiscard]] static server_momentum restore(std::span<const std::byte> bytes) {
    const auto h = read_header(bytes);
    std::optional<server_momentum> out;
    try {
      out.emplace(static_cast<std::size_t>(h.size), h.params[0], h.params[1]);
    } catch (const invalid_config& e) {
      throw malformed_message(std::string("server_momentum::restore: ") + e.what());
    }
    detail::read_optimizer_buffer<State>("server_momentum::restore", bytes, 0, out->m_.span(), false);
    out->steps_ = h.steps;
    return std::move(*out);
  }

  /// Replaces this optimizer's state by a saved one of the same size D; throws (state
  /// unchanged) malformed_message for bad bytes, invalid_config for another D (checked from the
  /// header, before anything is allocated).
  void load(std::span<const std::byte> bytes) {
    const auto h = read_header(bytes);
    if (h.size != size())
      throw invalid_config("server_momentum::load: saved for " + std::to_string(h.size) +
                           " elements, this optimizer has " + std::to_string(size()));
    server_momentum other = restore(bytes);
    *this = std::move(other);
  }

private:
  static detail::optimizer_header read_header(std::span<const std::byte> bytes) {
    // η and β are used; the β2 and τ slots are written as +0.0 and must read back so.
    return detail::read_optimizer_header("server_momentum::restore", bytes, detail::optimizer_kind::momentum,
                                         sizeof(State), 1, 2);
  }

  [[nodiscard]] detail::optimizer_header header() const noexcept {
    return {detail::optimizer_kind::momentum,
            sizeof(State),
            m_.size(),
            steps_,
            {learning_rate_, momentum_, 0.0, 0.0}};
  }

  double learning_rate_;
  double momentum_;
  detail::aligned_buffer<State> m_;
  std::uint64_t steps_ = 0;
};

static_assert(server_optimizer<server_momentum<float>>);
static_assert(server_optimizer<server_momentum<float, double>>);

} // namespace fedpp
