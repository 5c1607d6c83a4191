// MPI transport on 3 ranks: rank 0 the server, clients 0..4 round-robin on ranks 1 and 2.
// Exchanges global models and client updates, checks contents, addressing, counters, timeouts,
// per-endpoint receive, splitting into many MPI pieces, empty messages and wire-format chunks;
// then hostile envelopes (forged senders, announced pieces never sent) and a fedpp::server round
// with an impersonating rank.
#include "fedpp/orchestration/client_host.hpp"
#include "fedpp/orchestration/server.hpp"
#include "fedpp/scheduling/uniform_sampler.hpp"
#include "fedpp/transport/mpi_transport.hpp"
#include "fedpp/transport/wire_format.hpp"

#include <mpi.h>

#include <array>
#include <chrono>
#include <cmath>
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

// Sends a raw envelope head (and `pieces_to_send` pieces of `piece` bytes) as a hostile rank would.
void raw_envelope(MPI_Comm comm, int dest, int tag_base, endpoint_id from, endpoint_id to, std::uint64_t total,
                  std::uint64_t piece, std::uint64_t pieces_to_send) {
  std::array<std::byte, 48> head{};
  wire::detail::put_u32(head.data(), 0x504d4446U);
  wire::detail::put_u32(head.data() + 4, static_cast<std::uint32_t>((total + piece - 1) / piece));
  wire::detail::put_u64(head.data() + 8, from);
  wire::detail::put_u64(head.data() + 16, to);
  wire::detail::put_u64(head.data() + 24, total);
  wire::detail::put_u64(head.data() + 32, piece);
  MPI_Send(head.data(), 48, MPI_BYTE, dest, tag_base, comm);
  std::vector<std::byte> bytes(static_cast<std::size_t>(piece), std::byte{0x77});
  for (std::uint64_t i = 0; i < pieces_to_send; ++i)
    MPI_Send(bytes.data(), static_cast<int>(std::min(piece, total - i * piece)), MPI_BYTE, dest, tag_base + 1, comm);
}

// Rank 2 forges an envelope to the server claiming client 0 (hosted on rank 1), with its pieces,
// then sends a real message; rank 1 announces 128 GiB in pieces it never sends. The server's
// receive throws impersonation for the forgery (its pieces are skipped) and gets the real message
// intact; it never waits for rank 1's missing pieces nor reserves their memory (only rank 1's own
// later messages would wait behind them).
void hostile_envelopes(MPI_Comm comm) {
  mpi_transport_options options;
  options.max_piece_bytes = 4096;
  options.tag_base = 0x200;
  mpi_transport t(comm, round_robin_placement{}, options);
  if (t.is_server_rank()) {
    auto server = t.endpoint(server_endpoint);
    int impersonations = 0, real = 0;
    const auto give_up = transport_clock::now() + 30s;
    while ((real < 1 || impersonations < 1) && transport_clock::now() < give_up) {
      try {
        auto e = server.receive(transport_clock::now() + 1s);
        if (!e) continue;
        CHECK(e->message.size() == 100);
        CHECK(e->from == 1U);
        CHECK(e->message.bytes()[99] == std::byte{2});
        ++real;
      } catch (const impersonation& e) {
        CHECK(e.claimed() == 0);
        ++impersonations;
      }
    }
    CHECK(real == 1);
    CHECK(impersonations == 1);
  } else if (t.rank() == 2) {
    raw_envelope(comm, 0, options.tag_base, 0, server_endpoint, 10'000, 4096, 3); // client 0 lives on rank 1
    t.send_as(1, server_endpoint, message::copy_of(std::vector<std::byte>(100, std::byte{2})));
  } else {
    raw_envelope(comm, 0, options.tag_base, 0, server_endpoint, std::uint64_t{1} << 37, 4096, 1);
    MPI_Barrier(comm); // the server has not blocked on the missing pieces: it reached the barrier
  }
  if (t.is_server_rank()) MPI_Barrier(comm);
  if (t.rank() == 2) MPI_Barrier(comm);
  t.flush();
}

struct echo_trainer { // client k uploads the delta k + 1 with k + 1 examples
  client_result<float> operator()(client_id id, const host_model_view<const float>& global,
                                  const round_config&) const {
    client_result<float> r{flat_model<float>(global.layout()), update_kind::delta, static_cast<double>(id + 1), {}};
    for (float& v : r.model.span()) v = static_cast<float>(id + 1);
    return r;
  }
};

// A fedpp::server round over MPI while rank 1 sends, from its own client 0, an update claiming to
// be client 1 (hosted on rank 2): counted as an impersonation, and client 1's real report counts.
void server_round_with_impersonator(MPI_Comm comm) {
  mpi_transport_options options;
  options.tag_base = 0x300;
  mpi_transport t(comm, round_robin_placement{}, options);
  const auto layout = test_layout(16);
  if (t.is_server_rank()) {
    fedpp::server<float, uniform_sampler> server(flat_model<float>(layout), uniform_sampler(num_clients, num_clients));
    auto endpoint = t.endpoint(server_endpoint);
    const round_metrics m = server.run_round(endpoint);
    CHECK(m.succeeded);
    CHECK(m.impersonations == 1);
    CHECK(m.reported == num_clients);
    CHECK(m.duplicates == 0);
    double num = 0, den = 0;
    for (endpoint_id c = 0; c < num_clients; ++c) {
      num += static_cast<double>((c + 1) * (c + 1));
      den += static_cast<double>(c + 1);
    }
    for (float v : server.model().span()) CHECK(std::abs(v - num / den) < 1e-4);
    server.shutdown(endpoint, {0, 1});
  } else {
    if (t.rank() == 1) {
      std::vector<float> poison(16, 1e3F);
      t.send_as(0, server_endpoint, wire::encode_client_update<float>(0, 1, layout, poison, 1.0));
    }
    mpi_rank_host host(t);
    client_host<float, echo_trainer, mpi_rank_host> clients(host, echo_trainer{}, layout);
    clients.serve(std::chrono::seconds(60));
  }
  t.flush();
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
    hostile_envelopes(dup);
    MPI_Barrier(dup);
    server_round_with_impersonator(dup);
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
