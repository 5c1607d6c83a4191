// Asynchronous rounds end to end over the in-process transport: FedAsync and FedBuff against
// hand computations, staleness, and determinism of the simulated (event-ordered) run.
#include "fedpp/orchestration/async_server.hpp"
#include "fedpp/orchestration/client_host.hpp"
#include "fedpp/scheduling/polynomial_staleness.hpp"
#include "fedpp/transport/in_process_transport.hpp"

#include "support/threaded_federation.hpp"

#include <gtest/gtest.h>

#include <mutex>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono_literals;
using fedpp::client_id;

fedpp::model_layout toy_layout() {
  fedpp::model_layout layout;
  layout.add("w", {4});
  return layout;
}

float target_value(client_id k, std::size_t i) { return static_cast<float>(10 * k + i); }

// Client k trains to t_k and records (client, pulled version) in call order. The client hosts
// keep serving (and may still be training) after server.run returns, until the federation
// closes: read the record through calls_so_far(), a copy taken under the lock.
struct recording_trainer {
  std::shared_ptr<std::mutex> mutex = std::make_shared<std::mutex>();
  std::shared_ptr<std::vector<std::pair<client_id, std::uint64_t>>> calls =
      std::make_shared<std::vector<std::pair<client_id, std::uint64_t>>>();
  fedpp::client_result<float> operator()(client_id id, const fedpp::host_model_view<const float>& global,
                                         const fedpp::round_config& config) const {
    {
      const std::lock_guard lock(*mutex);
      calls->emplace_back(id, config.round);
    }
    fedpp::client_result<float> r{
        fedpp::flat_model<float>(global.layout()), fedpp::update_kind::weights, 1.0, {}};
    for (std::size_t i = 0; i < r.model.size(); ++i) r.model.span()[i] = target_value(id, i);
    return r;
  }
  [[nodiscard]] std::vector<std::pair<client_id, std::uint64_t>> calls_so_far() const {
    const std::lock_guard lock(*mutex);
    return *calls;
  }
};

using federation_base = test_support::threaded_federation<recording_trainer>;
struct federation : federation_base {
  federation(std::size_t n, recording_trainer trainer)
      : federation_base(n, std::move(trainer), toy_layout()) {}
};

struct speed_by_id { // client c needs c + 1 simulated seconds, nobody drops out
  static constexpr bool simulated = true;
  fedpp::client_forecast forecast(client_id c, std::uint64_t, const fedpp::round_config&) const {
    return {false, std::chrono::seconds(c + 1)};
  }
};

std::vector<client_id> population(std::size_t n) {
  std::vector<client_id> ids(n);
  for (std::size_t i = 0; i < n; ++i) ids[i] = i;
  return ids;
}

TEST(AsyncServer, FedAsyncWithoutConcurrencyMixesEachModelInTurn) {
  recording_trainer trainer;
  federation fed(5, trainer);
  const double alpha = 0.5;
  fedpp::async_server<float, fedpp::fedasync<float>> server(
      fedpp::flat_model<float>(toy_layout()), population(5), fedpp::fedasync<float>(4, alpha), {1, {}, 11});
  auto endpoint = fed.hub().server();
  const auto history = server.run(endpoint, 6);
  ASSERT_EQ(history.size(), 6U);
  // Replay by hand: x ← (1 − α) x + α t_k, for the clients in the order they trained.
  std::vector<double> x(4, 0.0);
  const auto calls = trainer.calls_so_far();
  ASSERT_GE(calls.size(), 6U);
  for (std::size_t step = 0; step < 6; ++step) {
    const auto [client, version] = calls[step];
    EXPECT_EQ(version, step); // concurrency 1: always the newest model, staleness 0
    for (std::size_t i = 0; i < 4; ++i) x[i] = (1 - alpha) * x[i] + alpha * target_value(client, i);
    EXPECT_EQ(history[step].mean_staleness, 0.0);
    EXPECT_EQ(history[step].round, step + 1);
  }
  for (std::size_t i = 0; i < 4; ++i) EXPECT_NEAR(server.model().span()[i], x[i], 1e-4);
}

TEST(AsyncServer, FedBuffFlushesEveryKDeltas) {
  recording_trainer trainer;
  federation fed(6, trainer);
  fedpp::async_server<float, fedpp::fedbuff<float>> server(
      fedpp::flat_model<float>(toy_layout()), population(6), fedpp::fedbuff<float>(4, 2, 1.0), {1, {}, 5});
  auto endpoint = fed.hub().server();
  const auto history = server.run(endpoint, 2);
  ASSERT_EQ(history.size(), 2U);
  const auto calls = trainer.calls_so_far();
  ASSERT_GE(calls.size(), 4U);
  // Concurrency 1: clients 1 and 2 pull x0, so x1 = x0 + (Δ1 + Δ2)/2 = (t1 + t2)/2 (staleness 0);
  // clients 3 and 4 pull x1, so x2 = x1 + ((t3 − x1) + (t4 − x1))/2 = (t3 + t4)/2.
  EXPECT_EQ(calls[0].second, 0U);
  EXPECT_EQ(calls[1].second, 0U);
  EXPECT_EQ(calls[2].second, 1U);
  EXPECT_EQ(calls[3].second, 1U);
  for (std::size_t i = 0; i < 4; ++i)
    EXPECT_NEAR(server.model().span()[i],
                (target_value(calls[2].first, i) + target_value(calls[3].first, i)) / 2, 1e-4);
  EXPECT_EQ(history[0].reported, 2U);
  EXPECT_EQ(history[1].reported, 2U);
}

// Simulated: arrivals are applied in simulated-time order, so the run is a function of the seed
// and staleness appears with concurrency > 1.
TEST(AsyncServer, SimulatedRunsAreDeterministicAndStale) {
  std::vector<std::vector<float>> models;
  std::vector<double> staleness;
  for (int run = 0; run < 2; ++run) {
    recording_trainer trainer;
    federation fed(8, trainer);
    fedpp::async_server<float, fedpp::fedasync<float, fedpp::polynomial_staleness>, speed_by_id> server(
        fedpp::flat_model<float>(toy_layout()), population(8),
        fedpp::fedasync<float, fedpp::polynomial_staleness>(4, 0.6, fedpp::polynomial_staleness(0.5)),
        {4, {}, 21});
    auto endpoint = fed.hub().server();
    const auto history = server.run(endpoint, 20);
    double total = 0;
    for (const auto& m : history) total += m.mean_staleness;
    staleness.push_back(total);
    models.emplace_back(server.model().span().begin(), server.model().span().end());
    EXPECT_GT(history.back().simulated_seconds, 0.0);
  }
  EXPECT_EQ(models[0], models[1]);
  EXPECT_EQ(staleness[0], staleness[1]);
  EXPECT_GT(staleness[0], 0.0);
}

TEST(AsyncServer, RejectsBadConfiguration) {
  EXPECT_THROW((fedpp::async_server<float, fedpp::fedbuff<float>>(
                   fedpp::flat_model<float>(toy_layout()), population(3), fedpp::fedbuff<float>(4, 2, 1.0),
                   {4, {}, 0})),
               fedpp::invalid_config);
  EXPECT_THROW(
      (fedpp::async_server<float, fedpp::fedbuff<float>>(fedpp::flat_model<float>(toy_layout()), {1, 1},
                                                         fedpp::fedbuff<float>(4, 2, 1.0), {1, {}, 0})),
      fedpp::invalid_config);
}

} // namespace
