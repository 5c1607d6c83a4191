/// \file weighted_average.hpp
/// The weighted average of client metrics as free functions, with Flower's conventions, for
/// users who check a round's numbers by hand: Σ_k n_k m_k / Σ_k n_k over (n_k, m_k) pairs — the
/// `weighted_average(metrics)` of Flower's examples and `flwr.server.strategy.aggregate.
/// weighted_loss_avg`, both (num_examples, value) pairs summed left to right then divided.
/// Flower's Message-API strategies (`aggregate_metricrecords`) normalise first: Σ_k m_k (n_k / Σ n)
/// — average_order::normalize_then_sum, which can differ from the former in the last bits.
/// fedpp::server's round_metrics::client_metrics is the sum-then-divide mean per key over the
/// reports that sent the key (orchestration/client_metrics_mean.hpp); with the same reports in
/// the same order, weighted_average gives it bit for bit.
#pragma once

#include "fedpp/error.hpp"

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace fedpp {

/// The order of the operations of a weighted average (both are Flower's, see the file comment).
enum class average_order : std::uint8_t {
  sum_then_divide = 0,   ///< (Σ n_k m_k) / Σ n_k: Flower's weighted_average / weighted_loss_avg
  normalize_then_sum = 1 ///< Σ m_k (n_k / Σ n): Flower's aggregate_metricrecords
};

namespace detail {

inline void weighted_average_check_entry(std::size_t k, double weight, double value) {
  if (!(weight >= 0) || !std::isfinite(weight))
    throw invalid_config("weighted_average: weight of entry " + std::to_string(k) + " is " +
                         std::to_string(weight) + " (must be finite and >= 0)");
  if (!std::isfinite(value))
    throw invalid_config("weighted_average: value of entry " + std::to_string(k) + " is " +
                         std::to_string(value) + " (must be finite)");
}

inline void weighted_average_check_total(double total, std::size_t count) {
  if (!(total > 0) || !std::isfinite(total))
    throw invalid_config("weighted_average: the weights of the " + std::to_string(count) +
                         " entries sum to " + std::to_string(total) + " (must be finite and > 0)");
}

} // namespace detail

/// The weighted average of (weight n_k, value m_k) pairs — Flower's (num_examples, value)
/// order. Throws invalid_config, naming the entry and its value, for an empty list, a weight
/// that is negative or not finite, a value that is not finite, or weights whose sum is not
/// finite and > 0.
[[nodiscard]] inline double weighted_average(std::span<const std::pair<double, double>> weight_value,
                                             average_order order = average_order::sum_then_divide) {
  if (weight_value.empty()) throw invalid_config("weighted_average: no entries to average");
  double total = 0;
  for (std::size_t k = 0; k < weight_value.size(); ++k) {
    detail::weighted_average_check_entry(k, weight_value[k].first, weight_value[k].second);
    total += weight_value[k].first;
  }
  detail::weighted_average_check_total(total, weight_value.size());
  double sum = 0;
  if (order == average_order::sum_then_divide) {
    for (const auto& [n, m] : weight_value) sum += n * m;
    return sum / total;
  }
  for (const auto& [n, m] : weight_value) sum += m * (n / total);
  return sum;
}

/// Per-key weighted average of client metrics, Flower's `weighted_average` over a list of
/// (num_examples, metrics) pairs: every key must be present in every report (Flower raises
/// KeyError / InconsistentMessageReplies otherwise; here invalid_config naming the key and the
/// report). Same checks as the scalar form, per key.
[[nodiscard]] inline std::map<std::string, double>
weighted_average(std::span<const std::pair<double, std::map<std::string, double>>> reports,
                 average_order order = average_order::sum_then_divide) {
  if (reports.empty()) throw invalid_config("weighted_average: no reports to average");
  const auto& keys = reports.front().second;
  for (std::size_t k = 1; k < reports.size(); ++k) {
    const auto& m = reports[k].second;
    for (const auto& [key, value] : keys)
      if (m.find(key) == m.end())
        throw invalid_config("weighted_average: report " + std::to_string(k) + " has no metric '" + key +
                             "' (report 0 has it)");
    for (const auto& [key, value] : m)
      if (keys.find(key) == keys.end())
        throw invalid_config("weighted_average: report " + std::to_string(k) + " has metric '" + key +
                             "' that report 0 lacks");
  }
  std::map<std::string, double> out;
  std::vector<std::pair<double, double>> column(reports.size());
  for (const auto& [key, unused] : keys) {
    for (std::size_t k = 0; k < reports.size(); ++k)
      column[k] = {reports[k].first, reports[k].second.at(key)};
    try {
      out.emplace(key, weighted_average(std::span<const std::pair<double, double>>(column), order));
    } catch (const invalid_config& e) {
      throw invalid_config("metric '" + key + "': " + e.what());
    }
  }
  return out;
}

} // namespace fedpp
