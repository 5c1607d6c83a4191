/// \file ditto_trainer.hpp
/// Ditto (Li, Hu, Beirami & Smith, ICML 2021, "Ditto: Fair and Robust Federated Learning Through
/// Personalization", arXiv:2012.04221, Algorithm 1): alongside the ordinary global update, each
/// client k keeps a personal model v_k that minimizes h_k(v; w) = F_k(v) + λ/2 ‖v − w‖², w the
/// global model it received. Per round the client (1) computes its global update from w^t as
/// FedAvg would and uploads it, and (2) takes s local steps
///   v_k ← v_k − η (∇F_k(v_k) + λ (v_k − w^t))
/// on its personal model, which never leaves the client. Evaluation uses v_k.
#pragma once

#include "fedpp/client/client_result.hpp"
#include "fedpp/client/round_config.hpp"
#include "fedpp/error.hpp"
#include "fedpp/orchestration/federated_evaluation.hpp"
#include "fedpp/personalization/client_state_store.hpp"
#include "fedpp/tensor/flat_model.hpp"

#include <cmath>
#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <utility>

namespace fedpp {

/// One step of Ditto's personal update (Li et al. 2021, Algorithm 1, line "update v_k"):
/// v ← v − η (g + λ (v − w)), with g = ∇F_k(v) the gradient of the client's loss at v and w the
/// global model of this round. Throws invalid_config for mismatched sizes, η ≤ 0 or λ < 0
/// (or either not finite); `v` is unchanged then.
template <element_type T>
void ditto_personal_step(std::span<T> v, std::span<const T> gradient, std::span<const T> global,
                         double lambda, double learning_rate) {
  if (gradient.size() != v.size() || global.size() != v.size())
    throw invalid_config("ditto_personal_step: v, gradient and global have " + std::to_string(v.size()) +
                         ", " + std::to_string(gradient.size()) + " and " + std::to_string(global.size()) +
                         " elements");
  if (!(std::isfinite(lambda) && lambda >= 0) || !(std::isfinite(learning_rate) && learning_rate > 0))
    throw invalid_config("ditto_personal_step: need a finite lambda >= 0 and learning rate > 0, got " +
                         std::to_string(lambda) + " and " + std::to_string(learning_rate));
  const T eta = static_cast<T>(learning_rate), lam = static_cast<T>(lambda);
  for (std::size_t i = 0; i < v.size(); ++i) v[i] -= eta * (gradient[i] + lam * (v[i] - global[i]));
}

/// Settings of Ditto's personal update.
struct ditto_options {
  double lambda = 0.1; ///< λ ≥ 0: pull of the global model (0: purely local models)

  /// Throws invalid_config for a λ that is negative or not finite.
  void validate() const {
    if (!(std::isfinite(lambda) && lambda >= 0))
      throw invalid_config("ditto_options: lambda must be finite and >= 0, got " + std::to_string(lambda));
  }
};

/// Ditto on the client: `Global` is the ordinary trainer (client_trainer; its evaluate, when it
/// has one, evaluates any model it is given), `Personal` the personal update:
///   personal(client, std::span<T> v, const host_model_view<const T>& global, const round_config& config,
///            double lambda)
/// runs the round's local steps v ← v − η(∇F_k(v) + λ(v − w)) in place on v (e.g. the
/// simulation's local_train with proximal_mu = λ and anchor w, or ditto_personal_step per
/// minibatch).
///
/// A call trains the global update through `Global` (returned to the host for upload, as is),
/// then the personal model, starting from a copy of the client's v_k (w^t on its first round:
/// the paper initializes v_k with the initial global model); the copy replaces v_k only when
/// both succeeded. `evaluate` evaluates v_k, or the received global model for a client that has
/// never trained (it has no personal model yet). Copies share the store of personal models.
template <element_type T, class Global, class Personal>
requires client_trainer<Global, T>
class ditto_trainer {
public:
  /// Throws invalid_config for invalid options.
  ditto_trainer(Global global, Personal personal, ditto_options options)
      : global_(std::move(global)), personal_(std::move(personal)), options_(options) {
    options_.validate();
  }

  /// The global update (uploaded) and the personal update (kept on the client).
  client_result<T> operator()(client_id client, const host_model_view<const T>& global,
                              const round_config& config) {
    client_result<T> upload = global_(client, global, config);
    flat_model<T> v = personal_models_.read(
        client, [&](const flat_model<T>* kept) { return kept ? *kept : flat_model<T>::copy_of(global); });
    if (v.size() != global.total_size())
      throw invalid_config("ditto_trainer: client " + std::to_string(client) + " has a personal model of " +
                           std::to_string(v.size()) + " elements, the global model " +
                           std::to_string(global.total_size()));
    personal_(client, v.span(), global, config, options_.lambda);
    personal_models_.update(
        client, [&] { return flat_model<T>::copy_of(global); },
        [&](flat_model<T>& kept) { kept = std::move(v); });
    return upload;
  }

  /// Evaluates this client's personal model v_k (the received global model when it has none).
  evaluation_result evaluate(client_id client, const host_model_view<const T>& global,
                             const round_config& config) requires client_evaluator<Global, T> {
    std::optional<flat_model<T>> v = personal_models_.read(client, [](const flat_model<T>* kept) {
      return kept ? std::optional<flat_model<T>>(*kept) : std::nullopt;
    });
    if (!v) return global_.evaluate(client, global, config);
    return global_.evaluate(client, v->view(), config);
  }

  /// The personal models (shared by copies).
  [[nodiscard]] const client_state_store<flat_model<T>>& personal_models() const noexcept {
    return personal_models_;
  }
  /// The options.
  [[nodiscard]] const ditto_options& options() const noexcept { return options_; }

private:
  Global global_;
  Personal personal_;
  ditto_options options_;
  client_state_store<flat_model<T>> personal_models_;
};

} // namespace fedpp
