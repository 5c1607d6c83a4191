// client_hook_chain: several client hooks as one — process_update of every member in order, the
// upload encoded by the one member that encodes. End to end through client_host and fedpp::server:
// clipping (local_dp_hooks with σ = 0) then 8-bit compression (compressing_client_hooks) on the
// clients, decompression on the server.
#include "fedpp/compression/compression.hpp"
#include "fedpp/orchestration/hook_chain.hpp"
#include "fedpp/orchestration/in_process_federation.hpp"
#include "fedpp/orchestration/server.hpp"
#include "fedpp/privacy/local_dp_hooks.hpp"
#include "fedpp/scheduling/uniform_sampler.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

namespace {

using fedpp::client_id;
namespace fc = fedpp::compression;

constexpr std::size_t dimension = 2048;
constexpr std::size_t num_clients = 6;

fedpp::model_layout layout_of() {
  fedpp::model_layout layout;
  layout.add("w", {dimension});
  return layout;
}

// Client k's delta: (k + 1)·cos(0.02·i + k), norm ≈ (k + 1)·32 — far above the clipping bound.
float delta_of(client_id k, std::size_t i) {
  return static_cast<float>(k + 1) * std::cos(0.02F * static_cast<float>(i) + static_cast<float>(k));
}

struct cosine_trainer {
  fedpp::client_result<float> operator()(client_id id, const fedpp::host_model_view<const float>& global,
                                         const fedpp::round_config&) const {
    auto model = fedpp::flat_model<float>::copy_of(global);
    for (std::size_t i = 0; i < model.size(); ++i) model.span()[i] += delta_of(id, i);
    return {std::move(model), fedpp::update_kind::weights, 1.0, {}};
  }
};

template <class ClientHooks, class ServerHooks>
std::pair<std::vector<float>, std::uint64_t> one_round(ClientHooks client_hooks, ServerHooks server_hooks) {
  std::vector<client_id> clients(num_clients);
  for (std::size_t c = 0; c < num_clients; ++c) clients[c] = c;
  fedpp::in_process_federation<float, cosine_trainer, ClientHooks> federation(clients, cosine_trainer{},
                                                                              layout_of(), 2, client_hooks);
  fedpp::server<float, fedpp::uniform_sampler, fedpp::server_sgd<float>, fedpp::fedavg<float>,
                fedpp::wall_clock_availability, ServerHooks>
      server(fedpp::flat_model<float>(layout_of()), fedpp::uniform_sampler(num_clients, num_clients), {}, {},
             {}, server_hooks);
  const auto metrics = server.run_round(federation.server_endpoint());
  EXPECT_TRUE(metrics.succeeded);
  EXPECT_EQ(metrics.reported, num_clients);
  EXPECT_EQ(metrics.malformed + metrics.rejected, 0U);
  return {std::vector<float>(server.model().span().begin(), server.model().span().end()), metrics.bytes_up};
}

TEST(ClientHookChain, ClipThenCompressThroughTheServer) {
  constexpr double clip = 1.0;
  const auto [model, bytes] =
      one_round(fedpp::client_hook_chain(fedpp::privacy::local_dp_hooks(clip, 0.0),
                                         fc::compressing_client_hooks(fc::uniform_quantizer(8), 7)),
                fc::decompressing_server_hooks{});
  const auto [dense, dense_bytes] = one_round(fedpp::no_client_hooks{}, fedpp::no_server_hooks{});
  // Reference: the mean of the deltas each clipped to norm 1.
  std::vector<double> expected(dimension, 0.0);
  for (client_id c = 0; c < num_clients; ++c) {
    double norm2 = 0;
    for (std::size_t i = 0; i < dimension; ++i) norm2 += double(delta_of(c, i)) * delta_of(c, i);
    const double f = std::min(1.0, clip / std::sqrt(norm2));
    for (std::size_t i = 0; i < dimension; ++i) expected[i] += f * delta_of(c, i) / num_clients;
  }
  double worst = 0;
  for (std::size_t i = 0; i < dimension; ++i) worst = std::max(worst, std::fabs(model[i] - expected[i]));
  // Clipped deltas span about ±0.031; 8-bit steps are ≤ 2·0.031/255 ≈ 2.5e-4 (one step per client
  // at most, averaged).
  EXPECT_LT(worst, 3e-4);
  EXPECT_GT(worst, 0.0);                                                         // really quantized
  EXPECT_LT(static_cast<double>(bytes), 0.3 * static_cast<double>(dense_bytes)); // really compressed
}

// process_update runs in the order given: (2x) then (+1) is not (+1) then (2x).
struct times_two {
  void process_update(client_id, const fedpp::round_config&, std::span<float> d) const {
    for (auto& v : d) v *= 2.0F;
  }
};
struct plus_one {
  void process_update(client_id, const fedpp::round_config&, std::span<float> d) const {
    for (auto& v : d) v += 1.0F;
  }
};
struct no_hooks_here {};

template <class C>
concept encodes_uploads = requires(C& c, const fedpp::model_layout& l, std::span<const float> d) {
  c.encode_update(0, 0, l, d, 1.0, fedpp::wire::metrics_map{});
};

TEST(ClientHookChain, ProcessUpdateRunsInOrderAndSkipsMembersWithout) {
  std::vector<float> a{1.0F, -2.0F}, b = a;
  fedpp::client_hook_chain<times_two, no_hooks_here, plus_one> first_double({}, {}, {});
  fedpp::client_hook_chain<plus_one, times_two> first_add({}, {});
  first_double.process_update(0, {}, std::span<float>(a));
  first_add.process_update(0, {}, std::span<float>(b));
  EXPECT_EQ(a, (std::vector<float>{3.0F, -3.0F}));
  EXPECT_EQ(b, (std::vector<float>{4.0F, -2.0F}));
  // Without an encoding member, the chain has no encode_update: client_host sends the dense update.
  static_assert(!encodes_uploads<fedpp::client_hook_chain<times_two, plus_one>>);
  static_assert(encodes_uploads<fedpp::client_hook_chain<times_two, fc::compressing_client_hooks<fc::qsgd>>>);
}

// Local DP through in_process_federation with two host threads: every host holds its own copy
// of the hooks, yet no two clients upload the same noise (a copied generator once made clients on
// different hosts add identical vectors, which the server could cancel by subtraction).
struct upload_recorder {
  std::shared_ptr<std::mutex> lock = std::make_shared<std::mutex>();
  std::shared_ptr<std::map<client_id, std::vector<float>>> uploads =
      std::make_shared<std::map<client_id, std::vector<float>>>();
  void process_update(client_id client, const fedpp::round_config&, std::span<float> d) const {
    const std::scoped_lock hold(*lock);
    (*uploads)[client].assign(d.begin(), d.end());
  }
};
struct zero_trainer {
  fedpp::client_result<float> operator()(client_id, const fedpp::host_model_view<const float>& global,
                                         const fedpp::round_config&) const {
    return {fedpp::flat_model<float>::copy_of(global), fedpp::update_kind::weights, 1.0, {}};
  }
};

void expect_distinct_noise_across_hosts(fedpp::privacy::local_dp_hooks hooks) {
  std::vector<client_id> clients(num_clients);
  for (std::size_t c = 0; c < num_clients; ++c) clients[c] = c;
  upload_recorder recorder;
  using chain = fedpp::client_hook_chain<fedpp::privacy::local_dp_hooks, upload_recorder>;
  fedpp::in_process_federation<float, zero_trainer, chain> federation(clients, zero_trainer{}, layout_of(),
                                                                      /*hosts*/ 2, chain(hooks, recorder));
  fedpp::server<float, fedpp::uniform_sampler, fedpp::server_sgd<float>, fedpp::fedavg<float>> server(
      fedpp::flat_model<float>(layout_of()), fedpp::uniform_sampler(num_clients, num_clients));
  const auto metrics = server.run_round(federation.server_endpoint());
  ASSERT_TRUE(metrics.succeeded);
  const std::scoped_lock hold(*recorder.lock);
  ASSERT_EQ(recorder.uploads->size(), num_clients);
  for (const auto& [a, noise_a] : *recorder.uploads) {
    ASSERT_EQ(noise_a.size(), dimension);
    EXPECT_FALSE(std::all_of(noise_a.begin(), noise_a.end(), [](float v) { return v == 0.0F; }));
    for (const auto& [b, noise_b] : *recorder.uploads) {
      if (a >= b) continue;
      EXPECT_NE(noise_a, noise_b) << "clients " << a << " and " << b << " uploaded the same noise";
    }
  }
}

TEST(ClientHookChain, LocalDpNoiseDiffersAcrossHostThreads) {
  expect_distinct_noise_across_hosts(fedpp::privacy::local_dp_hooks(1.0, 1.0));
  expect_distinct_noise_across_hosts(fedpp::privacy::local_dp_hooks(
      1.0, 1.0, fedpp::privacy::secure_rng::reproducible(fedpp::privacy::reproducible_seed{3})));
}

} // namespace
