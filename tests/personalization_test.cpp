// Personalization (issue 16, part 2): partial model sharing (FedPer/FedRep) — the sharing plan,
// local tensors that never reach the transport (the bytes are inspected), the server's refusal of
// uploads with any layout but the shared one, FedRep's frozen phases; fine-tuning before
// evaluation changes only the evaluated copy; Ditto's personal step against a hand computation
// and its per-client personal models.
#include "fedpp/orchestration/client_host.hpp"
#include "fedpp/orchestration/server.hpp"
#include "fedpp/personalization/ditto_trainer.hpp"
#include "fedpp/personalization/fine_tuning_trainer.hpp"
#include "fedpp/personalization/partial_sharing_trainer.hpp"
#include "fedpp/personalization/sharing_plan.hpp"
#include "fedpp/scheduling/uniform_sampler.hpp"
#include "fedpp/transport/in_process_transport.hpp"

#include "support/threaded_federation.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <chrono>
#include <cmath>
#include <cstring>
#include <memory>
#include <mutex>
#include <span>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono_literals;
using fedpp::client_id;

// body.* global, head.* local (the MLP's last layer, as FedPer keeps it).
fedpp::model_layout full_layout() {
  fedpp::model_layout layout;
  layout.add("body.w", {2, 3}).add("body.b", {3}).add("head.w", {3, 2}).add("head.b", {2});
  return layout;
}
fedpp::sharing_plan head_local() { return {full_layout(), {"head.w", "head.b"}}; }

fedpp::flat_model<float> counting_model(const fedpp::model_layout& layout, float start) {
  fedpp::flat_model<float> m(layout);
  for (std::size_t i = 0; i < m.size(); ++i) m.span()[i] = start + static_cast<float>(i);
  return m;
}

// --- The plan --------------------------------------------------------------------------------

TEST(SharingPlan, SplitsTheLayoutInOrder) {
  const fedpp::sharing_plan plan = head_local();
  ASSERT_EQ(plan.shared_layout().num_tensors(), 2U);
  EXPECT_EQ(plan.shared_layout()[0].name, "body.w");
  EXPECT_EQ(plan.shared_layout()[1].name, "body.b");
  EXPECT_EQ(plan.shared_layout()[1].offset, 6U);
  EXPECT_EQ(plan.local_layout().total_size(), 8U);
  EXPECT_TRUE(plan.is_local("head.b"));
  EXPECT_FALSE(plan.is_local("body.b"));
  const auto full = counting_model(full_layout(), 0);
  const auto shared = plan.shared_part(full);
  const auto local = plan.local_part(std::span<const float>(full.span()));
  for (std::size_t i = 0; i < 9; ++i) EXPECT_EQ(shared.span()[i], static_cast<float>(i));
  for (std::size_t i = 0; i < 8; ++i) EXPECT_EQ(local.span()[i], static_cast<float>(9 + i));
  fedpp::flat_model<float> back(full_layout());
  plan.insert(std::span<const float>(shared.span()), false, back.span());
  plan.insert(std::span<const float>(local.span()), true, back.span());
  EXPECT_EQ(back, full);
  // FedRep's phases: "local" trains the head (the body is frozen), "shared" the body.
  fedpp::round_config config;
  EXPECT_TRUE(plan.frozen_ranges(config).empty());
  config.extra[std::string(fedpp::train_part_key)] = "local";
  EXPECT_EQ(plan.frozen_ranges(config), (std::vector<fedpp::element_range>{{0, 6}, {6, 3}}));
  config.extra[std::string(fedpp::train_part_key)] = "shared";
  EXPECT_EQ(plan.frozen_ranges(config), (std::vector<fedpp::element_range>{{9, 6}, {15, 2}}));
  config.extra[std::string(fedpp::train_part_key)] = "head";
  EXPECT_THROW((void)plan.frozen_ranges(config), fedpp::invalid_config);
}

TEST(SharingPlan, RefusesUnknownDuplicateAndAllLocalTensors) {
  EXPECT_THROW(fedpp::sharing_plan(full_layout(), {"head.weight"}), fedpp::invalid_config);
  EXPECT_THROW(fedpp::sharing_plan(full_layout(), {"head.w", "head.w"}), fedpp::invalid_config);
  EXPECT_THROW(fedpp::sharing_plan(full_layout(), {"body.w", "body.b", "head.w", "head.b"}),
               fedpp::invalid_config);
  const fedpp::sharing_plan plan = head_local();
  fedpp::flat_model<float> wrong(plan.shared_layout());
  EXPECT_THROW((void)plan.shared_part(wrong), fedpp::invalid_config);
  std::vector<float> small(3);
  EXPECT_THROW(plan.insert(std::span<const float>(small), true, wrong.span()), fedpp::invalid_config);
}

// --- Local tensors never reach the transport ---------------------------------------------------

// A server endpoint that keeps a copy of every message it sends and receives.
class recording_endpoint {
public:
  explicit recording_endpoint(fedpp::in_process_endpoint inner) : inner_(std::move(inner)) {}
  [[nodiscard]] fedpp::endpoint_id id() const { return inner_.id(); }
  void send(fedpp::endpoint_id to, const fedpp::message& m) {
    sent.push_back(m);
    inner_.send(to, m);
  }
  std::optional<fedpp::envelope> receive(fedpp::transport_clock::time_point deadline) {
    auto e = inner_.receive(deadline);
    if (e) received.push_back(e->message);
    return e;
  }
  [[nodiscard]] bool speaks_for(fedpp::endpoint_id from, fedpp::endpoint_id c) const {
    return inner_.speaks_for(from, c);
  }
  [[nodiscard]] std::uint64_t bytes_sent() const { return inner_.bytes_sent(); }
  [[nodiscard]] std::uint64_t bytes_received() const { return inner_.bytes_received(); }
  std::vector<fedpp::message> sent, received;

private:
  fedpp::in_process_endpoint inner_;
};

// Local training that moves the body by +1 and writes a sentinel into the head: 5000 + 10·client
// + round + 0.25·i, values that appear nowhere else.
float sentinel(client_id c, std::uint64_t round, std::size_t i) {
  return 5000.0F + 10.0F * static_cast<float>(c) + static_cast<float>(round) + 0.25F * static_cast<float>(i);
}
struct sentinel_trainer {
  fedpp::client_result<float> operator()(client_id c, const fedpp::host_model_view<const float>& model,
                                         const fedpp::round_config& config) const {
    auto w = fedpp::flat_model<float>::copy_of(model);
    const auto& head_w = w.layout().at("head.w");
    for (std::size_t i = 0; i < head_w.offset; ++i) w.span()[i] += 1.0F;
    for (std::size_t i = head_w.offset; i < w.size(); ++i) w.span()[i] = sentinel(c, config.round, i);
    return {std::move(w), fedpp::update_kind::weights, 10.0, {}};
  }
};

bool contains_float(std::span<const std::byte> bytes, float value) {
  std::byte pattern[sizeof(float)];
  std::memcpy(pattern, &value, sizeof value);
  return std::search(bytes.begin(), bytes.end(), std::begin(pattern), std::end(pattern)) != bytes.end();
}

TEST(PartialSharing, PersonalizedTensorsNeverUploaded) {
  const fedpp::sharing_plan plan = head_local();
  const auto initial = counting_model(full_layout(), 0.5F);
  using trainer = fedpp::partial_sharing_trainer<float, sentinel_trainer>;
  const trainer personalized(plan, sentinel_trainer{}, initial);
  constexpr std::size_t clients = 4;
  test_support::threaded_federation<trainer> fed(clients, personalized, plan.shared_layout());
  recording_endpoint endpoint(fed.hub().server());
  fedpp::server<float, fedpp::uniform_sampler> server(plan.shared_part(initial),
                                                      fedpp::uniform_sampler(clients, clients));
  std::uint64_t up = 0, down = 0;
  for (int r = 0; r < 3; ++r) {
    const fedpp::round_metrics m = server.run_round(endpoint);
    ASSERT_TRUE(m.succeeded);
    EXPECT_EQ(m.reported, clients);
    up += m.bytes_up;
    down += m.bytes_down;
  }
  // The body moved by +1 per round (every client adds 1); the server holds nothing else.
  ASSERT_EQ(server.model().layout(), plan.shared_layout());
  for (std::size_t i = 0; i < 9; ++i)
    EXPECT_FLOAT_EQ(server.model().span()[i], 0.5F + static_cast<float>(i) + 3.0F);
  // Every message either way: the shared layout only, and no local value in its bytes.
  ASSERT_EQ(endpoint.received.size(), 3 * clients);
  for (const auto& m : endpoint.received) {
    const auto d = fedpp::wire::decode(m);
    EXPECT_EQ(d.kind(), fedpp::wire::message_kind::client_update);
    EXPECT_EQ(d.layout_hash(), plan.shared_layout().hash());
    EXPECT_EQ(d.header().element_count, plan.shared_layout().total_size());
  }
  std::size_t checked = 0;
  for (const auto* list : {&endpoint.received, &endpoint.sent})
    for (const auto& m : *list)
      for (client_id c = 0; c < clients; ++c)
        for (std::uint64_t r = 0; r < 3; ++r)
          for (std::size_t i = 9; i < 17; ++i) {
            ASSERT_FALSE(contains_float(m.bytes(), sentinel(c, r, i))) << "client " << c << " round " << r;
            ++checked;
          }
  EXPECT_GT(checked, 0U);
  // ... while each client keeps its head of the last round it trained.
  for (client_id c = 0; c < clients; ++c)
    personalized.local_store().read(c, [&](const fedpp::flat_model<float>* head) {
      ASSERT_NE(head, nullptr);
      for (std::size_t i = 0; i < 8; ++i) EXPECT_EQ(head->span()[i], sentinel(c, 2, 9 + i));
    });
  // Fewer bytes both ways than the full model would need: 9 of 17 elements travel.
  const auto full_update =
      fedpp::wire::encode_client_update<float>(0, 0, full_layout(), initial.span(), 10.0, {});
  const auto shared_update =
      fedpp::wire::encode_client_update<float>(0, 0, plan.shared_layout(), server.model().span(), 10.0, {});
  EXPECT_EQ(up, 3 * clients * shared_update.size());
  EXPECT_LT(shared_update.size(), full_update.size());
  EXPECT_EQ(down, endpoint.sent.size() * endpoint.sent.front().size());
  EXPECT_EQ(endpoint.sent.front().size(),
            fedpp::wire::encode_global_model<float>(0, server.options().client_config, plan.shared_layout(),
                                                    server.model().span())
                .size());
}

// Hostile or confused clients: an upload of the full layout, of the local tensors, of the shared
// tensors plus one local tensor, of the shared tensors renamed. Each is refused as malformed and
// the model is exactly unchanged.
TEST(PartialSharing, ServerRefusesUploadsOfAnyOtherLayout) {
  const fedpp::sharing_plan plan = head_local();
  const auto initial = counting_model(full_layout(), 1.0F);
  fedpp::model_layout plus_one_local = plan.shared_layout();
  plus_one_local.add("head.b", {2});
  fedpp::model_layout renamed;
  renamed.add("head.w", {2, 3}).add("head.b", {3}); // the shared shapes under the local names
  const std::vector<fedpp::model_layout> bad{full_layout(), plan.local_layout(), plus_one_local, renamed};
  fedpp::in_process_transport hub;
  auto endpoint = hub.server();
  fedpp::server_options options;
  options.max_wait = 5s;
  fedpp::server<float, fedpp::uniform_sampler> server(
      plan.shared_part(initial), fedpp::uniform_sampler(bad.size(), bad.size()), {}, options);
  const fedpp::flat_model<float> before = server.model();
  std::vector<std::thread> clients;
  for (client_id c = 0; c < bad.size(); ++c)
    clients.emplace_back([&hub, &bad, c] {
      auto ep = hub.endpoint(c);
      if (!ep.receive_for(5s)) return;
      const auto values = counting_model(bad[c], 100.0F);
      ep.send(fedpp::server_endpoint,
              fedpp::wire::encode_client_update<float>(0, c, bad[c], values.span(), 10.0, {}));
    });
  const fedpp::round_metrics m = server.run_round(endpoint);
  for (auto& t : clients) t.join();
  EXPECT_FALSE(m.succeeded);
  EXPECT_EQ(m.reported, 0U);
  EXPECT_EQ(m.malformed, bad.size());
  EXPECT_EQ(server.model(), before);
}

// The client's side refuses a global model of any other layout (the client host checks the hash;
// the wrapper checks the view it is handed).
TEST(PartialSharing, TrainerRefusesAModelOfAnotherLayout) {
  const fedpp::sharing_plan plan = head_local();
  const auto initial = counting_model(full_layout(), 0);
  fedpp::partial_sharing_trainer<float, sentinel_trainer> personalized(plan, sentinel_trainer{}, initial);
  EXPECT_THROW((void)personalized(0, initial.view(), {}), fedpp::invalid_config);
  EXPECT_FALSE(personalized.local_store().contains(0));
  EXPECT_THROW((fedpp::partial_sharing_trainer<float, sentinel_trainer>(plan, sentinel_trainer{},
                                                                        plan.shared_part(initial))),
               fedpp::invalid_config);
  EXPECT_THROW((fedpp::partial_sharing_trainer<float, sentinel_trainer>(plan, sentinel_trainer{}, initial,
                                                                        fedpp::fedrep_options{0})),
               fedpp::invalid_config);
}

// An inner trainer that adds 1 to every element (ignoring train_part_key) and records its calls;
// it can be told to throw on its n-th call.
struct recording_trainer {
  std::shared_ptr<std::vector<fedpp::round_config>> calls =
      std::make_shared<std::vector<fedpp::round_config>>();
  int throw_on_call = -1;
  fedpp::client_result<float> operator()(client_id, const fedpp::host_model_view<const float>& model,
                                         const fedpp::round_config& config) const {
    if (static_cast<int>(calls->size()) == throw_on_call) throw std::runtime_error("out of memory");
    calls->push_back(config);
    auto w = fedpp::flat_model<float>::copy_of(model);
    for (float& v : w.span()) v += 1.0F;
    return {std::move(w), fedpp::update_kind::weights, 7.0, {{"loss", 0.5}}};
  }
};

TEST(PartialSharing, FedRepTrainsTheHeadWithTheBodyFrozenThenTheBody) {
  const fedpp::sharing_plan plan = head_local();
  const auto initial = counting_model(full_layout(), 0);
  recording_trainer inner;
  fedpp::partial_sharing_trainer<float, recording_trainer> fedrep(plan, inner, initial,
                                                                  fedpp::fedrep_options{4});
  const auto global = counting_model(plan.shared_layout(), 100.0F);
  fedpp::round_config config;
  config.local_epochs = 2;
  const auto result = fedrep(3, global.view(), config);
  ASSERT_EQ(inner.calls->size(), 2U);
  EXPECT_EQ((*inner.calls)[0].local_epochs, 4U);
  EXPECT_EQ((*inner.calls)[0].extra.at(std::string(fedpp::train_part_key)), "local");
  EXPECT_EQ((*inner.calls)[1].local_epochs, 2U);
  EXPECT_EQ((*inner.calls)[1].extra.at(std::string(fedpp::train_part_key)), "shared");
  // Each part moved once (in its own phase), however the inner trainer behaved.
  ASSERT_EQ(result.model.layout(), plan.shared_layout());
  EXPECT_EQ(result.kind, fedpp::update_kind::weights);
  EXPECT_EQ(result.num_examples, 7.0);
  for (std::size_t i = 0; i < 9; ++i) EXPECT_EQ(result.model.span()[i], 101.0F + static_cast<float>(i));
  fedrep.local_store().read(3, [](const fedpp::flat_model<float>* head) {
    ASSERT_NE(head, nullptr);
    for (std::size_t i = 0; i < 8; ++i) EXPECT_EQ(head->span()[i], 10.0F + static_cast<float>(i));
  });
  // A failure in the body phase keeps the stored head as it was.
  recording_trainer failing;
  failing.throw_on_call = 1;
  fedpp::partial_sharing_trainer<float, recording_trainer> broken(plan, failing, initial,
                                                                  fedpp::fedrep_options{1});
  EXPECT_THROW((void)broken(3, global.view(), config), std::runtime_error);
  EXPECT_FALSE(broken.local_store().contains(3));
}

// --- Fine-tuning before evaluation ---------------------------------------------------------------

// Trains by +1 per epoch; "evaluates" by reporting the first value it is given as the loss.
struct epoch_trainer {
  std::shared_ptr<std::vector<float>> evaluated = std::make_shared<std::vector<float>>();
  std::shared_ptr<std::mutex> lock =
      std::make_shared<std::mutex>(); // copies on host threads share `evaluated`
  fedpp::client_result<float> operator()(client_id, const fedpp::host_model_view<const float>& model,
                                         const fedpp::round_config& config) const {
    auto w = fedpp::flat_model<float>::copy_of(model);
    for (float& v : w.span()) v += static_cast<float>(config.local_epochs);
    return {std::move(w), fedpp::update_kind::weights, 5.0, {}};
  }
  fedpp::evaluation_result evaluate(client_id, const fedpp::host_model_view<const float>& model,
                                    const fedpp::round_config&) const {
    const auto w = fedpp::flat_model<float>::copy_of(model);
    const std::lock_guard guard(*lock);
    evaluated->assign(w.span().begin(), w.span().end());
    return {5.0, static_cast<double>(w.span()[0]), 0.5};
  }
};

TEST(FineTuning, ChangesOnlyTheEvaluatedCopy) {
  epoch_trainer inner;
  fedpp::fine_tuning_trainer<float, epoch_trainer> tuned(inner, fedpp::fine_tune_options{3, std::nullopt});
  const auto global = counting_model(full_layout(), 1.0F);
  const fedpp::flat_model<float> before = global;
  fedpp::round_config config;
  config.local_epochs = 1;
  const auto e = tuned.evaluate(0, global.view(), config);
  EXPECT_EQ(e.loss, 4.0); // 1 + 3 epochs
  ASSERT_EQ(inner.evaluated->size(), global.size());
  for (std::size_t i = 0; i < global.size(); ++i)
    EXPECT_EQ((*inner.evaluated)[i], 4.0F + static_cast<float>(i));
  EXPECT_EQ(global, before); // the global model is untouched
  // Training is the inner trainer's, unchanged by the evaluation before it.
  const auto r = tuned(0, global.view(), config);
  for (std::size_t i = 0; i < global.size(); ++i) EXPECT_EQ(r.model.span()[i], 2.0F + static_cast<float>(i));
  EXPECT_THROW((fedpp::fine_tuning_trainer<float, epoch_trainer>(inner, {0, std::nullopt})),
               fedpp::invalid_config);
  EXPECT_THROW((fedpp::fine_tuning_trainer<float, epoch_trainer>(inner, {1, -0.1})), fedpp::invalid_config);
}

// Through the client host and an evaluation round: the clients answer on their fine-tuned copies,
// and the server's model is unchanged.
TEST(FineTuning, AnswersAnEvaluationRound) {
  using trainer = fedpp::fine_tuning_trainer<float, epoch_trainer>;
  const trainer tuned(epoch_trainer{}, fedpp::fine_tune_options{2, 0.5});
  test_support::threaded_federation<trainer> fed(3, tuned, full_layout());
  auto endpoint = fed.hub().server();
  const auto initial = counting_model(full_layout(), 10.0F);
  fedpp::server<float, fedpp::uniform_sampler> server(initial, fedpp::uniform_sampler(3, 3));
  const auto e = server.run_evaluation_round(endpoint);
  EXPECT_EQ(e.reported, 3U);
  EXPECT_EQ(e.loss.mean, 12.0);
  EXPECT_EQ(server.model(), initial);
}

// --- Ditto -----------------------------------------------------------------------------------------

TEST(Ditto, PersonalStepMatchesAHandComputation) {
  // v ← v − η (g + λ (v − w)), η = 0.1, λ = 0.5.
  std::vector<float> v{1.0F, 2.0F, -1.0F};
  const std::vector<float> g{0.5F, -1.0F, 0.0F}, w{0.0F, 1.0F, 1.0F};
  fedpp::ditto_personal_step(std::span<float>(v), std::span<const float>(g), std::span<const float>(w), 0.5,
                             0.1);
  EXPECT_FLOAT_EQ(v[0], 1.0F - 0.1F * (0.5F + 0.5F * 1.0F));   // 0.9
  EXPECT_FLOAT_EQ(v[1], 2.0F - 0.1F * (-1.0F + 0.5F * 1.0F));  // 2.05
  EXPECT_FLOAT_EQ(v[2], -1.0F - 0.1F * (0.0F + 0.5F * -2.0F)); // -0.9
  const std::vector<float> before = v;
  EXPECT_THROW(fedpp::ditto_personal_step(std::span<float>(v), std::span<const float>(g).first(2),
                                          std::span<const float>(w), 0.5, 0.1),
               fedpp::invalid_config);
  EXPECT_THROW(fedpp::ditto_personal_step(std::span<float>(v), std::span<const float>(g),
                                          std::span<const float>(w), -0.5, 0.1),
               fedpp::invalid_config);
  EXPECT_THROW(fedpp::ditto_personal_step(std::span<float>(v), std::span<const float>(g),
                                          std::span<const float>(w), 0.5, 0.0),
               fedpp::invalid_config);
  EXPECT_EQ(v, before);
  EXPECT_THROW(fedpp::ditto_options{-1.0}.validate(), fedpp::invalid_config);
}

// F_k(v) = ½ ‖v − c_k‖² (∇F_k(v) = v − c_k, c_k = client k everywhere); s = local_epochs steps.
struct quadratic_personal {
  float learning_rate = 0.5F;
  bool fail = false;
  void operator()(client_id c, std::span<float> v, const fedpp::host_model_view<const float>& global,
                  const fedpp::round_config& config, double lambda) const {
    if (fail) throw std::runtime_error("personal update failed");
    const auto w = fedpp::flat_model<float>::copy_of(global);
    std::vector<float> g(v.size());
    for (std::uint32_t s = 0; s < config.local_epochs; ++s) {
      for (std::size_t i = 0; i < v.size(); ++i) g[i] = v[i] - static_cast<float>(c);
      fedpp::ditto_personal_step(v, std::span<const float>(g), std::span<const float>(w.span()), lambda,
                                 learning_rate);
    }
  }
};

TEST(Ditto, KeepsAPersonalModelPerClientAndEvaluatesIt) {
  fedpp::model_layout layout;
  layout.add("x", {1});
  epoch_trainer global_trainer;
  using ditto = fedpp::ditto_trainer<float, epoch_trainer, quadratic_personal>;
  ditto trainer(global_trainer, quadratic_personal{}, fedpp::ditto_options{1.0});
  fedpp::flat_model<float> w(layout);
  w.span()[0] = 2.0F;
  fedpp::round_config config;
  config.local_epochs = 1;
  // Evaluation before any training: the global model.
  EXPECT_EQ(trainer.evaluate(4, w.view(), config).loss, 2.0);
  // Round 1, client 4: the upload is the global trainer's (2 + 1 = 3); v starts at w = 2:
  // v ← 2 − 0.5 ((2 − 4) + 1 (2 − 2)) = 3.
  auto r = trainer(4, w.view(), config);
  EXPECT_EQ(r.model.span()[0], 3.0F);
  EXPECT_EQ(trainer.evaluate(4, w.view(), config).loss, 3.0);
  // Round 2 with w = 0: v ← 3 − 0.5 ((3 − 4) + 1 (3 − 0)) = 2.
  w.span()[0] = 0.0F;
  r = trainer(4, w.view(), config);
  EXPECT_EQ(r.model.span()[0], 1.0F);
  EXPECT_EQ(trainer.evaluate(4, w.view(), config).loss, 2.0);
  // Another client has its own v: from w = 0, v ← 0 − 0.5 ((0 − 1) + 0) = 0.5.
  (void)trainer(1, w.view(), config);
  EXPECT_EQ(trainer.evaluate(1, w.view(), config).loss, 0.5);
  EXPECT_EQ(trainer.evaluate(4, w.view(), config).loss, 2.0);
  EXPECT_EQ(trainer.personal_models().size(), 2U);
  // A failing personal update leaves v_k as it was (and fails the client's round).
  ditto failing(global_trainer, quadratic_personal{0.5F, true}, fedpp::ditto_options{1.0});
  EXPECT_THROW((void)failing(4, w.view(), config), std::runtime_error);
  EXPECT_FALSE(failing.personal_models().contains(4));
  EXPECT_THROW(ditto(global_trainer, quadratic_personal{}, fedpp::ditto_options{std::nan("")}),
               fedpp::invalid_config);
}

} // namespace
