/// \file fedbuff.hpp
/// FedBuff (Nguyen et al. 2022, "Federated Learning with Buffered Asynchronous Aggregation",
/// Algorithm 1): clients send deltas Δ_k = (local model after training) − (model at the version
/// τ_k they pulled); the server adds each, discounted by s(d_k) with d_k = v − τ_k (v the server
/// version at arrival; s = 1/√(1 + d) in the paper), into a buffer, and after every K arrivals
///   x ← x + η_g · (Σ_k s(d_k) Δ_k) / K,   v ← v + 1,   buffer ← 0.
/// (The paper's Δ is pulled − trained and is subtracted; ours has the opposite sign and is
/// added, the same update.) The buffer is one Acc per model element: memory O(model size)
/// whatever K, since deltas are accumulated, never stored.
#pragma once

#include "fedpp/error.hpp"
#include "fedpp/kernels/kernels.hpp"
#include "fedpp/scheduling/detail/format.hpp"
#include "fedpp/scheduling/inverse_sqrt_staleness.hpp"
#include "fedpp/scheduling/staleness_function.hpp"

#include <algorithm>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace fedpp {

/// Buffered asynchronous aggregation of client deltas into a flat model of T, accumulated in
/// Acc (see the file comment); the discount is any staleness_function.
template <std::floating_point T, staleness_function Discount = inverse_sqrt_staleness,
          std::floating_point Acc = double>
class fedbuff {
  static_assert((std::is_same_v<T, float> ||
                 std::is_same_v<T, double>)&&(std::is_same_v<Acc, float> ||
                                              std::is_same_v<Acc, double>)&&sizeof(Acc) >= sizeof(T),
                "fedbuff buffers float or double deltas in a float or double accumulator at least as wide");

public:
  using value_type = T;           ///< model element type
  using accumulator_type = Acc;   ///< buffer element type
  using discount_type = Discount; ///< the staleness discount

  /// Buffers K = `buffer_size` deltas of `model_size` elements, applies them with server
  /// learning rate η_g = `server_learning_rate`, starting at server version `version`.
  /// Throws invalid_config unless K ≥ 1 and η_g is finite and > 0.
  fedbuff(std::size_t model_size, std::size_t buffer_size, double server_learning_rate,
          Discount discount = Discount{}, std::uint64_t version = 0)
      : buffer_size_(buffer_size), server_learning_rate_(server_learning_rate),
        discount_(std::move(discount)), version_(version), buffer_(model_size, Acc(0)) {
    if (buffer_size == 0) throw invalid_config("fedbuff: buffer size K must be >= 1, got 0");
    if (!(server_learning_rate > 0) || !std::isfinite(server_learning_rate))
      throw invalid_config("fedbuff: server learning rate = " + detail::format_number(server_learning_rate) +
                           " must be finite and > 0");
  }

  /// s(d): the discount of a delta of staleness d.
  [[nodiscard]] double discount(std::uint64_t staleness) const noexcept {
    return static_cast<double>(discount_(staleness));
  }

  /// Buffers `delta`, computed by `client` from server version `client_version`, with weight
  /// s(version() − client_version); when this makes K buffered deltas, applies
  /// model += η_g·buffer/K, increments the version, clears the buffer and returns true (else
  /// false, `model` untouched). Validates first, leaving model and state unchanged:
  /// invalid_config when `model` has the wrong size or the discount is not finite and > 0;
  /// rejected_update (layout_mismatch) for a wrong-sized delta, (non_finite) for a NaN/Inf in
  /// it, (other) for a client version newer than the server's.
  bool apply(client_id client, std::span<T> model, std::span<const T> delta, std::uint64_t client_version) {
    if (model.size() != buffer_.size())
      throw invalid_config("fedbuff::apply: the model has " + std::to_string(model.size()) +
                           " elements, expected " + std::to_string(buffer_.size()));
    if (delta.size() != buffer_.size())
      throw rejected_update(client, rejection_reason::layout_mismatch,
                            "delta of " + std::to_string(delta.size()) + " elements, expected " +
                                std::to_string(buffer_.size()));
    if (client_version > version_)
      throw rejected_update(client, rejection_reason::other,
                            "trained from version " + std::to_string(client_version) +
                                ", newer than the server's " + std::to_string(version_));
    if (const std::size_t bad = kernels::find_non_finite(delta); bad != delta.size())
      throw rejected_update(client, rejection_reason::non_finite,
                            "element " + std::to_string(bad) + " is " +
                                detail::format_number(static_cast<double>(delta[bad])));
    const double weight = discount(version_ - client_version);
    if (!(weight > 0) || !std::isfinite(weight))
      throw invalid_config("fedbuff::apply: discount s(" + std::to_string(version_ - client_version) +
                           ") = " + detail::format_number(weight) + " must be finite and > 0");
    const Acc w = static_cast<Acc>(weight);
    const Acc step = static_cast<Acc>(server_learning_rate_) / static_cast<Acc>(buffer_size_);
    if (buffered_ + 1 == buffer_size_) {
      // This delta flushes the buffer: x + (η_g/K)(buffer + s·Δ) must be finite in T, else the
      // delta is refused with everything unchanged (finite inputs can still overflow the sum).
      for (std::size_t i = 0; i < model.size(); ++i) {
        const Acc next = static_cast<Acc>(model[i]) + step * (buffer_[i] + w * static_cast<Acc>(delta[i]));
        if (!std::isfinite(static_cast<T>(next)))
          throw rejected_update(client, rejection_reason::non_finite,
                                "flushing the buffer with this delta makes model element " + std::to_string(i) +
                                    " non-finite");
      }
    }
    kernels::scaled_accumulate<Acc, T>(buffer_, w, delta);
    if (++buffered_ < buffer_size_) return false;
    // x += (η_g/K)·buffer, computed in Acc and rounded to T once per element.
    for (std::size_t i = 0; i < model.size(); ++i)
      model[i] = static_cast<T>(static_cast<Acc>(model[i]) + step * buffer_[i]);
    std::fill(buffer_.begin(), buffer_.end(), Acc(0));
    buffered_ = 0;
    ++version_;
    return true;
  }

  /// The server version v: flushes so far (plus the starting version).
  [[nodiscard]] std::uint64_t version() const noexcept { return version_; }
  /// Deltas in the buffer now (0 ≤ buffered() < K).
  [[nodiscard]] std::size_t buffered() const noexcept { return buffered_; }
  /// K, the deltas per flush.
  [[nodiscard]] std::size_t buffer_size() const noexcept { return buffer_size_; }
  /// η_g, the server learning rate.
  [[nodiscard]] double server_learning_rate() const noexcept { return server_learning_rate_; }
  /// Σ s(d_k) Δ_k over the buffered deltas.
  [[nodiscard]] std::span<const Acc> buffer() const noexcept { return buffer_; }
  /// Number of model elements.
  [[nodiscard]] std::size_t model_size() const noexcept { return buffer_.size(); }
  /// The staleness discount s.
  [[nodiscard]] const Discount& discount_function() const noexcept { return discount_; }

private:
  std::size_t buffer_size_;
  double server_learning_rate_;
  Discount discount_;
  std::uint64_t version_;
  std::vector<Acc> buffer_;
  std::size_t buffered_ = 0;
};

} // namespace fedpp
