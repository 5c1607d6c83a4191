// The honest secure-aggregation round the secagg harnesses (and make_corpus) start from: three
// clients (1, 2, 3) on the complete graph, threshold 2, four-word inputs, every key derived from
// a fixed seed, so every message of the round is the same on every run.
#pragma once

#include "fedpp/secagg/secagg_client.hpp"
#include "fedpp/secagg/secagg_server.hpp"
#include "fedpp/transport/transport.hpp"

#include <array>
#include <map>
#include <memory>
#include <optional>
#include <vector>

namespace fuzz::secagg_round {

using namespace fedpp;
using namespace fedpp::secagg;

/// A transport endpoint that records what it sends and never receives anything.
struct recorder {
  endpoint_id self = 0;
  std::vector<std::pair<endpoint_id, message>> sent;
  [[nodiscard]] endpoint_id id() const noexcept { return self; }
  void send(endpoint_id to, const message& m) { sent.emplace_back(to, m); }
  [[nodiscard]] std::optional<envelope> receive(transport_clock::time_point) { return std::nullopt; }
  [[nodiscard]] std::uint64_t bytes_sent() const noexcept { return 0; }
  [[nodiscard]] std::uint64_t bytes_received() const noexcept { return 0; }
};
static_assert(transport<recorder>);

inline constexpr std::array<client_id, 3> clients{1, 2, 3};

inline secagg_config config() {
  secagg_config c;
  c.round = 5;
  c.vector_length = 4;
  c.modulus_bits = 24;
  c.threshold = 2;
  return c;
}

inline neighbor_graph graph() { return neighbor_graph::complete({clients.begin(), clients.end()}); }

inline secagg::key32 seed_of(client_id id) {
  secagg::key32 k{};
  k[0] = static_cast<std::byte>(id);
  k[31] = std::byte{0x5a};
  return k;
}

inline std::vector<std::uint32_t> input_of(client_id id) {
  return {static_cast<std::uint32_t>(id), static_cast<std::uint32_t>(1000 * id), 0x00ffffffU,
          static_cast<std::uint32_t>(7 * id + 3)};
}

inline std::unique_ptr<secagg_client> make_client(client_id id) {
  auto c = std::make_unique<secagg_client>(id, config(), seed_of(id));
  c->set_input(input_of(id));
  return c;
}

/// Every message of the honest round, by phase (0 advertise, 1 shares, 2 masked input, 3 unmask
/// from the clients; 1 key list, 2 forwarded shares, 3 survivor list from the server).
struct transcript {
  std::array<std::map<client_id, message>, 4> to_server;
  std::array<std::map<client_id, message>, 4> to_client; // [1..3] used
  std::vector<std::uint32_t> sum;
};

inline transcript record() {
  transcript t;
  std::map<client_id, std::unique_ptr<secagg_client>> cs;
  std::map<client_id, recorder> eps;
  for (const auto u : clients) {
    cs.emplace(u, make_client(u));
    eps[u].self = u;
  }
  secagg_server server(config(), graph());
  recorder sep{server_endpoint, {}};
  for (const auto u : clients) cs.at(u)->start(eps[u]);
  for (int phase = 0; phase < 4; ++phase) {
    for (const auto u : clients) {
      auto& ep = eps[u];
      if (ep.sent.size() != 1) throw std::logic_error("secagg transcript: a client did not answer");
      t.to_server[static_cast<std::size_t>(phase)].emplace(u, ep.sent.front().second);
      (void)server.handle(sep, envelope{u, server_endpoint, ep.sent.front().second});
      ep.sent.clear();
    }
    server.close_phase(sep);
    if (phase == 3) break;
    for (auto& [to, m] : sep.sent) {
      t.to_client[static_cast<std::size_t>(phase + 1)].emplace(to, m);
      cs.at(to)->handle(eps[to], envelope{server_endpoint, to, m});
    }
    sep.sent.clear();
  }
  const auto s = server.sum();
  t.sum.assign(s.begin(), s.end());
  return t;
}

/// The transcript, recorded once per process.
inline const transcript& honest() {
  static const transcript t = record();
  return t;
}

} // namespace fuzz::secagg_round
