/// \file weighted_sampler.hpp
/// Weighted client sampling without replacement, clients favoured in proportion to their data
/// size, by the Efraimidis–Spirakis keys (Efraimidis & Spirakis 2006, "Weighted random sampling
/// with a reservoir", algorithm A-Res).
///
/// Scheme: each round every client i draws u_i uniform in (0, 1) (in population order, N draws)
/// and gets the key k_i = u_i^(1/w_i); the m clients with the largest keys are picked (ties,
/// which need two equal doubles, go to the earlier position). Keys are compared as
/// log(u_i)/w_i, the same order without the underflow of u^(1/w) for small w.
///
/// Inclusion probabilities: this is exactly successive sampling — pick one client with
/// probability w_i/W (W = Σ w), remove it, pick the next in proportion to the remaining weights,
/// m times. So for m = 1, P(i picked) = w_i/W exactly; for m = 2,
/// P(i picked) = w_i/W + Σ_{j≠i} (w_j/W)·w_i/(W − w_j). For m > 1 the inclusion probabilities
/// are NOT proportional to w_i: they are increasing in w_i but flattened towards m/N (a client
/// can be picked at most once, so heavy clients saturate below 1 while light ones gain). Use
/// poisson_sampler-style independent inclusion when exact proportionality matters.
///
/// Cost per round: N draws and N logarithms (the scheme needs every client's key), but O(m)
/// memory: the keys are streamed through a heap of the m best so far, which keeps exactly the
/// m clients the full sort would (same order, same tie rule). The weights (8 bytes per client) are
/// shared by copies (with_sample_size, evaluation rounds, over-selection).
///
/// Determinism: the only floating-point library call is std::log; on a libm whose log is not
/// correctly rounded, a pick could differ only where two keys agree to the last bit.
#pragma once

#include "fedpp/error.hpp"
#include "fedpp/random/rng.hpp"
#include "fedpp/scheduling/client_sampler.hpp"
#include "fedpp/scheduling/detail/format.hpp"
#include "fedpp/scheduling/detail/population.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace fedpp {

/// Picks m of N clients without replacement, favouring large clients (see the file comment for
/// the exact scheme and its inclusion probabilities).
class weighted_sampler {
public:
  /// Clients 0..N−1 with data sizes `sizes[i]` (N = sizes.size()); throws invalid_config for an
  /// empty list, a size that is zero, negative, NaN or infinite, or unless 0 < m ≤ N.
  weighted_sampler(std::vector<double> sizes, std::size_t m)
      : population_(sizes.size(), "weighted_sampler"), m_(m) {
    check_weights(sizes, population_);
    weights_ = std::make_shared<const std::vector<double>>(std::move(sizes));
    check(m, population_.size());
  }

  /// The clients `ids` (distinct) with data sizes `sizes` (same length); same checks as above,
  /// plus invalid_config when the two lengths differ.
  weighted_sampler(std::vector<client_id> ids, std::vector<double> sizes, std::size_t m)
      : population_(checked_ids(std::move(ids), sizes.size()), "weighted_sampler"), m_(m) {
    check_weights(sizes, population_);
    weights_ = std::make_shared<const std::vector<double>>(std::move(sizes));
    check(m, population_.size());
  }

  /// The m distinct clients of this round, in population order; draws exactly N values from gen.
  /// Memory O(m) whatever N (the m best keys so far live in a heap).
  [[nodiscard]] std::vector<client_id> sample(std::uint64_t /*round*/, rng& gen) const {
    const std::size_t n = population_.size();
    const std::vector<double>& w = *weights_;
    // Largest key first; equal keys: earlier position first (a total order, so deterministic,
    // and the m first of this order are the same set however the keys are visited).
    const auto before = [](const std::pair<double, std::size_t>& a, const std::pair<double, std::size_t>& b) {
      return a.first > b.first || (a.first == b.first && a.second < b.second);
    };
    // A heap whose front is the last of the m kept (std heaps put the "largest" under the
    // comparator at the front; with `before` that is the key that comes last).
    std::vector<std::pair<double, std::size_t>> best;
    best.reserve(m_);
    for (std::size_t i = 0; i < n; ++i) {
      const std::pair<double, std::size_t> key{std::log(gen.uniform_open()) / w[i], i};
      if (best.size() < m_) {
        best.push_back(key);
        std::push_heap(best.begin(), best.end(), before);
      } else if (before(key, best.front())) {
        std::pop_heap(best.begin(), best.end(), before);
        best.back() = key;
        std::push_heap(best.begin(), best.end(), before);
      }
    }
    std::vector<std::size_t> positions;
    positions.reserve(m_);
    for (const auto& key : best) positions.push_back(key.second);
    std::sort(positions.begin(), positions.end());
    return population_.ids_of(positions);
  }

  /// N, the number of clients sampled from.
  [[nodiscard]] std::size_t population_size() const noexcept { return population_.size(); }
  /// m, the number of clients each round picks.
  [[nodiscard]] std::size_t sample_size() const noexcept { return m_; }
  /// The data sizes (weights), by population position.
  [[nodiscard]] std::span<const double> weights() const noexcept { return *weights_; }
  /// The same population and weights sampled k at a time; throws invalid_config unless 0 < k ≤ N.
  [[nodiscard]] weighted_sampler with_sample_size(std::size_t k) const {
    check(k, population_.size());
    weighted_sampler copy = *this;
    copy.m_ = k;
    return copy;
  }

private:
  static void check(std::size_t m, std::size_t n) {
    if (m == 0 || m > n)
      throw invalid_config("weighted_sampler: sample size m = " + std::to_string(m) +
                           " must be in [1, N] with N = " + std::to_string(n));
  }
  static std::vector<client_id> checked_ids(std::vector<client_id> ids, std::size_t num_sizes) {
    if (ids.size() != num_sizes)
      throw invalid_config("weighted_sampler: " + std::to_string(ids.size()) + " client ids but " +
                           std::to_string(num_sizes) + " data sizes");
    return ids;
  }
  static void check_weights(const std::vector<double>& w, const detail::population& pop) {
    for (std::size_t i = 0; i < w.size(); ++i)
      if (!(w[i] > 0) || !std::isfinite(w[i]))
        throw invalid_config("weighted_sampler: client " + std::to_string(pop.at(i)) + " has data size " +
                             detail::format_number(w[i]) + "; sizes must be finite and > 0");
  }

  detail::population population_;
  std::shared_ptr<const std::vector<double>> weights_; // immutable once built: copies share it
  std::size_t m_;
};

static_assert(sized_client_sampler<weighted_sampler>);

} // namespace fedpp
