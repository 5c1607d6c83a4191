// FedNova: vs a naive double reference with different τ_i, equal τ_i = FedAvg, normalizers,
// merge, the local-steps table path, errors.
#include "fedpp/aggregation/fedavg.hpp"
#include "fedpp/aggregation/fednova.hpp"
#include "fedpp/random/rng.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

namespace {

using fedpp::client_update;
using fedpp::flat_model;
using fedpp::model_layout;

model_layout small_layout() {
  model_layout layout;
  layout.add("w", {3, 5}).add("b", {3});
  return layout;
}

std::vector<flat_model<float>> random_models(const model_layout& layout, std::size_t count,
                                             std::uint64_t seed) {
  fedpp::rng gen(seed);
  std::vector<flat_model<float>> models;
  for (std::size_t k = 0; k < count; ++k) {
    auto& m = models.emplace_back(layout);
    for (auto& v : m.span()) v = static_cast<float>(gen.uniform() * 2.0 - 1.0);
  }
  return models;
}

TEST(Fednova, MatchesNaiveReference) {
  const auto layout = small_layout();
  const auto deltas = random_models(layout, 4, 3);
  const std::vector<double> n{10, 30, 5, 55}, tau{2, 10, 1, 7};
  for (const fedpp::fednova_normalizer norm :
       {fedpp::fednova_normalizer{}, fedpp::fednova_normalizer{0.9, 0}, fedpp::fednova_normalizer{0, 0.05}}) {
    fedpp::fednova<float> agg(layout, norm);
    for (std::size_t k = 0; k < deltas.size(); ++k)
      agg.accumulate(client_update<float>::from_flat(k, layout, deltas[k].span(), n[k]), tau[k]);
    double total = 0, tau_eff = 0;
    std::vector<double> a(4);
    for (std::size_t k = 0; k < 4; ++k) {
      a[k] = norm.momentum > 0
                 ? (tau[k] - norm.momentum * (1 - std::pow(norm.momentum, tau[k])) / (1 - norm.momentum)) /
                       (1 - norm.momentum)
             : norm.lr_times_proximal > 0
                 ? (1 - std::pow(1 - norm.lr_times_proximal, tau[k])) / norm.lr_times_proximal
                 : tau[k];
      total += n[k];
    }
    for (std::size_t k = 0; k < 4; ++k) tau_eff += n[k] / total * a[k];
    EXPECT_NEAR(agg.effective_steps(), tau_eff, 1e-12);
    const auto out = std::move(agg).report();
    for (std::size_t i = 0; i < out.size(); ++i) {
      double d = 0;
      for (std::size_t k = 0; k < 4; ++k) d += n[k] / total * deltas[k].data()[i] / a[k];
      EXPECT_NEAR(out.data()[i], tau_eff * d, 1e-5);
    }
  }
}

TEST(Fednova, HandCheckedAndEqualStepsIsFedAvg) {
  model_layout layout;
  layout.add("x", {1});
  // Δ = 4 after 4 steps (n=1), Δ = 1 after 1 step (n=1): d = ½(1 + 1) = 1, τ_eff = 2.5 → 2.5.
  // (FedAvg would give 2.5 as well here, but a third client shows the difference below.)
  fedpp::fednova<float> agg(layout);
  std::vector<float> four{4}, one{1};
  agg.accumulate(client_update<float>::from_flat(0, layout, four, 1), 4);
  agg.accumulate(client_update<float>::from_flat(1, layout, one, 1), 1);
  EXPECT_FLOAT_EQ(std::move(agg).report().data()[0], 2.5F);
  // Δ = 8 after 4 steps, Δ = 1 after 1: d = ½(2 + 1) = 1.5, τ_eff = 2.5 → 3.75 (FedAvg: 4.5).
  fedpp::fednova<float> b(layout);
  std::vector<float> eight{8};
  b.accumulate(client_update<float>::from_flat(0, layout, eight, 1), 4);
  b.accumulate(client_update<float>::from_flat(1, layout, one, 1), 1);
  EXPECT_FLOAT_EQ(std::move(b).report().data()[0], 3.75F);

  const auto big = small_layout();
  const auto deltas = random_models(big, 5, 8);
  fedpp::fednova<float> nova(big);
  fedpp::fedavg<float> avg(big);
  for (std::size_t k = 0; k < deltas.size(); ++k) {
    const auto u = client_update<float>::from_flat(k, big, deltas[k].span(), double(3 + k));
    nova.accumulate(u, 6);
    avg.accumulate(u);
  }
  const auto x = std::move(nova).report();
  const auto y = std::move(avg).report();
  for (std::size_t i = 0; i < x.size(); ++i) EXPECT_NEAR(x.data()[i], y.data()[i], 1e-6);
}

TEST(Fednova, StepsFromTableMergeAndErrors) {
  const auto layout = small_layout();
  const auto deltas = random_models(layout, 4, 5);
  auto table = std::make_shared<fedpp::local_steps_table>();
  for (std::size_t k = 0; k < 3; ++k) table->set(k, double(2 * k + 1));
  fedpp::fednova<float> left(layout, {}, table), right(layout, {}, table), flat(layout);
  for (std::size_t k = 0; k < 3; ++k) {
    const auto u = client_update<float>::from_flat(k, layout, deltas[k].span(), 2.0);
    (k == 0 ? left : right).accumulate(u);
    flat.accumulate(u, double(2 * k + 1));
  }
  // Client 3 has no τ in the table: rejected, nothing changed.
  EXPECT_THROW(left.accumulate(client_update<float>::from_flat(3, layout, deltas[3].span(), 2.0)),
               fedpp::rejected_update);
  EXPECT_THROW(left.accumulate(client_update<float>::from_flat(3, layout, deltas[3].span(), 2.0), 0.0),
               fedpp::rejected_update);
  EXPECT_THROW(left.accumulate(client_update<float>::from_flat(3, layout, deltas[3].span(), -1.0), 3.0),
               fedpp::rejected_update);
  left.merge(std::move(right));
  EXPECT_EQ(left.num_inputs(), 3U);
  const auto a = std::move(left).report();
  const auto b = std::move(flat).report();
  for (std::size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a.data()[i], b.data()[i], 1e-6);

  EXPECT_THROW(fedpp::fednova<float>(layout, {1.0, 0}), fedpp::invalid_config);
  EXPECT_THROW(fedpp::fednova<float>(layout, {0, -0.1}), fedpp::invalid_config);
  EXPECT_THROW(fedpp::fednova<float>(layout, {0.5, 0.1}), fedpp::invalid_config);
  fedpp::fednova<float> empty(layout), other(layout, {0.9, 0});
  EXPECT_THROW(empty.merge(std::move(other)), fedpp::invalid_config);
  EXPECT_THROW((void)std::move(empty).report(), fedpp::invalid_config);
}

} // namespace
