/// \file mean_around_median.hpp
/// Bulyan's second step as a function of its own: for every coordinate d of a K × D matrix,
/// the mean of the β values of column d closest to the column's median (El Mhamdi et al. 2018,
/// "The Hidden Vulnerability of Distributed Learning in Byzantium", Algorithm 1 step 2). The
/// median of an even count is the mean of the two middle values; among equally close values the
/// lower ones are taken. β = K gives the column mean, β = 1 (odd K) the median. Unweighted.
///
/// ```cpp
/// fedpp::update_matrix<float> x(dim);              // K rows of D values, e.g. robust_aggregator::updates()
/// std::vector<float> out(dim);
/// fedpp::mean_around_median(x, /*beta*/ 4, std::span<float>(out));
/// ```
#pragma once

#include "fedpp/aggregation/robust/detail/closest_to_median.hpp"
#include "fedpp/aggregation/robust/update_matrix.hpp"
#include "fedpp/error.hpp"
#include "fedpp/parallel/parallel_for.hpp"
#include "fedpp/parallel/thread_pool.hpp"

#include <cstddef>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

namespace fedpp {

/// out[d] = the mean of the β values of { rows[k][d] } closest to their median, for every d in
/// [0, out.size()); every row holds at least out.size() values (any alignment). Values must be
/// finite. Throws invalid_config for no rows or β outside [1, rows.size()]. With a pool the
/// coordinates are split into one contiguous range per thread; the result does not depend on
/// the pool (each coordinate is computed alone, in double, and rounded once).
template <class T>
void mean_around_median(std::span<const T* const> rows, std::size_t beta, std::span<T> out,
                        parallel::thread_pool* pool = nullptr) {
  static_assert(std::is_floating_point_v<T>, "mean_around_median works on floating-point values");
  if (rows.empty()) throw invalid_config("mean_around_median: no rows");
  if (beta == 0 || beta > rows.size())
    throw invalid_config("mean_around_median: beta must be in [1, K], got beta = " + std::to_string(beta) +
                         " for K = " + std::to_string(rows.size()) + " rows");
  const std::size_t dim = out.size();
  if (dim == 0) return;
  // Ranges of whole cache lines of every row; one per pool thread.
  constexpr std::size_t granule = 256;
  if (pool == nullptr || pool->size() <= 1 || dim <= granule) {
    detail::closest_to_median(rows.data(), rows.size(), beta, 0, dim, out.data());
    return;
  }
  parallel::parallel_for(*pool, 0, dim, granule, [&](std::size_t lo, std::size_t hi) {
    detail::closest_to_median(rows.data(), rows.size(), beta, lo, hi, out.data());
  });
}

/// mean_around_median over the rows of `x` listed in `selected` (indices < x.rows(), in any
/// order; Bulyan passes the rows its Krum passes chose). out.size() must be x.dim().
template <element_type T>
void mean_around_median(const update_matrix<T>& x, std::span<const std::size_t> selected, std::size_t beta,
                        std::type_identity_t<std::span<T>> out, parallel::thread_pool* pool = nullptr) {
  if (out.size() != x.dim())
    throw invalid_config("mean_around_median: output has " + std::to_string(out.size()) +
                         " elements, the rows " + std::to_string(x.dim()));
  std::vector<const T*> rows;
  rows.reserve(selected.size());
  for (std::size_t k : selected) {
    if (k >= x.rows())
      throw invalid_config("mean_around_median: row " + std::to_string(k) + " of " +
                           std::to_string(x.rows()));
    rows.push_back(x.row(k).data());
  }
  mean_around_median(std::span<const T* const>(rows), beta, out, pool);
}

/// mean_around_median over every row of `x`. out.size() must be x.dim().
template <element_type T>
void mean_around_median(const update_matrix<T>& x, std::size_t beta, std::type_identity_t<std::span<T>> out,
                        parallel::thread_pool* pool = nullptr) {
  std::vector<std::size_t> all(x.rows());
  for (std::size_t k = 0; k < all.size(); ++k) all[k] = k;
  mean_around_median(x, std::span<const std::size_t>(all), beta, out, pool);
}

} // namespace fedpp
