// Secure aggregation over fedpp's MPI transport on 3 ranks: rank 0 runs secagg_server::run, ranks
// 1 and 2 each host several virtual clients (round-robin placement) behind one mpi_rank_host,
// dispatching every envelope to the client it is addressed to. Two rounds: the complete graph
// with one client dropping before the masked input and one before unmasking, then a SecAgg+
// graph (degree 4) with one dropout; messages are split into small MPI pieces. Each round's sum
// must equal the plain sum of the inputs of the clients that sent a masked input, and nothing may
// be refused. Run by CTest through mpiexec (tests/secagg/CMakeLists.txt).
#include "fedpp/secagg/neighbor_graph.hpp"
#include "fedpp/secagg/secagg_client.hpp"
#include "fedpp/secagg/secagg_server.hpp"
#include "fedpp/transport/mpi_transport.hpp"

#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <random>
#include <vector>

namespace {

using namespace fedpp;
using namespace fedpp::secagg;
using namespace std::chrono_literals;

int failures = 0;
int my_rank = -1;

#define FAIL_CHECK(what)                                                                                     \
  do {                                                                                                       \
    std::fprintf(stderr, "rank %d: %s:%d: %s\n", my_rank, __FILE__, __LINE__, what);                         \
    ++failures;                                                                                              \
  } while (false)

#define CHECK(condition)                                                                                     \
  do {                                                                                                       \
    if (!(condition)) {                                                                                      \
      std::fprintf(stderr, "rank %d: %s:%d: CHECK(%s) failed\n", my_rank, __FILE__, __LINE__, #condition);   \
      ++failures;                                                                                            \
    }                                                                                                        \
  } while (false)

constexpr std::size_t num_clients = 8;
constexpr std::size_t dim = 1500;

fedpp::secagg::key32 seed_of(client_id u, std::uint64_t round) {
  fedpp::secagg::key32 k{};
  k[0] = static_cast<std::byte>(u);
  k[1] = static_cast<std::byte>(round);
  k[2] = std::byte{0x4d};
  return k;
}

std::vector<std::uint32_t> input_of(client_id u, std::uint64_t round) {
  std::mt19937 gen(static_cast<std::uint32_t>(u * 1000 + round));
  std::vector<std::uint32_t> x(dim);
  for (auto& v : x) v = static_cast<std::uint32_t>(gen());
  return x;
}

/// drop[u] = r: client u stops answering from protocol round r on (2: before its masked input,
/// 3: before unmasking).
void secure_round(mpi_transport& t, const secagg_config& config, const neighbor_graph& graph,
                  const std::map<client_id, int>& drop) {
  if (t.is_server_rank()) {
    auto ep = t.endpoint(server_endpoint);
    secagg_server server(config, graph);
    const auto sum = server.run(
        ep, 4000ms); // a phase with a dropout ends at the timeout (generous: sanitized, oversubscribed ranks)
    std::vector<std::uint32_t> expected(dim, 0);
    for (const auto u : graph.clients()) {
      const auto it = drop.find(u);
      if (it != drop.end() && it->second <= 2) continue;
      const auto x = input_of(u, config.round);
      for (std::size_t i = 0; i < dim; ++i) expected[i] += x[i];
    }
    CHECK(std::vector<std::uint32_t>(sum.begin(), sum.end()) == expected);
    CHECK(server.counters().total_refused() == 0);
    CHECK(server.answered(secagg_server::phase::masked_input).size() ==
          num_clients - static_cast<std::size_t>(std::count_if(drop.begin(), drop.end(),
                                                               [](const auto& d) { return d.second <= 2; })));
    return;
  }
  // A client rank: every hosted client, one host receiving for all of them.
  std::map<client_id, std::unique_ptr<secagg_client>> clients;
  for (const auto u : graph.clients())
    if (t.hosts(u)) {
      clients.emplace(u, std::make_unique<secagg_client>(u, config, seed_of(u, config.round)));
      clients.at(u)->set_input(input_of(u, config.round));
      auto ep = t.endpoint(u);
      clients.at(u)->start(ep);
    }
  CHECK(!clients.empty());
  mpi_rank_host host(t);
  const auto finished = [&] {
    for (const auto& [u, c] : clients) {
      if (drop.count(u) != 0) continue; // a dropped client never finishes
      if (c->current_state() != secagg_client::state::done) return false;
    }
    return true;
  };
  const auto deadline = transport_clock::now() + 30s;
  while (!finished()) {
    auto e = host.receive(deadline);
    if (!e) {
      FAIL_CHECK("a client rank timed out");
      return;
    }
    const auto it = clients.find(e->to);
    CHECK(it != clients.end());
    if (it == clients.end()) continue;
    auto& c = *it->second;
    const auto d = drop.find(e->to);
    // The message asks for protocol round `state` (advertised → 1, shared → 2, masked → 3).
    if (d != drop.end() && d->second <= static_cast<int>(c.current_state())) continue;
    auto ep = t.endpoint(e->to);
    try {
      c.handle(ep, *e);
    } catch (const protocol_violation& v) {
      std::fprintf(stderr, "rank %d: %s\n", my_rank, v.what());
      FAIL_CHECK("a client refused a message");
    }
  }
  for (const auto& [u, c] : clients) CHECK(c->counters().total_refused() == 0);
}

} // namespace

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &my_rank);
  try {
    mpi_transport_options options;
    options.max_piece_bytes = 1024; // masked inputs (6 KB) travel in several MPI pieces
    mpi_transport t(MPI_COMM_WORLD, round_robin_placement{}, options);
    CHECK(t.num_ranks() == 3);
    std::vector<client_id> ids;
    for (client_id u = 1; u <= num_clients; ++u) ids.push_back(u);
    // Between rounds, the only messages left are those for the clients that dropped out: take them.
    const auto settle = [&] {
      t.flush();
      MPI_Barrier(MPI_COMM_WORLD);
      if (!t.is_server_rank())
        while (t.receive_any(transport_clock::now() + 200ms)) {
        }
      MPI_Barrier(MPI_COMM_WORLD);
    };
    secure_round(t, secagg_config{1, dim, 32, 5}, neighbor_graph::complete(ids), {{3, 2}, {6, 3}});
    settle();
    secure_round(t, secagg_config{2, dim, 32, 3}, neighbor_graph::random_regular(ids, 4, 7), {{5, 2}});
    settle();
    CHECK(t.queued() == 0);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "rank %d: exception: %s\n", my_rank, e.what());
    ++failures;
  }
  int total = 0;
  MPI_Allreduce(&failures, &total, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  if (my_rank == 0)
    std::printf("secagg over MPI: %s (%d failed checks)\n", total == 0 ? "PASSED" : "FAILED", total);
  MPI_Finalize();
  return total == 0 ? 0 : 1;
}
