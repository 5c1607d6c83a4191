/// \file fedasync.hpp
/// FedAsync (Xie, Koyejo & Gupta 2019, "Asynchronous Federated Optimization", Algorithm 1):
/// the server mixes every arriving client model into the global one at once,
///   x_{v+1} = (1 − α_v) x_v + α_v x_new,   α_v = α · s(d),   d = v − τ,
/// where v is the server version (updates applied so far), τ the version the client pulled
/// and s a staleness_function (constant, polynomial or hinge in the paper). The model lives
/// with the caller as a flat span; fedasync holds only α, s, the version and the model size.
#pragma once

#include "fedpp/error.hpp"
#include "fedpp/kernels/kernels.hpp"
#include "fedpp/scheduling/constant_staleness.hpp"
#include "fedpp/scheduling/detail/format.hpp"
#include "fedpp/scheduling/staleness_function.hpp"

#include <cmath>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <type_traits>
#include <utility>

namespace fedpp {

/// Asynchronous mixing of client models into a flat model of T (see the file comment).
template <std::floating_point T, staleness_function S = constant_staleness>
class fedasync {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>,
                "fedasync mixes float or double models (the kernels it uses support those)");

public:
  using value_type = T;     ///< model element type
  using staleness_type = S; ///< the staleness function

  /// Mixing for models of `model_size` elements with base weight `alpha`, starting at server
  /// version `version`. Throws invalid_config unless 0 < alpha ≤ 1.
  fedasync(std::size_t model_size, double alpha, S staleness = S{}, std::uint64_t version = 0)
      : model_size_(model_size), alpha_(alpha), staleness_(std::move(staleness)), version_(version) {
    if (!(alpha > 0 && alpha <= 1))
      throw invalid_config("fedasync: alpha = " + detail::format_number(alpha) + " must be in (0, 1]");
  }

  /// α · s(d): the weight an update of staleness d gets.
  [[nodiscard]] double mixing_weight(std::uint64_t staleness) const noexcept {
    return alpha_ * static_cast<double>(staleness_(staleness));
  }

  /// Mixes `client_model`, trained by `client` from server version `client_version`, into
  /// `model` (the current global model, version()): model ← (1 − α_v)·model + α_v·client_model.
  /// Increments the version and returns α_v. Validates first, leaving model and state unchanged:
  /// invalid_config when `model` has the wrong size or overlaps `client_model`, or when the
  /// staleness function yields a weight outside (0, 1]; rejected_update (layout_mismatch) for a
  /// wrong-sized client model, (non_finite) for a NaN/Inf in it, (other) for a client version
  /// newer than the server's.
  double apply(client_id client, std::span<T> model, std::span<const T> client_model,
               std::uint64_t client_version) {
    if (model.size() != model_size_)
      throw invalid_config("fedasync::apply: the model has " + std::to_string(model.size()) +
                           " elements, expected " + std::to_string(model_size_));
    if (client_model.size() != model_size_)
      throw rejected_update(client, rejection_reason::layout_mismatch,
                            "model of " + std::to_string(client_model.size()) + " elements, expected " +
                                std::to_string(model_size_));
    if (client_version > version_)
      throw rejected_update(client, rejection_reason::other,
                            "trained from version " + std::to_string(client_version) +
                                ", newer than the server's " + std::to_string(version_));
    if (const std::size_t bad = kernels::find_non_finite(client_model); bad != client_model.size())
      throw rejected_update(client, rejection_reason::non_finite,
                            "element " + std::to_string(bad) + " is " +
                                detail::format_number(static_cast<double>(client_model[bad])));
    if (!model.empty() && overlap(model, client_model))
      throw invalid_config("fedasync::apply: the model and the client model overlap");
    const double weight = mixing_weight(version_ - client_version);
    if (!(weight > 0 && weight <= 1))
      throw invalid_config("fedasync::apply: mixing weight alpha * s(" +
                           std::to_string(version_ - client_version) +
                           ") = " + detail::format_number(weight) + " is outside (0, 1]");
    kernels::scale(model, static_cast<T>(1.0 - weight));
    kernels::scaled_accumulate<T, T>(model, static_cast<T>(weight), client_model);
    ++version_;
    return weight;
  }

  /// The server version v: updates applied so far (plus the starting version).
  [[nodiscard]] std::uint64_t version() const noexcept { return version_; }
  /// The base mixing weight α.
  [[nodiscard]] double alpha() const noexcept { return alpha_; }
  /// The staleness function s.
  [[nodiscard]] const S& staleness() const noexcept { return staleness_; }
  /// Number of model elements.
  [[nodiscard]] std::size_t model_size() const noexcept { return model_size_; }

private:
  static bool overlap(std::span<T> a, std::span<const T> b) noexcept {
    const std::less<const T*> less;
    const T* a_begin = a.data();
    const T* b_begin = b.data();
    return less(a_begin, b_begin + b.size()) && less(b_begin, a_begin + a.size());
  }

  std::size_t model_size_;
  double alpha_;
  S staleness_;
  std::uint64_t version_;
};

} // namespace fedpp
