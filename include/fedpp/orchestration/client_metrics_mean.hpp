/// \file client_metrics_mean.hpp
/// The round's client metrics (loss, accuracy, ...): per key, the mean weighted by the clients'
/// admitted weights over the reports that sent that key — Flower's `weighted_average` convention
/// (Σ n_k m_k / Σ n_k over the clients that report m). Metric values come from untrusted clients,
/// so each is checked against a client_metrics_policy first: a non-finite value, one of magnitude
/// above the bound, a key longer than allowed, or keys beyond the per-report and per-round
/// limits are dropped and counted; the rest of the report (its update) is unaffected.
#pragma once

#include "fedpp/error.hpp"

#include <cmath>
#include <cstddef>
#include <map>
#include <string>
#include <utility>

namespace fedpp {

/// Limits on the metrics one client may report (see the file comment).
struct client_metrics_policy {
  std::size_t max_keys_per_report = 64; ///< entries of one report beyond this are dropped
  std::size_t max_keys_per_round = 256; ///< distinct keys per round; new keys beyond this are dropped
  std::size_t max_key_bytes = 128;      ///< longer keys are dropped
  double max_magnitude = 1e15;          ///< values with |v| above this (or NaN/Inf) are dropped

  /// Throws invalid_config for a non-finite or non-positive max_magnitude.
  void validate() const {
    if (!(std::isfinite(max_magnitude) && max_magnitude > 0))
      throw invalid_config("client_metrics_policy: max_magnitude must be finite and > 0, got " +
                           std::to_string(max_magnitude));
  }
};

/// Accumulates the per-key weighted means of one round's client metrics.
class client_metrics_mean {
public:
  explicit client_metrics_mean(client_metrics_policy policy = {}) : policy_(policy) {}

  /// Adds one accepted report's metrics with its admitted `weight` (finite, > 0). Returns how
  /// many entries were dropped by the policy.
  std::size_t add(double weight, const std::map<std::string, double>& metrics) {
    std::size_t dropped = 0;
    std::size_t taken = 0;
    for (const auto& [key, value] : metrics) {
      if (taken == policy_.max_keys_per_report || key.size() > policy_.max_key_bytes ||
          !(std::abs(value) <= policy_.max_magnitude)) {
        ++dropped;
        continue;
      }
      auto it = sums_.find(key);
      if (it == sums_.end()) {
        if (sums_.size() == policy_.max_keys_per_round) {
          ++dropped;
          continue;
        }
        it = sums_.emplace(key, sum{}).first;
      }
      it->second.weighted += weight * value;
      it->second.weight += weight;
      ++taken;
    }
    return dropped;
  }

  /// The per-key weighted means so far.
  [[nodiscard]] std::map<std::string, double> means() const {
    std::map<std::string, double> out;
    for (const auto& [key, s] : sums_) out.emplace(key, s.weighted / s.weight);
    return out;
  }

  /// Forgets every key.
  void clear() noexcept { sums_.clear(); }

private:
  struct sum {
    double weighted = 0; // Σ w·v: ≤ 1e12 · 1e15 per report under the default bounds
    double weight = 0;   // Σ w over the reports with this key
  };
  client_metrics_policy policy_;
  std::map<std::string, sum> sums_;
};

} // namespace fedpp
