/// \file round_policy.hpp
/// How many reports a synchronous round wants, how few it tolerates, and how long it waits.
#pragma once

#include "fedpp/error.hpp"

#include <chrono>
#include <cstddef>
#include <string>

namespace fedpp {

/// Report-handling settings of one synchronous round (see round_tracker).
struct round_policy {
  /// m: the round keeps the first m accepted reports; later on-time ones count as surplus.
  std::size_t target_reports = 1;
  /// Below this many accepted reports when the round ends, the round fails (no aggregation).
  std::size_t min_reports = 1;
  /// Reports must arrive strictly before this time after the round starts; 0 = no deadline.
  std::chrono::nanoseconds deadline{0};

  /// Throws invalid_config unless 1 ≤ min_reports ≤ target_reports ≤ num_selected and
  /// deadline ≥ 0.
  void validate(std::size_t num_selected) const {
    const auto text = [](std::size_t v) { return std::to_string(v); };
    if (min_reports == 0) throw invalid_config("round_policy: min_reports must be >= 1");
    if (min_reports > target_reports)
      throw invalid_config("round_policy: min_reports = " + text(min_reports) +
                           " exceeds target_reports = " + text(target_reports));
    if (target_reports > num_selected)
      throw invalid_config("round_policy: target_reports = " + text(target_reports) + " exceeds the " +
                           text(num_selected) + " selected clients");
    if (deadline.count() < 0)
      throw invalid_config("round_policy: deadline = " + std::to_string(deadline.count()) +
                           " ns is negative (0 means no deadline)");
  }

  friend bool operator==(const round_policy&, const round_policy&) = default;
};

} // namespace fedpp
