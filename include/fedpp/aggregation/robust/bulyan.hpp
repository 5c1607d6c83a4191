/// \file bulyan.hpp
/// Bulyan (El Mhamdi et al. 2018, "The Hidden Vulnerability of Distributed Learning in
/// Byzantium", Algorithm 1), with Krum as the selection rule, as Flower's Bulyan:
///  1. select θ = n − 2f updates by applying Krum θ times, each time to the r updates not yet
///     selected; each pass sums max(1, r − f − 2) neighbours (r − f − 2 falls below 1 in the
///     last passes), as Flower. The K × K squared distances are computed once; a pass only
///     leaves the chosen row and column out and re-scores from them;
///  2. for each coordinate, average the β = θ − 2f selected values closest to the selected
///     values' coordinate-wise median (mean_around_median.hpp).
/// Requires n ≥ 4f + 3. Unweighted. Ties: lower index first (selection), lower value first
/// (closest values).
///
/// ```cpp
/// fedpp::bulyan<float> agg(layout, {.byzantine = 2});   // needs at least 11 updates per round
/// ```
#pragma once

#include "fedpp/aggregation/robust/detail/pairwise_distances.hpp"
#include "fedpp/aggregation/robust/krum.hpp"
#include "fedpp/aggregation/robust/mean_around_median.hpp"
#include "fedpp/aggregation/robust/robust_aggregator.hpp"
#include "fedpp/aggregation/robust/update_matrix.hpp"
#include "fedpp/error.hpp"
#include "fedpp/parallel/thread_pool.hpp"

#include <algorithm>
#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace fedpp {

/// Options of the Bulyan rule.
struct bulyan_options {
  std::size_t byzantine = 0; ///< f: Byzantine updates tolerated (n ≥ 4f + 3 needed)
};

/// The Bulyan rule (see the file comment).
class bulyan_rule {
public:
  using options_type = bulyan_options;

  explicit bulyan_rule(bulyan_options options = {}) noexcept : options_(options) {}

  /// This rule with its distance phase and its coordinate-wise phase on `threads`, a user-sized
  /// pool that must outlive the rule's uses.
  [[nodiscard]] bulyan_rule with_pool(parallel::thread_pool& threads) const {
    bulyan_rule r = *this;
    r.pool_ = &threads;
    return r;
  }
  [[nodiscard]] const bulyan_options& options() const noexcept { return options_; }
  /// The pool given to with_pool, or null.
  [[nodiscard]] parallel::thread_pool* pool() const noexcept { return pool_; }

  /// Rule name for messages.
  [[nodiscard]] const char* name() const noexcept { return "bulyan"; }
  /// θ = n − 2f: updates the Krum passes select (for n ≥ 4f + 3).
  [[nodiscard]] std::size_t theta(std::size_t n) const noexcept { return n - 2 * options_.byzantine; }
  /// β = θ − 2f = n − 4f: values averaged per coordinate (for n ≥ 4f + 3).
  [[nodiscard]] std::size_t beta(std::size_t n) const noexcept { return n - 4 * options_.byzantine; }

  /// Why the rule cannot run on n updates (it needs n ≥ 4f + 3), or nullopt when it can.
  [[nodiscard]] std::optional<std::string> problem(std::size_t n) const {
    const std::size_t f = options_.byzantine;
    if (n < 4 * f + 3)
      return "bulyan: needs n >= 4f + 3 updates, got n = " + std::to_string(n) +
             " for f = " + std::to_string(f) + " (4f + 3 = " + std::to_string(4 * f + 3) + ")";
    return std::nullopt;
  }

  /// The θ = n − 2f rows the Krum passes select, in selection order. Throws invalid_config
  /// when problem(x.rows()).
  template <class T>
  [[nodiscard]] std::vector<std::size_t> select(const update_matrix<T>& x) const {
    require(x.rows());
    const std::size_t n = x.rows(), f = options_.byzantine;
    const auto dist = detail::pairwise_squared_distances(x, pool_); // once, for every pass
    const detail::krum_score_table table(dist, n);
    std::vector<unsigned char> remaining(n, 1);
    std::vector<std::size_t> selected;
    selected.reserve(theta(n));
    for (std::size_t r = n; selected.size() < theta(n); --r) { // r rows remain
      const std::size_t neighbours = r > f + 3 ? r - f - 2 : 1;
      const auto scores = table.scores(remaining, neighbours);
      std::size_t best = n;
      for (std::size_t a = 0; a < n; ++a) // lowest score, ties: lowest index
        if (remaining[a] != 0 && (best == n || scores[a] < scores[best])) best = a;
      selected.push_back(best);
      remaining[best] = 0;
    }
    return selected;
  }

  /// The Bulyan aggregate. Throws invalid_config when problem(x.rows()).
  template <class T>
  void reduce(const update_matrix<T>& x, std::span<T> out) const {
    const auto selected = select(x);
    mean_around_median(x, std::span<const std::size_t>(selected), beta(x.rows()), out, pool_);
  }

private:
  void require(std::size_t n) const {
    if (auto why = problem(n)) throw invalid_config(*why);
  }

  bulyan_options options_;
  parallel::thread_pool* pool_ = nullptr;
};

/// Bulyan aggregator: `bulyan<float>(layout, {.byzantine = f})`.
template <element_type T = float>
using bulyan = robust_aggregator<T, bulyan_rule>;

static_assert(robust_rule<bulyan_rule, float>);
static_assert(aggregator<bulyan<float>>);

} // namespace fedpp
