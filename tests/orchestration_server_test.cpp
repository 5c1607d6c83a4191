// The synchronous server end to end over the in-process transport: the round's result against a
// naive FedAvg, determinism, minimum reports, hostile messages, simulated deadlines/dropouts/
// over-selection, capability hints.
#include "fedpp/orchestration/client_host.hpp"
#include "fedpp/orchestration/in_process_federation.hpp"
#include "fedpp/orchestration/server.hpp"
#include "fedpp/scheduling/over_selection.hpp"
#include "fedpp/scheduling/uniform_sampler.hpp"
#include "fedpp/transport/in_process_transport.hpp"

#include "support/threaded_federation.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <cstring>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono_literals;
using fedpp::client_id;

fedpp::model_layout toy_layout() {
  fedpp::model_layout layout;
  layout.add("w", {2, 3}).add("b", {3});
  return layout;
}

// Client k "trains" to its own target model t_k (value k + i/10 at element i) with n_k = k + 1
// examples, so one FedAvg round must give Σ n_k t_k / Σ n_k over the reporting clients.
float target_value(client_id k, std::size_t i) {
  return static_cast<float>(k) + static_cast<float>(i) / 10.F;
}

struct recording_trainer {
  std::shared_ptr<std::mutex> mutex = std::make_shared<std::mutex>();
  std::shared_ptr<std::vector<std::pair<client_id, fedpp::round_config>>> calls =
      std::make_shared<std::vector<std::pair<client_id, fedpp::round_config>>>();

  fedpp::client_result<float> operator()(client_id id, const fedpp::host_model_view<const float>& global,
                                         const fedpp::round_config& config) const {
    {
      const std::lock_guard lock(*mutex);
      calls->emplace_back(id, config);
    }
    fedpp::client_result<float> result{fedpp::flat_model<float>(global.layout()),
                                       fedpp::update_kind::weights,
                                       static_cast<double>(id + 1),
                                       {{"loss", static_cast<double>(id)}}};
    for (std::size_t i = 0; i < result.model.size(); ++i) result.model.span()[i] = target_value(id, i);
    return result;
  }
};
static_assert(fedpp::client_trainer<recording_trainer, float>);

using federation_base = test_support::threaded_federation<recording_trainer>;
struct federation : federation_base {
  federation(std::size_t n, recording_trainer trainer)
      : federation_base(n, std::move(trainer), toy_layout()) {}
};

std::vector<float> naive_fedavg(const std::vector<client_id>& clients, std::size_t size) {
  std::vector<double> sum(size, 0.0);
  double total = 0;
  for (client_id c : clients) {
    total += static_cast<double>(c + 1);
    for (std::size_t i = 0; i < size; ++i) sum[i] += static_cast<double>(c + 1) * target_value(c, i);
  }
  std::vector<float> mean(size);
  for (std::size_t i = 0; i < size; ++i) mean[i] = static_cast<float>(sum[i] / total);
  return mean;
}

std::vector<client_id> called_clients(const recording_trainer& t) {
  std::vector<client_id> ids;
  for (const auto& [id, config] : *t.calls) ids.push_back(id);
  std::sort(ids.begin(), ids.end());
  return ids;
}

TEST(Server, OneRoundIsFedAvgOfTheSampledClients) {
  recording_trainer trainer;
  federation fed(10, trainer);
  fedpp::server_options options;
  options.seed = 7;
  options.client_config.batch_size = 16;
  fedpp::server<float, fedpp::uniform_sampler> server(fedpp::flat_model<float>(toy_layout()),
                                                      fedpp::uniform_sampler(10, 4), {}, options);
  auto endpoint = fed.hub().server();
  const auto metrics = server.run_round(endpoint);
  EXPECT_TRUE(metrics.succeeded);
  EXPECT_EQ(metrics.sampled, 4U);
  EXPECT_EQ(metrics.reported, 4U);
  EXPECT_EQ(metrics.dropped + metrics.stragglers + metrics.malformed + metrics.rejected, 0U);
  EXPECT_GT(metrics.bytes_down, 4 * toy_layout().total_size() * sizeof(float));
  EXPECT_GT(metrics.bytes_up, 4 * toy_layout().total_size() * sizeof(float));
  const auto clients = called_clients(trainer);
  ASSERT_EQ(clients.size(), 4U);
  const auto expected = naive_fedavg(clients, toy_layout().total_size());
  for (std::size_t i = 0; i < expected.size(); ++i) EXPECT_NEAR(server.model().span()[i], expected[i], 1e-5);
  double total = 0, loss = 0;
  for (client_id c : clients) {
    total += static_cast<double>(c + 1);
    loss += static_cast<double>(c + 1) * static_cast<double>(c);
  }
  EXPECT_DOUBLE_EQ(metrics.total_examples, total);
  EXPECT_NEAR(metrics.client_metrics.at("loss"), loss / total, 1e-12);
  for (const auto& [id, config] : *trainer.calls) {
    EXPECT_EQ(config.batch_size, 16U);
    EXPECT_EQ(config.round, 0U);
  }
}

TEST(Server, SameSeedSameClients) {
  std::vector<std::vector<client_id>> picks;
  for (int run = 0; run < 2; ++run) {
    recording_trainer trainer;
    federation fed(12, trainer);
    fedpp::server_options options;
    options.seed = 99;
    fedpp::server<float, fedpp::uniform_sampler> server(fedpp::flat_model<float>(toy_layout()),
                                                        fedpp::uniform_sampler(12, 3), {}, options);
    auto endpoint = fed.hub().server();
    for (int r = 0; r < 3; ++r) ASSERT_TRUE(server.run_round(endpoint).succeeded);
    picks.push_back(called_clients(trainer));
  }
  EXPECT_EQ(picks[0], picks[1]);
}

// Hostile and broken messages reach the server's mailbox before the real reports: each is
// refused and counted (forged senders as impersonations), and the model is exactly the clean run's.
TEST(Server, HostileMessagesAreCountedAndNeverTouchTheAggregate) {
  fedpp::server_options options;
  options.seed = 3;
  auto run = [&](bool hostile) {
    recording_trainer trainer;
    federation fed(6, trainer);
    fedpp::server<float, fedpp::uniform_sampler> server(fedpp::flat_model<float>(toy_layout()),
                                                        fedpp::uniform_sampler(6, 6), {}, options);
    auto endpoint = fed.hub().server();
    fedpp::round_metrics metrics;
    if (hostile) {
      auto attacker = fed.hub().endpoint(1000);
      const auto layout = toy_layout();
      std::vector<float> values(layout.total_size(), 1e6F);
      // Garbage bytes, a truncated update, a wrong layout, a wrong round (future), a stale round,
      // a NaN update from a selected client, an unselected client.
      std::vector<std::byte> garbage(200, std::byte{0x5a});
      attacker.send(fedpp::server_endpoint, fedpp::message::copy_of(garbage));
      auto good = fedpp::wire::encode_client_update<float>(0, 5, layout, values, 1.0);
      attacker.send(fedpp::server_endpoint, fedpp::message::copy_of(good.bytes().first(good.size() - 3)));
      fedpp::model_layout other;
      other.add("w", {9});
      std::vector<float> nine(9, 1.F);
      attacker.send(fedpp::server_endpoint, fedpp::wire::encode_client_update<float>(0, 2, other, nine, 1.0));
      attacker.send(fedpp::server_endpoint,
                    fedpp::wire::encode_client_update<float>(7, 2, layout, values, 1.0));
      std::vector<float> nan_values(layout.total_size(), std::nanf(""));
      attacker.send(fedpp::server_endpoint,
                    fedpp::wire::encode_client_update<float>(0, 4, layout, nan_values, 1.0));
      attacker.send(fedpp::server_endpoint,
                    fedpp::wire::encode_client_update<float>(0, 77, layout, values, 1.0));
    }
    metrics = server.run_round(endpoint);
    return std::make_pair(metrics,
                          std::vector<float>(server.model().span().begin(), server.model().span().end()));
  };
  const auto [clean_metrics, clean_model] = run(false);
  const auto [metrics, model] = run(true);
  EXPECT_TRUE(metrics.succeeded);
  EXPECT_EQ(metrics.malformed, 2U);      // garbage, truncated: they do not decode
  EXPECT_EQ(metrics.impersonations, 4U); // endpoint 1000 claiming clients 2, 2, 4 and 77
  EXPECT_EQ(metrics.rejected, 0U);
  EXPECT_EQ(metrics.duplicates, 0U); // the forgeries took nobody's place
  EXPECT_EQ(metrics.reported, 6U);
  EXPECT_EQ(clean_metrics.reported, 6U);
  EXPECT_EQ(model, clean_model);
}

// Forecasts as a simulation would make them: client c drops out when c % 5 == 0, needs c
// seconds otherwise.
struct scripted_availability {
  static constexpr bool simulated = true;
  fedpp::client_forecast forecast(client_id c, std::uint64_t, const fedpp::round_config&) const {
    return {c % 5 == 0, std::chrono::seconds(c)};
  }
};

TEST(Server, SimulatedDeadlineDropoutsAndOverSelection) {
  recording_trainer trainer;
  federation fed(10, trainer);
  fedpp::server_options options;
  options.deadline = 7s; // clients 7, 8, 9 are late
  options.min_reports = 2;
  // All 10 sampled (m' = 10 from m = 4 with ε = 1.5): the 4 fastest on-time clients are kept.
  using sampler = fedpp::over_selection<fedpp::uniform_sampler>;
  fedpp::server<float, sampler, fedpp::server_sgd<float>, fedpp::fedavg<float>, scripted_availability> server(
      fedpp::flat_model<float>(toy_layout()), sampler(fedpp::uniform_sampler(10, 4), 1.5), {}, options);
  auto endpoint = fed.hub().server();
  const auto metrics = server.run_round(endpoint);
  EXPECT_TRUE(metrics.succeeded);
  EXPECT_EQ(metrics.sampled, 10U);
  EXPECT_EQ(metrics.dropped, 2U);    // 0 and 5
  EXPECT_EQ(metrics.stragglers, 3U); // 7, 8, 9
  EXPECT_EQ(metrics.reported, 4U);   // 1, 2, 3, 4
  EXPECT_EQ(metrics.surplus, 1U);    // 6
  EXPECT_EQ(called_clients(trainer), (std::vector<client_id>{1, 2, 3, 4}));
  EXPECT_DOUBLE_EQ(metrics.simulated_seconds, 4.0);
  const auto expected = naive_fedavg({1, 2, 3, 4}, toy_layout().total_size());
  for (std::size_t i = 0; i < expected.size(); ++i) EXPECT_NEAR(server.model().span()[i], expected[i], 1e-5);
}

TEST(Server, TooFewReportsFailCleanlyAndLeaveTheModelUnchanged) {
  recording_trainer trainer;
  federation fed(10, trainer);
  fedpp::server_options options;
  options.deadline = 3s; // only 1 and 2 are on time (0 drops out)
  options.min_reports = 3;
  fedpp::flat_model<float> initial(toy_layout());
  for (auto& v : initial.span()) v = 0.5F;
  fedpp::server<float, fedpp::uniform_sampler, fedpp::server_sgd<float>, fedpp::fedavg<float>,
                scripted_availability>
      server(initial, fedpp::uniform_sampler(10, 10), {}, options);
  auto endpoint = fed.hub().server();
  const auto metrics = server.run_round(endpoint);
  EXPECT_FALSE(metrics.succeeded);
  EXPECT_EQ(metrics.reported, 2U);
  EXPECT_EQ(server.model(), initial);
  EXPECT_EQ(server.round(), 1U);
}

TEST(Server, CapabilityHintsShapeEachClientsConfig) {
  recording_trainer trainer;
  federation fed(4, trainer);
  fedpp::server<float, fedpp::uniform_sampler> server(fedpp::flat_model<float>(toy_layout()),
                                                      fedpp::uniform_sampler(4, 4));
  fedpp::capability_hints hints;
  fedpp::config_overrides phone;
  phone.batch_size = 8;
  fedpp::config_overrides laptop;
  laptop.batch_size = 128;
  laptop.local_epochs = 3;
  hints.define_class("phone", phone)
      .define_class("laptop", laptop)
      .set_default_class("phone")
      .assign(2, "laptop");
  server.set_capability_hints(hints);
  auto endpoint = fed.hub().server();
  ASSERT_TRUE(server.run_round(endpoint).succeeded);
  ASSERT_EQ(trainer.calls->size(), 4U);
  for (const auto& [id, config] : *trainer.calls) {
    EXPECT_EQ(config.batch_size, id == 2 ? 128U : 8U) << "client " << id;
    EXPECT_EQ(config.local_epochs, id == 2 ? 3U : 1U) << "client " << id;
  }
}

// Many virtual clients on a few host threads (routing in the hub), several rounds.
TEST(Server, VirtualClientsOnHostThreads) {
  recording_trainer trainer;
  std::vector<client_id> clients(50);
  for (client_id c = 0; c < 50; ++c) clients[c] = c;
  fedpp::in_process_federation<float, recording_trainer> fed(clients, trainer, toy_layout(), 3);
  fedpp::server_options options;
  options.seed = 1;
  fedpp::server<float, fedpp::uniform_sampler> server(fedpp::flat_model<float>(toy_layout()),
                                                      fedpp::uniform_sampler(50, 10), {}, options);
  for (int r = 0; r < 3; ++r) {
    trainer.calls->clear();
    const auto metrics = server.run_round(fed.server_endpoint());
    ASSERT_TRUE(metrics.succeeded);
    ASSERT_EQ(metrics.reported, 10U);
    const auto expected = naive_fedavg(called_clients(trainer), toy_layout().total_size());
    for (std::size_t i = 0; i < expected.size(); ++i)
      EXPECT_NEAR(server.model().span()[i], expected[i], 1e-4);
  }
  EXPECT_THROW(fed.hub().route(3, 4), fedpp::invalid_config); // 3 already routed to a host
}

// Client hooks see every upload before it is encoded (clipping, compression and attacks plug in here).
struct doubling_hooks {
  std::shared_ptr<std::atomic<int>> calls = std::make_shared<std::atomic<int>>(0);
  void process_update(client_id, const fedpp::round_config&, std::span<float> delta) const {
    ++*calls;
    for (auto& v : delta) v *= 2.F;
  }
};

TEST(Server, ClientHooksProcessTheUpload) {
  recording_trainer trainer;
  doubling_hooks hooks;
  std::vector<client_id> clients{0, 1, 2, 3};
  fedpp::in_process_federation<float, recording_trainer, doubling_hooks> fed(clients, trainer, toy_layout(),
                                                                             2, hooks);
  fedpp::server<float, fedpp::uniform_sampler> server(fedpp::flat_model<float>(toy_layout()),
                                                      fedpp::uniform_sampler(4, 4));
  ASSERT_TRUE(server.run_round(fed.server_endpoint()).succeeded);
  EXPECT_EQ(hooks.calls->load(), 4);
  const auto expected = naive_fedavg(clients, toy_layout().total_size()); // from a zero model: delta = t_k
  for (std::size_t i = 0; i < expected.size(); ++i)
    EXPECT_NEAR(server.model().span()[i], 2 * expected[i], 1e-4);
}

// Flow control: two clients at a time hold the model; the round still hears from all of them.
TEST(Server, FlowControlSendsAsReportsArrive) {
  recording_trainer trainer;
  std::vector<client_id> clients(12);
  for (client_id c = 0; c < 12; ++c) clients[c] = c;
  fedpp::in_process_federation<float, recording_trainer> fed(clients, trainer, toy_layout(), 3);
  fedpp::server_options options;
  options.max_in_flight = 2;
  fedpp::server<float, fedpp::uniform_sampler> server(fedpp::flat_model<float>(toy_layout()),
                                                      fedpp::uniform_sampler(12, 12), {}, options);
  auto& endpoint = fed.server_endpoint();
  const auto down_before = endpoint.bytes_sent();
  const auto metrics = server.run_round(endpoint);
  ASSERT_TRUE(metrics.succeeded);
  EXPECT_EQ(metrics.reported, 12U);
  EXPECT_EQ(endpoint.bytes_sent() - down_before, metrics.bytes_down);
  const auto expected = naive_fedavg(clients, toy_layout().total_size());
  for (std::size_t i = 0; i < expected.size(); ++i) EXPECT_NEAR(server.model().span()[i], expected[i], 1e-4);
}

TEST(Server, RejectsInconsistentOptions) {
  fedpp::server_options options;
  options.min_reports = 0;
  EXPECT_THROW((fedpp::server<float, fedpp::uniform_sampler>(fedpp::flat_model<float>(toy_layout()),
                                                             fedpp::uniform_sampler(4, 4), {}, options)),
               fedpp::invalid_config);
  options.min_reports = 5;
  options.target_reports = 2;
  EXPECT_THROW((fedpp::server<float, fedpp::uniform_sampler>(fedpp::flat_model<float>(toy_layout()),
                                                             fedpp::uniform_sampler(4, 4), {}, options)),
               fedpp::invalid_config);
}

} // namespace
