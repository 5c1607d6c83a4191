/// \file label_flip.hpp
/// Label flipping (Biggio et al. 2012; Fang et al. 2020): attackers train honestly on data whose
/// labels are remapped, by default y → C − 1 − y (9 − y for Fashion-MNIST). `flip_labels` makes
/// the poisoned copy of a dataset; `attacker_router` is the trainer wrapper that sends attackers
/// to a trainer over the poisoned copy and everyone else to the honest one.
#pragma once

#include "fedpp/attacks/attacker_set.hpp"
#include "fedpp/client/client_result.hpp"
#include "fedpp/client/round_config.hpp"
#include "fedpp/error.hpp"
#include "fedpp/simulation/dataset.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace fedpp::attacks {

/// The label map y → C − 1 − y for C classes.
[[nodiscard]] inline std::vector<std::uint8_t> reversed_labels(std::size_t num_classes) {
  std::vector<std::uint8_t> map(num_classes);
  for (std::size_t y = 0; y < num_classes; ++y) map[y] = static_cast<std::uint8_t>(num_classes - 1 - y);
  return map;
}

/// A copy of `data` with every label y replaced by map[y]; throws invalid_config when the map
/// does not cover every class or sends a label outside the classes.
[[nodiscard]] inline simulation::dataset flip_labels(const simulation::dataset& data,
                                                     const std::vector<std::uint8_t>& map) {
  if (map.size() != data.num_classes())
    throw invalid_config("flip_labels: the map has " + std::to_string(map.size()) + " entries for " +
                         std::to_string(data.num_classes()) + " classes");
  for (std::size_t y = 0; y < map.size(); ++y)
    if (map[y] >= data.num_classes())
      throw invalid_config("flip_labels: class " + std::to_string(y) + " maps to " + std::to_string(map[y]) +
                           ", not below " + std::to_string(data.num_classes()));
  std::vector<std::uint8_t> labels(data.labels().begin(), data.labels().end());
  for (auto& y : labels) y = map[y];
  return {std::vector<float>(data.features().begin(), data.features().end()), std::move(labels),
          data.num_features(), data.num_classes()};
}

/// Trainer wrapper: attackers train with `Attack`, everyone else with `Honest`.
template <element_type T, class Honest, class Attack>
requires client_trainer<Honest, T> && client_trainer<Attack, T>
class attacker_router {
public:
  attacker_router(Honest honest, Attack attack, attacker_set attackers)
      : honest_(std::move(honest)), attack_(std::move(attack)), attackers_(std::move(attackers)) {}

  client_result<T> operator()(client_id id, const host_model_view<const T>& global,
                              const round_config& config) {
    return attackers_.contains(id) ? client_result<T>(attack_(id, global, config))
                                   : client_result<T>(honest_(id, global, config));
  }

private:
  Honest honest_;
  Attack attack_;
  attacker_set attackers_;
};

} // namespace fedpp::attacks
