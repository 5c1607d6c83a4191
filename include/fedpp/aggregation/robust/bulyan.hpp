/// \file bulyan.hpp
/// Bulyan (El Mhamdi et al. 2018, "The Hidden Vulnerability of Distributed Learning in
/// Byzantium"), as Flower's Bulyan with Krum as the selection rule:
///  1. select θ = n − 2f updates by applying Krum θ times, each time to the updates not yet
///     selected (Krum's neighbour count max(1, r − f − 2) for r remaining, as Flower);
///  2. for each coordinate, average the β = θ − 2f selected values closest to the selected
///     values' coordinate-wise median (mean of the two middle values for even θ).
/// Requires n ≥ 4f + 3. Unweighted. Ties: lower index first (selection), lower value first
/// (closest values).
#pragma once

#include "fedpp/aggregation/robust/detail/pairwise_distances.hpp"
#include "fedpp/aggregation/robust/krum.hpp"
#include "fedpp/aggregation/robust/robust_aggregator.hpp"
#include "fedpp/aggregation/robust/update_matrix.hpp"
#include "fedpp/error.hpp"
#include "fedpp/parallel/thread_pool.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <numeric>
#include <span>
#include <string>
#include <vector>

namespace fedpp {

/// The Bulyan rule with f assumed Byzantine updates.
struct bulyan_rule {
  std::size_t f = 0; ///< assumed number of Byzantine updates
  /// Optional: the distance phase runs on this user-sized pool (see krum_rule::pool).
  parallel::thread_pool* pool = nullptr;

  /// This rule with its distance phase on `threads`.
  [[nodiscard]] bulyan_rule with_pool(parallel::thread_pool& threads) const {
    bulyan_rule r = *this;
    r.pool = &threads;
    return r;
  }

  /// Rule name for messages.
  [[nodiscard]] const char* name() const noexcept { return "bulyan"; }
  /// Needs n ≥ 4f + 3.
  void check(std::size_t n) const {
    if (n < 4 * f + 3)
      throw invalid_config("bulyan: needs n >= 4f + 3, got n = " + std::to_string(n) + " updates for f = " +
                           std::to_string(f) + " (4f + 3 = " + std::to_string(4 * f + 3) + ")");
  }
  /// The θ = n − 2f rows Krum selects, in selection order.
  template <class T>
  [[nodiscard]] std::vector<std::size_t> select(const update_matrix<T>& x) const {
    const std::size_t n = x.rows();
    const auto dist = detail::pairwise_squared_distances(x, pool);
    std::vector<std::size_t> remaining(n);
    std::iota(remaining.begin(), remaining.end(), std::size_t{0});
    std::vector<std::size_t> selected;
    const std::size_t theta = n - 2 * f;
    while (selected.size() < theta) {
      const std::size_t r = remaining.size();
      const std::size_t neighbours = r > f + 2 ? r - f - 2 : 1;
      const auto scores = detail::krum_scores(dist, n, remaining, std::max<std::size_t>(1, neighbours));
      const std::size_t best = detail::ranking(scores).front();
      selected.push_back(remaining[best]);
      remaining.erase(remaining.begin() + static_cast<std::ptrdiff_t>(best));
    }
    return selected;
  }
  /// The Bulyan aggregate.
  template <class T>
  void reduce(const update_matrix<T>& x, std::span<T> out) const {
    const auto selected = select(x);
    const std::size_t theta = selected.size();
    const std::size_t beta = theta - 2 * f;
    std::vector<double> column(theta);
    for (std::size_t d = 0; d < x.dim(); ++d) {
      for (std::size_t s = 0; s < theta; ++s) column[s] = static_cast<double>(x.row(selected[s])[d]);
      std::sort(column.begin(), column.end());
      const double median =
          theta % 2 == 1 ? column[theta / 2] : 0.5 * (column[theta / 2 - 1] + column[theta / 2]);
      // The β values nearest the median form a contiguous window of the sorted column.
      std::size_t best = 0;
      double best_reach = std::numeric_limits<double>::infinity();
      for (std::size_t w = 0; w + beta <= theta; ++w) {
        const double reach = std::max(std::abs(column[w] - median), std::abs(column[w + beta - 1] - median));
        if (reach < best_reach) {
          best_reach = reach;
          best = w;
        }
      }
      double sum = 0;
      for (std::size_t i = best; i < best + beta; ++i) sum += column[i];
      out[d] = static_cast<T>(sum / static_cast<double>(beta));
    }
  }
};

/// Bulyan aggregator; build with `bulyan<float>(layout, bulyan_rule{f})`.
template <element_type T = float>
using bulyan = robust_aggregator<T, bulyan_rule>;

static_assert(robust_rule<bulyan_rule, float>);
static_assert(aggregator<bulyan<float>>);

} // namespace fedpp
