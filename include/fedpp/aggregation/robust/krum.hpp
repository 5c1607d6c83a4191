/// \file krum.hpp
/// Krum and Multi-Krum (Blanchard et al. 2017, "Machine Learning with Adversaries: Byzantine
/// Tolerant Gradient Descent"). With n updates of which at most f are Byzantine, the score of
/// update i is the sum of squared distances to its n − f − 2 nearest other updates,
///     s(i) = Σ_{j ∈ N_i} ‖x_i − x_j‖²,
/// Krum returns the update of lowest score; Multi-Krum averages the m updates of lowest score
/// (weighted by examples, as Flower's MultiKrum). Requires n > 2f + 2. Ties: lower index
/// (arrival order) first.
#pragma once

#include "fedpp/aggregation/fedavg.hpp"
#include "fedpp/aggregation/robust/detail/pairwise_distances.hpp"
#include "fedpp/aggregation/robust/robust_aggregator.hpp"
#include "fedpp/aggregation/robust/update_matrix.hpp"
#include "fedpp/error.hpp"
#include "fedpp/parallel/thread_pool.hpp"

#include <algorithm>
#include <cstddef>
#include <numeric>
#include <span>
#include <string>
#include <vector>

namespace fedpp {

namespace detail {

/// Krum scores of the rows listed in `active` (indices into the K × K matrix `dist`), each
/// summing the `neighbours` smallest distances to the other active rows.
[[nodiscard]] inline std::vector<double> krum_scores(const std::vector<double>& dist, std::size_t k,
                                                     const std::vector<std::size_t>& active,
                                                     std::size_t neighbours) {
  std::vector<double> scores(active.size());
  std::vector<double> row;
  for (std::size_t a = 0; a < active.size(); ++a) {
    row.clear();
    for (std::size_t b = 0; b < active.size(); ++b)
      if (b != a) row.push_back(dist[active[a] * k + active[b]]);
    const std::size_t take = std::min(neighbours, row.size());
    std::partial_sort(row.begin(), row.begin() + static_cast<std::ptrdiff_t>(take), row.end());
    scores[a] = std::accumulate(row.begin(), row.begin() + static_cast<std::ptrdiff_t>(take), 0.0);
  }
  return scores;
}

/// Positions of `scores` in increasing order, ties by position.
[[nodiscard]] inline std::vector<std::size_t> ranking(const std::vector<double>& scores) {
  std::vector<std::size_t> order(scores.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return scores[a] < scores[b]; });
  return order;
}

} // namespace detail

/// The Krum / Multi-Krum rule: f assumed Byzantine updates, m updates averaged (m = 1: Krum).
struct krum_rule {
  std::size_t f = 0;                       ///< assumed number of Byzantine updates
  std::size_t m = 1;                       ///< updates averaged (1 = Krum, > 1 = Multi-Krum)
  weighting mode = weighting::by_examples; ///< how Multi-Krum averages the m selected
  /// Optional: the distance phase (the Gram matrix, K²/2 multiply-adds per coordinate, compute
  /// bound on one core) runs on this user-sized pool, which must outlive the rule's uses.
  parallel::thread_pool* pool = nullptr;

  /// Throws invalid_config for m = 0.
  explicit krum_rule(std::size_t byzantine = 0, std::size_t keep = 1, weighting w = weighting::by_examples)
      : f(byzantine), m(keep), mode(w) {
    if (m == 0) throw invalid_config("krum: m (updates to average) must be >= 1");
  }
  /// This rule with its distance phase on `threads`.
  [[nodiscard]] krum_rule with_pool(parallel::thread_pool& threads) const {
    krum_rule r = *this;
    r.pool = &threads;
    return r;
  }
  /// Rule name for messages.
  [[nodiscard]] const char* name() const noexcept { return m == 1 ? "krum" : "multi_krum"; }
  /// Needs n > 2f + 2 and m ≤ n.
  void check(std::size_t n) const {
    if (n <= 2 * f + 2)
      throw invalid_config(std::string(name()) + ": needs n > 2f + 2, got n = " + std::to_string(n) +
                           " updates for f = " + std::to_string(f) +
                           " (2f + 2 = " + std::to_string(2 * f + 2) + ")");
    if (m > n)
      throw invalid_config(std::string(name()) + ": cannot average m = " + std::to_string(m) +
                           " of n = " + std::to_string(n) + " updates");
  }
  /// The indices of the m selected rows, best first.
  template <class T>
  [[nodiscard]] std::vector<std::size_t> select(const update_matrix<T>& x) const {
    const std::size_t n = x.rows();
    const auto dist = detail::pairwise_squared_distances(x, pool);
    std::vector<std::size_t> all(n);
    std::iota(all.begin(), all.end(), std::size_t{0});
    auto order = detail::ranking(detail::krum_scores(dist, n, all, n - f - 2));
    order.resize(m);
    return order;
  }
  /// The selected update (Krum) or the average of the m selected (Multi-Krum).
  template <class T>
  void reduce(const update_matrix<T>& x, std::span<T> out) const {
    const auto chosen = select(x);
    if (chosen.size() == 1) {
      const auto r = x.row(chosen.front());
      std::copy(r.begin(), r.end(), out.begin());
      return;
    }
    std::vector<double> sum(x.dim(), 0.0);
    double total = 0;
    for (std::size_t k : chosen) {
      const double w = mode == weighting::by_examples ? x.weights()[k] : 1.0;
      const auto r = x.row(k);
      for (std::size_t d = 0; d < r.size(); ++d) sum[d] += w * static_cast<double>(r[d]);
      total += w;
    }
    for (std::size_t d = 0; d < out.size(); ++d) out[d] = static_cast<T>(sum[d] / total);
  }
};

/// Krum (m = 1) / Multi-Krum aggregator; build with `krum<float>(layout, krum_rule{f, m})`.
template <element_type T = float>
using krum = robust_aggregator<T, krum_rule>;

static_assert(robust_rule<krum_rule, float>);
static_assert(aggregator<krum<float>>);

} // namespace fedpp
