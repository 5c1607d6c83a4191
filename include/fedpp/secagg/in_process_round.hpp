/// \file in_process_round.hpp
/// One complete secure-aggregation round with every client simulated in this process and thread:
/// a secagg_server, one secagg_client per client of the graph, the in-process transport between
/// them, and the phase loop that delivers each phase's messages and closes it. For simulations,
/// benchmarks of the protocol's cost, and tests of dropout patterns; a deployment runs
/// secagg_server::run and secagg_client::run on their own endpoints (or secure_aggregation_hooks
/// inside fedpp::server) instead.
///
///   fedpp::secagg::in_process_round round(config, fedpp::secagg::neighbor_graph::complete({1, 2, 3}));
///   for (auto u : round.clients()) round.set_input(u, encoded_update_of(u));
///   auto sum = round.run({{2, fedpp::secagg::secagg_server::phase::masked_input}}); // 2 drops out
#pragma once

#include "fedpp/error.hpp"
#include "fedpp/secagg/neighbor_graph.hpp"
#include "fedpp/secagg/random_source.hpp"
#include "fedpp/secagg/secagg_client.hpp"
#include "fedpp/secagg/secagg_config.hpp"
#include "fedpp/secagg/secagg_counters.hpp"
#include "fedpp/secagg/secagg_server.hpp"
#include "fedpp/transport/in_process_transport.hpp"

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace fedpp::secagg {

/// For each client that drops out, the first phase in which it no longer answers: `advertise`
/// (it never takes part), `share_keys`, `masked_input`, or `unmasking` (it sent its masked input,
/// then vanished). Clients not listed stay to the end.
using dropout_plan = std::map<client_id, secagg_server::phase>;

/// A whole round in one thread; see the file comment.
class in_process_round {
public:
  /// Clients with operating-system randomness.
  in_process_round(const secagg_config& config, const neighbor_graph& graph)
      : in_process_round(config, graph, [](client_id) { return random_source(); }) {}

  /// Clients drawing from `source_of(id)` — e.g. `random_source::reproducible(seed_for(id))` for
  /// reproducible tests and benchmarks (whoever knows the seeds knows every secret).
  in_process_round(const secagg_config& config, const neighbor_graph& graph,
                   const std::function<random_source(client_id)>& source_of)
      : server_endpoint_(hub_.server()), ids_(graph.clients()) {
    server_ = std::make_unique<secagg_server>(config, graph);
    for (const auto u : ids_) {
      endpoints_.emplace(u, hub_.endpoint(u));
      clients_.emplace(u, std::make_unique<secagg_client>(u, config, source_of(u)));
    }
  }

  in_process_round(const in_process_round&) = delete;
  in_process_round& operator=(const in_process_round&) = delete;

  /// The round's clients (the graph's, ascending).
  [[nodiscard]] const std::vector<client_id>& clients() const noexcept { return ids_; }
  /// Client `u`'s state machine; throws invalid_config for an id outside the graph.
  [[nodiscard]] secagg_client& client(client_id u) { return *find(clients_, u); }
  /// Client `u`'s transport endpoint (to inject or inspect messages in tests).
  [[nodiscard]] in_process_endpoint& endpoint(client_id u) { return find(endpoints_, u); }
  [[nodiscard]] secagg_server& server() noexcept { return *server_; }
  [[nodiscard]] in_process_endpoint& server_endpoint() noexcept { return server_endpoint_; }

  /// Sets client `u`'s encoded input (secagg_config::dimension words, each below 2^bits).
  void set_input(client_id u, std::vector<std::uint32_t> input) { client(u).set_input(std::move(input)); }

  /// Runs the round: every client not dropping at `advertise` starts, then each phase's messages
  /// are delivered to the server, the phase is closed, and its replies are delivered to the
  /// clients still present. Returns the sum of the surviving inputs mod 2^bits; throws
  /// secagg_aborted when too few clients remain in some phase (the server's message says which).
  std::span<const std::uint32_t> run(const dropout_plan& drops = {}) {
    for (const auto u : ids_)
      if (present(drops, u, secagg_server::phase::advertise)) client(u).start(endpoint(u));
    for (auto p : {secagg_server::phase::share_keys, secagg_server::phase::masked_input,
                   secagg_server::phase::unmasking, secagg_server::phase::done}) {
      deliver_to_server();
      server_->close_phase(server_endpoint_);
      if (p != secagg_server::phase::done) deliver_to_clients(p, drops);
    }
    return server_->sum();
  }

  /// Hands every queued client message to the server; refused ones are counted in its counters.
  void deliver_to_server() {
    while (auto e = server_endpoint_.try_receive()) {
      try {
        (void)server_->handle(server_endpoint_, *e);
      } catch (const protocol_violation&) {
        // counted by the server; the round goes on without the message
      }
    }
  }

  /// Hands each client its queued messages of phase `p`; a client that has dropped out by `p`
  /// (per `drops`) loses them unread. Refused messages are counted in the client's counters.
  void deliver_to_clients(secagg_server::phase p, const dropout_plan& drops = {}) {
    for (const auto u : ids_) {
      auto& ep = endpoint(u);
      const bool gone = !present(drops, u, p);
      while (auto e = ep.try_receive()) {
        if (gone) continue;
        try {
          client(u).handle(ep, *e);
        } catch (const protocol_violation&) {
          // counted by the client
        }
      }
    }
  }

private:
  static bool present(const dropout_plan& drops, client_id u, secagg_server::phase p) {
    const auto it = drops.find(u);
    return it == drops.end() || static_cast<int>(it->second) > static_cast<int>(p);
  }
  template <class Map>
  static typename Map::mapped_type& find(Map& m, client_id u) {
    const auto it = m.find(u);
    if (it == m.end())
      throw invalid_config("secagg::in_process_round: client " + std::to_string(u) + " is not in the round's graph");
    return it->second;
  }

  in_process_transport hub_;
  in_process_endpoint server_endpoint_;
  std::vector<client_id> ids_;
  std::map<client_id, in_process_endpoint> endpoints_;
  std::map<client_id, std::unique_ptr<secagg_client>> clients_;
  std::unique_ptr<secagg_server> server_;
};

} // namespace fedpp::secagg
