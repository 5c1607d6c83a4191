// The server's trust boundary over the in-process transport: forged senders, weights, non-finite
// aggregates, client metrics, chunk memory, failing trainers and client hosts that only listen to
// the server. Each test plays a hostile client and checks the refusal is counted and costs the
// honest clients nothing.
#include "fedpp/detail/aligned_buffer.hpp"
#include "fedpp/optim/fedopt.hpp"
#include "fedpp/optim/server_momentum.hpp"
#include "fedpp/orchestration/async_server.hpp"
#include "fedpp/scheduling/fedasync.hpp"
#include "fedpp/scheduling/fedbuff.hpp"
#include "fedpp/orchestration/client_host.hpp"
#include "fedpp/orchestration/in_process_federation.hpp"
#include "fedpp/orchestration/server.hpp"
#include "fedpp/scheduling/uniform_sampler.hpp"
#include "fedpp/transport/in_process_transport.hpp"

#include "support/threaded_federation.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <cfloat>
#include <chrono>
#include <cmath>
#include <functional>
#include <limits>
#include <map>
#include <stdexcept>
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

// Client k uploads the delta (k + 1) on every element with k + 1 examples and metric loss = k,
// unless a behaviour for k says otherwise.
struct behaviour {
  std::chrono::milliseconds delay{0};
  std::optional<double> weight;
  std::optional<float> value;
  std::map<std::string, double> metrics{{"loss", -1}};
  bool throws = false;
};

struct scripted_trainer {
  std::shared_ptr<std::map<client_id, behaviour>> script = std::make_shared<std::map<client_id, behaviour>>();

  fedpp::client_result<float> operator()(client_id id, const fedpp::host_model_view<const float>& global,
                                         const fedpp::round_config&) const {
    behaviour b;
    if (auto it = script->find(id); it != script->end()) b = it->second;
    if (b.delay.count() > 0) std::this_thread::sleep_for(b.delay);
    if (b.throws) throw std::runtime_error("client " + std::to_string(id) + ": out of memory");
    fedpp::client_result<float> r{fedpp::flat_model<float>(global.layout()), fedpp::update_kind::delta,
                                  b.weight.value_or(static_cast<double>(id + 1)), {}};
    for (float& v : r.model.span()) v = b.value.value_or(static_cast<float>(id + 1));
    r.metrics = b.metrics.count("loss") != 0 && b.metrics.at("loss") == -1
                    ? std::map<std::string, double>{{"loss", static_cast<double>(id)}}
                    : b.metrics;
    return r;
  }
};

using federation = test_support::threaded_federation<scripted_trainer>;
using plain_server = fedpp::server<float, fedpp::uniform_sampler>;

// Σ w_k d_k / Σ w_k with d_k = w_k = k + 1 unless overridden.
double weighted_mean(const std::map<client_id, std::pair<double, double>>& weight_and_value) {
  double num = 0, den = 0;
  for (const auto& [c, wv] : weight_and_value) {
    num += wv.first * wv.second;
    den += wv.first;
  }
  return num / den;
}

std::map<client_id, std::pair<double, double>> default_reports(std::size_t n) {
  std::map<client_id, std::pair<double, double>> out;
  for (client_id c = 0; c < n; ++c) out[c] = {static_cast<double>(c + 1), static_cast<double>(c + 1)};
  return out;
}

void expect_model_is(const plain_server& server, double value) {
  for (float v : server.model().span()) EXPECT_NEAR(v, value, 1e-4 * std::max(1.0, std::abs(value)));
}

// --- Who sent it ------------------------------------------------------------------------------

// An endpoint reporting as a selected client whose real training takes 50 ms: the forgery is
// counted as an impersonation, the real report is accepted, the model is the honest one.
TEST(TrustBoundary, ForgedSenderIsRefusedAndTheRealReportAccepted) {
  for (int attempt = 0; attempt < 3; ++attempt) {
    scripted_trainer trainer;
    (*trainer.script)[2].delay = 50ms;
    federation fed(4, trainer, toy_layout());
    plain_server server(fedpp::flat_model<float>(toy_layout()), fedpp::uniform_sampler(4, 4));
    auto attacker = fed.hub().endpoint(999);
    std::vector<float> poison(toy_layout().total_size(), 1000.F);
    attacker.send(fedpp::server_endpoint, fedpp::wire::encode_client_update<float>(0, 2, toy_layout(), poison, 3.0));
    auto endpoint = fed.hub().server();
    const auto m = server.run_round(endpoint);
    EXPECT_TRUE(m.succeeded);
    EXPECT_EQ(m.impersonations, 1U);
    EXPECT_EQ(m.duplicates, 0U);
    EXPECT_EQ(m.reported, 4U);
    expect_model_is(server, weighted_mean(default_reports(4)));
  }
}

// A host that serves several routed clients may answer for them with a plain send (the hub
// knows the routing): accepted. It may not answer for a client routed elsewhere.
TEST(TrustBoundary, AHostSpeaksOnlyForTheClientsRoutedToIt) {
  fedpp::in_process_transport hub;
  const fedpp::endpoint_id host_a = 1000, host_b = 1001;
  hub.route(0, host_a);
  hub.route(1, host_a);
  hub.route(2, host_b);
  auto a = hub.endpoint(host_a);
  auto server_ep = hub.server();
  EXPECT_TRUE(server_ep.speaks_for(host_a, 0));
  EXPECT_TRUE(server_ep.speaks_for(host_a, 1));
  EXPECT_FALSE(server_ep.speaks_for(host_a, 2));
  EXPECT_TRUE(fedpp::may_speak_for(server_ep, 2, 2));
  EXPECT_THROW(a.send_as(2, fedpp::server_endpoint, fedpp::message{}), fedpp::invalid_config);

  plain_server server(fedpp::flat_model<float>(toy_layout()), fedpp::uniform_sampler(3, 3));
  std::atomic<bool> a_sent{false};
  std::thread host([&] {
    // Host A tries to answer for 2, then answers for 0 and 1 with plain sends (envelope.from =
    // host A); host B's honest report for 2 comes after, so the forgery is judged first.
    std::vector<float> d(toy_layout().total_size(), 1.F);
    for (int i = 0; i < 2; ++i) (void)a.receive_for(5s);
    for (client_id c : {2, 0, 1})
      a.send(fedpp::server_endpoint, fedpp::wire::encode_client_update<float>(0, c, toy_layout(), d, 1.0));
    a_sent = true;
  });
  std::thread honest_b([&] {
    auto b = hub.endpoint(host_b);
    (void)b.receive_for(5s);
    while (!a_sent) std::this_thread::sleep_for(1ms);
    std::vector<float> d(toy_layout().total_size(), 4.F);
    b.send(fedpp::server_endpoint, fedpp::wire::encode_client_update<float>(0, 2, toy_layout(), d, 1.0));
  });
  const auto m = server.run_round(server_ep);
  host.join();
  honest_b.join();
  EXPECT_TRUE(m.succeeded);
  EXPECT_EQ(m.reported, 3U);
  EXPECT_EQ(m.impersonations, 1U);
  expect_model_is(server, 2.0); // (1 + 1 + 4) / 3
}

// --- Weights ----------------------------------------------------------------------------------

TEST(TrustBoundary, HugeWeightsAreRefusedByDefault) {
  for (double w : {1e30, 1e300, DBL_MAX, 1e6 + 1}) {
    scripted_trainer trainer;
    (*trainer.script)[1].weight = w;
    (*trainer.script)[1].value = 1e30F;
    federation fed(4, trainer, toy_layout());
    plain_server server(fedpp::flat_model<float>(toy_layout()), fedpp::uniform_sampler(4, 4));
    auto endpoint = fed.hub().server();
    const auto m = server.run_round(endpoint);
    EXPECT_TRUE(m.succeeded) << w;
    EXPECT_EQ(m.weight_rejected, 1U) << w;
    EXPECT_EQ(m.rejected, 1U) << w;
    EXPECT_EQ(m.reported, 3U) << w;
    auto reports = default_reports(4);
    reports.erase(1);
    expect_model_is(server, weighted_mean(reports));
    // Later rounds are unaffected (nothing non-finite was kept anywhere).
    (*trainer.script).clear();
    EXPECT_TRUE(server.run_round(endpoint).succeeded);
    for (float v : server.model().span()) EXPECT_TRUE(std::isfinite(v));
  }
}

TEST(TrustBoundary, ClipPolicyCountsTheClientWithTheBound) {
  scripted_trainer trainer;
  (*trainer.script)[0].weight = 1e300;
  federation fed(3, trainer, toy_layout());
  fedpp::server_options options;
  options.weights = {100.0, fedpp::weight_overflow_action::clip};
  plain_server server(fedpp::flat_model<float>(toy_layout()), fedpp::uniform_sampler(3, 3), {}, options);
  auto endpoint = fed.hub().server();
  const auto m = server.run_round(endpoint);
  EXPECT_TRUE(m.succeeded);
  EXPECT_EQ(m.weight_clipped, 1U);
  EXPECT_EQ(m.weight_rejected, 0U);
  auto reports = default_reports(3);
  reports[0].first = 100.0;
  expect_model_is(server, weighted_mean(reports));
  EXPECT_DOUBLE_EQ(m.total_examples, 100.0 + 2 + 3);
}

TEST(TrustBoundary, BadWeightPolicyIsAConfigurationError) {
  for (double bound : {0.0, -1.0, std::numeric_limits<double>::infinity(), std::nan("")}) {
    fedpp::server_options options;
    options.weights.max_weight = bound;
    EXPECT_THROW(plain_server(fedpp::flat_model<float>(toy_layout()), fedpp::uniform_sampler(3, 3), {}, options),
                 fedpp::invalid_config);
  }
}

// --- Non-finite aggregates --------------------------------------------------------------------

// Finite updates whose step overflows the model: the round fails, counted, model untouched.
TEST(TrustBoundary, AStepThatOverflowsTheModelFailsTheRoundAndChangesNothing) {
  scripted_trainer trainer;
  for (client_id c = 0; c < 3; ++c) (*trainer.script)[c].value = 3e38F;
  federation fed(3, trainer, toy_layout());
  fedpp::flat_model<float> initial(toy_layout());
  for (float& v : initial.span()) v = 3e38F;
  plain_server server(initial, fedpp::uniform_sampler(3, 3));
  auto endpoint = fed.hub().server();
  const auto m = server.run_round(endpoint);
  EXPECT_FALSE(m.succeeded);
  EXPECT_TRUE(m.aggregate_non_finite);
  EXPECT_EQ(m.reported, 3U);
  for (float v : server.model().span()) EXPECT_EQ(v, 3e38F);
  trainer.script->clear();
  EXPECT_TRUE(server.run_round(endpoint).succeeded); // the next round is fine
}

// FedAdam's second moment would overflow (Δ² > FLT_MAX) while the model stays finite: the
// optimizer's state must be restored too.
TEST(TrustBoundary, AnOptimizerStateOverflowIsRolledBack) {
  scripted_trainer trainer;
  for (client_id c = 0; c < 3; ++c) (*trainer.script)[c].value = 1e25F;
  federation fed(3, trainer, toy_layout());
  using adam = fedpp::fedopt<fedpp::fedopt_rule::adam, float>;
  fedpp::server<float, fedpp::uniform_sampler, adam> server(fedpp::flat_model<float>(toy_layout()),
                                                            fedpp::uniform_sampler(3, 3), adam(toy_layout().total_size()));
  auto endpoint = fed.hub().server();
  const auto m = server.run_round(endpoint);
  EXPECT_FALSE(m.succeeded);
  EXPECT_TRUE(m.aggregate_non_finite);
  for (float v : server.model().span()) EXPECT_EQ(v, 0.F);
  for (float v : server.optimizer().second_moment()) EXPECT_TRUE(std::isfinite(v));
  for (float v : server.optimizer().first_moment()) EXPECT_EQ(v, 0.F);
  EXPECT_EQ(server.optimizer().steps(), 0U);
}

// --- Client metrics ---------------------------------------------------------------------------

TEST(TrustBoundary, ClientMetricsAreValidatedAndAveragedOverTheReportsThatSentThem) {
  scripted_trainer trainer;
  (*trainer.script)[0].metrics = {{"loss", std::nan("")}, {"acc", 0.5}};
  (*trainer.script)[1].metrics = {{"loss", 1e308}, {"acc", 0.7}};
  (*trainer.script)[2].metrics = {{"loss", 2.0}};
  (*trainer.script)[3].metrics = {{"loss", 4.0}, {std::string(200, 'k'), 1.0}};
  federation fed(4, trainer, toy_layout());
  plain_server server(fedpp::flat_model<float>(toy_layout()), fedpp::uniform_sampler(4, 4));
  auto endpoint = fed.hub().server();
  const auto m = server.run_round(endpoint);
  ASSERT_TRUE(m.succeeded);
  EXPECT_EQ(m.metrics_refused, 3U); // NaN, 1e308, a 200-byte key
  // loss: clients 2 (w 3) and 3 (w 4); acc: clients 0 (w 1) and 1 (w 2).
  EXPECT_NEAR(m.client_metrics.at("loss"), (3 * 2.0 + 4 * 4.0) / 7, 1e-12);
  EXPECT_NEAR(m.client_metrics.at("acc"), (1 * 0.5 + 2 * 0.7) / 3, 1e-12);
  EXPECT_EQ(m.client_metrics.size(), 2U);
}

// --- Memory -----------------------------------------------------------------------------------

// A 192-byte chunk claiming a 64 GiB payload, from a selected client and from an unselected one:
// refused before anything is reserved; the round goes on.
TEST(TrustBoundary, AChunkClaimingAHugePayloadCostsNothing) {
  const auto layout = toy_layout();
  auto forged_chunk = [&](client_id sender, std::uint64_t round) {
    fedpp::wire::message_header h;
    h.kind = fedpp::wire::message_kind::client_update;
    h.encoding = fedpp::wire::payload_encoding::dense;
    h.type = fedpp::dtype::f32;
    h.round = round;
    h.sender = sender;
    h.layout_hash = layout.hash();
    h.total_payload_bytes = std::uint64_t{1} << 36;
    h.element_count = h.total_payload_bytes / 4;
    h.chunk_count = 1U << 20;
    h.payload_bytes = 32;
    const auto sections = fedpp::wire::detail::encode_metrics_section({});
    std::vector<std::byte> payload(32);
    return fedpp::wire::detail::build_message(h, sections, payload.data(), 4);
  };
  EXPECT_LE(forged_chunk(0, 0).size(), 192U);
  scripted_trainer trainer;
  federation fed(3, trainer, toy_layout());
  // Client 3's own endpoint (unselected), client 0's chunk is sent by client 0's real endpoint.
  fed.hub().endpoint(7).send(fedpp::server_endpoint, forged_chunk(7, 0));
  plain_server server(fedpp::flat_model<float>(toy_layout()), fedpp::uniform_sampler(3, 3));
  auto endpoint = fed.hub().server();
  fed.hub().endpoint(0).send(fedpp::server_endpoint, forged_chunk(0, 5)); // a future round
  const auto m = server.run_round(endpoint);
  EXPECT_TRUE(m.succeeded);
  EXPECT_EQ(m.reported, 3U);
  EXPECT_EQ(m.rejected, 1U);  // unselected sender
  EXPECT_EQ(m.malformed, 1U); // future round
}

// Chunked reports from selected clients within the layout's size, but more at once than the
// budget holds: the one that would exceed it is dropped and counted; the others are aggregated.
TEST(TrustBoundary, PartialMessagesStayWithinTheBudget) {
  fedpp::model_layout layout;
  layout.add("w", {4096});
  const std::size_t chunk_bytes = 1024;
  fedpp::server_options options;
  options.partial_message_budget = 3 * (layout.total_bytes() + 128); // three whole reports at once
  fedpp::server<float, fedpp::uniform_sampler> server(fedpp::flat_model<float>(layout), fedpp::uniform_sampler(5, 5),
                                                      {}, options);
  fedpp::in_process_transport hub;
  std::vector<std::vector<fedpp::message>> chunks(5);
  std::vector<float> d(layout.total_size(), 1.F);
  for (client_id c = 0; c < 5; ++c)
    chunks[c] = fedpp::wire::encode_client_update_chunks<float>(0, c, layout, d, 1.0, {}, chunk_bytes);
  // Every client's first chunk arrives before anyone's second: the 4th and 5th exceed the budget
  // only once their buffers grow, so interleave the chunks round-robin.
  auto server_ep = hub.server();
  std::thread clients([&] {
    std::vector<fedpp::in_process_endpoint> eps;
    for (client_id c = 0; c < 5; ++c) eps.push_back(hub.endpoint(c));
    for (auto& ep : eps) (void)ep.receive_for(5s);
    for (std::size_t i = 0; i < chunks[0].size(); ++i)
      for (client_id c = 0; c < 5; ++c) eps[c].send(fedpp::server_endpoint, chunks[c][i]);
  });
  const auto m = server.run_round(server_ep);
  clients.join();
  EXPECT_TRUE(m.succeeded);
  EXPECT_GE(m.over_budget, 1U);
  EXPECT_GE(m.reported, 2U);
  EXPECT_EQ(m.reported + m.over_budget, 5U);
}

// The reassembler's memory follows the bytes received, not the sizes declared.
TEST(TrustBoundary, ReassemblyMemoryGrowsWithBytesReceived) {
  fedpp::model_layout layout;
  layout.add("w", {1 << 16});
  std::vector<float> d(layout.total_size(), 1.F);
  const auto chunks = fedpp::wire::encode_client_update_chunks<float>(0, 1, layout, d, 1.0, {}, 4096);
  fedpp::wire::chunk_reassembler r(fedpp::wire::reassembly_limits{layout.total_bytes(), layout.total_bytes() * 2});
  ASSERT_FALSE(r.add(chunks[0]));
  EXPECT_LE(r.held_bytes(), 2 * 4096U);
  for (std::size_t i = 1; i + 1 < chunks.size(); ++i) {
    ASSERT_FALSE(r.add(chunks[i]));
    EXPECT_LE(r.held_bytes(), 2 * (i + 1) * 4096 + 4096);
  }
  const auto whole = r.add(chunks.back());
  ASSERT_TRUE(whole);
  EXPECT_EQ(r.held_bytes(), 0U);
  const auto plain = fedpp::wire::encode_client_update<float>(0, 1, layout, d, 1.0);
  ASSERT_EQ(whole->size(), plain.size());
  EXPECT_TRUE(std::equal(whole->bytes().begin(), whole->bytes().end(), plain.bytes().begin()));
}

TEST(TrustBoundary, OverBudgetDropsTheMessageAndKeepsTheOthers) {
  fedpp::model_layout layout;
  layout.add("w", {1024});
  std::vector<float> d(layout.total_size(), 1.F);
  const auto a = fedpp::wire::encode_client_update_chunks<float>(0, 1, layout, d, 1.0, {}, 1024);
  const auto b = fedpp::wire::encode_client_update_chunks<float>(0, 2, layout, d, 1.0, {}, 1024);
  fedpp::wire::chunk_reassembler r(fedpp::wire::reassembly_limits{layout.total_bytes(), layout.total_bytes() + 512});
  for (std::size_t i = 0; i < 3; ++i) ASSERT_FALSE(r.add(a[i]));
  const auto held = r.held_bytes();
  EXPECT_THROW((void)r.add(b[0]), fedpp::budget_exceeded) << "b's first chunk does not fit beside a";
  EXPECT_EQ(r.held_bytes(), held);
  EXPECT_EQ(r.in_progress(), 1U);
  for (std::size_t i = 3; i < a.size(); ++i) (void)r.add(a[i]);
  EXPECT_EQ(r.in_progress(), 0U);
  EXPECT_EQ(r.held_bytes(), 0U);
}

// --- Failures stay local ----------------------------------------------------------------------

TEST(TrustBoundary, AThrowingTrainerFailsOnlyItsClientAndTheRoundDoesNotWait) {
  scripted_trainer trainer;
  (*trainer.script)[1].throws = true;
  federation fed(4, trainer, toy_layout());
  fedpp::server_options options;
  options.max_wait = 60s;
  plain_server server(fedpp::flat_model<float>(toy_layout()), fedpp::uniform_sampler(4, 4), {}, options);
  auto endpoint = fed.hub().server();
  const auto t0 = std::chrono::steady_clock::now();
  const auto m = server.run_round(endpoint);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 10s);
  EXPECT_TRUE(m.succeeded);
  EXPECT_EQ(m.client_failures, 1U);
  EXPECT_EQ(m.reported, 3U);
  auto reports = default_reports(4);
  reports.erase(1);
  expect_model_is(server, weighted_mean(reports));
}

TEST(TrustBoundary, InProcessFederationSurvivesThrowingTrainers) {
  scripted_trainer trainer;
  (*trainer.script)[0].throws = true;
  (*trainer.script)[3].throws = true;
  std::vector<client_id> ids{0, 1, 2, 3, 4};
  fedpp::in_process_federation<float, scripted_trainer> fed(ids, trainer, toy_layout(), 2);
  plain_server server(fedpp::flat_model<float>(toy_layout()), fedpp::uniform_sampler(5, 5));
  for (int r = 0; r < 3; ++r) {
    const auto m = server.run_round(fed.server_endpoint());
    EXPECT_TRUE(m.succeeded);
    EXPECT_EQ(m.client_failures, 2U);
    EXPECT_EQ(m.reported, 3U);
  }
}

TEST(TrustBoundary, AFailureNoticeCannotBeForged) {
  scripted_trainer trainer;
  federation fed(3, trainer, toy_layout());
  const auto notice = fedpp::wire::encode_control(0, 1, static_cast<std::uint32_t>(fedpp::control_tag::client_failed), {});
  fed.hub().endpoint(50).send(fedpp::server_endpoint, notice);
  plain_server server(fedpp::flat_model<float>(toy_layout()), fedpp::uniform_sampler(3, 3));
  auto endpoint = fed.hub().server();
  const auto m = server.run_round(endpoint);
  EXPECT_EQ(m.impersonations, 1U);
  EXPECT_EQ(m.client_failures, 0U);
  EXPECT_EQ(m.reported, 3U);
}

TEST(TrustBoundary, MinReportsAboveTheSampleIsAConfigurationError) {
  fedpp::server_options options;
  options.min_reports = 11;
  EXPECT_THROW(plain_server(fedpp::flat_model<float>(toy_layout()), fedpp::uniform_sampler(100, 10), {}, options),
               fedpp::invalid_config);
  options.min_reports = 10;
  EXPECT_NO_THROW(plain_server(fedpp::flat_model<float>(toy_layout()), fedpp::uniform_sampler(100, 10), {}, options));
}

// --- The client host listens only to the server -----------------------------------------------

TEST(TrustBoundary, ClientHostRefusesModelsThatDoNotComeFromTheServer) {
  fedpp::in_process_transport hub;
  auto client_ep = hub.endpoint(3);
  scripted_trainer trainer;
  fedpp::client_host<float, scripted_trainer, fedpp::in_process_endpoint> host(client_ep, trainer, toy_layout());
  fedpp::flat_model<float> model(toy_layout());
  const auto global = fedpp::wire::encode_global_model<float>(0, {}, model);
  hub.endpoint(9).send(3, global); // another endpoint sends a (well-formed) global model
  EXPECT_EQ(host.serve_one(std::chrono::steady_clock::now() + 1s), fedpp::host_event::ignored);
  EXPECT_EQ(host.impersonations(), 1U);
  // A chunk claiming a huge model from the real server endpoint is refused by its size.
  fedpp::model_layout big;
  big.add("w", {1 << 20});
  std::vector<float> values(big.total_size(), 0.F);
  const auto chunks = fedpp::wire::encode_global_model_chunks<float>(0, {}, big, values, 1 << 16);
  hub.server().send(3, chunks[0]);
  EXPECT_EQ(host.serve_one(std::chrono::steady_clock::now() + 1s), fedpp::host_event::ignored);
  // The real server's model is trained; the reply reaches the server.
  hub.server().send(3, global);
  EXPECT_EQ(host.serve_one(std::chrono::steady_clock::now() + 1s), fedpp::host_event::trained);
  EXPECT_TRUE(hub.server().receive_for(1s).has_value());
}

TEST(TrustBoundary, ClientHostReportsATrainerFailureToTheServer) {
  fedpp::in_process_transport hub;
  auto client_ep = hub.endpoint(3);
  scripted_trainer trainer;
  (*trainer.script)[3].throws = true;
  fedpp::client_host<float, scripted_trainer, fedpp::in_process_endpoint> host(client_ep, trainer, toy_layout());
  hub.server().send(3, fedpp::wire::encode_global_model<float>(4, {}, fedpp::flat_model<float>(toy_layout())));
  EXPECT_EQ(host.serve_one(std::chrono::steady_clock::now() + 1s), fedpp::host_event::failed);
  EXPECT_EQ(host.failures(), 1U);
  EXPECT_NE(host.last_failure().find("out of memory"), std::string::npos);
  auto notice = hub.server().receive_for(1s);
  ASSERT_TRUE(notice);
  const auto d = fedpp::wire::decode(notice->message);
  EXPECT_EQ(d.kind(), fedpp::wire::message_kind::control);
  EXPECT_EQ(d.tag(), static_cast<std::uint32_t>(fedpp::control_tag::client_failed));
  EXPECT_EQ(d.sender(), 3U);
  EXPECT_EQ(d.round(), 4U);
}

// --- The asynchronous server follows the same rules -------------------------------------------

std::vector<client_id> population(std::size_t n) {
  std::vector<client_id> ids(n);
  for (std::size_t i = 0; i < n; ++i) ids[i] = i;
  return ids;
}

TEST(TrustBoundary, AsyncServerRefusesForgedSendersAndHugeWeights) {
  scripted_trainer trainer;
  (*trainer.script)[1].weight = 1e30;
  (*trainer.script)[0].delay = 20ms; // client 1's report comes first, so it is judged in any run
  (*trainer.script)[2].delay = 20ms;
  federation fed(3, trainer, toy_layout());
  auto attacker = fed.hub().endpoint(999);
  std::vector<float> poison(toy_layout().total_size(), 1e30F);
  for (client_id c = 0; c < 3; ++c)
    attacker.send(fedpp::server_endpoint, fedpp::wire::encode_client_update<float>(0, c, toy_layout(), poison, 1.0));
  fedpp::async_options options;
  options.concurrency = 3;
  options.seed = 5;
  fedpp::async_server<float, fedpp::fedbuff<float>> server(fedpp::flat_model<float>(toy_layout()), population(3),
                                                           fedpp::fedbuff<float>(toy_layout().total_size(), 2, 1.0),
                                                           options);
  auto endpoint = fed.hub().server();
  const auto history = server.run(endpoint, 3);
  ASSERT_EQ(history.size(), 3U);
  std::size_t impersonations = 0, weight_rejected = 0;
  for (const auto& m : history) {
    impersonations += m.impersonations;
    weight_rejected += m.weight_rejected;
  }
  EXPECT_EQ(impersonations, 3U);
  EXPECT_GE(weight_rejected, 1U);
  // Only clients 0 and 2 (deltas 1 and 3) were applied: every element is a mix of those.
  for (float v : server.model().span()) {
    EXPECT_TRUE(std::isfinite(v));
    EXPECT_LE(v, 3.F * 3);
  }
}

TEST(TrustBoundary, AsyncServerGoesOnWhenATrainerThrows) {
  scripted_trainer trainer;
  (*trainer.script)[0].throws = true;
  (*trainer.script)[1].delay = 10ms; // client 0's failure notice comes first
  (*trainer.script)[2].delay = 10ms;
  federation fed(3, trainer, toy_layout());
  fedpp::async_options options;
  options.concurrency = 3; // everyone in flight from the start, client 0 included
  options.seed = 1;
  options.max_wait = 20s;
  fedpp::async_server<float, fedpp::fedasync<float>> server(fedpp::flat_model<float>(toy_layout()), population(3),
                                                           fedpp::fedasync<float>(toy_layout().total_size(), 0.5),
                                                           options);
  auto endpoint = fed.hub().server();
  const auto history = server.run(endpoint, 6);
  ASSERT_EQ(history.size(), 6U);
  std::size_t failures = 0;
  for (const auto& m : history) failures += m.client_failures;
  EXPECT_GE(failures, 1U);
}

TEST(TrustBoundary, FedBuffRefusesADeltaWhoseFlushWouldOverflow) {
  fedpp::fedbuff<float> buff(3, 2, 1.0);
  std::vector<float> model(3, 3e38F);
  const std::vector<float> big(3, 3e38F), small(3, 1.F);
  EXPECT_FALSE(buff.apply(1, model, big, 0));
  const std::vector<double> buffer_before(buff.buffer().begin(), buff.buffer().end());
  EXPECT_THROW(buff.apply(2, model, big, 0), fedpp::rejected_update); // (3e38+3e38)/2 + 3e38 > FLT_MAX
  EXPECT_EQ(std::vector<double>(buff.buffer().begin(), buff.buffer().end()), buffer_before);
  EXPECT_EQ(buff.buffered(), 1U);
  EXPECT_EQ(model, std::vector<float>(3, 3e38F));
  std::vector<float> neg(3, -3e38F);
  EXPECT_TRUE(buff.apply(3, model, neg, 0));
  for (float v : model) EXPECT_TRUE(std::isfinite(v));
}

TEST(TrustBoundary, MomentumStateOverflowIsRolledBack) {
  scripted_trainer trainer;
  for (client_id c = 0; c < 3; ++c) (*trainer.script)[c].value = 3e38F;
  federation fed(3, trainer, toy_layout());
  using momentum = fedpp::server_momentum<float>;
  fedpp::server<float, fedpp::uniform_sampler, momentum> server(fedpp::flat_model<float>(toy_layout()),
                                                                fedpp::uniform_sampler(3, 3),
                                                                momentum(toy_layout().total_size(), 1.0, 0.9));
  auto endpoint = fed.hub().server();
  ASSERT_TRUE(server.run_round(endpoint).succeeded); // m = 3e38, model 3e38: finite
  const auto m = server.run_round(endpoint);         // m = 0.9·3e38 + 3e38 overflows
  EXPECT_FALSE(m.succeeded);
  EXPECT_TRUE(m.aggregate_non_finite);
  EXPECT_TRUE(server.optimizer().state_is_finite());
  for (float v : server.model().span()) EXPECT_TRUE(std::isfinite(v));
}

TEST(TrustBoundary, FedAdagradValidatesTheBetaItSaves) {
  fedpp::fedopt_params params;
  params.beta2 = std::nan("");
  EXPECT_THROW((fedpp::fedopt<fedpp::fedopt_rule::adagrad, float>(4, params)), fedpp::invalid_config);
}

TEST(TrustBoundary, AlignedBufferRefusesASizeWhoseBytesWrap) {
  using buffer = fedpp::detail::aligned_buffer<double>;
  EXPECT_THROW(buffer((std::size_t{1} << 61) + 1), std::bad_array_new_length);
  EXPECT_THROW(buffer(std::numeric_limits<std::size_t>::max(), fedpp::detail::uninitialized),
               std::bad_array_new_length);
}

} // namespace
