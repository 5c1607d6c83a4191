/// \file update_recorder.hpp
/// Server hooks for fedpp::server that keep a copy of each round's admitted client deltas and of
/// the round's aggregate, so that contribution (gtg_shapley_round) and reputation
/// (reputation_table::observe_round) can be computed after run_round without changing the round.
///
/// What is recorded: every report that reaches decode_update — sender authenticated, round,
/// selection and layout checked, weight admitted by the server's weight_policy — and whose values
/// are all finite (a non-finite one is refused by the aggregator right after, so it is not
/// recorded either; its sender is listed in `refused`). The weight recorded is min(declared,
/// max_weight): set max_weight to the server's weight_policy::max_weight when that policy clips
/// (the default policy refuses larger weights before decode_update). on_aggregate copies the mean
/// delta the server is about to apply (before any later hook changes it: put this recorder first).
///
/// Memory (bounded): at most max_updates deltas a round, K × D × sizeof(T) bytes, allocated as
/// reports arrive; reports beyond that are not recorded (counted in `not_recorded`), the round
/// itself is unaffected. The record is shared (std::shared_ptr) between the hooks inside the
/// server and the caller. Dense payloads only. Not thread-safe: the server calls its hooks from its
/// own thread, and the caller reads the record between rounds.
#pragma once

#include "fedpp/error.hpp"
#include "fedpp/incentives/gtg_shapley.hpp"
#include "fedpp/kernels/finite.hpp"
#include "fedpp/tensor/dtype.hpp"
#include "fedpp/tensor/model_layout.hpp"
#include "fedpp/transport/wire_format.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace fedpp::incentives {

/// One round as update_recorder saw it.
template <element_type T>
struct round_record {
  std::uint64_t round = 0;            ///< the server's round index
  std::vector<client_id> recipients;  ///< asked to train
  std::vector<client_id> clients;     ///< recorded reports, in arrival order
  std::vector<double> weights;        ///< their weights
  std::vector<std::vector<T>> deltas; ///< their deltas
  std::vector<client_id> refused;     ///< reports with NaN/Inf (refused by the aggregator too)
  std::size_t not_recorded = 0;       ///< reports beyond max_updates
  std::vector<T> aggregate;           ///< the mean delta applied (empty: the round failed)

  /// Views of the recorded reports, for gtg_shapley_round and observe_round (valid while the
  /// record is unchanged).
  [[nodiscard]] std::vector<round_update<T>> updates() const {
    std::vector<round_update<T>> out;
    out.reserve(clients.size());
    for (std::size_t k = 0; k < clients.size(); ++k)
      out.push_back({clients[k], std::span<const T>(deltas[k]), weights[k]});
    return out;
  }
};

/// See the file comment.
template <element_type T = float>
struct update_recorder {
  /// Shared with the caller, who reads it after each run_round.
  std::shared_ptr<round_record<T>> record = std::make_shared<round_record<T>>();
  std::size_t max_updates = 64; ///< deltas kept per round (memory: max_updates × D × sizeof(T))
  double max_weight = 1e6;      ///< recorded weights are clipped to this (the server's max_weight)

  /// Forgets the previous round.
  void begin_round(const std::vector<client_id>& recipients, std::uint64_t round) {
    round_record<T>& r = *record;
    r.round = round;
    r.recipients = recipients;
    r.clients.clear();
    r.weights.clear();
    r.deltas.clear();
    r.refused.clear();
    r.not_recorded = 0;
    r.aggregate.clear();
  }

  /// Records the report (when finite and there is room) and returns the dense payload unchanged.
  std::span<const T> decode_update(const wire::decoded_message& decoded, std::span<T> /*scratch*/) {
    const std::span<const T> delta = decoded.template payload<T>();
    round_record<T>& r = *record;
    if (!kernels::all_finite(delta)) {
      r.refused.push_back(decoded.sender());
    } else if (r.clients.size() >= max_updates) {
      ++r.not_recorded;
    } else {
      r.deltas.emplace_back(delta.begin(), delta.end());
      r.clients.push_back(decoded.sender());
      r.weights.push_back(std::min(decoded.weight(), max_weight));
    }
    return delta;
  }

  /// Copies the mean delta the server applies.
  void on_aggregate(std::span<T> mean_delta, std::uint64_t /*round*/) {
    record->aggregate.assign(mean_delta.begin(), mean_delta.end());
  }

  /// Dense updates only: no payload larger than the model.
  [[nodiscard]] std::uint64_t max_update_payload_bytes(const model_layout& layout) const noexcept {
    return static_cast<std::uint64_t>(layout.total_size()) * sizeof(T);
  }
};

} // namespace fedpp::incentives
