/// \file attacker_set.hpp
/// Which simulated clients are attackers: ⌊fraction · N + ½⌋ of a population, chosen by a
/// seeded shuffle (the same seed and population always give the same attackers).
#pragma once

#include "fedpp/error.hpp"
#include "fedpp/random/rng.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <string>
#include <utility>
#include <vector>

namespace fedpp::attacks {

/// A fixed set of attacker clients.
class attacker_set {
public:
  /// No attackers.
  attacker_set() = default;

  /// round(fraction · population.size()) attackers drawn from `population` by a Fisher–Yates
  /// shuffle seeded with `seed`; throws invalid_config for a fraction outside [0, 1].
  attacker_set(std::vector<client_id> population, double fraction, std::uint64_t seed) {
    if (!(fraction >= 0 && fraction <= 1))
      throw invalid_config("attacker_set: fraction must be in [0, 1], got " + std::to_string(fraction));
    const auto count =
        static_cast<std::size_t>(std::floor(fraction * static_cast<double>(population.size()) + 0.5));
    rng gen(seed);
    for (std::size_t i = 0; i < count; ++i) {
      const auto j = i + static_cast<std::size_t>(gen.below(population.size() - i));
      std::swap(population[i], population[j]);
    }
    population.resize(count);
    std::sort(population.begin(), population.end());
    members_ = std::move(population);
  }

  /// Exactly these clients.
  static attacker_set of(std::vector<client_id> members) {
    attacker_set s;
    std::sort(members.begin(), members.end());
    members.erase(std::unique(members.begin(), members.end()), members.end());
    s.members_ = std::move(members);
    return s;
  }

  /// True when `client` is an attacker.
  [[nodiscard]] bool contains(client_id client) const noexcept {
    return std::binary_search(members_.begin(), members_.end(), client);
  }
  /// The attackers, ascending.
  [[nodiscard]] const std::vector<client_id>& members() const noexcept { return members_; }
  /// How many.
  [[nodiscard]] std::size_t size() const noexcept { return members_.size(); }

private:
  std::vector<client_id> members_;
};

} // namespace fedpp::attacks
