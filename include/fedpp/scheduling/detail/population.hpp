/// \file population.hpp
/// The client population a sampler draws from: the implicit ids 0..N−1 (no memory per client) or
/// an explicit id list (8 bytes per client, shared by copies: a sampler resized for an evaluation
/// round or over-selection does not copy it).
#pragma once

#include "fedpp/error.hpp"

#include <algorithm>
#include <cstddef>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace fedpp::detail {

/// Maps positions 0..size()−1 to client ids; validated at construction (non-empty, distinct).
class population {
public:
  /// Clients 0..count−1; throws invalid_config when count is 0.
  population(std::size_t count, const char* who) : count_(count) {
    if (count == 0) throw invalid_config(std::string(who) + ": the population is empty (N = 0)");
  }

  /// The clients in `ids` (positions follow the list's order); throws invalid_config when the
  /// list is empty or names a client twice.
  population(std::vector<client_id> ids, const char* who) : count_(ids.size()) {
    if (ids.empty()) throw invalid_config(std::string(who) + ": the population is empty (N = 0)");
    std::vector<client_id> sorted = ids;
    std::sort(sorted.begin(), sorted.end());
    const auto dup = std::adjacent_find(sorted.begin(), sorted.end());
    if (dup != sorted.end())
      throw invalid_config(std::string(who) + ": client " + std::to_string(*dup) +
                           " appears more than once in the population");
    ids_ = std::make_shared<const std::vector<client_id>>(std::move(ids));
  }

  /// Number of clients N.
  [[nodiscard]] std::size_t size() const noexcept { return count_; }

  /// Id of the client at `position` (< size()).
  [[nodiscard]] client_id at(std::size_t position) const noexcept {
    return ids_ ? (*ids_)[position] : static_cast<client_id>(position);
  }

  /// Bytes this population keeps per client: 0 for the implicit ids, 8 for an explicit list.
  [[nodiscard]] std::size_t bytes_per_client() const noexcept { return ids_ ? sizeof(client_id) : 0; }

  /// Ids of the clients at the given positions, in the order given.
  [[nodiscard]] std::vector<client_id> ids_of(const std::vector<std::size_t>& positions) const {
    std::vector<client_id> out;
    out.reserve(positions.size());
    for (const std::size_t p : positions) out.push_back(at(p));
    return out;
  }

private:
  std::size_t count_;
  // null: the implicit ids 0..count_−1. Immutable once built, so copies share it.
  std::shared_ptr<const std::vector<client_id>> ids_;
};

} // namespace fedpp::detail
