/// \file duplicate_filter.hpp
/// Per-round record of which clients have reported, so that the server counts each client once.
#pragma once

#include "fedpp/error.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <unordered_set>

namespace fedpp {

/// Remembers the clients that reported in the current round. Starting a new round forgets them.
class duplicate_filter {
public:
  /// A filter for `round` with nobody reported yet.
  explicit duplicate_filter(std::uint64_t round = 0) : round_(round) {}

  /// Begins `round`: forgets every client.
  void start_round(std::uint64_t round) {
    round_ = round;
    seen_.clear();
  }

  /// The current round.
  [[nodiscard]] std::uint64_t round() const noexcept { return round_; }
  /// True when `client` already reported in the current round.
  [[nodiscard]] bool contains(client_id client) const { return seen_.contains(client); }
  /// Clients that reported in the current round.
  [[nodiscard]] std::size_t size() const noexcept { return seen_.size(); }

  /// Records `client`; true when this is its first report of the round, false for a duplicate.
  bool insert(client_id client) { return seen_.insert(client).second; }

  /// Records `client`'s report for `round`, or throws rejected_update (state unchanged): reason
  /// `duplicate` when it already reported this round, `other` when `round` is not the current one.
  void check_and_insert(std::uint64_t round, client_id client) {
    if (round != round_)
      throw rejected_update(client, rejection_reason::other,
                            "the update is for round " + std::to_string(round) + ", the current round is " +
                                std::to_string(round_));
    if (!seen_.insert(client).second)
      throw rejected_update(client, rejection_reason::duplicate,
                            "the client already reported in round " + std::to_string(round_));
  }

private:
  std::uint64_t round_;
  std::unordered_set<client_id> seen_;
};

} // namespace fedpp
