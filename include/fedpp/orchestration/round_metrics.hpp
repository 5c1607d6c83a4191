/// \file round_metrics.hpp
/// What one round did: who was asked, who answered, what was refused, bytes and time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>

namespace fedpp {

/// Per-round metrics of a synchronous round (or of one server step of an asynchronous run).
struct round_metrics {
  std::uint64_t round = 0;              ///< round number (server version for asynchronous runs)
  bool succeeded = false;               ///< false: too few reports, the global model is unchanged
  bool released_without_quorum = false; ///< too few reports, yet the hooks released a step (central DP)
  std::size_t sampled = 0;              ///< clients selected
  std::size_t reported = 0;             ///< reports accepted into the aggregate
  std::size_t dropped = 0;              ///< selected clients that never reported (dropouts)
  std::size_t stragglers = 0;           ///< selected clients whose report came after the deadline
  std::size_t surplus = 0;              ///< on-time reports beyond the target (over-selection)
  std::size_t duplicates = 0;           ///< repeated reports from one client
  std::size_t malformed = 0;            ///< messages that did not decode or did not fit the round
  std::size_t rejected = 0;             ///< decoded updates the aggregator refused (layout, weight, NaN/Inf)
  std::size_t impersonations = 0; ///< reports whose claimed sender differs from the transport's sender (refused)
  std::size_t weight_rejected = 0;   ///< reports refused by the weight policy (weight above its bound)
  std::size_t weight_clipped = 0;    ///< reports whose weight the weight policy clipped to its bound
  std::size_t metrics_refused = 0;   ///< client metric values dropped (non-finite, too large, too many keys)
  std::size_t over_budget = 0;       ///< partial (chunked) messages dropped for exceeding the memory budget
  std::size_t client_failures = 0;   ///< clients that reported a local failure (their trainer threw)
  bool aggregate_non_finite = false; ///< the round's mean or the stepped model (or optimizer state) was
                                     ///< not finite, or hooks that aggregate gave no mean: round failed
  std::size_t stale = 0;          ///< reports for an earlier round (asynchronous: applied with a discount)
  std::uint64_t bytes_down = 0;   ///< server → clients
  std::uint64_t bytes_up = 0;     ///< clients → server (every received message, refused ones too)
  double round_seconds = 0;       ///< wall-clock time of the round
  double aggregation_seconds = 0; ///< wall-clock time inside decode + aggregate + server update
  double simulated_seconds = 0;   ///< simulated duration (slowest accepted client), 0 outside simulation
  double total_examples = 0;      ///< Σ n_k over accepted reports
  double mean_staleness = 0;      ///< asynchronous: mean server versions between pull and apply
  std::map<std::string, double> client_metrics; ///< clients' metrics, weighted by n_k
  std::map<std::string, double> evaluation;     ///< the user's evaluation of the new global model
};

} // namespace fedpp
