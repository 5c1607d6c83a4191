/// \file partial_sharing_trainer.hpp
/// The client side of partial model sharing (FedPer, Arivazhagan et al. 2019, "Federated
/// Learning with Personalization Layers"; FedRep, Collins et al. 2021, "Exploiting Shared
/// Representations for Personalized Federated Learning"). A wrapper around the user's trainer:
/// it receives the global tensors (the server's model is the plan's shared layout), puts this
/// client's local tensors next to them, lets the user's trainer train the full model, keeps the
/// new local tensors in a client-side store and returns only the global tensors. Local tensors
/// never reach the client host's upload path, so they cannot be uploaded.
#pragma once

#include "fedpp/client/client_result.hpp"
#include "fedpp/client/round_config.hpp"
#include "fedpp/error.hpp"
#include "fedpp/orchestration/federated_evaluation.hpp"
#include "fedpp/personalization/client_state_store.hpp"
#include "fedpp/personalization/sharing_plan.hpp"
#include "fedpp/tensor/flat_model.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace fedpp {

/// FedRep's alternating local update (Collins et al. 2021, Algorithm 1): `head_epochs` epochs on
/// the local tensors (the head) with the global ones (the body) frozen, then the round's
/// `local_epochs` on the body with the head frozen.
struct fedrep_options {
  std::uint32_t head_epochs = 10; ///< τ_h: ≥ 1 (the paper uses 10 for its image tasks)
};

/// Wraps `Inner` (a client_trainer over the plan's full layout) into a client_trainer over the
/// plan's shared layout, with per-client local tensors kept between rounds.
///
/// Each call: check that the received model is laid out as `plan.shared_layout()`; assemble the
/// full model (global tensors received, local tensors from the store, or the initial local
/// tensors on a client's first call); train it through `Inner` (twice under FedRep, with
/// round_config::extra[train_part_key] = "local", then "shared"; the wrapper restores the frozen
/// part after each phase, so an inner trainer that ignores the key still cannot move it); store
/// the new local tensors; return the new global tensors as weights. The store changes only when
/// the whole call succeeded. `evaluate` (when `Inner` has one) evaluates the full personalized
/// model: the received global tensors with this client's local ones.
///
/// Copies share the store: in_process_federation's per-thread copies see one client state.
template <element_type T, class Inner>
requires client_trainer<Inner, T>
class partial_sharing_trainer {
public:
  /// `initial` (laid out as plan.full_layout()) gives every client's first local tensors.
  /// Throws invalid_config for another layout or a FedRep head_epochs of 0.
  partial_sharing_trainer(sharing_plan plan, Inner inner, const flat_model<T>& initial,
                          std::optional<fedrep_options> fedrep = std::nullopt)
      : plan_(std::make_shared<const sharing_plan>(std::move(plan))), inner_(std::move(inner)),
        initial_local_(std::make_shared<const flat_model<T>>(plan_->local_part(check_initial(initial)))),
        fedrep_(fedrep) {
    if (fedrep_ && fedrep_->head_epochs == 0)
      throw invalid_config("partial_sharing_trainer: FedRep's head_epochs must be >= 1");
  }

  /// Trains this client's full model; returns the global tensors only (update_kind::weights).
  client_result<T> operator()(client_id client, const host_model_view<const T>& global,
                              const round_config& config) {
    flat_model<T> full = assemble(client, global);
    client_result<T> last;
    if (!fedrep_) {
      last = train(client, full, config);
    } else {
      round_config head = config;
      head.local_epochs = fedrep_->head_epochs;
      head.extra[std::string(train_part_key)] = "local";
      last = train(client, full, head);
      round_config body = config;
      body.extra[std::string(train_part_key)] = "shared";
      last = train(client, full, body);
    }
    flat_model<T> local = plan_->local_part(std::span<const T>(full.span()));
    locals_.update(
        client, [&] { return *initial_local_; }, [&](flat_model<T>& kept) { kept = std::move(local); });
    return client_result<T>{plan_->shared_part(std::span<const T>(full.span())), update_kind::weights,
                            last.num_examples, std::move(last.metrics)};
  }

  /// Evaluates this client's personalized model (received global tensors + its local ones).
  evaluation_result evaluate(client_id client, const host_model_view<const T>& global,
                             const round_config& config) requires client_evaluator<Inner, T> {
    const flat_model<T> full = assemble(client, global);
    return inner_.evaluate(client, full.view(), config);
  }

  /// The plan.
  [[nodiscard]] const sharing_plan& plan() const noexcept { return *plan_; }
  /// The client-side store of local tensors (shared by copies).
  [[nodiscard]] const client_state_store<flat_model<T>>& local_store() const noexcept { return locals_; }
  /// The wrapped trainer.
  [[nodiscard]] Inner& inner() noexcept { return inner_; }

private:
  const flat_model<T>& check_initial(const flat_model<T>& initial) const {
    plan_->check_full(initial.layout());
    return initial;
  }

  /// The full model: received global tensors + this client's local ones (a copy).
  flat_model<T> assemble(client_id client, const host_model_view<const T>& global) const {
    plan_->check_shared_view(global);
    flat_model<T> full(plan_->full_layout());
    for (std::size_t i = 0; i < global.num_tensors(); ++i) {
      const auto src = global[i].view.span();
      const tensor_entry& e = plan_->full_layout().at(global[i].name);
      std::copy(src.begin(), src.end(), full.span().begin() + static_cast<std::ptrdiff_t>(e.offset));
    }
    locals_.read(client, [&](const flat_model<T>* kept) {
      plan_->insert(std::span<const T>((kept ? *kept : *initial_local_).span()), true, full.span());
    });
    return full;
  }

  /// One call of the inner trainer on `full` (updated in place to the trained weights); the part
  /// frozen by config's train_part_key is put back afterwards.
  client_result<T> train(client_id client, flat_model<T>& full, const round_config& config) {
    const std::vector<element_range> frozen = plan_->frozen_ranges(config);
    client_result<T> r = inner_(client, full.view(), config);
    if (!(r.model.layout() == plan_->full_layout()))
      throw invalid_config("partial_sharing_trainer: client " + std::to_string(client) +
                           ": the inner trainer returned a model with another layout");
    std::span<T> out = r.model.span();
    if (r.kind == update_kind::delta)
      for (std::size_t i = 0; i < out.size(); ++i) out[i] += full.span()[i];
    for (const auto& [first, count] : frozen)
      std::copy_n(full.span().begin() + static_cast<std::ptrdiff_t>(first), count,
                  out.begin() + static_cast<std::ptrdiff_t>(first));
    std::swap(full, r.model);
    return r;
  }

  std::shared_ptr<const sharing_plan> plan_;
  Inner inner_;
  std::shared_ptr<const flat_model<T>> initial_local_;
  std::optional<fedrep_options> fedrep_;
  client_state_store<flat_model<T>> locals_;
};

} // namespace fedpp
