/// \file ifca_aggregator.hpp
/// IFCA's server step (Ghosh et al. 2020, arXiv:2006.04088, Algorithm 1 with model averaging):
/// each selected client reports the model it trained together with the index ĵ of the cluster it
/// chose, and the server replaces every cluster model that received reports by the average of
/// those reports, θ_j ← Σ_{i: ĵ_i = j} n_i θ̃_i / Σ_{i: ĵ_i = j} n_i; clusters nobody chose keep their
/// model. The paper's average is unweighted (s_{i,j} ∈ {0, 1}); fedpp's default weights each report
/// by its examples n_i as FedAvg does, and `weighting::uniform` gives the paper's form.
///
/// As a fedpp::server Aggregator over the stacked layout (ifca_layout.hpp): a client's update is a
/// delta (θ̃_i − θ_ĵ in slice ĵ, zeros elsewhere, ĵ in `ifca.cluster`); report() is the per-cluster
/// weighted mean delta in each reported slice and zero elsewhere, so server_sgd with η = 1 (the
/// default server optimizer) performs exactly the model-averaging step above. (A stateful server
/// optimizer such as momentum would keep moving clusters without reports; use server_sgd.)
///
/// Trust: the cluster index is the client's word. It must be finite, a whole number and < k; every
/// slice of another cluster must be exactly zero (a client changes only the cluster it names, so
/// one client cannot create, delete or move another cluster); the chosen slice must be finite and
/// the weight finite and > 0. Anything else throws rejected_update with the aggregator unchanged
/// (the server counts it in round_metrics::rejected), and ifca_round_log counts it by kind.
/// k is fixed by the layout; no report can change it.
///
/// Memory: one fedavg accumulator (D doubles) per cluster that received a report in this round,
/// created at its first report: at most k·D·8 bytes, next to the server's k·D·sizeof(T) model.
#pragma once

#include "fedpp/aggregation/aggregator.hpp"
#include "fedpp/aggregation/client_update.hpp"
#include "fedpp/aggregation/fedavg.hpp"
#include "fedpp/error.hpp"
#include "fedpp/personalization/ifca_layout.hpp"
#include "fedpp/tensor/flat_model.hpp"

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace fedpp {

/// What the IFCA aggregators of a federation saw, summed over rounds (share one through the
/// aggregator factory to read it after each round; not thread-safe: one server thread writes).
struct ifca_round_log {
  std::vector<std::size_t> reports;     ///< accepted reports per cluster (size k once one arrived)
  std::size_t refused_index = 0;        ///< cluster index not finite, not whole, or ≥ k
  std::size_t refused_inconsistent = 0; ///< another cluster's slice non-zero
  std::size_t refused_other = 0;        ///< layout, weight, or non-finite values in the chosen slice
};

/// Per-cluster model averaging for IFCA (see the file comment). Satisfies `aggregator`.
template <element_type T = float>
class ifca_aggregator {
public:
  using input_type = client_update<T>;
  using result_type = flat_model<T>;

  /// An empty aggregate over `plan`'s stacked layout; `log`, when given, counts reports and refusals.
  explicit ifca_aggregator(ifca_layout plan, weighting mode = weighting::by_examples,
                           std::shared_ptr<ifca_round_log> log = nullptr)
      : plan_(std::move(plan)), mode_(mode), clusters_(plan_.clusters()), log_(std::move(log)) {
    if (!plan_.stacked().is_uniform(dtype_of<T>))
      throw invalid_config("ifca_aggregator: the layout's dtype is not the aggregator's");
  }

  /// Adds one client's update; throws rejected_update with nothing changed when it is refused.
  void accumulate(const input_type& update) {
    const std::size_t j = check(update);
    input_type slice{update.client, {}, update.weight};
    const std::size_t n = plan_.base().num_tensors();
    for (std::size_t t = 0; t < n; ++t) slice.model.add(plan_.base()[t].name, update.model[j * n + t].view);
    auto& acc = clusters_[j];
    const bool created = !acc.has_value();
    if (created) acc.emplace(plan_.base(), mode_);
    try {
      acc->accumulate(slice); // checks weight and finiteness; unchanged when it throws
    } catch (const rejected_update&) {
      if (created) acc.reset();
      count_refusal(&ifca_round_log::refused_other);
      throw;
    }
    ++num_inputs_;
    if (log_) {
      if (log_->reports.size() != plan_.clusters()) log_->reports.assign(plan_.clusters(), 0);
      ++log_->reports[j];
    }
  }

  /// Absorbs another aggregate over the same stacked layout and weighting (invalid_config, both
  /// unchanged, otherwise).
  void merge(ifca_aggregator&& other) {
    if (&other == this) throw invalid_config("ifca_aggregator::merge: cannot merge an aggregate into itself");
    if (auto diff = model_layout::describe_difference(plan_.stacked(), other.plan_.stacked()))
      throw invalid_config("ifca_aggregator::merge: layouts differ: " + *diff);
    if (other.mode_ != mode_) throw invalid_config("ifca_aggregator::merge: weighting modes differ");
    for (std::size_t j = 0; j < clusters_.size(); ++j) {
      if (!other.clusters_[j]) continue;
      if (clusters_[j])
        clusters_[j]->merge(std::move(*other.clusters_[j]));
      else
        clusters_[j] = std::move(other.clusters_[j]);
      other.clusters_[j].reset();
    }
    num_inputs_ += other.num_inputs_;
    other.num_inputs_ = 0;
  }

  /// Accepted reports, merged ones included.
  [[nodiscard]] std::size_t num_inputs() const noexcept { return num_inputs_; }
  /// Accepted reports of cluster j (0 for j ≥ k).
  [[nodiscard]] std::size_t cluster_inputs(std::size_t j) const noexcept {
    return j < clusters_.size() && clusters_[j] ? clusters_[j]->num_inputs() : 0;
  }
  /// True when at least one cluster has a report.
  [[nodiscard]] bool can_report() const noexcept {
    for (const auto& c : clusters_)
      if (c && c->can_report()) return true;
    return false;
  }
  /// The stacked layout's plan.
  [[nodiscard]] const ifca_layout& plan() const noexcept { return plan_; }

  /// The mean delta over the stacked layout: each reported cluster's weighted mean of its
  /// reports, zero for clusters without reports and for `ifca.cluster`. Throws invalid_config
  /// when nothing was accepted.
  [[nodiscard]] flat_model<T> report() && {
    if (!can_report()) throw invalid_config("ifca_aggregator::report: no accepted report");
    flat_model<T> out(plan_.stacked());
    for (std::size_t j = 0; j < clusters_.size(); ++j)
      if (clusters_[j] && clusters_[j]->can_report())
        clusters_[j]->report_into(out.span().subspan(plan_.cluster_offset(j), plan_.cluster_size()));
    return out;
  }

private:
  /// The cluster the update names, after every check that needs no accumulator.
  std::size_t check(const input_type& update) {
    if (auto diff = update.model.describe_mismatch(plan_.stacked())) {
      count_refusal(&ifca_round_log::refused_other);
      throw rejected_update(update.client, rejection_reason::layout_mismatch, *diff);
    }
    const std::size_t n = plan_.base().num_tensors();
    const T raw = update.model[plan_.clusters() * n].view.span()[0];
    const std::optional<std::size_t> j = plan_.read_index(raw);
    if (!j) {
      count_refusal(&ifca_round_log::refused_index);
      throw rejected_update(update.client, rejection_reason::other,
                            "IFCA cluster index " + std::to_string(static_cast<double>(raw)) +
                                " is not a whole number in [0, " + std::to_string(plan_.clusters()) + ")");
    }
    for (std::size_t c = 0; c < plan_.clusters(); ++c) {
      if (c == *j) continue;
      for (std::size_t t = 0; t < n; ++t)
        for (const T v : update.model[c * n + t].view.span())
          if (!(v == T(0))) {
            count_refusal(&ifca_round_log::refused_inconsistent);
            throw rejected_update(update.client, rejection_reason::other,
                                  "IFCA update names cluster " + std::to_string(*j) +
                                      " but changes cluster " + std::to_string(c) + " (tensor '" +
                                      update.model[c * n + t].name + "')");
          }
    }
    return *j;
  }

  void count_refusal(std::size_t ifca_round_log::*counter) {
    if (log_) ++((*log_).*counter);
  }

  ifca_layout plan_;
  weighting mode_;
  std::vector<std::optional<fedavg<T>>> clusters_;
  std::size_t num_inputs_ = 0;
  std::shared_ptr<ifca_round_log> log_;
};

static_assert(aggregator<ifca_aggregator<float>>);

} // namespace fedpp
