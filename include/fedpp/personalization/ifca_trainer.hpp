/// \file ifca_trainer.hpp
/// IFCA's client step (Ghosh et al. 2020, arXiv:2006.04088, Algorithm 1, model averaging): the
/// client receives all k cluster models (the stacked model, ifca_layout.hpp), evaluates its loss
/// F_i(θ_j) for every j on its own data, picks ĵ = argmin_j F_i(θ_j), trains θ_ĵ locally with the
/// user's trainer, and returns the change together with ĵ, which ifca_aggregator.hpp averages per
/// cluster. The same choice picks the model a client is evaluated on (federated evaluation).
#pragma once

#include "fedpp/client/client_result.hpp"
#include "fedpp/client/round_config.hpp"
#include "fedpp/error.hpp"
#include "fedpp/orchestration/federated_evaluation.hpp"
#include "fedpp/personalization/ifca_layout.hpp"
#include "fedpp/tensor/flat_model.hpp"

#include <cmath>
#include <concepts>
#include <cstddef>
#include <limits>
#include <string>
#include <utility>

namespace fedpp {

/// A client's cluster choice: the index ĵ and its loss F_i(θ_ĵ).
struct ifca_choice {
  std::size_t cluster = 0;
  double loss = 0;
};

/// Wraps `Inner` (a trainer over the base layout) into an IFCA client over the stacked layout.
/// `Loss` is `loss(id, cluster_model, config)` → double: the client's loss of one cluster model
/// on its own (training) data. Ties go to the lowest index; non-finite losses are never chosen;
/// when every loss is non-finite the call throws invalid_config (the client host reports a failed
/// client). Stateless beyond `Inner` and `Loss`: safe to call concurrently when they are.
template <element_type T, class Inner, class Loss>
requires client_trainer<Inner, T> && std::invocable < const Loss&, client_id, const host_model_view<const T>
&, const round_config& > class ifca_trainer {
public:
  ifca_trainer(ifca_layout plan, Inner inner, Loss loss)
      : plan_(std::move(plan)), inner_(std::move(inner)), loss_(std::move(loss)) {}

  /// ĵ = argmin_j loss(client, θ_j, config). Throws invalid_config for a model of another layout
  /// or when no loss is finite.
  [[nodiscard]] ifca_choice choose(client_id client, const host_model_view<const T>& global,
                                   const round_config& config) const {
    if (auto diff = global.describe_mismatch(plan_.stacked()))
      throw invalid_config("ifca_trainer: client " + std::to_string(client) +
                           " received a model that is not the stacked IFCA layout: " + *diff);
    ifca_choice best{0, std::numeric_limits<double>::infinity()};
    bool found = false;
    for (std::size_t j = 0; j < plan_.clusters(); ++j) {
      const double l = static_cast<double>(loss_(client, plan_.cluster_view(global, j), config));
      if (std::isfinite(l) && (!found || l < best.loss)) {
        best = {j, l};
        found = true;
      }
    }
    if (!found)
      throw invalid_config("ifca_trainer: client " + std::to_string(client) +
                           ": no cluster model has a finite loss");
    return best;
  }

  /// Chooses ĵ, trains θ_ĵ through `Inner`, and returns the stacked delta: θ̃ − θ_ĵ in slice ĵ,
  /// zeros elsewhere, ĵ in `ifca.cluster`; the weight and metrics are `Inner`'s.
  client_result<T> operator()(client_id client, const host_model_view<const T>& global,
                              const round_config& config) {
    const ifca_choice choice = choose(client, global, config);
    const host_model_view<const T> theta = plan_.cluster_view(global, choice.cluster);
    client_result<T> r = inner_(client, theta, config);
    if (r.model.size() != plan_.cluster_size())
      throw invalid_config("ifca_trainer: client " + std::to_string(client) + ": the trainer returned " +
                           std::to_string(r.model.size()) + " elements for a cluster model of " +
                           std::to_string(plan_.cluster_size()));
    client_result<T> out{flat_model<T>(plan_.stacked()), update_kind::delta, r.num_examples,
                         std::move(r.metrics)};
    T* dst = out.model.span().data() + plan_.cluster_offset(choice.cluster);
    const T* src = r.model.span().data();
    for (std::size_t t = 0; t < theta.num_tensors(); ++t)
      for (const T v : theta[t].view.span()) {
        *dst++ = r.kind == update_kind::delta ? *src : static_cast<T>(*src - v);
        ++src;
      }
    out.model.span()[plan_.index_offset()] = static_cast<T>(choice.cluster);
    return out;
  }

  /// Federated evaluation: the chosen cluster's model evaluated by `Inner::evaluate`.
  evaluation_result evaluate(client_id client, const host_model_view<const T>& global,
                             const round_config& config) requires client_evaluator<Inner, T> {
    const ifca_choice choice = choose(client, global, config);
    return inner_.evaluate(client, plan_.cluster_view(global, choice.cluster), config);
  }

  /// The stacked layout's plan.
  [[nodiscard]] const ifca_layout& plan() const noexcept { return plan_; }

private:
  ifca_layout plan_;
  Inner inner_;
  Loss loss_;
};

} // namespace fedpp
