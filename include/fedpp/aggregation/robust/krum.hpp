/// \file krum.hpp
/// Krum and Multi-Krum (Blanchard et al. 2017, "Machine Learning with Adversaries: Byzantine
/// Tolerant Gradient Descent"). With n updates of which at most f are Byzantine, the score of
/// update i is the sum of squared distances to its nearest other updates,
///     s(i) = Σ_{j ∈ N_i} ‖x_i − x_j‖²,   |N_i| = n − f − 2 (Blanchard et al.),
/// or max(1, n − f − 2) under Flower's convention (krum_neighbours::flower). Krum returns the
/// update of lowest score; Multi-Krum averages the m updates of lowest score (weighted by
/// examples, as Flower's MultiKrum, or uniformly, as the paper). Ties: lower index (arrival
/// order) first.
///
/// ```cpp
/// fedpp::krum<float> agg(layout, {.byzantine = 2, .selected = 1});           // Krum
/// fedpp::krum<float> multi(layout, {.byzantine = 2, .selected = 5});        // Multi-Krum
/// fedpp::krum<float> flower(layout, {.byzantine = 1, .neighbours = fedpp::krum_neighbours::flower});
/// ```
#pragma once

#include "fedpp/aggregation/fedavg.hpp"
#include "fedpp/aggregation/robust/detail/pairwise_distances.hpp"
#include "fedpp/aggregation/robust/robust_aggregator.hpp"
#include "fedpp/aggregation/robust/update_matrix.hpp"
#include "fedpp/error.hpp"
#include "fedpp/parallel/thread_pool.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <numeric>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace fedpp {

namespace detail {

/// Krum scores from the K × K squared distances, computed once: every row's other rows sorted
/// by distance (ties: lower index first), so that the score of a row among any subset of the
/// rows is one walk down its list, summing the nearest members of the subset in increasing
/// order (the same sum, bit for bit, as sorting that row's distances to the subset). Bulyan's
/// Krum passes score the shrinking set of rows not yet chosen from one table.
class krum_score_table {
public:
  krum_score_table(const std::vector<double>& dist, std::size_t k) : dist_(&dist), k_(k) {
    const std::size_t others = k == 0 ? 0 : k - 1;
    order_.resize(k * others);
    for (std::size_t a = 0; a < k; ++a) {
      std::size_t* list = order_.data() + a * others;
      for (std::size_t b = 0, at = 0; b < k; ++b)
        if (b != a) list[at++] = b;
      const double* row = dist.data() + a * k;
      std::stable_sort(list, list + others, [row](std::size_t x, std::size_t y) { return row[x] < row[y]; });
    }
  }

  /// Score of every row flagged in `member` (size K) among the flagged rows: the sum of its
  /// min(`neighbours`, members − 1) smallest distances to the other members. Rows not flagged
  /// get 0.
  [[nodiscard]] std::vector<double> scores(const std::vector<unsigned char>& member,
                                           std::size_t neighbours) const {
    std::size_t members = 0;
    for (unsigned char m : member) members += m != 0 ? 1 : 0;
    const std::size_t take = members == 0 ? 0 : std::min(neighbours, members - 1);
    const std::size_t others = k_ == 0 ? 0 : k_ - 1;
    std::vector<double> result(k_, 0.0);
    for (std::size_t a = 0; a < k_; ++a) {
      if (member[a] == 0) continue;
      const std::size_t* list = order_.data() + a * others;
      const double* row = dist_->data() + a * k_;
      double sum = 0;
      for (std::size_t i = 0, taken = 0; taken < take; ++i)
        if (member[list[i]] != 0) {
          sum += row[list[i]];
          ++taken;
        }
      result[a] = sum;
    }
    return result;
  }

private:
  const std::vector<double>* dist_;
  std::size_t k_;
  std::vector<std::size_t> order_; // K rows of K − 1 indices
};

/// Positions of `scores` in increasing order, ties by position.
[[nodiscard]] inline std::vector<std::size_t> ranking(const std::vector<double>& scores) {
  std::vector<std::size_t> order(scores.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return scores[a] < scores[b]; });
  return order;
}

} // namespace detail

/// How many nearest neighbours a Krum score sums.
enum class krum_neighbours : std::uint8_t {
  /// n − f − 2 (Blanchard et al. 2017); needs n > 2f + 2 updates, fewer are refused.
  blanchard,
  /// max(1, n − f − 2), at most n − 1 (Flower's `aggregate_krum`); any n ≥ 1 is accepted, but
  /// with n ≤ 2f + 2 Krum's guarantee no longer holds.
  flower,
};

/// Options of the Krum / Multi-Krum rule.
struct krum_options {
  std::size_t byzantine = 0;                               ///< f: Byzantine updates tolerated
  std::size_t selected = 1;                                ///< m: updates averaged (1 = Krum)
  weighting weights = weighting::by_examples;              ///< how Multi-Krum averages the m chosen
  krum_neighbours neighbours = krum_neighbours::blanchard; ///< the neighbour count's convention
};

/// The Krum / Multi-Krum rule (see the file comment).
class krum_rule {
public:
  using options_type = krum_options;

  /// Throws invalid_config for selected = 0.
  explicit krum_rule(krum_options options = {}) : options_(options) {
    if (options_.selected == 0)
      throw invalid_config("krum: selected (m, updates to average) must be >= 1, got 0");
  }

  /// This rule with its distance phase (the Gram matrix, K²/2 multiply-adds per coordinate,
  /// compute bound on one core) on `threads`, a user-sized pool that must outlive the rule's uses.
  [[nodiscard]] krum_rule with_pool(parallel::thread_pool& threads) const {
    krum_rule r = *this;
    r.pool_ = &threads;
    return r;
  }
  [[nodiscard]] const krum_options& options() const noexcept { return options_; }
  /// The pool given to with_pool, or null.
  [[nodiscard]] parallel::thread_pool* pool() const noexcept { return pool_; }

  /// Rule name for messages.
  [[nodiscard]] const char* name() const noexcept { return options_.selected == 1 ? "krum" : "multi_krum"; }

  /// Neighbours a score sums for n updates: n − f − 2, or max(1, n − f − 2) capped at n − 1 with
  /// Flower's convention (0 when the count does not work: see problem()).
  [[nodiscard]] std::size_t neighbours(std::size_t n) const noexcept {
    const std::size_t f = options_.byzantine;
    const std::size_t blanchard = n > f + 2 ? n - f - 2 : 0;
    if (options_.neighbours == krum_neighbours::blanchard) return blanchard;
    return n <= 1 ? 0 : std::min(std::max<std::size_t>(1, blanchard), n - 1);
  }

  /// Why the rule cannot run on n updates (n > 2f + 2 with Blanchard's count, n ≥ 1 with
  /// Flower's, and m ≤ n), or nullopt when it can.
  [[nodiscard]] std::optional<std::string> problem(std::size_t n) const {
    const std::size_t f = options_.byzantine;
    if (n == 0) return std::string(name()) + ": no updates";
    if (options_.neighbours == krum_neighbours::blanchard && n <= 2 * f + 2)
      return std::string(name()) + ": needs n > 2f + 2 updates, got n = " + std::to_string(n) +
             " for f = " + std::to_string(f) + " (2f + 2 = " + std::to_string(2 * f + 2) + ")";
    if (options_.selected > n)
      return std::string(name()) + ": cannot average m = " + std::to_string(options_.selected) +
             " of n = " + std::to_string(n) + " updates";
    return std::nullopt;
  }

  /// The Krum score of every row of `x`, in row (arrival) order, from one K × K matrix of squared
  /// distances. Throws invalid_config when problem(x.rows()).
  template <class T>
  [[nodiscard]] std::vector<double> scores(const update_matrix<T>& x) const {
    require(x.rows());
    const std::size_t n = x.rows();
    const auto dist = detail::pairwise_squared_distances(x, pool_);
    return detail::krum_score_table(dist, n).scores(std::vector<unsigned char>(n, 1), neighbours(n));
  }

  /// The indices of the m selected rows, best first. Throws invalid_config when problem(x.rows()).
  template <class T>
  [[nodiscard]] std::vector<std::size_t> select(const update_matrix<T>& x) const {
    auto order = detail::ranking(scores(x));
    order.resize(options_.selected);
    return order;
  }

  /// The selected update (Krum) or the average of the m selected (Multi-Krum). Throws
  /// invalid_config when problem(x.rows()).
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
      const double w = options_.weights == weighting::by_examples ? x.weights()[k] : 1.0;
      const auto r = x.row(k);
      for (std::size_t d = 0; d < r.size(); ++d) sum[d] += w * static_cast<double>(r[d]);
      total += w;
    }
    for (std::size_t d = 0; d < out.size(); ++d) out[d] = static_cast<T>(sum[d] / total);
  }

private:
  void require(std::size_t n) const {
    if (auto why = problem(n)) throw invalid_config(*why);
  }

  krum_options options_;
  parallel::thread_pool* pool_ = nullptr;
};

/// Krum (selected = 1) / Multi-Krum aggregator: `krum<float>(layout, {.byzantine = f, .selected = m})`.
template <element_type T = float>
using krum = robust_aggregator<T, krum_rule>;

static_assert(robust_rule<krum_rule, float>);
static_assert(aggregator<krum<float>>);

} // namespace fedpp
