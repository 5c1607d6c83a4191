// Test helper: one secure-aggregation round with n simulated clients over the in-process hub, one
// thread, with a per-client dropout phase (a dropped client stops answering from that phase on).
#pragma once

#include "fedpp/secagg/secagg_client.hpp"
#include "fedpp/secagg/secagg_server.hpp"
#include "fedpp/transport/in_process_transport.hpp"

#include <map>
#include <memory>
#include <optional>
#include <vector>

namespace secagg_test {

using namespace fedpp;
using namespace fedpp::secagg;

inline fedpp::secagg::detail::key32 seed_of(std::uint64_t id, std::uint64_t salt = 0) {
  fedpp::secagg::detail::key32 k{};
  for (int i = 0; i < 8; ++i) k[static_cast<std::size_t>(i)] = static_cast<std::byte>((id >> (8 * i)) & 0xff);
  for (int i = 0; i < 8; ++i)
    k[static_cast<std::size_t>(8 + i)] = static_cast<std::byte>((salt >> (8 * i)) & 0xff);
  return k;
}

/// Dropout phase per client: 0 never advertises, 1 drops before sharing keys, 2 before sending its
/// masked input, 3 after sending it (never unmasks); absent: never drops.
using dropouts = std::map<client_id, int>;

struct sim {
  in_process_transport hub;
  in_process_endpoint server_ep = hub.server();
  std::vector<client_id> ids;
  std::map<client_id, in_process_endpoint> eps;
  std::map<client_id, std::unique_ptr<secagg_client>> clients;
  std::optional<secagg_server> server;

  sim(const secagg_config& config, const neighbor_graph& graph, std::uint64_t salt = 0) {
    ids = graph.clients();
    for (const auto u : ids) {
      eps.emplace(u, hub.endpoint(u));
      clients.emplace(u, std::make_unique<secagg_client>(u, config, seed_of(u, salt)));
    }
    server.emplace(config, graph);
  }

  void deliver_to_server() {
    while (auto e = server_ep.try_receive()) {
      try {
        (void)server->handle(server_ep, *e);
      } catch (const secagg::protocol_violation&) {
      }
    }
  }
  void deliver_to_clients(int phase, const dropouts& drop) {
    for (const auto u : ids) {
      auto& ep = eps.at(u);
      const auto it = drop.find(u);
      const bool gone = it != drop.end() && it->second <= phase;
      while (auto e = ep.try_receive()) {
        if (gone) continue;
        try {
          clients.at(u)->handle(ep, *e);
        } catch (const secagg::protocol_violation&) {
        }
      }
    }
  }
  /// Runs the round; returns the sum (throws secagg_aborted).
  std::vector<std::uint32_t> run(const dropouts& drop) {
    for (const auto u : ids)
      if (!drop.count(u) || drop.at(u) > 0) clients.at(u)->start(eps.at(u));
    for (int phase = 1; phase <= 4; ++phase) {
      deliver_to_server();
      server->close_phase(server_ep);
      if (phase < 4) deliver_to_clients(phase, drop);
    }
    auto s = server->sum();
    return {s.begin(), s.end()};
  }
};

} // namespace secagg_test
