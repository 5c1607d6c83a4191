// One message from the protocol's peer over a transport: waits at most `timeout`, refuses a
// message from any other endpoint and a sender field the endpoint may not speak for. Shared by
// the vertical protocols' drivers (hetero-LR, FTL).
#pragma once

#include "fedpp/error.hpp"
#include "fedpp/transport/transport.hpp"
#include "fedpp/transport/wire_format.hpp"

#include <chrono>
#include <string>

namespace fedpp::vertical::detail {

template <transport T>
wire::decoded_message receive_from_peer(T& t, endpoint_id peer, std::chrono::milliseconds timeout,
                                        const char* who) {
  auto env = t.receive(transport_clock::now() + timeout);
  if (!env)
    throw fedpp::error(std::string(who) + ": no message within " + std::to_string(timeout.count()) + " ms");
  if (env->from != peer)
    throw malformed_message(std::string(who) + ": a message from endpoint " + std::to_string(env->from) +
                            ", expected " + std::to_string(peer));
  auto d = wire::decode(env->message);
  if (!may_speak_for(t, env->from, d.sender()))
    throw impersonation(env->from, d.sender(), std::string(who) + " message");
  return d;
}

} // namespace fedpp::vertical::detail
