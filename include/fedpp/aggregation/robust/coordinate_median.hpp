/// \file coordinate_median.hpp
/// Coordinate-wise median (Yin et al. 2018, "Byzantine-Robust Distributed Learning: Towards
/// Optimal Statistical Rates", Definition 1): out[d] = median_k x_k[d]. With an even count the
/// median is the mean of the two middle values (numpy's np.median, as Flower's FedMedian).
/// Unweighted: client weights are ignored (as in Flower).
#pragma once

#include "fedpp/aggregation/robust/detail/coordinate_kernels.hpp"
#include "fedpp/aggregation/robust/robust_aggregator.hpp"
#include "fedpp/aggregation/robust/update_matrix.hpp"
#include "fedpp/error.hpp"

#include <cstddef>
#include <optional>
#include <span>
#include <string>

namespace fedpp {

/// The coordinate-wise median rule (any n ≥ 1).
struct median_rule {
  /// Rule name for messages.
  [[nodiscard]] const char* name() const noexcept { return "coordinate_median"; }
  /// Every n ≥ 1 works.
  [[nodiscard]] std::optional<std::string> problem(std::size_t n) const {
    if (n == 0) return std::string("coordinate_median: no updates");
    return std::nullopt;
  }
  /// out[d] = the median of column d (mean of the two middle values for even n). Throws
  /// invalid_config for no rows.
  template <class T>
  void reduce(const update_matrix<T>& m, std::span<T> out) const {
    if (auto why = problem(m.rows())) throw invalid_config(*why);
    const std::size_t n = m.rows();
    const std::size_t lo = n % 2 == 1 ? n / 2 : n / 2 - 1;
    detail::coordinate_order_statistic(m, lo, n / 2 + 1, out);
  }
};

/// Coordinate-wise median aggregator.
template <element_type T = float>
using coordinate_median = robust_aggregator<T, median_rule>;

static_assert(robust_rule<median_rule, float>);
static_assert(aggregator<coordinate_median<float>>);

} // namespace fedpp
