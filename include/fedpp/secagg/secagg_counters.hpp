/// \file secagg_counters.hpp
/// Counters of refused secure-aggregation messages, by kind of violation, and the exceptions
/// the protocol state machines throw. Messages name ids, rounds, tags and sizes — never key,
/// seed or share bytes.
#pragma once

#include "fedpp/error.hpp"
#include "fedpp/transport/message.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

namespace fedpp::secagg {

/// Why a protocol message was refused.
enum class violation : std::uint8_t {
  malformed,      ///< bytes do not decode (truncated, bad checksum, bad lengths)
  forged,         ///< a ciphertext or share fails authentication (or is bound to another sender/round)
  unknown_sender, ///< the sender is not a participant (or, for a client, not the server)
  wrong_round,    ///< the message belongs to another round (replays from earlier rounds land here)
  wrong_phase,    ///< the message type is not expected now, or the sender dropped out earlier
  duplicate,      ///< a second message of this type from this sender in this round (replays land here)
  wrong_recipient, ///< shares addressed to a non-neighbour, to oneself, or to another recipient
  inconsistent,    ///< a key, neighbour, survivor or share list that contradicts what the receiver knows
  impersonation,   ///< the header's claimed sender differs from the transport's (authenticated) sender
};

/// Number of violation kinds.
inline constexpr std::size_t violation_kinds = 9;

/// Name of a violation, for metrics and messages.
[[nodiscard]] constexpr const char* to_string(violation v) noexcept {
  switch (v) {
  case violation::malformed:
    return "malformed";
  case violation::forged:
    return "forged";
  case violation::unknown_sender:
    return "unknown sender";
  case violation::wrong_round:
    return "wrong round";
  case violation::wrong_phase:
    return "wrong phase";
  case violation::duplicate:
    return "duplicate";
  case violation::wrong_recipient:
    return "wrong recipient";
  case violation::inconsistent:
    return "inconsistent";
  case violation::impersonation:
    return "impersonation";
  }
  return "unknown";
}

/// Refused messages by violation, and aborted rounds.
struct secagg_counters {
  std::array<std::uint64_t, violation_kinds> refused{}; ///< indexed by violation
  std::uint64_t aborts = 0;                             ///< rounds aborted (too few survivors)

  /// Refused messages of one kind.
  [[nodiscard]] std::uint64_t operator[](violation v) const noexcept {
    return refused[static_cast<std::size_t>(v)];
  }
  /// All refused messages.
  [[nodiscard]] std::uint64_t total_refused() const noexcept {
    std::uint64_t s = 0;
    for (const auto c : refused) s += c;
    return s;
  }
};

/// A protocol message was refused; the receiver's state is unchanged.
class protocol_violation : public error {
public:
  protocol_violation(violation kind, endpoint_id sender, const std::string& detail)
      : error("secagg: message from " + name(sender) + " refused (" + to_string(kind) + "): " + detail),
        kind_(kind), sender_(sender) {}
  /// The kind of violation.
  [[nodiscard]] violation kind() const noexcept { return kind_; }
  /// The transport sender of the refused message.
  [[nodiscard]] endpoint_id sender() const noexcept { return sender_; }

private:
  static std::string name(endpoint_id e) {
    return e == server_endpoint ? "the server" : "client " + std::to_string(e);
  }
  violation kind_;
  endpoint_id sender_;
};

/// The round was aborted (too few survivors in some phase): no sum is produced and nothing
/// about any input is revealed.
class secagg_aborted : public error {
public:
  using error::error;
};

} // namespace fedpp::secagg
