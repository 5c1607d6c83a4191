/// \file fednova.hpp
/// FedNova: normalized averaging for clients that run different numbers of local steps (Wang et
/// al. 2020, "Tackling the Objective Inconsistency Problem in Heterogeneous Federated
/// Optimization", Eq. 6–7). With p_i = n_i / Σ n_j, client i's change Δ_i = y_i − x after τ_i
/// local steps and its normalizer a_i (‖a_i‖₁ of the paper):
///
///   d = Σ_i p_i Δ_i / a_i,   τ_eff = Σ_i p_i a_i,   reported mean delta = τ_eff · d
///
/// so server_sgd(1) applies x ← x + τ_eff d. Normalizers (paper §4, App. B):
///   plain local SGD                 a_i = τ_i
///   local momentum ρ                a_i = [τ_i − ρ(1 − ρ^τ_i)/(1 − ρ)] / (1 − ρ)
///   proximal SGD (FedProx), η_l μ   a_i = [1 − (1 − η_l μ)^τ_i] / (η_l μ)
/// With every τ_i equal it is FedAvg exactly.
///
/// How τ_i reaches the aggregator: accumulate(update, local_steps) takes it directly; inside
/// fedpp::server (whose aggregator sees only client_update), give the aggregator a
/// `local_steps_source` (client → τ_i) that the server hooks fill from each report's
/// metrics["local_steps"] (fednova_server_hooks below does exactly that).
#pragma once

#include "fedpp/aggregation/aggregator.hpp"
#include "fedpp/aggregation/client_update.hpp"
#include "fedpp/aggregation/fedavg.hpp"
#include "fedpp/error.hpp"
#include "fedpp/kernels/kernels.hpp"
#include "fedpp/tensor/flat_model.hpp"
#include "fedpp/tensor/model_layout.hpp"
#include "fedpp/transport/wire_format.hpp"

#include <cmath>
#include <cstddef>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <utility>

namespace fedpp {

/// The local optimizer clients ran, which fixes a_i (see the file comment).
struct fednova_normalizer {
  double momentum = 0;          ///< ρ ∈ [0, 1) of local SGD with momentum; 0 = plain SGD
  double lr_times_proximal = 0; ///< η_l μ ∈ [0, 1) of FedProx local steps; 0 = none

  /// a_i for τ_i local steps (τ_i > 0).
  [[nodiscard]] double operator()(double steps) const {
    if (momentum > 0)
      return (steps - momentum * (1 - std::pow(momentum, steps)) / (1 - momentum)) / (1 - momentum);
    if (lr_times_proximal > 0) return (1 - std::pow(1 - lr_times_proximal, steps)) / lr_times_proximal;
    return steps;
  }
};

/// client → τ_i for the current round, shared between the server hooks that fill it and the
/// aggregator that reads it. Thread-safe.
class local_steps_table {
public:
  /// Records client `client`'s τ_i.
  void set(client_id client, double steps) {
    const std::lock_guard lock(mutex_);
    steps_[client] = steps;
  }
  /// τ_i of `client`, if recorded.
  [[nodiscard]] std::optional<double> find(client_id client) const {
    const std::lock_guard lock(mutex_);
    const auto it = steps_.find(client);
    return it == steps_.end() ? std::nullopt : std::optional<double>(it->second);
  }

private:
  mutable std::mutex mutex_;
  std::map<client_id, double> steps_;
};

/// FedNova aggregate (see the file comment). Satisfies `aggregator`. Sums in double.
template <element_type T = float>
class fednova {
public:
  using input_type = client_update<T>;
  using result_type = flat_model<T>;

  /// An empty aggregate; `steps` (may be null) supplies τ_i for accumulate(update). Throws
  /// invalid_config for ρ or η_l μ outside [0, 1), or both set.
  explicit fednova(model_layout layout, fednova_normalizer normalizer = {},
                   std::shared_ptr<const local_steps_table> steps = nullptr)
      : inner_(std::move(layout)), normalizer_(normalizer), steps_(std::move(steps)) {
    if (!(normalizer.momentum >= 0 && normalizer.momentum < 1))
      throw invalid_config("fednova: momentum ρ must be in [0, 1), got " +
                           std::to_string(normalizer.momentum));
    if (!(normalizer.lr_times_proximal >= 0 && normalizer.lr_times_proximal < 1))
      throw invalid_config("fednova: η_l·μ must be in [0, 1), got " +
                           std::to_string(normalizer.lr_times_proximal));
    if (normalizer.momentum > 0 && normalizer.lr_times_proximal > 0)
      throw invalid_config("fednova: set either local momentum or a proximal term, not both");
  }

  /// Adds client i's change Δ_i after τ_i = `local_steps` steps with weight n_i (update.weight).
  /// rejected_update (nothing changed) for τ_i not finite and > 0, or a bad layout/weight/value.
  void accumulate(const input_type& update, double local_steps) {
    if (!(local_steps > 0) || !std::isfinite(local_steps))
      throw rejected_update(update.client, rejection_reason::other,
                            "local steps τ = " + std::to_string(local_steps) + " (must be finite and > 0)");
    const double a = normalizer_(local_steps);
    if (!(a > 0) || !std::isfinite(update.weight) || !(update.weight > 0))
      throw rejected_update(update.client, rejection_reason::bad_weight,
                            "weight " + std::to_string(update.weight) +
                                ", normalizer a = " + std::to_string(a));
    // The inner weighted sum gets weight n_i / a_i: Σ (n_i/a_i) Δ_i.
    input_type scaled = update;
    scaled.weight = update.weight / a;
    inner_.accumulate(scaled);
    examples_ += update.weight;
    examples_times_a_ += update.weight * a;
  }

  /// Adds an update whose τ_i comes from the local_steps_source given at construction;
  /// rejected_update when there is none or it has no entry for this client.
  void accumulate(const input_type& update) {
    const std::optional<double> steps = steps_ ? steps_->find(update.client) : std::nullopt;
    if (!steps)
      throw rejected_update(update.client, rejection_reason::other,
                            "FedNova needs the client's number of local steps (metrics[\"local_steps\"])");
    accumulate(update, *steps);
  }

  /// Merges a partial aggregate with the same layout and normalizer.
  void merge(fednova&& other) {
    if (other.normalizer_.momentum != normalizer_.momentum ||
        other.normalizer_.lr_times_proximal != normalizer_.lr_times_proximal)
      throw invalid_config("fednova::merge: the normalizers differ");
    inner_.merge(std::move(other.inner_));
    examples_ += std::exchange(other.examples_, 0.0);
    examples_times_a_ += std::exchange(other.examples_times_a_, 0.0);
  }

  [[nodiscard]] std::size_t num_inputs() const noexcept { return inner_.num_inputs(); }
  [[nodiscard]] bool can_report() const noexcept { return inner_.can_report() && examples_ > 0; }
  /// τ_eff = Σ p_i a_i over the inputs so far (0 when none).
  [[nodiscard]] double effective_steps() const noexcept {
    return examples_ > 0 ? examples_times_a_ / examples_ : 0;
  }

  /// τ_eff · Σ p_i Δ_i / a_i; throws invalid_config when there is nothing to report.
  [[nodiscard]] flat_model<T> report() && {
    if (!can_report()) throw invalid_config("fednova: nothing to report (no inputs accepted)");
    // inner mean = Σ (n_i/a_i) Δ_i / Σ (n_i/a_i); we need τ_eff · Σ (n_i/a_i) Δ_i / Σ n_i.
    const double factor = effective_steps() * static_cast<double>(inner_.total_weight()) / examples_;
    flat_model<T> out = std::move(inner_).report();
    kernels::scale(out.span(), static_cast<T>(factor));
    return out;
  }

private:
  fedavg<T> inner_;
  fednova_normalizer normalizer_;
  std::shared_ptr<const local_steps_table> steps_;
  double examples_ = 0;
  double examples_times_a_ = 0;
};

static_assert(aggregator<fednova<float>>);

/// Server hooks for FedNova inside fedpp::server: records each report's metrics["local_steps"]
/// into the shared table before the aggregator sees the update (reports without it are left
/// out of the table, so the aggregator rejects them).
template <element_type T = float>
struct fednova_server_hooks {
  std::shared_ptr<local_steps_table> steps = std::make_shared<local_steps_table>();

  /// Records τ_i and returns the dense payload unchanged.
  std::span<const T> decode_update(const wire::decoded_message& decoded, std::span<T> /*scratch*/) {
    const auto& m = decoded.metrics();
    const auto it = m.find("local_steps");
    if (it != m.end()) steps->set(decoded.sender(), it->second);
    return decoded.template payload<T>();
  }
};

} // namespace fedpp
