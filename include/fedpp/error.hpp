/// \file error.hpp
/// The library's one error style: exceptions derived from fedpp::error.
///
/// - Configuration mistakes and incompatible merges throw fedpp::invalid_config.
/// - A bad per-client input (wrong layout, bad weight, NaN/Inf) throws fedpp::rejected_update,
///   which names the client, the tensor and the values involved. Every function that can throw
///   it validates before it mutates, so the receiver's state is exactly unchanged afterwards
///   (strong exception guarantee) and the caller may simply go on with the next client.
/// - Malformed bytes (wire format, compressed payloads) throw fedpp::malformed_message.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>

namespace fedpp {

/// Identifies a client in messages, metrics and error messages.
using client_id = std::uint64_t;

/// Base of every exception fedpp throws.
class error : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

/// A configuration or usage mistake: bad parameters, incompatible merges, mismatched sizes.
class invalid_config : public error {
public:
  using error::error;
};

/// Why a client's update was refused.
enum class rejection_reason : std::uint8_t {
  layout_mismatch, ///< tensor names, count, shapes or dtype differ from the model's
  bad_weight,      ///< weight is zero, negative, NaN or infinite
  non_finite,      ///< a value is NaN or Inf
  duplicate,       ///< the client already reported in this round
  malformed,       ///< the bytes could not be decoded
  other
};

/// Human-readable name of a rejection reason.
[[nodiscard]] inline const char* to_string(rejection_reason reason) noexcept {
  switch (reason) {
  case rejection_reason::layout_mismatch:
    return "layout mismatch";
  case rejection_reason::bad_weight:
    return "bad weight";
  case rejection_reason::non_finite:
    return "non-finite value";
  case rejection_reason::duplicate:
    return "duplicate";
  case rejection_reason::malformed:
    return "malformed";
  case rejection_reason::other:
    break;
  }
  return "other";
}

/// One client's update was refused; the receiver's state is unchanged.
class rejected_update : public error {
public:
  rejected_update(client_id client, rejection_reason reason, const std::string& detail)
      : error("update from client " + std::to_string(client) + " rejected (" + to_string(reason) +
              "): " + detail),
        client_(client), reason_(reason) {}

  /// The client whose update was refused.
  [[nodiscard]] client_id client() const noexcept { return client_; }
  /// The category of the refusal, for metrics.
  [[nodiscard]] rejection_reason reason() const noexcept { return reason_; }

private:
  client_id client_;
  rejection_reason reason_;
};

/// Bytes that do not decode: bad magic, version, checksum, truncation, out-of-range fields.
class malformed_message : public error {
public:
  using error::error;
};

/// A message whose claimed sender is not the endpoint the transport saw sending it (or one that
/// endpoint may speak for). Refused like a malformed message; receivers count it apart.
class impersonation : public malformed_message {
public:
  impersonation(std::uint64_t from, std::uint64_t claimed, const std::string& detail)
      : malformed_message("endpoint " + std::to_string(from) + " claims to be " + std::to_string(claimed) +
                          ": " + detail),
        from_(from), claimed_(claimed) {}
  /// The endpoint the transport saw sending.
  [[nodiscard]] std::uint64_t from() const noexcept { return from_; }
  /// The sender the message claimed.
  [[nodiscard]] std::uint64_t claimed() const noexcept { return claimed_; }

private:
  std::uint64_t from_;
  std::uint64_t claimed_;
};

/// A message (or a part of one) refused because holding it would exceed a documented memory
/// budget; the receiver dropped what it held for that message and is otherwise unchanged.
class budget_exceeded : public malformed_message {
public:
  using malformed_message::malformed_message;
};

} // namespace fedpp
