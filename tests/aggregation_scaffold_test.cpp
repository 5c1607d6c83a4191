// SCAFFOLD: doubled layout, client option-II control update vs a naive double reference, the
// server aggregate and step vs the paper's formulas, control store round trips, errors.
#include "fedpp/aggregation/scaffold_aggregator.hpp"
#include "fedpp/aggregation/scaffold_client.hpp"
#include "fedpp/aggregation/scaffold_control_store.hpp"
#include "fedpp/optim/fedopt.hpp"
#include "fedpp/optim/scaffold_server_optimizer.hpp"
#include "fedpp/random/rng.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <vector>

namespace {

using fedpp::client_update;
using fedpp::flat_model;
using fedpp::model_layout;

model_layout small_layout() {
  model_layout layout;
  layout.add("w", {2, 3}).add("b", {3});
  return layout;
}

std::vector<float> random_vector(std::size_t n, std::uint64_t seed) {
  fedpp::rng gen(seed);
  std::vector<float> v(n);
  for (auto& x : v) x = static_cast<float>(gen.uniform() * 2 - 1);
  return v;
}

TEST(Scaffold, LayoutDoublesWithPrefixedNames) {
  const auto doubled = fedpp::scaffold_layout(small_layout());
  ASSERT_EQ(doubled.num_tensors(), 4U);
  EXPECT_EQ(doubled[2].name, "scaffold.c/w");
  EXPECT_EQ(doubled[3].offset, 9U + 6U);
  EXPECT_EQ(doubled.total_size(), 18U);
  EXPECT_THROW((void)fedpp::scaffold_layout(doubled), fedpp::invalid_config);
  EXPECT_THROW(fedpp::scaffold_aggregator<float>(small_layout(), 4), fedpp::invalid_config);
  EXPECT_THROW(fedpp::scaffold_aggregator<float>(doubled, 0), fedpp::invalid_config);
}

TEST(Scaffold, ClientCorrectionAndOptionTwoUpdate) {
  const std::size_t d = 9;
  const auto c = random_vector(d, 1), ci = random_vector(d, 2), x = random_vector(d, 3);
  fedpp::scaffold_client<float> client(c, ci);
  // Corrected gradient: g − c_i + c.
  auto g = random_vector(d, 4);
  const auto g0 = g;
  client.correct(g);
  for (std::size_t i = 0; i < d; ++i) EXPECT_NEAR(g[i], g0[i] - ci[i] + c[i], 1e-6);
  // K local steps y ← y − η (g − c_i + c) with a fixed g: then (x − y)/(Kη) = g − c_i + c,
  // so c_i⁺ = c_i − c + g − c_i + c = g: option II recovers the (here constant) gradient.
  const std::size_t k = 5;
  const double eta = 0.1;
  std::vector<float> y = x;
  for (std::size_t s = 0; s < k; ++s)
    for (std::size_t i = 0; i < d; ++i) y[i] -= static_cast<float>(eta) * g[i];
  std::vector<float> ci_new = ci, upload(2 * d);
  client.finish(x, y, k, eta, ci_new, upload);
  for (std::size_t i = 0; i < d; ++i) {
    EXPECT_NEAR(ci_new[i], g0[i], 1e-5);
    EXPECT_NEAR(upload[i], double(y[i]) - x[i], 1e-6);
    EXPECT_NEAR(upload[d + i], double(ci_new[i]) - ci[i], 1e-5);
    // Naive double reference of c_i⁺ = c_i − c + (x − y)/(Kη).
    EXPECT_NEAR(ci_new[i], double(ci[i]) - c[i] + (double(x[i]) - y[i]) / (k * eta), 1e-5);
  }
  // Errors: nothing written.
  const auto before = ci_new;
  std::vector<float> short_upload(d);
  EXPECT_THROW(client.finish(x, y, k, eta, ci_new, short_upload), fedpp::invalid_config);
  EXPECT_THROW(client.finish(x, y, 0, eta, ci_new, upload), fedpp::invalid_config);
  EXPECT_THROW(client.finish(x, y, k, -1.0, ci_new, upload), fedpp::invalid_config);
  EXPECT_EQ(ci_new, before);
  EXPECT_THROW(fedpp::scaffold_client<float>(c, std::vector<float>(d + 1)), fedpp::invalid_config);
}

TEST(Scaffold, ServerAggregateAndStepFollowThePaper) {
  const auto model = small_layout();
  const auto doubled = fedpp::scaffold_layout(model);
  const std::size_t d = model.total_size(), n_clients = 10;
  std::vector<flat_model<float>> uploads;
  for (int k = 0; k < 3; ++k) {
    auto& u = uploads.emplace_back(doubled);
    const auto v = random_vector(2 * d, 10 + k);
    std::copy(v.begin(), v.end(), u.data());
  }
  fedpp::scaffold_aggregator<float> agg(doubled, n_clients);
  for (std::size_t k = 0; k < uploads.size(); ++k)
    agg.accumulate(client_update<float>::from_flat(k, doubled, uploads[k].span(), double(k + 1)));
  const auto delta = std::move(agg).report();
  flat_model<float> global(doubled);
  const auto start = random_vector(2 * d, 99);
  std::copy(start.begin(), start.end(), global.data());
  const double eta_g = 0.5;
  fedpp::scaffold_server_optimizer<> opt(d, fedpp::server_sgd<float>(eta_g));
  opt.step(global.span(), delta.span());
  for (std::size_t i = 0; i < d; ++i) {
    double mean_dy = 0, mean_dc = 0;
    for (const auto& u : uploads) {
      mean_dy += u.data()[i] / 3.0;
      mean_dc += u.data()[d + i] / 3.0;
    }
    // x ← x + η_g mean Δy (unweighted), c ← c + (|S|/N) mean Δc.
    EXPECT_NEAR(global.data()[i], start[i] + eta_g * mean_dy, 1e-6);
    EXPECT_NEAR(global.data()[d + i], start[d + i] + 3.0 / 10.0 * mean_dc, 1e-6);
  }
  std::vector<float> wrong(d);
  EXPECT_THROW(opt.step(global.span(), wrong), fedpp::invalid_config);
  // An adaptive inner optimizer steps x only.
  fedpp::scaffold_server_optimizer<fedpp::fedadam<float>> adaptive(d, fedpp::fedadam<float>(d));
  adaptive.step(global.span(), delta.span());
  EXPECT_EQ(adaptive.inner().steps(), 1U);
  // More reports than the population is a configuration error.
  fedpp::scaffold_aggregator<float> tiny(doubled, 1);
  tiny.accumulate(client_update<float>::from_flat(0, doubled, uploads[0].span(), 1));
  tiny.accumulate(client_update<float>::from_flat(1, doubled, uploads[1].span(), 1));
  EXPECT_FALSE(tiny.can_report());
  EXPECT_THROW((void)std::move(tiny).report(), fedpp::invalid_config);
}

TEST(Scaffold, ControlStoreRoundTripAndErrors) {
  fedpp::scaffold_control_store<float> store(4);
  EXPECT_EQ(store.get(7), std::vector<float>(4, 0.0F));
  store.put(7, std::vector<float>{1, 2, 3, 4});
  store.put(2, std::vector<float>{-1, 0, 0.5F, 8});
  EXPECT_THROW(store.put(3, std::vector<float>{1, 2}), fedpp::invalid_config);
  EXPECT_THROW(store.put(3, std::vector<float>{1, 2, std::nanf(""), 4}), fedpp::invalid_config);
  EXPECT_EQ(store.num_clients(), 2U);
  const auto bytes = store.to_bytes();
  const auto back = fedpp::scaffold_control_store<float>::restore(bytes);
  EXPECT_EQ(back.get(7), (std::vector<float>{1, 2, 3, 4}));
  EXPECT_EQ(back.get(2), (std::vector<float>{-1, 0, 0.5F, 8}));
  EXPECT_EQ(back.to_bytes(), bytes);
  auto bad = bytes;
  bad.pop_back();
  EXPECT_THROW((void)fedpp::scaffold_control_store<float>::restore(bad), fedpp::malformed_message);
  bad = bytes;
  bad[1] = std::byte{'X'};
  EXPECT_THROW((void)fedpp::scaffold_control_store<float>::restore(bad), fedpp::malformed_message);
  EXPECT_THROW((void)fedpp::scaffold_control_store<double>::restore(bytes), fedpp::malformed_message);
  bad = bytes;
  const float inf = INFINITY;
  std::memcpy(bad.data() + bad.size() - 4, &inf, 4);
  EXPECT_THROW((void)fedpp::scaffold_control_store<float>::restore(bad), fedpp::malformed_message);
}

} // namespace
