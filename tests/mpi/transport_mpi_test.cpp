// MPI transport on 3 ranks: rank 0 the server, clients 0..4 round-robin on ranks 1 and 2.
// Exchanges global models and client updates, checks contents, addressing, counters, timeouts,
// per-endpoint receive, splitting into many MPI pieces, empty messages and wire-format chunks.
#include "fedpp/transport/mpi_transport.hpp"
#include "fedpp/transport/wire_format.hpp"

#include <mpi.h>

#include <chrono>
#include <cstdio>
#include <set>
#include <string>
#include <vector>

namespace {

using namespace fedpp;
using namespace std::chrono_literals;

int failures = 0;
int my_rank = -1;

#define CHECK(condition)                                                                                     \
  do {                                                                                                       \
    if (!(condition)) {                                                                                      \
      std::fprintf(stderr, "rank %d: %s:%d: CHECK(%s) failed\n", my_rank, __FILE__, __LINE__, #condition);   \
      ++failures;                                                                                            \
    }                                                                                                        \
  } while (false)

constexpr endpoint_id num_clients = 5;

model_layout test_layout(std::size_t n) {
  model_layout layout;
  layout.add("w", tensor_shape::vector(n));
  return layout;
}

std::vector<float> values_for(std::size_t n, float base) {
  std::vector<float> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = base + static_cast<float>(i) * 0.25F;
  return v;
}

bool equal_values(std::span<const float> a, const std::vector<float>& b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end());
}

std::vector<endpoint_id> hosted(const mpi_transport& t) {
  std::vector<endpoint_id> ids;
  for (endpoint_id c = 0; c < num_clients; ++c)
    if (t.hosts(c)) ids.push_back(c);
  return ids;
}

// One round: broadcast, local training stand-in (add the client id), updates back.
void model_round(mpi_transport& t, std::size_t n, std::uint64_t round) {
  const auto layout = test_layout(n);
  const auto global_values = values_for(n, static_cast<float>(round));
  round_config config;
  config.local_epochs = 2;
  config.extra["note"] = "round " + std::to_string(round);
  if (t.is_server_rank()) {
    auto server = t.endpoint(server_endpoint);
    const auto sent0 = server.bytes_sent();
    const auto received0 = server.bytes_received();
    const auto global = wire::encode_global_model<float>(round, config, layout, global_values);
    for (endpoint_id c = 0; c < num_clients; ++c) server.send(c, global);
    CHECK(server.bytes_sent() - sent0 == num_clients * global.size());
    std::set<endpoint_id> seen;
    std::uint64_t update_bytes = 0;
    while (seen.size() < num_clients) {
      auto e = server.receive(transport_clock::now() + 60s);
      CHECK(e.has_value());
      if (!e) return;
      CHECK(e->to == server_endpoint);
      const auto d = wire::decode_for(e->message, layout, round);
      CHECK(d.sender() == e->from);
      CHECK(seen.insert(d.sender()).second);
      CHECK(d.weight() == static_cast<double>(d.sender() + 1));
      CHECK(d.metrics().at("loss") == static_cast<double>(d.sender()) / 10);
      CHECK(equal_values(d.payload<float>(),
                         values_for(n, static_cast<float>(round) + static_cast<float>(d.sender()))));
      update_bytes += e->message.size();
    }
    CHECK(server.bytes_received() - received0 == update_bytes);
  } else {
    const auto mine = hosted(t);
    std::set<endpoint_id> got;
    while (got.size() < mine.size()) {
      auto e = t.receive_any(transport_clock::now() + 60s);
      CHECK(e.has_value());
      if (!e) return;
      CHECK(e->from == server_endpoint);
      CHECK(t.hosts(e->to));
      CHECK(got.insert(e->to).second);
      const auto d = wire::decode_for(e->message, layout, round);
      CHECK(d.config().local_epochs == 2U);
      CHECK(d.config().extra.at("note") == "round " + std::to_string(round));
      CHECK(equal_values(d.payload<float>(), global_values));
      const auto update = values_for(n, static_cast<float>(round) + static_cast<float>(e->to));
      t.send_as(e->to, server_endpoint,
                wire::encode_client_update<float>(round, e->to, layout, update,
                                                  static_cast<double>(e->to + 1),
                                                  {{"loss", static_cast<double>(e->to) / 10}}));
    }
  }
}

void timeouts(mpi_transport& t) {
  const auto t0 = transport_clock::now();
  const auto e = t.receive_any(t0 + 50ms);
  CHECK(!e.has_value());
  CHECK(transport_clock::now() - t0 >= 50ms);
}

void per_endpoint_receive(mpi_transport& t) {
  // Rank 1 hosts clients 0, 2, 4: messages for 4 and 0 arrive in that order; endpoint(0) gets
  // its message first and the one for 4 waits for endpoint(4).
  std::vector<std::byte> four(40, std::byte{4}), zero(10, std::byte{0});
  if (t.is_server_rank()) {
    auto server = t.endpoint(server_endpoint);
    server.send(4, message::copy_of(four));
    server.send(0, message::copy_of(zero));
    server.send(2, message{}); // an empty message
  } else if (t.rank() == 1) {
    auto c0 = t.endpoint(0);
    auto c4 = t.endpoint(4);
    auto c2 = t.endpoint(2);
    const auto r0 = c4.bytes_received();
    auto e0 = c0.receive(transport_clock::now() + 60s);
    CHECK(e0 && e0->to == 0 && e0->message.size() == 10);
    auto e4 = c4.receive(transport_clock::now() + 60s);
    CHECK(e4 && e4->to == 4 && e4->message.size() == 40 && e4->message.bytes()[39] == std::byte{4});
    CHECK(c4.bytes_received() - r0 == 40);
    auto e2 = c2.receive(transport_clock::now() + 60s);
    CHECK(e2 && e2->to == 2 && e2->message.empty());
    // Local delivery between two clients of the same rank.
    c0.send(2, message::copy_of(zero));
    auto local = c2.receive(transport_clock::now() + 1s);
    CHECK(local && local->from == 0 && local->message.size() == 10);
    bool threw = false;
    try {
      (void)t.endpoint(1); // client 1 lives on rank 2
    } catch (const invalid_config&) {
      threw = true;
    }
    CHECK(threw || t.hosts(1));
  }
}

// Many MPI pieces per message (piece size 1000 bytes) and wire-format chunks reassembled.
void pieces_and_chunks(MPI_Comm comm) {
  mpi_transport_options options;
  options.max_piece_bytes = 1000;
  options.tag_base = 0x100;
  mpi_transport t(comm, round_robin_placement{}, options);
  const std::size_t n = 25'000; // 100 kB of floats: 101 pieces
  const auto layout = test_layout(n);
  if (t.is_server_rank()) {
    const auto global = wire::encode_global_model<float>(9, round_config{}, layout, values_for(n, -1.0F));
    auto server = t.endpoint(server_endpoint);
    for (endpoint_id c = 0; c < num_clients; ++c) server.send(c, global);
    wire::chunk_reassembler reassembler;
    std::set<endpoint_id> done;
    while (done.size() < num_clients) {
      auto e = server.receive(transport_clock::now() + 60s);
      CHECK(e.has_value());
      if (!e) return;
      if (auto whole = reassembler.add(e->message)) {
        const auto d = wire::decode_for(*whole, layout, 9);
        CHECK(d.sender() == e->from);
        CHECK(equal_values(d.payload<float>(), values_for(n, static_cast<float>(d.sender()))));
        CHECK(done.insert(d.sender()).second);
      }
    }
    CHECK(reassembler.in_progress() == 0);
  } else {
    for (std::size_t k = 0; k < hosted(t).size(); ++k) {
      auto e = t.receive_any(transport_clock::now() + 60s);
      CHECK(e.has_value());
      if (!e) return;
      const auto d = wire::decode_for(e->message, layout, 9);
      CHECK(equal_values(d.payload<float>(), values_for(n, -1.0F)));
      // Reply in 7 wire chunks of at most 16000 bytes.
      const auto chunks = wire::encode_client_update_chunks<float>(
          9, e->to, layout, values_for(n, static_cast<float>(e->to)), 1.0, {}, 16'000);
      CHECK(chunks.size() == 7);
      for (const auto& c : chunks) t.send_as(e->to, server_endpoint, c);
    }
  }
  t.flush();
  CHECK(t.pending_sends() == 0);
}

} // namespace

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &my_rank);
  int size = 0;
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  try {
    {
      mpi_transport t(MPI_COMM_WORLD);
      CHECK(t.num_ranks() == size);
      CHECK(t.rank_of(server_endpoint) == 0);
      CHECK(t.rank_of(3) == 1 + 3 % (size - 1));
      for (std::uint64_t round = 0; round < 3; ++round) model_round(t, 1000 + round, round);
      MPI_Barrier(MPI_COMM_WORLD);
      timeouts(t);
      MPI_Barrier(MPI_COMM_WORLD);
      per_endpoint_receive(t);
      t.flush();
      MPI_Barrier(MPI_COMM_WORLD);
      CHECK(t.queued() == 0);
    }
    MPI_Comm dup = MPI_COMM_NULL;
    MPI_Comm_dup(MPI_COMM_WORLD, &dup);
    pieces_and_chunks(dup);
    MPI_Barrier(dup);
    MPI_Comm_free(&dup);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "rank %d: exception: %s\n", my_rank, e.what());
    ++failures;
  }
  int total = 0;
  MPI_Allreduce(&failures, &total, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  if (my_rank == 0) std::printf("transport_mpi_test: %d failure(s) on %d ranks\n", total, size);
  MPI_Finalize();
  return total == 0 ? 0 : 1;
}
