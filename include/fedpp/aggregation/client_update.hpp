/// \file client_update.hpp
/// What a client hands the server's aggregator: who it is, its tensors, its weight.
#pragma once

#include "fedpp/error.hpp"
#include "fedpp/tensor/model_layout.hpp"
#include "fedpp/tensor/model_view.hpp"

#include <span>
#include <string>

namespace fedpp {

/// One client's update for one round. Non-owning: the tensors must outlive the aggregation
/// call. `weight` is the client's number of examples (FedAvg) and is ignored by unweighted
/// aggregators.
template <element_type T>
struct client_update {
  client_id client = 0;
  host_model_view<const T> model;
  double weight = 1.0;

  /// An update over a flat vector laid out as `layout` (e.g. a flat_model's span or a decoded
  /// message). Throws invalid_config when the sizes disagree.
  [[nodiscard]] static client_update from_flat(client_id client, const model_layout& layout,
                                               std::span<const T> flat, double weight) {
    if (flat.size() != layout.total_size())
      throw invalid_config("client_update::from_flat: client " + std::to_string(client) + " sent " +
                           std::to_string(flat.size()) + " elements, the layout has " +
                           std::to_string(layout.total_size()));
    client_update update{client, {}, weight};
    for (const auto& e : layout.entries()) update.model.add(e.name, {flat.data() + e.offset, e.shape});
    return update;
  }
};

} // namespace fedpp
