// Attack models: definitions (sign flip, scaling, Gaussian noise, ALIE's z and payload, label
// flip mapping) and the deterministic attacker choice.
#include "fedpp/attacks/attacks.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <numeric>
#include <set>
#include <vector>

namespace {

using namespace fedpp::attacks;

std::vector<fedpp::client_id> population(std::size_t n) {
  std::vector<fedpp::client_id> p(n);
  std::iota(p.begin(), p.end(), fedpp::client_id{0});
  return p;
}

TEST(AttackerSet, FractionAndSeedAreDeterministic) {
  const attacker_set a(population(100), 0.2, 7), b(population(100), 0.2, 7), c(population(100), 0.2, 8);
  EXPECT_EQ(a.size(), 20U);
  EXPECT_EQ(a.members(), b.members());
  EXPECT_NE(a.members(), c.members());
  std::size_t hits = 0;
  for (fedpp::client_id id = 0; id < 100; ++id) hits += a.contains(id);
  EXPECT_EQ(hits, 20U);
  EXPECT_EQ(attacker_set(population(10), 0.25, 1).size(), 3U); // round(2.5) = 3 (half up)
  EXPECT_EQ(attacker_set(population(10), 0.0, 1).size(), 0U);
  EXPECT_EQ(attacker_set(population(10), 1.0, 1).size(), 10U);
  EXPECT_THROW(attacker_set(population(10), 1.5, 1), fedpp::invalid_config);
  // Over many seeds every client is chosen about equally often (20% ± a few points).
  std::vector<int> count(50, 0);
  for (std::uint64_t s = 0; s < 2000; ++s) {
    const attacker_set set(population(50), 0.2, s);
    for (auto id : set.members()) ++count[id];
  }
  for (int c2 : count) EXPECT_NEAR(c2 / 2000.0, 0.2, 0.04);
}

TEST(SignFlip, NegatesAttackersOnly) {
  const sign_flip hook{attacker_set::of({3}), 1.0};
  std::vector<float> delta{1.5F, -2.0F, 0.0F}, honest = delta;
  hook.process_update(3, fedpp::round_config{}, std::span<float>(delta));
  EXPECT_EQ(delta, (std::vector<float>{-1.5F, 2.0F, -0.0F}));
  hook.process_update(4, fedpp::round_config{}, std::span<float>(honest));
  EXPECT_EQ(honest, (std::vector<float>{1.5F, -2.0F, 0.0F}));
}

TEST(ScalingAttack, MultipliesExactlyByTheBoost) {
  const scaling_attack hook{attacker_set::of({0, 2}), 8.0};
  std::vector<float> delta{0.1F, -3.0F, 1e-3F};
  const auto before = delta;
  hook.process_update(2, fedpp::round_config{}, std::span<float>(delta));
  for (std::size_t i = 0; i < delta.size(); ++i) EXPECT_EQ(delta[i], before[i] * 8.0F);
}

TEST(GaussianNoiseAttack, ReplacesWithSeededNoiseOfTheRightSpread) {
  const gaussian_noise_attack hook{attacker_set::of({1}), 2.0, true, 42};
  std::vector<float> a(20000, 5.0F), b(20000, 5.0F), honest(3, 5.0F);
  fedpp::round_config config;
  config.round = 3;
  hook.process_update(1, config, std::span<float>(a));
  hook.process_update(1, config, std::span<float>(b));
  hook.process_update(0, config, std::span<float>(honest));
  EXPECT_EQ(a, b);
  EXPECT_EQ(honest, std::vector<float>(3, 5.0F));
  double mean = 0, sq = 0;
  for (float v : a) mean += v;
  mean /= 20000;
  for (float v : a) sq += (v - mean) * (v - mean);
  EXPECT_NEAR(mean, 0.0, 4 * 2.0 / std::sqrt(20000.0));
  EXPECT_NEAR(std::sqrt(sq / 20000), 2.0, 0.05);
}

TEST(Alie, ZFollowsThePaperFormula) {
  // n = 10, f = 2: s = floor(6) - 2 = 4, z = Phi^-1(0.6) = 0.2533471031...
  EXPECT_NEAR(alie_z(10, 2), 0.2533471031357997, 1e-12);
  // n = 50, f = 12 (the paper's CIFAR setting): s = 14, z = Phi^-1(0.72) = 0.5828415072...
  EXPECT_NEAR(alie_z(50, 12), 0.5828415072712162, 1e-12);
  EXPECT_NEAR(inverse_normal_cdf(0.975), 1.959963984540054, 1e-12);
  EXPECT_THROW((void)alie_z(10, 0), fedpp::invalid_config);
  EXPECT_THROW((void)alie_z(2, 2), fedpp::invalid_config);
}

TEST(Alie, PayloadIsMeanMinusZSigma) {
  // Coordinates: {1, 3} -> mean 2, sigma 1; {0, 0} -> 0; {-2, 4} -> mean 1, sigma 3.
  const std::vector<std::vector<double>> updates{{1, 0, -2}, {3, 0, 4}};
  const auto p = alie_payload<float>(updates, 0.5);
  EXPECT_FLOAT_EQ(p[0], 1.5F);
  EXPECT_FLOAT_EQ(p[1], 0.0F);
  EXPECT_FLOAT_EQ(p[2], -0.5F);
}

TEST(Alie, TrainerWrapperSendsTheColludedPayloadToEveryAttacker) {
  fedpp::model_layout layout;
  layout.add("w", {2});
  std::atomic<int> calls{0};
  // Honest client c moves the model by (c, -c).
  auto honest = [&](fedpp::client_id c, const fedpp::host_model_view<const float>& global,
                    const fedpp::round_config&) {
    ++calls;
    auto m = fedpp::flat_model<float>::copy_of(global);
    m.span()[0] += static_cast<float>(c);
    m.span()[1] -= static_cast<float>(c);
    return fedpp::client_result<float>{std::move(m), fedpp::update_kind::weights, 10.0, {}};
  };
  alie_trainer<float, decltype(honest)> trainer(honest, attacker_set::of({2, 4}), 10, 2);
  fedpp::flat_model<float> global(layout);
  global.span()[0] = 100;
  fedpp::host_model_view<const float> view;
  view.add("w", {global.data(), layout.entries()[0].shape});
  fedpp::round_config config;
  const auto a = trainer(2, view, config);
  const auto b = trainer(4, view, config);
  EXPECT_EQ(calls.load(), 2); // the oracle trained the 2 estimators once for the round
  const double z = alie_z(10, 2);
  // Estimators' deltas: (2, -2), (4, -4): mean (3, -3), sigma (1, 1).
  EXPECT_EQ(a.kind, fedpp::update_kind::delta);
  EXPECT_FLOAT_EQ(a.model.span()[0], static_cast<float>(3 - z));
  EXPECT_FLOAT_EQ(a.model.span()[1], static_cast<float>(-3 - z));
  EXPECT_EQ(a.model.span()[0], b.model.span()[0]);
  const auto h = trainer(7, view, config);
  EXPECT_EQ(h.kind, fedpp::update_kind::weights);
  EXPECT_FLOAT_EQ(h.model.span()[0], 107.0F);
  EXPECT_THROW((alie_trainer<float, decltype(honest)>(honest, attacker_set::of({1}), 10, 2)),
               fedpp::invalid_config);

  // A chosen shift: μ − 3σ with the same estimators; a non-finite z is refused.
  alie_trainer<float, decltype(honest)> shifted(honest, attacker_set::of({2, 4}),
                                                fedpp::attacks::alie_shift{3.0});
  EXPECT_DOUBLE_EQ(shifted.z(), 3.0);
  const auto s = shifted(4, view, config);
  EXPECT_FLOAT_EQ(s.model.span()[0], 0.0F);
  EXPECT_FLOAT_EQ(s.model.span()[1], -6.0F);
  EXPECT_THROW((alie_trainer<float, decltype(honest)>(honest, attacker_set::of({2, 4}),
                                                      fedpp::attacks::alie_shift{std::nan("")})),
               fedpp::invalid_config);
}

TEST(LabelFlip, MapsYToNineMinusYAndRoutesAttackers) {
  const fedpp::simulation::dataset data({0, 0, 0, 0, 0, 0}, {0, 3, 9}, 2, 10);
  const auto flipped = flip_labels(data, reversed_labels(10));
  EXPECT_EQ(std::vector<std::uint8_t>(flipped.labels().begin(), flipped.labels().end()),
            (std::vector<std::uint8_t>{9, 6, 0}));
  EXPECT_EQ(flipped.size(), 3U);
  EXPECT_THROW((void)flip_labels(data, reversed_labels(9)), fedpp::invalid_config);
  std::vector<std::uint8_t> bad = reversed_labels(10);
  bad[0] = 10;
  EXPECT_THROW((void)flip_labels(data, bad), fedpp::invalid_config);

  fedpp::model_layout layout;
  layout.add("w", {1});
  auto make = [&](float value) {
    return [&layout, value](fedpp::client_id, const fedpp::host_model_view<const float>&,
                            const fedpp::round_config&) {
      fedpp::flat_model<float> m(layout);
      m.span()[0] = value;
      return fedpp::client_result<float>{std::move(m), fedpp::update_kind::delta, 1.0, {}};
    };
  };
  attacker_router<float, decltype(make(1)), decltype(make(2))> router(make(1), make(2),
                                                                      attacker_set::of({5}));
  const fedpp::host_model_view<const float> none;
  EXPECT_EQ(router(5, none, {}).model.span()[0], 2.0F);
  EXPECT_EQ(router(6, none, {}).model.span()[0], 1.0F);
}

} // namespace
