/// \file reputation_sampler.hpp
/// A client_sampler for fedpp::server that samples clients with a low reputation less: weighted
/// sampling without replacement (weighted_sampler's Efraimidis–Spirakis keys) with weights
///
///   w_i = b_i · ( ε + (1 − ε) · r_i )
///
/// where r_i ∈ [0, 1] is the client's current reputation score (reputation_table, read at every
/// sample()), b_i an optional base weight (data size; 1 when not given) and ε = floor ∈ (0, 1] the
/// share a client with reputation 0 keeps, so that nobody is starved for good and a client whose
/// reputation was wrong can earn it back (with ε = 1 this is weighted_sampler over b).
/// For m = 1 the inclusion probability is exactly w_i / Σ w; for m > 1 it is increasing in w_i but
/// flattened towards m/N (weighted_sampler.hpp states the exact form).
///
/// The table is shared (std::shared_ptr): whoever updates it after a round (the caller's loop, e.g.
/// reputation_table::observe_round over update_recorder's record) and every copy of the sampler
/// (evaluation rounds, over_selection) see the same scores. A round's picks depend on the seed, the
/// round and the scores at the time of sample().
///
/// Memory: the base weights (8 bytes per client when given) and the table (reputation.hpp);
/// sample() builds O(N) scratch (8 bytes per client for the weights, 8 for ids).
#pragma once

#include "fedpp/error.hpp"
#include "fedpp/incentives/reputation.hpp"
#include "fedpp/random/rng.hpp"
#include "fedpp/scheduling/client_sampler.hpp"
#include "fedpp/scheduling/weighted_sampler.hpp"

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace fedpp::incentives {

/// Picks m clients a round, favouring a high reputation (see the file comment).
class reputation_sampler {
public:
  /// Samples m of the table's clients; `floor` = ε ∈ (0, 1]; `base` = b (empty: all 1, else one
  /// finite value > 0 per client, in the table's position order). Throws invalid_config for a null
  /// table, m outside [1, N], ε outside (0, 1], or bad base weights.
  reputation_sampler(std::shared_ptr<const reputation_table> table, std::size_t m, double floor = 0.05,
                     std::vector<double> base = {})
      : table_(std::move(table)), m_(m), floor_(floor) {
    if (!table_) throw invalid_config("reputation_sampler: no reputation table");
    const std::size_t n = table_->size();
    if (m == 0 || m > n)
      throw invalid_config("reputation_sampler: sample size m = " + std::to_string(m) +
                           " must be in [1, N] with N = " + std::to_string(n));
    if (!(std::isfinite(floor) && floor > 0 && floor <= 1))
      throw invalid_config("reputation_sampler: floor " + std::to_string(floor) + " must be in (0, 1]");
    if (!base.empty()) {
      if (base.size() != n)
        throw invalid_config("reputation_sampler: " + std::to_string(base.size()) + " base weights for " +
                             std::to_string(n) + " clients");
      for (std::size_t p = 0; p < n; ++p)
        if (!(std::isfinite(base[p]) && base[p] > 0))
          throw invalid_config("reputation_sampler: client " + std::to_string(table_->id_at(p)) +
                               " has base weight " + std::to_string(base[p]) +
                               "; weights must be finite and > 0");
      base_ = std::make_shared<const std::vector<double>>(std::move(base));
    }
  }

  /// The m distinct clients of this round, in the table's position order; draws N values from gen.
  [[nodiscard]] std::vector<client_id> sample(std::uint64_t round, rng& gen) const {
    const std::size_t n = table_->size();
    std::vector<double> w = weights();
    std::vector<client_id> ids(n);
    for (std::size_t p = 0; p < n; ++p) ids[p] = table_->id_at(p);
    return weighted_sampler(std::move(ids), std::move(w), m_).sample(round, gen);
  }

  /// The current weights w_i, by position.
  [[nodiscard]] std::vector<double> weights() const {
    const std::size_t n = table_->size();
    std::vector<double> w(n);
    for (std::size_t p = 0; p < n; ++p)
      w[p] = (base_ ? (*base_)[p] : 1.0) * (floor_ + (1 - floor_) * table_->score_at(p));
    return w;
  }

  /// N, the number of clients sampled from.
  [[nodiscard]] std::size_t population_size() const noexcept { return table_->size(); }
  /// m, the number of clients each round picks.
  [[nodiscard]] std::size_t sample_size() const noexcept { return m_; }
  /// ε, the share of its weight a client with reputation 0 keeps.
  [[nodiscard]] double floor() const noexcept { return floor_; }
  /// The table read at each sample().
  [[nodiscard]] const std::shared_ptr<const reputation_table>& table() const noexcept { return table_; }
  /// The same table, floor and base weights, k clients a round; throws invalid_config unless 0 < k ≤ N.
  [[nodiscard]] reputation_sampler with_sample_size(std::size_t k) const {
    if (k == 0 || k > table_->size())
      throw invalid_config("reputation_sampler: sample size m = " + std::to_string(k) +
                           " must be in [1, N] with N = " + std::to_string(table_->size()));
    reputation_sampler copy = *this;
    copy.m_ = k;
    return copy;
  }

private:
  std::shared_ptr<const reputation_table> table_;
  std::shared_ptr<const std::vector<double>> base_; // null: all 1; immutable, shared by copies
  std::size_t m_;
  double floor_;
};

static_assert(sized_client_sampler<reputation_sampler>);

} // namespace fedpp::incentives
