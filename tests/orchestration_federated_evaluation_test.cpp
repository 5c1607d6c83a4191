// Federated evaluation rounds: the summaries against hand computations (weighted mean as Flower's
// weighted_loss_avg, numpy's linear percentile, the worst client), the cadence and the sizing of
// evaluation rounds, the refusal of hostile answers (NaN, negative or huge counts, accuracy > 1,
// impersonation, stale and repeated answers), the client host's side, and the stratified local
// test splits of the simulation partitioners.
#include "fedpp/orchestration/client_host.hpp"
#include "fedpp/orchestration/federated_evaluation.hpp"
#include "fedpp/orchestration/server.hpp"
#include "fedpp/scheduling/over_selection.hpp"
#include "fedpp/scheduling/poisson_sampler.hpp"
#include "fedpp/scheduling/uniform_sampler.hpp"
#include "fedpp/simulation/partitioners.hpp"
#include "fedpp/transport/in_process_transport.hpp"

#include "support/threaded_federation.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <iterator>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <span>
#include <stdexcept>
#include <vector>

namespace {

using namespace std::chrono_literals;
using fedpp::client_id;

fedpp::model_layout toy_layout() {
  fedpp::model_layout layout;
  layout.add("w", {2, 3}).add("b", {3});
  return layout;
}

// --- Summaries against hand computations -------------------------------------------------------

// numpy.percentile(x, p) (method "linear"): h = (K − 1) p / 100, x_i + (h − i)(x_{i+1} − x_i).
TEST(FederatedEvaluation, PercentileIsNumpysLinearInterpolation) {
  const std::vector<double> one{0.5};
  EXPECT_EQ(fedpp::percentile_linear(one, 10), 0.5);
  const std::vector<double> four{1, 2, 3, 4};
  EXPECT_DOUBLE_EQ(fedpp::percentile_linear(four, 10), 1.3); // h = 0.3
  EXPECT_DOUBLE_EQ(fedpp::percentile_linear(four, 90), 3.7); // h = 2.7 (from x_3 down: 4 − 0.3)
  EXPECT_EQ(fedpp::percentile_linear(four, 0), 1.0);
  EXPECT_EQ(fedpp::percentile_linear(four, 100), 4.0);
  std::vector<double> eleven;
  for (int i = 0; i <= 10; ++i) eleven.push_back(i);
  EXPECT_EQ(fedpp::percentile_linear(eleven, 10), 1.0); // h = 1 exactly: a data point
  const std::vector<double> five{0.2, 0.4, 0.6, 0.8, 0.9};
  EXPECT_DOUBLE_EQ(fedpp::percentile_linear(five, 10), 0.2 + 0.4 * 0.2); // h = 0.4
  EXPECT_DOUBLE_EQ(fedpp::percentile_linear(five, 90), 0.9 - 0.1 * 0.4); // h = 3.6, g ≥ 0.5
  EXPECT_THROW((void)fedpp::percentile_linear(std::vector<double>{}, 10), fedpp::invalid_config);
  EXPECT_THROW((void)fedpp::percentile_linear(four, 101), fedpp::invalid_config);
  EXPECT_THROW((void)fedpp::percentile_linear(four, std::nan("")), fedpp::invalid_config);
}

// Flower's weighted_loss_avg test numbers: [(5, 0.5)] → 0.5 and [(1, 2), (2, 1), (1, 2)] → 1.5.
TEST(FederatedEvaluation, WeightedMeanIsFlowersWeightedLossAvg) {
  const std::vector<std::pair<double, double>> single{{5, 0.5}};
  EXPECT_EQ(fedpp::summarize_metric(single).weighted_mean, 0.5);
  const std::vector<std::pair<double, double>> three{{1, 2.0}, {2, 1.0}, {1, 2.0}};
  const auto s = fedpp::summarize_metric(three);
  EXPECT_EQ(s.weighted_mean, 1.5);
  EXPECT_DOUBLE_EQ(s.mean, 5.0 / 3.0);
  EXPECT_EQ(s.min, 1.0);
  EXPECT_EQ(s.max, 2.0);
  EXPECT_DOUBLE_EQ(s.p10, 1.2); // sorted 1, 2, 2: h = 0.2
  EXPECT_EQ(s.p90, 2.0);
}

std::vector<fedpp::client_evaluation> three_clients() {
  return {{7, 10, 0.5, 0.9}, {2, 30, 1.0, 0.6}, {5, 60, 0.2, 0.95}};
}

TEST(FederatedEvaluation, SummaryOfThreeClientsByHand) {
  fedpp::evaluation_metrics m;
  fedpp::summarize_evaluations(three_clients(), m);
  EXPECT_EQ(m.reported, 3U);
  EXPECT_EQ(m.total_examples, 100.0);
  // Summed in ascending client order: clients 2, 5, 7.
  EXPECT_EQ(m.accuracy.weighted_mean, (30 * 0.6 + 60 * 0.95 + 10 * 0.9) / 100);
  EXPECT_EQ(m.loss.weighted_mean, (30 * 1.0 + 60 * 0.2 + 10 * 0.5) / 100);
  EXPECT_DOUBLE_EQ(m.accuracy.weighted_mean, 0.84);
  EXPECT_DOUBLE_EQ(m.loss.weighted_mean, 0.47);
  EXPECT_EQ(m.accuracy.mean, (0.6 + 0.95 + 0.9) / 3);
  EXPECT_DOUBLE_EQ(m.accuracy.p10, 0.6 + 0.2 * 0.3); // sorted 0.6, 0.9, 0.95: h = 0.2
  EXPECT_DOUBLE_EQ(m.loss.p90, 1.0 - 0.5 * 0.2);     // sorted 0.2, 0.5, 1.0: h = 1.8
  EXPECT_EQ(m.accuracy.min, 0.6);
  EXPECT_EQ(m.loss.max, 1.0);
  EXPECT_EQ(m.worst_client, 2U);
  ASSERT_EQ(m.clients.size(), 3U);
  EXPECT_EQ(m.clients[0].client, 2U);
  EXPECT_EQ(m.clients[1].client, 5U);
  EXPECT_EQ(m.clients[2].client, 7U);
  // Arrival order does not change a bit.
  auto reversed = three_clients();
  std::reverse(reversed.begin(), reversed.end());
  fedpp::evaluation_metrics again;
  fedpp::summarize_evaluations(reversed, again);
  EXPECT_EQ(again.accuracy, m.accuracy);
  EXPECT_EQ(again.loss, m.loss);
  EXPECT_EQ(again.clients, m.clients);
}

TEST(FederatedEvaluation, WorstClientTiesGoToTheHigherLossThenTheLowerId) {
  fedpp::evaluation_metrics m;
  fedpp::summarize_evaluations({{4, 10, 0.3, 0.5}, {9, 10, 0.7, 0.5}, {1, 10, 0.7, 0.5}, {3, 10, 0.1, 0.8}},
                               m);
  EXPECT_EQ(m.worst_client, 1U);
}

TEST(FederatedEvaluation, AnswersRoundTripThroughTheWireFormat) {
  const fedpp::evaluation_result r{123, 0.25, 0.75};
  const auto d = fedpp::wire::decode(fedpp::encode_evaluation_report(4, 9, 2, r));
  EXPECT_EQ(d.kind(), fedpp::wire::message_kind::control);
  EXPECT_EQ(d.tag(), static_cast<std::uint32_t>(fedpp::control_tag::evaluation_report));
  EXPECT_EQ(d.round(), 4U);
  EXPECT_EQ(d.sender(), 9U);
  const auto a = fedpp::decode_evaluation_answer(d.tag(), d.payload_bytes());
  EXPECT_EQ(a.evaluation, 2U);
  EXPECT_EQ(a.result.num_examples, 123);
  EXPECT_EQ(a.result.loss, 0.25);
  EXPECT_EQ(a.result.accuracy, 0.75);
  const auto f = fedpp::wire::decode(fedpp::encode_evaluation_failed(4, 9, 2));
  EXPECT_EQ(f.tag(), static_cast<std::uint32_t>(fedpp::control_tag::evaluation_failed));
  EXPECT_EQ(fedpp::decode_evaluation_answer(f.tag(), f.payload_bytes()).evaluation, 2U);
  EXPECT_THROW((void)fedpp::decode_evaluation_answer(fedpp::evaluation_report_tag, f.payload_bytes()),
               fedpp::malformed_message);
  EXPECT_THROW((void)fedpp::decode_evaluation_answer(2, d.payload_bytes()), fedpp::malformed_message);
}

// --- Sizing and cadence ------------------------------------------------------------------------

TEST(FederatedEvaluation, ClientsToAskFollowFlowersNumEvaluationClients) {
  fedpp::federated_evaluation_options o; // Flower's defaults: fraction 1.0, min 2
  EXPECT_EQ(o.clients_to_ask(100), 100U);
  EXPECT_EQ(o.clients_to_ask(1), 1U); // capped at N
  o.fraction = 0.35;
  EXPECT_EQ(o.clients_to_ask(10), 3U); // int(3.5)
  o.fraction = 0.1;
  EXPECT_EQ(o.clients_to_ask(10), 2U); // max(1, min_clients 2)
  o.fraction = 0.29;
  EXPECT_EQ(o.clients_to_ask(100), 28U); // int(28.999999999999996), as Python's int()
  o.min_clients = 50;
  EXPECT_EQ(o.clients_to_ask(100), 50U);
}

TEST(FederatedEvaluation, CadenceIsEveryKthTrainingRound) {
  fedpp::federated_evaluation_options o;
  EXPECT_FALSE(o.due_after(0));
  EXPECT_FALSE(o.due_after(5)); // every = 0: never due
  o.every = 3;
  std::vector<std::uint64_t> due;
  for (std::uint64_t r = 0; r <= 10; ++r)
    if (o.due_after(r)) due.push_back(r);
  EXPECT_EQ(due, (std::vector<std::uint64_t>{3, 6, 9}));
}

TEST(FederatedEvaluation, OptionsAreValidated) {
  const auto refused = [](auto change) {
    fedpp::server_options options;
    change(options.evaluation);
    EXPECT_THROW((fedpp::server<float, fedpp::uniform_sampler>(fedpp::flat_model<float>(toy_layout()),
                                                               fedpp::uniform_sampler(4, 2), {}, options)),
                 fedpp::invalid_config);
  };
  refused([](auto& e) { e.fraction = 0; });
  refused([](auto& e) { e.fraction = 1.5; });
  refused([](auto& e) { e.fraction = std::nan(""); });
  refused([](auto& e) { e.min_clients = 0; });
  refused([](auto& e) { e.min_reports = 0; });
  refused([](auto& e) { e.max_wait = 0ns; });
  refused([](auto& e) { e.max_examples = 0.5; });
  refused([](auto& e) { e.max_examples = std::numeric_limits<double>::infinity(); });
  refused([](auto& e) { e.max_loss = -1; });
}

TEST(FederatedEvaluation, SelectionResizesTheTrainingSampler) {
  fedpp::federated_evaluation_options o;
  o.fraction = 0.5;
  fedpp::uniform_sampler uniform(10, 2);
  const auto picked = fedpp::select_evaluation_clients(uniform, o, 7, 3);
  EXPECT_EQ(picked.size(), 5U);
  EXPECT_EQ(std::set<client_id>(picked.begin(), picked.end()).size(), 5U);
  EXPECT_EQ(picked, fedpp::select_evaluation_clients(uniform, o, 7, 3)); // a function of (seed, round)
  // over_selection is resized through its inner sampler: 5, not ⌈5 · 1.5⌉.
  fedpp::over_selection<fedpp::uniform_sampler> over(fedpp::uniform_sampler(10, 2), 0.5);
  EXPECT_EQ(fedpp::select_evaluation_clients(over, o, 7, 3).size(), 5U);
  // A sampler without a fixed size (Poisson) picks by its own rule.
  fedpp::poisson_sampler poisson(1000, 0.05);
  const auto p = fedpp::select_evaluation_clients(poisson, o, 7, 3);
  EXPECT_GT(p.size(), 10U);
  EXPECT_LT(p.size(), 120U);
  // An explicit id list: the evaluation draws from it.
  fedpp::uniform_sampler listed(std::vector<client_id>{100, 200, 300, 400}, 1);
  o.fraction = 1.0;
  EXPECT_EQ(fedpp::select_evaluation_clients(listed, o, 1, 0), (std::vector<client_id>{100, 200, 300, 400}));
}

// --- End to end over the in-process transport --------------------------------------------------

// Client k trains to the value k + 1 with k + 1 examples and evaluates to (n = 10 (k + 1),
// loss k / 10, accuracy 1 − k / 20), unless the script says otherwise.
struct scripted_client {
  struct script {
    std::mutex mutex;
    std::map<client_id, fedpp::evaluation_result> answers; // overrides
    std::set<client_id> throws;
    std::vector<std::pair<std::uint64_t, client_id>> trained; // (round, client)
    std::size_t evaluations = 0;
  };
  std::shared_ptr<script> s = std::make_shared<script>();

  fedpp::client_result<float> operator()(client_id id, const fedpp::host_model_view<const float>& global,
                                         const fedpp::round_config& config) const {
    {
      const std::lock_guard lock(s->mutex);
      s->trained.emplace_back(config.round, id);
    }
    fedpp::client_result<float> r{fedpp::flat_model<float>(global.layout()),
                                  fedpp::update_kind::delta,
                                  static_cast<double>(id + 1),
                                  {}};
    for (float& v : r.model.span()) v = static_cast<float>(id + 1);
    return r;
  }

  fedpp::evaluation_result evaluate(client_id id, const fedpp::host_model_view<const float>&,
                                    const fedpp::round_config& config) const {
    const std::lock_guard lock(s->mutex);
    ++s->evaluations;
    if (!config.extra.contains(std::string(fedpp::evaluate_key))) throw std::logic_error("not an evaluation");
    if (s->throws.contains(id)) throw std::runtime_error("client " + std::to_string(id) + ": no test data");
    if (auto it = s->answers.find(id); it != s->answers.end()) return it->second;
    const auto k = static_cast<double>(id);
    return {10 * (k + 1), k / 10, 1 - k / 20};
  }
};
static_assert(fedpp::client_trainer<scripted_client, float>);
static_assert(fedpp::client_evaluator<scripted_client, float>);

using federation = test_support::threaded_federation<scripted_client>;
using plain_server = fedpp::server<float, fedpp::uniform_sampler>;

fedpp::evaluation_metrics by_hand(const std::vector<client_id>& clients) {
  std::vector<fedpp::client_evaluation> answers;
  for (client_id c : clients) {
    const auto k = static_cast<double>(c);
    answers.push_back({c, 10 * (k + 1), k / 10, 1 - k / 20});
  }
  fedpp::evaluation_metrics m;
  fedpp::summarize_evaluations(answers, m);
  return m;
}

TEST(FederatedEvaluation, ARoundAsksEveryClientAndLeavesTheModelAlone) {
  scripted_client client;
  federation fed(6, client, toy_layout());
  plain_server server(fedpp::flat_model<float>(toy_layout()), fedpp::uniform_sampler(6, 3));
  auto endpoint = fed.hub().server();
  const auto trained = server.run_round(endpoint);
  ASSERT_TRUE(trained.succeeded);
  const auto model_before = server.model();
  const auto e = server.run_evaluation_round(endpoint);
  EXPECT_TRUE(e.succeeded);
  EXPECT_EQ(e.round, 1U);      // the model after one training round
  EXPECT_EQ(e.evaluation, 1U); // the server's first evaluation
  EXPECT_EQ(e.sampled, 6U);    // fraction 1.0: every client
  EXPECT_EQ(e.reported, 6U);
  EXPECT_EQ(e.refused(), 0U);
  EXPECT_EQ(e.dropped, 0U);
  EXPECT_GT(e.bytes_down, 0U);
  EXPECT_EQ(e.bytes_up, 6 * fedpp::encode_evaluation_report(0, 0, 0, {}).size());
  const auto expected = by_hand({0, 1, 2, 3, 4, 5});
  EXPECT_EQ(e.accuracy, expected.accuracy);
  EXPECT_EQ(e.loss, expected.loss);
  EXPECT_EQ(e.clients, expected.clients);
  EXPECT_EQ(e.total_examples, 210.0);
  EXPECT_EQ(e.worst_client, 5U);
  // Σ n_k a_k / Σ n_k with n_k = 10 (k + 1), a_k = 1 − k / 20.
  double num = 0;
  for (int k = 0; k < 6; ++k) num += 10.0 * (k + 1) * (1 - k / 20.0);
  EXPECT_DOUBLE_EQ(e.accuracy.weighted_mean, num / 210);
  EXPECT_EQ(server.round(), 1U);
  EXPECT_TRUE(
      std::equal(model_before.span().begin(), model_before.span().end(), server.model().span().begin()));
  const auto second = server.run_evaluation_round(endpoint);
  EXPECT_EQ(second.evaluation, 2U);
  EXPECT_EQ(second.reported, 6U);
  EXPECT_EQ(client.s->evaluations, 12U);
}

TEST(FederatedEvaluation, EvaluationsDueEveryKRoundsLeaveTrainingSamplingUnchanged) {
  scripted_client client;
  federation fed(8, client, toy_layout());
  fedpp::server_options options;
  options.seed = 11;
  options.evaluation.every = 3;
  options.evaluation.fraction = 0.5;
  fedpp::uniform_sampler sampler(8, 2);
  plain_server server(fedpp::flat_model<float>(toy_layout()), sampler, {}, options);
  auto endpoint = fed.hub().server();
  std::vector<fedpp::evaluation_metrics> evaluations;
  for (int r = 0; r < 7; ++r) {
    ASSERT_TRUE(server.run_round(endpoint).succeeded);
    if (auto e = server.evaluate_if_due(endpoint)) evaluations.push_back(std::move(*e));
  }
  ASSERT_EQ(evaluations.size(), 2U);
  EXPECT_EQ(evaluations[0].round, 3U);
  EXPECT_EQ(evaluations[1].round, 6U);
  EXPECT_EQ(evaluations[0].evaluation, 1U);
  EXPECT_EQ(evaluations[1].evaluation, 2U);
  for (const auto& e : evaluations) {
    EXPECT_EQ(e.sampled, 4U); // ⌊8 · 0.5⌋
    EXPECT_EQ(e.reported, 4U);
    const auto picked = fedpp::select_evaluation_clients(sampler, options.evaluation, 11, e.round);
    std::vector<client_id> reported;
    for (const auto& c : e.clients) reported.push_back(c.client);
    EXPECT_EQ(reported, picked);
  }
  // Each training round trained exactly the clients a server without evaluations would have.
  std::map<std::uint64_t, std::vector<client_id>> trained;
  {
    const std::lock_guard lock(client.s->mutex);
    for (const auto& [round, c] : client.s->trained) trained[round].push_back(c);
  }
  ASSERT_EQ(trained.size(), 7U);
  for (auto& [round, clients] : trained) {
    std::sort(clients.begin(), clients.end());
    EXPECT_EQ(clients, fedpp::sample_round(sampler, 11, round)) << "round " << round;
  }
}

// A failing evaluator and one that cannot evaluate are failures; the rest still count.
TEST(FederatedEvaluation, ClientsThatCannotEvaluateAreCountedAsFailures) {
  scripted_client client;
  client.s->throws = {1, 4};
  federation fed(5, client, toy_layout());
  plain_server server(fedpp::flat_model<float>(toy_layout()), fedpp::uniform_sampler(5, 5));
  auto endpoint = fed.hub().server();
  const auto e = server.run_evaluation_round(endpoint);
  EXPECT_TRUE(e.succeeded);
  EXPECT_EQ(e.client_failures, 2U);
  EXPECT_EQ(e.reported, 3U);
  EXPECT_EQ(e.accuracy, by_hand({0, 2, 3}).accuracy);
}

struct train_only {
  fedpp::client_result<float> operator()(client_id id, const fedpp::host_model_view<const float>& global,
                                         const fedpp::round_config&) const {
    return {fedpp::flat_model<float>(global.layout()),
            fedpp::update_kind::delta,
            static_cast<double>(id + 1),
            {}};
  }
};
static_assert(!fedpp::client_evaluator<train_only, float>);

TEST(FederatedEvaluation, ATrainerWithoutEvaluateAnswersFailedAndTheRoundDoesNotWait) {
  test_support::threaded_federation<train_only> fed(3, train_only{}, toy_layout());
  plain_server server(fedpp::flat_model<float>(toy_layout()), fedpp::uniform_sampler(3, 3));
  auto endpoint = fed.hub().server();
  const auto e = server.run_evaluation_round(endpoint);
  EXPECT_FALSE(e.succeeded);
  EXPECT_EQ(e.client_failures, 3U);
  EXPECT_EQ(e.reported, 0U);
  EXPECT_EQ(e.dropped, 0U);
  EXPECT_LT(e.seconds, 30.0);
  EXPECT_TRUE(server.run_round(endpoint).succeeded); // training is unaffected
}

// Hostile values from real, authenticated clients: each refused answer is counted, settles its
// client, and leaves the honest clients' summary exactly as if it had not been sent.
TEST(FederatedEvaluation, HostileValuesAreRefusedAndCounted) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  scripted_client client;
  client.s->answers = {
      {1, {nan, 0.1, 0.9}},   // count NaN
      {2, {-5, 0.1, 0.9}},    // negative count
      {3, {1e12, 0.1, 0.9}},  // huge count (above max_examples)
      {4, {2.5, 0.1, 0.9}},   // not a whole number
      {5, {0, 0.1, 0.9}},     // no examples
      {6, {50, 0.1, 0.9}},    // above the client's known size (40)
      {7, {20, nan, 0.9}},    // loss NaN
      {8, {20, -0.1, 0.9}},   // negative loss
      {9, {20, inf, 0.9}},    // infinite loss
      {10, {20, 1e16, 0.9}},  // loss above max_loss
      {11, {20, 0.1, 1.5}},   // accuracy > 1
      {12, {20, 0.1, -0.01}}, // accuracy < 0
      {13, {20, 0.1, nan}},   // accuracy NaN
      {14, {40, 0.1, 0.25}},  // honest: at its known size
  };
  federation fed(16, client, toy_layout());
  fedpp::server_options options;
  options.evaluation.known_examples = [](client_id c) -> std::optional<double> {
    if (c == 6 || c == 14) return 40.0;
    return std::nullopt;
  };
  plain_server server(fedpp::flat_model<float>(toy_layout()), fedpp::uniform_sampler(16, 4), {}, options);
  auto endpoint = fed.hub().server();
  fedpp::evaluation_metrics e;
  EXPECT_NO_THROW(e = server.run_evaluation_round(endpoint));
  EXPECT_EQ(e.sampled, 16U);
  EXPECT_EQ(e.examples_refused, 6U);
  EXPECT_EQ(e.metrics_refused, 7U);
  EXPECT_EQ(e.reported, 3U);
  EXPECT_EQ(e.dropped, 0U);
  EXPECT_TRUE(e.succeeded);
  std::vector<fedpp::client_evaluation> honest{{0, 10, 0.0, 1.0}, {14, 40, 0.1, 0.25}, {15, 160, 1.5, 0.25}};
  fedpp::evaluation_metrics expected;
  fedpp::summarize_evaluations(honest, expected);
  EXPECT_EQ(e.clients, expected.clients);
  EXPECT_EQ(e.accuracy, expected.accuracy);
  EXPECT_EQ(e.loss, expected.loss);
  for (double v : {e.accuracy.weighted_mean, e.accuracy.p10, e.loss.weighted_mean, e.loss.p90})
    EXPECT_TRUE(std::isfinite(v));
}

// Client 2 is played by the test: its (and others') hostile messages are queued before the
// evaluation starts, so the server judges them first; clients 0 and 1 answer honestly.
TEST(FederatedEvaluation, ForgedStaleRepeatedAndUnaskedAnswersAreRefused) {
  scripted_client client;
  federation fed(2, client, toy_layout());
  auto& hub = fed.hub();
  auto two = hub.endpoint(2);
  plain_server server(fedpp::flat_model<float>(toy_layout()), fedpp::uniform_sampler(3, 3));
  // Round 0, evaluation 1 is what the server is about to ask.
  const fedpp::evaluation_result fine{10, 0.2, 0.8};
  hub.endpoint(999).send(fedpp::server_endpoint, fedpp::encode_evaluation_report(0, 0, 1, {10, 0.0, 1.0}));
  hub.endpoint(999).send(fedpp::server_endpoint, fedpp::encode_evaluation_failed(0, 1, 1)); // forged failure
  two.send(fedpp::server_endpoint, fedpp::encode_evaluation_report(0, 2, 0, fine)); // an earlier evaluation
  hub.endpoint(3).send(fedpp::server_endpoint, fedpp::encode_evaluation_report(0, 3, 1, fine)); // not asked
  two.send(fedpp::server_endpoint, fedpp::encode_evaluation_report(0, 2, 9, fine)); // a future evaluation
  two.send(fedpp::server_endpoint, fedpp::encode_evaluation_report(0, 2, 1, fine)); // already settled: repeat
  std::vector<std::byte> garbage(40, std::byte{0x5a});
  two.send(fedpp::server_endpoint, fedpp::message::copy_of(garbage));
  two.send(fedpp::server_endpoint, fedpp::wire::encode_control(0, 2, fedpp::evaluation_report_tag, garbage));
  auto endpoint = hub.server();
  fedpp::evaluation_metrics e;
  EXPECT_NO_THROW(e = server.run_evaluation_round(endpoint));
  EXPECT_EQ(e.impersonations, 2U);
  EXPECT_EQ(e.stale, 1U);
  EXPECT_EQ(e.rejected, 1U);
  EXPECT_EQ(e.malformed, 2U);       // the future evaluation (it settles client 2), the garbage
  EXPECT_EQ(e.duplicates, 2U);      // client 2's answers after it was settled, the bad payload among them
  EXPECT_EQ(e.client_failures, 0U); // the forged failure did not settle client 1
  EXPECT_EQ(e.reported, 2U);
  EXPECT_EQ(e.accuracy, by_hand({0, 1}).accuracy);
  EXPECT_EQ(e.refused(), 8U);
}

// Late training reports arriving during an evaluation are stale, not answers.
TEST(FederatedEvaluation, LateTrainingReportsAreStale) {
  scripted_client client;
  federation fed(3, client, toy_layout());
  plain_server server(fedpp::flat_model<float>(toy_layout()), fedpp::uniform_sampler(3, 3));
  auto endpoint = fed.hub().server();
  ASSERT_TRUE(server.run_round(endpoint).succeeded);
  std::vector<float> update(toy_layout().total_size(), 1.F);
  fed.hub().endpoint(1).send(fedpp::server_endpoint,
                             fedpp::wire::encode_client_update<float>(0, 1, toy_layout(), update, 2.0));
  fed.hub().endpoint(1).send(
      fedpp::server_endpoint,
      fedpp::wire::encode_control(0, 1, static_cast<std::uint32_t>(fedpp::control_tag::client_failed), {}));
  const auto e = server.run_evaluation_round(endpoint);
  EXPECT_EQ(e.stale, 2U);
  EXPECT_EQ(e.reported, 3U);
  EXPECT_EQ(e.accuracy, by_hand({0, 1, 2}).accuracy);
}

// With nobody answering, the round ends at max_wait with every client dropped; min_reports decides
// success.
TEST(FederatedEvaluation, SilentClientsAreDroppedAtMaxWait) {
  fedpp::in_process_transport hub;
  fedpp::server_options options;
  options.evaluation.max_wait = 50ms;
  plain_server server(fedpp::flat_model<float>(toy_layout()), fedpp::uniform_sampler(3, 1), {}, options);
  auto endpoint = hub.server();
  const auto e = server.run_evaluation_round(endpoint);
  EXPECT_FALSE(e.succeeded);
  EXPECT_EQ(e.sampled, 3U);
  EXPECT_EQ(e.dropped, 3U);
  EXPECT_EQ(e.reported, 0U);
  EXPECT_EQ(e.accuracy, fedpp::metric_summary{});
}

// --- The client host's side --------------------------------------------------------------------

TEST(FederatedEvaluation, ClientHostAnswersAnEvaluationRequest) {
  fedpp::in_process_transport hub;
  auto ep = hub.endpoint(3);
  scripted_client client;
  fedpp::client_host<float, scripted_client, fedpp::in_process_endpoint> host(ep, client, toy_layout());
  fedpp::round_config config;
  config.extra[std::string(fedpp::evaluate_key)] = "5";
  hub.server().send(
      3, fedpp::wire::encode_global_model<float>(2, config, fedpp::flat_model<float>(toy_layout())));
  EXPECT_EQ(host.serve_one(std::chrono::steady_clock::now() + 1s), fedpp::host_event::evaluated);
  auto answer = hub.server().receive_for(1s);
  ASSERT_TRUE(answer);
  const auto d = fedpp::wire::decode(answer->message);
  EXPECT_EQ(d.tag(), fedpp::evaluation_report_tag);
  EXPECT_EQ(d.sender(), 3U);
  EXPECT_EQ(d.round(), 2U);
  const auto a = fedpp::decode_evaluation_answer(d.tag(), d.payload_bytes());
  EXPECT_EQ(a.evaluation, 5U);
  EXPECT_EQ(a.result.num_examples, 40);
  EXPECT_TRUE(client.s->trained.empty()); // evaluated, not trained
  // An evaluation number that is not a number: the request is ignored, nothing is sent.
  config.extra[std::string(fedpp::evaluate_key)] = "5x";
  hub.server().send(
      3, fedpp::wire::encode_global_model<float>(2, config, fedpp::flat_model<float>(toy_layout())));
  EXPECT_EQ(host.serve_one(std::chrono::steady_clock::now() + 1s), fedpp::host_event::ignored);
  EXPECT_FALSE(hub.server().try_receive().has_value());
}

TEST(FederatedEvaluation, EvaluatingTrainerJoinsTwoLambdas) {
  auto train = [](client_id, const fedpp::host_model_view<const float>& global, const fedpp::round_config&) {
    return fedpp::client_result<float>{
        fedpp::flat_model<float>(global.layout()), fedpp::update_kind::delta, 1.0, {}};
  };
  auto evaluate = [](client_id id, const fedpp::host_model_view<const float>&, const fedpp::round_config&) {
    return fedpp::evaluation_result{static_cast<double>(id + 1), 0.5, 0.5};
  };
  using both = decltype(fedpp::evaluating_trainer{train, evaluate});
  static_assert(fedpp::client_trainer<both, float>);
  static_assert(fedpp::client_evaluator<both, float>);
  test_support::threaded_federation<both> fed(4, fedpp::evaluating_trainer{train, evaluate}, toy_layout());
  plain_server server(fedpp::flat_model<float>(toy_layout()), fedpp::uniform_sampler(4, 2));
  auto endpoint = fed.hub().server();
  const auto e = server.run_evaluation_round(endpoint);
  EXPECT_EQ(e.reported, 4U);
  EXPECT_EQ(e.total_examples, 10.0);
}

// --- Local test splits of the simulation partitioners ------------------------------------------

std::vector<std::uint8_t> synthetic_labels(std::size_t n, std::uint64_t seed) {
  fedpp::rng gen(seed);
  std::vector<std::uint8_t> labels(n);
  for (auto& l : labels) l = static_cast<std::uint8_t>(gen.below(10));
  return labels;
}

std::vector<std::size_t> histogram(std::span<const std::uint8_t> labels,
                                   const std::vector<std::size_t>& idx) {
  std::vector<std::size_t> h(10, 0);
  for (std::size_t i : idx) ++h[labels[i]];
  return h;
}

TEST(FederatedEvaluation, LocalTestSplitsHaveTheClientsLabelDistribution) {
  namespace sim = fedpp::simulation;
  const auto labels = synthetic_labels(6000, 3);
  const auto parts = sim::partition_dirichlet(labels, 20, 0.5, 7);
  const double f = 0.2;
  const auto split = sim::split_train_test(labels, parts, f, 9);
  ASSERT_EQ(split.train.size(), 20U);
  ASSERT_EQ(split.test.size(), 20U);
  double largest_between_clients = 0;
  for (std::size_t k = 0; k < parts.size(); ++k) {
    const auto& train = split.train[k];
    const auto& test = split.test[k];
    EXPECT_TRUE(std::is_sorted(train.begin(), train.end()));
    EXPECT_TRUE(std::is_sorted(test.begin(), test.end()));
    // Disjoint, and together the client's examples.
    std::vector<std::size_t> joined;
    std::merge(train.begin(), train.end(), test.begin(), test.end(), std::back_inserter(joined));
    EXPECT_EQ(joined, parts[k]);
    const std::size_t n = parts[k].size();
    if (n < 2) {
      EXPECT_TRUE(test.empty());
      continue;
    }
    const std::size_t t =
        std::clamp<std::size_t>(static_cast<std::size_t>(std::llround(f * static_cast<double>(n))), 1, n - 1);
    EXPECT_EQ(test.size(), t);
    // Stratified: class c holds ⌊n_c t / n⌋ or ⌈n_c t / n⌉ of the test split.
    const auto all = histogram(labels, parts[k]);
    const auto held = histogram(labels, test);
    double tv = 0;
    for (std::size_t c = 0; c < 10; ++c) {
      const std::size_t low = all[c] * t / n;
      const std::size_t high = low + (all[c] * t % n != 0 ? 1 : 0);
      EXPECT_GE(held[c], low) << "client " << k << " class " << c;
      EXPECT_LE(held[c], high) << "client " << k << " class " << c;
      tv += std::abs(static_cast<double>(held[c]) / static_cast<double>(t) -
                     static_cast<double>(all[c]) / static_cast<double>(n));
    }
    EXPECT_LE(tv / 2, 5.0 / static_cast<double>(t)); // within one example per class
  }
  // The splits stay non-IID: some two clients' test distributions are far apart.
  for (std::size_t a = 0; a < parts.size(); ++a)
    for (std::size_t b = a + 1; b < parts.size(); ++b) {
      if (split.test[a].empty() || split.test[b].empty()) continue;
      const auto ha = histogram(labels, split.test[a]), hb = histogram(labels, split.test[b]);
      double tv = 0;
      for (std::size_t c = 0; c < 10; ++c)
        tv += std::abs(static_cast<double>(ha[c]) / static_cast<double>(split.test[a].size()) -
                       static_cast<double>(hb[c]) / static_cast<double>(split.test[b].size()));
      largest_between_clients = std::max(largest_between_clients, tv / 2);
    }
  EXPECT_GT(largest_between_clients, 0.5);
  // Deterministic under the seed; another seed holds out other examples.
  EXPECT_EQ(sim::split_train_test(labels, parts, f, 9).test, split.test);
  EXPECT_NE(sim::split_train_test(labels, parts, f, 10).test, split.test);
}

TEST(FederatedEvaluation, LocalTestSplitEdgeCasesAndRefusals) {
  namespace sim = fedpp::simulation;
  const std::vector<std::uint8_t> labels{0, 0, 1, 1, 1, 2, 2, 2, 2, 2};
  const sim::partition parts{{0}, {}, {1, 2}, {3, 4, 5, 6, 7, 8, 9}};
  const auto split = sim::split_train_test(labels, parts, 0.01, 1);
  EXPECT_TRUE(split.test[0].empty()); // one example: nothing to hold out
  EXPECT_EQ(split.train[0], (std::vector<std::size_t>{0}));
  EXPECT_TRUE(split.test[1].empty());
  EXPECT_EQ(split.test[2].size(), 1U); // at least one when n ≥ 2
  EXPECT_EQ(split.test[3].size(), 1U);
  EXPECT_EQ(sim::split_train_test(labels, parts, 0.99, 1).train[3].size(), 1U); // at least one to train on
  EXPECT_THROW((void)sim::split_train_test(labels, parts, 0.0, 1), fedpp::invalid_config);
  EXPECT_THROW((void)sim::split_train_test(labels, parts, 1.0, 1), fedpp::invalid_config);
  EXPECT_THROW((void)sim::split_train_test(labels, parts, std::nan(""), 1), fedpp::invalid_config);
  EXPECT_THROW((void)sim::split_train_test(labels, sim::partition{{0, 10}}, 0.5, 1), fedpp::invalid_config);
}

} // namespace
