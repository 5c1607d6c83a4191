/// \file transport.hpp
/// The transport concept: how endpoints (the server and the clients) exchange messages.
///
/// Valid expressions, for `t` a (non-const) transport endpoint `T`, `ct` a const one, `to` an
/// endpoint_id, `m` a `const message&` and `deadline` a `transport_clock::time_point`:
///
/// | expression             | type                    | semantics                                          |
/// |------------------------|-------------------------|----------------------------------------------------|
/// | `ct.id()`              | `endpoint_id`           | this endpoint's id (server_endpoint or a client id) |
/// | `t.send(to, m)`        | `void`                  | queues `m` for endpoint `to`, from `ct.id()`; does
/// not wait for the receiver; the message's bytes are shared, not copied, where the transport can | |
/// `t.receive(deadline)`  | `std::optional<envelope>` | the next message addressed to this endpoint, waiting
/// until `deadline` at most; nullopt on timeout (or once the transport is closed) | | `ct.bytes_sent()` |
/// `std::uint64_t`         | message bytes this endpoint has sent               | | `ct.bytes_received()`  |
/// `std::uint64_t`         | message bytes this endpoint has received           |
///
/// Messages from one sender to one receiver arrive in the order they were sent.
#pragma once

#include "fedpp/transport/message.hpp"

#include <chrono>
#include <concepts>
#include <cstdint>
#include <optional>

namespace fedpp {

/// The clock of transport deadlines.
using transport_clock = std::chrono::steady_clock;

/// A received message with its addressing.
struct envelope {
  endpoint_id from = 0;   ///< the sending endpoint
  endpoint_id to = 0;     ///< the endpoint it was addressed to (which local client, on a shared rank)
  fedpp::message message; ///< the bytes
};

/// See the table of valid expressions in this file's header comment.
template <class T>
concept transport = requires(T& t, const T& ct, endpoint_id to, const message& m,
                             transport_clock::time_point deadline) {
  { ct.id() } -> std::same_as<endpoint_id>;
  { t.send(to, m) } -> std::same_as<void>;
  { t.receive(deadline) } -> std::same_as<std::optional<envelope>>;
  { ct.bytes_sent() } -> std::same_as<std::uint64_t>;
  { ct.bytes_received() } -> std::same_as<std::uint64_t>;
};

} // namespace fedpp
