/// \file client_result.hpp
/// What local training returns to the server, and the concept a user's training satisfies.
#pragma once

#include "fedpp/client/round_config.hpp"
#include "fedpp/error.hpp"
#include "fedpp/tensor/flat_model.hpp"
#include "fedpp/tensor/model_view.hpp"

#include <concepts>
#include <cstdint>
#include <map>
#include <string>

namespace fedpp {

/// Whether a client's model is its new weights or the change it made to the global model.
enum class update_kind : std::uint8_t {
  weights = 0, ///< w_k: the locally trained model
  delta = 1    ///< w_k − w_global
};

/// The outcome of one client's local training.
template <element_type T>
struct client_result {
  flat_model<T> model;                     ///< weights or delta (see `kind`), in the global layout
  update_kind kind = update_kind::weights; ///< how to read `model`
  double num_examples = 0;                 ///< FedAvg weight n_k
  std::map<std::string, double> metrics;   ///< e.g. {"loss", 0.41}; averaged by the server
};

/// A user's local training: `trainer(client, global, config)` trains from the global model and
/// returns a client_result. Any callable (lambda, functor, std::function) qualifies.
///
/// | expression                       | type / effect                                           |
/// |----------------------------------|---------------------------------------------------------|
/// | `trainer(id, global, config)`    | `client_result<T>`; `id` is a `client_id`, `global` a   |
/// |                                  | `host_model_view<const T>`, `config` a `round_config`   |
template <class C, class T>
concept client_trainer = element_type<T> &&
    requires(C& trainer, client_id id, const host_model_view<const T>& global, const round_config& config) {
  { trainer(id, global, config) } -> std::convertible_to<client_result<T>>;
};

} // namespace fedpp
