/// \file uniform_sampler.hpp
/// Uniform client sampling without replacement: exactly m distinct clients of N per round, every
/// m-subset equally likely (FedAvg's client selection, McMahan et al. 2017, Algorithm 1).
#pragma once

#include "fedpp/error.hpp"
#include "fedpp/random/rng.hpp"
#include "fedpp/scheduling/client_sampler.hpp"
#include "fedpp/scheduling/detail/population.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

namespace fedpp {

/// Picks m of N clients uniformly without replacement with Floyd's algorithm (Bentley & Floyd
/// 1987, "A sample of brilliance"): for j = N−m, ..., N−1 draw t uniform in [0, j] and take t,
/// or j when t is already taken. Exactly m draws of `rng::below`, O(m) memory whatever N, and
/// each client is included with probability m/N.
class uniform_sampler {
public:
  /// Samples `m` of the clients 0..num_clients−1; throws invalid_config unless 0 < m ≤ N.
  uniform_sampler(std::size_t num_clients, std::size_t m)
      : population_(num_clients, "uniform_sampler"), m_(m) {
    check(m, population_.size());
  }

  /// Samples `m` of the clients in `ids` (distinct); throws invalid_config for an empty or
  /// repeating list, or unless 0 < m ≤ ids.size().
  uniform_sampler(std::vector<client_id> ids, std::size_t m)
      : population_(std::move(ids), "uniform_sampler"), m_(m) {
    check(m, population_.size());
  }

  /// The m distinct clients of this round, in population order; draws exactly m values from gen.
  [[nodiscard]] std::vector<client_id> sample(std::uint64_t /*round*/, rng& gen) const {
    const std::size_t n = population_.size();
    std::unordered_set<std::size_t> taken;
    taken.reserve(2 * m_);
    std::vector<std::size_t> positions;
    positions.reserve(m_);
    for (std::size_t j = n - m_; j < n; ++j) {
      const auto t = static_cast<std::size_t>(gen.below(static_cast<std::uint64_t>(j) + 1));
      const std::size_t pick = taken.insert(t).second ? t : j;
      if (pick == j) taken.insert(j);
      positions.push_back(pick);
    }
    std::sort(positions.begin(), positions.end());
    return population_.ids_of(positions);
  }

  /// N, the number of clients sampled from.
  [[nodiscard]] std::size_t population_size() const noexcept { return population_.size(); }
  /// m, the number of clients each round picks.
  [[nodiscard]] std::size_t sample_size() const noexcept { return m_; }
  /// m/N, every client's probability of being picked in a round.
  [[nodiscard]] double inclusion_probability() const noexcept {
    return static_cast<double>(m_) / static_cast<double>(population_.size());
  }
  /// The same population sampled k at a time; throws invalid_config unless 0 < k ≤ N.
  [[nodiscard]] uniform_sampler with_sample_size(std::size_t k) const {
    check(k, population_.size());
    uniform_sampler copy = *this;
    copy.m_ = k;
    return copy;
  }

private:
  static void check(std::size_t m, std::size_t n) {
    if (m == 0 || m > n)
      throw invalid_config("uniform_sampler: sample size m = " + std::to_string(m) +
                           " must be in [1, N] with N = " + std::to_string(n));
  }

  detail::population population_;
  std::size_t m_;
};

static_assert(sized_client_sampler<uniform_sampler>);
static_assert(has_inclusion_probability<uniform_sampler>);

} // namespace fedpp
