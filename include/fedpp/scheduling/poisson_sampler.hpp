/// \file poisson_sampler.hpp
/// Poisson client sampling: every client takes part independently with probability q, so the
/// number of clients per round is Binomial(N, q) and may be 0. This is the sampling that
/// privacy amplification by subsampling assumes for DP-FedAvg (McMahan et al. 2018, "Learning
/// Differentially Private Recurrent Language Models"), whose accountant needs q.
///
/// Two ways to draw the same distribution. The default, `poisson_draws::per_client`, draws one
/// uniform per client (N draws a round: O(N) time, however few clients are picked).
/// `poisson_draws::geometric_skips` draws the gaps between picked clients instead — each gap is
/// Geometric(q), ⌊log(U)/log(1 − q)⌋ for U uniform in (0, 1) — so a round costs O(N·q + 1) draws,
/// what a population of 10^6 with 1,000 per round needs (docs/scale.md). Same inclusion
/// probability q and independence, but other picks for a given seed than the default, so it is
/// an option, not the default (seeded runs and tests keep their clients).
#pragma once

#include "fedpp/error.hpp"
#include "fedpp/random/rng.hpp"
#include "fedpp/scheduling/client_sampler.hpp"
#include "fedpp/scheduling/detail/format.hpp"
#include "fedpp/scheduling/detail/population.hpp"

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace fedpp {

/// How poisson_sampler draws a round (same distribution, different picks for one seed).
enum class poisson_draws : std::uint8_t {
  per_client,     ///< one uniform per client, in population order (the default; O(N) per round)
  geometric_skips ///< one Geometric(q) gap per picked client (O(N·q + 1) per round)
};

/// Includes each client independently with probability q: client i is in when its draw
/// `gen.uniform()` (one per client, in population order) is below q.
class poisson_sampler {
public:
  /// Clients 0..num_clients−1, each with probability q; throws invalid_config for N = 0 or
  /// unless 0 < q ≤ 1.
  poisson_sampler(std::size_t num_clients, double q, poisson_draws draws = poisson_draws::per_client)
      : population_(num_clients, "poisson_sampler"), q_(q), draws_(draws) {
    check(q);
  }

  /// The clients in `ids` (distinct), each with probability q; throws invalid_config for an
  /// empty or repeating list, or unless 0 < q ≤ 1.
  poisson_sampler(std::vector<client_id> ids, double q, poisson_draws draws = poisson_draws::per_client)
      : population_(std::move(ids), "poisson_sampler"), q_(q), draws_(draws) {
    check(q);
  }

  /// This round's clients, in population order (possibly none). per_client draws exactly N
  /// values from gen; geometric_skips one per picked client plus one.
  [[nodiscard]] std::vector<client_id> sample(std::uint64_t /*round*/, rng& gen) const {
    std::vector<client_id> picked;
    const std::size_t n = population_.size();
    if (draws_ == poisson_draws::per_client) {
      for (std::size_t i = 0; i < n; ++i)
        if (gen.uniform() < q_) picked.push_back(population_.at(i));
      return picked;
    }
    if (q_ >= 1) { // every client, no draws needed
      picked.reserve(n);
      for (std::size_t i = 0; i < n; ++i) picked.push_back(population_.at(i));
      return picked;
    }
    // The next picked position is the current one plus a Geometric(q) gap (failures before the
    // first success): P(gap = k) = (1 − q)^k q.
    const double log_miss = std::log1p(-q_);
    std::size_t i = 0;
    while (true) {
      const double gap = std::floor(std::log(gen.uniform_open()) / log_miss);
      if (!(gap < static_cast<double>(n - i))) break; // past the end (also +inf for a tiny q)
      i += static_cast<std::size_t>(gap);
      picked.push_back(population_.at(i));
      if (++i >= n) break;
    }
    return picked;
  }

  /// N, the number of clients sampled from.
  [[nodiscard]] std::size_t population_size() const noexcept { return population_.size(); }
  /// q, every client's probability of taking part in a round.
  [[nodiscard]] double inclusion_probability() const noexcept { return q_; }
  /// How a round is drawn.
  [[nodiscard]] poisson_draws draws() const noexcept { return draws_; }
  /// N·q, the mean number of clients per round.
  [[nodiscard]] double expected_sample_size() const noexcept {
    return static_cast<double>(population_.size()) * q_;
  }

private:
  static void check(double q) {
    if (!(q > 0 && q <= 1))
      throw invalid_config("poisson_sampler: inclusion probability q = " + detail::format_number(q) +
                           " must be in (0, 1]");
  }

  detail::population population_;
  double q_;
  poisson_draws draws_ = poisson_draws::per_client;
};

static_assert(has_inclusion_probability<poisson_sampler>);

} // namespace fedpp
