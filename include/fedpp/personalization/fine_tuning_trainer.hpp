/// \file fine_tuning_trainer.hpp
/// Local fine-tuning before evaluation: a client evaluates not the global model itself but a
/// copy of it after a few local epochs on its own training data (the "FedAvg + fine-tuning"
/// baseline of the personalization literature, e.g. Wang et al. 2019, "Federated Evaluation of
/// On-device Personalization"; Yu et al. 2020, "Salvaging Federated Learning by Local
/// Adaptation"). Plugs into federated evaluation rounds through the trainer's `evaluate`.
#pragma once

#include "fedpp/client/client_result.hpp"
#include "fedpp/client/round_config.hpp"
#include "fedpp/error.hpp"
#include "fedpp/orchestration/federated_evaluation.hpp"
#include "fedpp/tensor/flat_model.hpp"

#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace fedpp {

/// round_config::extra key set (to "1") on the config a fine-tuning call passes to the trainer.
inline constexpr std::string_view fine_tune_key = "fedpp.fine_tune";

/// How a client fine-tunes the global model before evaluating it.
struct fine_tune_options {
  std::uint32_t epochs = 1;            ///< k: local epochs (the trainer's unit of local work), ≥ 1
  std::optional<double> learning_rate; ///< step size; default: the evaluation request's

  /// Throws invalid_config for 0 epochs or a learning rate that is not finite and > 0.
  void validate() const {
    if (epochs == 0) throw invalid_config("fine_tune_options: epochs must be >= 1");
    if (learning_rate && !(std::isfinite(*learning_rate) && *learning_rate > 0))
      throw invalid_config("fine_tune_options: learning_rate must be finite and > 0, got " +
                           std::to_string(*learning_rate));
  }
};

/// Wraps `Inner` (a trainer with `evaluate`): training is forwarded unchanged; `evaluate(c, w,
/// config)` trains a copy of the global model w through `Inner` for `epochs` local epochs (config
/// with local_epochs = epochs, the options' learning rate, extra[fine_tune_key] = "1") and
/// evaluates that copy with `Inner::evaluate`. The global model, the next training round and
/// anything uploaded are unchanged: only the evaluated copy is fine-tuned. `Inner` must not keep
/// state across calls that fine-tuning would disturb (a stateless trainer, as the simulation's).
template <element_type T, class Inner>
requires client_trainer<Inner, T> && client_evaluator<Inner, T>
class fine_tuning_trainer {
public:
  /// Throws invalid_config for invalid options.
  fine_tuning_trainer(Inner inner, fine_tune_options options) : inner_(std::move(inner)), options_(options) {
    options_.validate();
  }

  /// Local training: forwarded to `Inner`.
  client_result<T> operator()(client_id client, const host_model_view<const T>& global,
                              const round_config& config) {
    return inner_(client, global, config);
  }

  /// Fine-tunes a copy of `global`, then evaluates it.
  evaluation_result evaluate(client_id client, const host_model_view<const T>& global,
                             const round_config& config) {
    const flat_model<T> tuned = fine_tune(client, global, config);
    return inner_.evaluate(client, tuned.view(), config);
  }

  /// The fine-tuned copy `evaluate` would evaluate.
  flat_model<T> fine_tune(client_id client, const host_model_view<const T>& global,
                          const round_config& config) {
    round_config tune = config;
    tune.local_epochs = options_.epochs;
    if (options_.learning_rate) tune.learning_rate = *options_.learning_rate;
    tune.extra[std::string(fine_tune_key)] = "1";
    client_result<T> r = inner_(client, global, tune);
    if (r.model.size() != global.total_size())
      throw invalid_config("fine_tuning_trainer: client " + std::to_string(client) +
                           ": the trainer returned " + std::to_string(r.model.size()) +
                           " elements for a model of " + std::to_string(global.total_size()));
    if (r.kind == update_kind::delta) {
      std::size_t k = 0;
      for (std::size_t i = 0; i < global.num_tensors(); ++i)
        for (const T v : global[i].view.span()) r.model.span()[k++] += v;
    }
    return std::move(r.model);
  }

  /// The options.
  [[nodiscard]] const fine_tune_options& options() const noexcept { return options_; }

private:
  Inner inner_;
  fine_tune_options options_;
};

} // namespace fedpp
