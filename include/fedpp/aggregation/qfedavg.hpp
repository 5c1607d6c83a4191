/// \file qfedavg.hpp
/// q-FedAvg, the server side of q-FFL (Li, Sanjabi, Beirami, Smith 2020, "Fair Resource Allocation
/// in Federated Learning", Algorithm 3). Client k starts from the global model w, trains to w̄_k
/// and reports its loss F_k on w. With L = 1/η_l (η_l: the clients' learning rate, L the
/// Lipschitz estimate) and ε a small offset (Flower adds 1e-10 to every loss):
///
///   Δw_k = L (w − w̄_k),   Δ_k = (F_k + ε)^q Δw_k,
///   h_k  = q (F_k + ε)^{q−1} ‖Δw_k‖² + L (F_k + ε)^q,
///   w ← w − Σ_k Δ_k / Σ_k h_k.
///
/// fedpp's clients upload the delta d_k = w̄_k − w, so Δw_k = −L d_k and the aggregate this class
/// reports is the mean delta Σ_k L (F_k + ε)^q d_k / Σ_k h_k: server_sgd(1) then applies exactly
/// q-FedAvg's step. q = 0 gives the unweighted mean of the deltas (FedAvg with uniform weights);
/// larger q weigh clients with a larger loss more. The clients' numbers of examples are ignored.
///
/// How F_k reaches the aggregator: accumulate(update, loss) takes it directly; inside
/// fedpp::server (whose aggregator sees only client_update), give the aggregator a
/// `client_loss_table` that qfedavg_server_hooks fills from each report's metrics["train_loss"]
/// (the key of Flower's QFedAvg). Flower's older QFedAvg (flwr.server.strategy.QFedAvg with
/// q_param / qffl_learning_rate) uses one loss for every client, its evaluate_fn on the pre-round
/// model: qfedavg_loss::shared with client_loss_table::set_shared(F) before each round.
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
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace fedpp {

/// Whose loss F_k enters a client's q-FedAvg weights.
enum class qfedavg_loss : std::uint8_t {
  per_client = 0, ///< each client's own loss on the round's global model (Li et al.; Flower's
                  ///< Message-API QFedAvg, metric "train_loss")
  shared = 1      ///< one loss for every client of the round (Flower's legacy QFedAvg: its
                  ///< evaluate_fn on the pre-round model), set with client_loss_table::set_shared
};

/// Settings of q-FedAvg (see the file comment).
struct qfedavg_options {
  double q = 0.1;                    ///< fairness q, finite and ≥ 0 (Flower: q = 0.1, legacy q_param = 0.2)
  double client_learning_rate = 0.1; ///< η_l, finite and > 0: L = 1/η_l (Flower: client_learning_rate,
                                     ///< legacy qffl_learning_rate = 0.1)
  double loss_offset = 1e-10;        ///< ε, finite and ≥ 0, added to every loss (Flower's 1e-10)
  qfedavg_loss loss = qfedavg_loss::per_client; ///< where F_k comes from

  /// Throws invalid_config naming the bad value.
  void validate() const {
    if (!(q >= 0) || !std::isfinite(q))
      throw invalid_config("qfedavg: q must be finite and >= 0, got " + std::to_string(q));
    if (!(client_learning_rate > 0) || !std::isfinite(client_learning_rate))
      throw invalid_config("qfedavg: the client learning rate must be finite and > 0, got " +
                           std::to_string(client_learning_rate));
    if (!(loss_offset >= 0) || !std::isfinite(loss_offset))
      throw invalid_config("qfedavg: the loss offset must be finite and >= 0, got " +
                           std::to_string(loss_offset));
    if (loss != qfedavg_loss::per_client && loss != qfedavg_loss::shared)
      throw invalid_config("qfedavg: unknown loss source " + std::to_string(static_cast<unsigned>(loss)));
  }
};

/// The round's losses: client → F_k, and the one shared loss (qfedavg_loss::shared). Shared
/// between the server hooks (or the user) that fill it and the aggregators that read it.
/// Thread-safe.
class client_loss_table {
public:
  /// Records client `client`'s loss.
  void set(client_id client, double loss) {
    const std::lock_guard lock(mutex_);
    losses_[client] = loss;
  }
  /// Forgets client `client`'s loss.
  void erase(client_id client) {
    const std::lock_guard lock(mutex_);
    losses_.erase(client);
  }
  /// Client `client`'s loss, if recorded.
  [[nodiscard]] std::optional<double> find(client_id client) const {
    const std::lock_guard lock(mutex_);
    const auto it = losses_.find(client);
    return it == losses_.end() ? std::nullopt : std::optional<double>(it->second);
  }
  /// Forgets every client's loss (the shared one stays).
  void clear_clients() {
    const std::lock_guard lock(mutex_);
    losses_.clear();
  }
  /// Sets the loss used for every client under qfedavg_loss::shared.
  void set_shared(double loss) {
    const std::lock_guard lock(mutex_);
    shared_ = loss;
  }
  /// Forgets the shared loss.
  void clear_shared() {
    const std::lock_guard lock(mutex_);
    shared_.reset();
  }
  /// The shared loss, if set.
  [[nodiscard]] std::optional<double> shared() const {
    const std::lock_guard lock(mutex_);
    return shared_;
  }

private:
  mutable std::mutex mutex_;
  std::map<client_id, double> losses_;
  std::optional<double> shared_;
};

/// q-FedAvg aggregate (see the file comment). Satisfies `aggregator`. Sums in double; O(model)
/// memory for any number of clients; partial aggregates merge.
template <element_type T = float>
class qfedavg {
public:
  using input_type = client_update<T>;
  using result_type = flat_model<T>;

  /// An empty aggregate; `losses` (may be null) supplies F_k for accumulate(update). Throws
  /// invalid_config for bad options (qfedavg_options::validate).
  qfedavg(model_layout layout, qfedavg_options options,
          std::shared_ptr<const client_loss_table> losses = nullptr)
      : inner_(std::move(layout), weighting::by_examples), options_(validated(options)),
        losses_(std::move(losses)) {}

  /// Adds client k's delta d_k = w̄_k − w with its loss F_k = `loss`. Throws rejected_update
  /// (nothing changed) for a loss that is not finite or < 0, F_k + ε = 0, a layout other than
  /// the model's, a NaN/Inf value, or weights (F_k + ε)^q, h_k that are not finite and > 0.
  void accumulate(const input_type& update, double loss) {
    if (!std::isfinite(loss) || !(loss >= 0))
      throw rejected_update(update.client, rejection_reason::other,
                            "q-FedAvg: loss " + std::to_string(loss) + " (must be finite and >= 0)");
    const double f = loss + options_.loss_offset;
    if (!(f > 0))
      throw rejected_update(update.client, rejection_reason::other,
                            "q-FedAvg: loss + offset is 0 (F^(q-1) is not finite); set a loss offset > 0");
    if (auto diff = update.model.describe_mismatch(inner_.layout()))
      throw rejected_update(update.client, rejection_reason::layout_mismatch, *diff);
    double squared = 0; // ‖d_k‖², in double
    for (const auto& t : update.model.tensors()) {
      const auto values = t.view.span();
      const std::size_t bad = kernels::find_non_finite(values);
      if (bad != values.size())
        throw rejected_update(update.client, rejection_reason::non_finite,
                              "tensor '" + t.name + "' element " + std::to_string(bad) + " is " +
                                  std::to_string(values[bad]));
      squared += kernels::squared_norm(values);
    }
    const double lipschitz = 1 / options_.client_learning_rate;
    const double f_q = std::pow(f, options_.q);
    const double weight = lipschitz * f_q; // Δ_k = weight · (−d_k)
    // h_k = q F^{q−1} ‖Δw_k‖² + L F^q with ‖Δw_k‖² = L² ‖d_k‖² (q = 0: the first term is 0).
    const double first =
        options_.q == 0 ? 0.0 : options_.q * std::pow(f, options_.q - 1) * (lipschitz * lipschitz * squared);
    const double h = first + lipschitz * f_q;
    if (!(weight > 0) || !std::isfinite(weight) || !(h > 0) || !std::isfinite(h))
      throw rejected_update(update.client, rejection_reason::bad_weight,
                            "q-FedAvg: L·F^q = " + std::to_string(weight) + ", h = " + std::to_string(h) +
                                " (must be finite and > 0) for loss " + std::to_string(loss));
    input_type weighted = update;
    weighted.weight = weight;
    inner_.accumulate(weighted); // validates again and leaves everything unchanged on refusal
    sum_h_ += h;
  }

  /// Adds an update whose loss comes from the client_loss_table given at construction (the
  /// client's entry, or the shared loss under qfedavg_loss::shared); rejected_update when there
  /// is no table or no such loss.
  void accumulate(const input_type& update) {
    std::optional<double> loss;
    if (losses_)
      loss = options_.loss == qfedavg_loss::shared ? losses_->shared() : losses_->find(update.client);
    if (!loss)
      throw rejected_update(
          update.client, rejection_reason::other,
          options_.loss == qfedavg_loss::shared
              ? "q-FedAvg: no shared loss set for this round (client_loss_table::set_shared)"
              : "q-FedAvg needs the client's loss (metrics[\"train_loss\"] with qfedavg_server_hooks)");
    accumulate(update, *loss);
  }

  /// Absorbs a partial aggregate over the same layout and options (invalid_config, state
  /// unchanged, otherwise).
  void merge(qfedavg&& other) {
    if (&other == this) throw invalid_config("qfedavg::merge: cannot merge an aggregate into itself");
    if (other.options_.q != options_.q ||
        other.options_.client_learning_rate != options_.client_learning_rate ||
        other.options_.loss_offset != options_.loss_offset || other.options_.loss != options_.loss)
      throw invalid_config("qfedavg::merge: the options differ (q " + std::to_string(options_.q) + " vs " +
                           std::to_string(other.options_.q) + ", client learning rate " +
                           std::to_string(options_.client_learning_rate) + " vs " +
                           std::to_string(other.options_.client_learning_rate) + ")");
    inner_.merge(std::move(other.inner_));
    sum_h_ += std::exchange(other.sum_h_, 0.0);
  }

  [[nodiscard]] std::size_t num_inputs() const noexcept { return inner_.num_inputs(); }
  [[nodiscard]] bool can_report() const noexcept {
    return inner_.num_inputs() > 0 && sum_h_ > 0 && std::isfinite(sum_h_);
  }
  /// Σ h_k over the inputs so far.
  [[nodiscard]] double sum_h() const noexcept { return sum_h_; }
  /// The options.
  [[nodiscard]] const qfedavg_options& options() const noexcept { return options_; }

  /// The mean delta Σ_k L (F_k + ε)^q d_k / Σ_k h_k (divided in double, then rounded to T);
  /// throws invalid_config when there is nothing to report.
  [[nodiscard]] flat_model<T> report() && {
    if (!can_report())
      throw invalid_config("qfedavg: nothing to report (" + std::to_string(inner_.num_inputs()) +
                           " inputs accepted)");
    flat_model<T> out(inner_.layout());
    const std::span<const double> sum = inner_.weighted_sum();
    const std::span<T> o = out.span();
    for (std::size_t i = 0; i < o.size(); ++i) o[i] = static_cast<T>(sum[i] / sum_h_);
    return out;
  }

private:
  static qfedavg_options validated(const qfedavg_options& o) {
    o.validate();
    return o;
  }

  fedavg<T> inner_; // Σ L (F_k + ε)^q d_k (its "weights" are L (F_k + ε)^q)
  qfedavg_options options_;
  std::shared_ptr<const client_loss_table> losses_;
  double sum_h_ = 0;
};

static_assert(aggregator<qfedavg<float>>);

/// Server hooks for q-FedAvg inside fedpp::server: each round starts with no client losses
/// (begin_round), and every accepted report's metrics[loss_key] is recorded into the shared table
/// before the aggregator sees the update. A report without it (or with a non-finite one) is
/// left out of the table, so under qfedavg_loss::per_client the aggregator rejects it (counted
/// in round_metrics::rejected). Dense payloads only.
template <element_type T = float>
struct qfedavg_server_hooks {
  std::shared_ptr<client_loss_table> losses = std::make_shared<client_loss_table>(); ///< filled here
  std::string loss_key = "train_loss"; ///< the metric holding F_k (Flower's train_loss_key)

  /// Forgets the previous round's client losses (the shared loss stays).
  void begin_round(const std::vector<client_id>& /*recipients*/, std::uint64_t /*round*/) {
    losses->clear_clients();
  }

  /// Records F_k and returns the dense payload unchanged.
  std::span<const T> decode_update(const wire::decoded_message& decoded, std::span<T> /*scratch*/) {
    const auto& m = decoded.metrics();
    const auto it = m.find(loss_key);
    if (it != m.end() && std::isfinite(it->second))
      losses->set(decoded.sender(), it->second);
    else
      losses->erase(decoded.sender());
    return decoded.template payload<T>();
  }

  /// Dense updates only: no payload larger than the model.
  [[nodiscard]] std::uint64_t max_update_payload_bytes(const model_layout& layout) const noexcept {
    return static_cast<std::uint64_t>(layout.total_size()) * sizeof(T);
  }
};

} // namespace fedpp
