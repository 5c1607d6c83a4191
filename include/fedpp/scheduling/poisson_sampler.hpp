/// \file poisson_sampler.hpp
/// Poisson client sampling: every client takes part independently with probability q, so the
/// number of clients per round is Binomial(N, q) and may be 0. This is the sampling that
/// privacy amplification by subsampling assumes for DP-FedAvg (McMahan et al. 2018, "Learning
/// Differentially Private Recurrent Language Models"), whose accountant needs q.
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

/// Includes each client independently with probability q: client i is in when its draw
/// `gen.uniform()` (one per client, in population order) is below q.
class poisson_sampler {
public:
  /// Clients 0..num_clients−1, each with probability q; throws invalid_config for N = 0 or
  /// unless 0 < q ≤ 1.
  poisson_sampler(std::size_t num_clients, double q) : population_(num_clients, "poisson_sampler"), q_(q) {
    check(q);
  }

  /// The clients in `ids` (distinct), each with probability q; throws invalid_config for an
  /// empty or repeating list, or unless 0 < q ≤ 1.
  poisson_sampler(std::vector<client_id> ids, double q)
      : population_(std::move(ids), "poisson_sampler"), q_(q) {
    check(q);
  }

  /// This round's clients, in population order (possibly none); draws exactly N values from gen.
  [[nodiscard]] std::vector<client_id> sample(std::uint64_t /*round*/, rng& gen) const {
    std::vector<client_id> picked;
    const std::size_t n = population_.size();
    for (std::size_t i = 0; i < n; ++i)
      if (gen.uniform() < q_) picked.push_back(population_.at(i));
    return picked;
  }

  /// N, the number of clients sampled from.
  [[nodiscard]] std::size_t population_size() const noexcept { return population_.size(); }
  /// q, every client's probability of taking part in a round.
  [[nodiscard]] double inclusion_probability() const noexcept { return q_; }
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
};

static_assert(has_inclusion_probability<poisson_sampler>);

} // namespace fedpp
