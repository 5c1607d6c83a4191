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
///
/// Sender authentication: `envelope::from` is the sending endpoint as the transport saw it (the
/// in-process hub: the endpoint, or a client routed to it that it sent for with `send_as`; MPI:
/// an endpoint hosted on the sending rank), never a field the sender wrote into the message. A
/// receiver takes a message claiming to come from client c only when `may_speak_for(t, from, c)`:
/// `from == c`, or the optional member `ct.speaks_for(from, c)` (a host speaking for the clients
/// routed to it) says so. `receive` may throw `malformed_message` (or its `impersonation`
/// subclass) for an envelope it cannot accept; the message is consumed, and receivers count it.
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

/// True when a message sent by endpoint `from` (as the transport authenticated it) may speak
/// for `claimed`: the same endpoint, or one the transport says speaks for it (see the file comment).
template <class T>
[[nodiscard]] bool may_speak_for(const T& t, endpoint_id from, endpoint_id claimed) {
  if (from == claimed) return true;
  if constexpr (requires {
                  { t.speaks_for(from, claimed) } -> std::convertible_to<bool>;
                })
    return static_cast<bool>(t.speaks_for(from, claimed));
  else
    return false;
}

} // namespace fedpp
