// Streaming FedAvg: against a naive double reference, batched vs one-at-a-time, merge vs flat,
// bad input leaves the state unchanged, drift over a million clients, save/restore.
#include "fedpp/aggregation/fedavg.hpp"
#include "fedpp/random/rng.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

namespace {

using fedpp::client_update;
using fedpp::fedavg;
using fedpp::flat_model;
using fedpp::model_layout;

model_layout small_layout() {
  model_layout layout;
  layout.add("fc.weight", {3, 5}).add("fc.bias", {3}).add("scale", {});
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

std::vector<double> naive_mean(const std::vector<flat_model<float>>& models,
                               const std::vector<double>& weights) {
  std::vector<double> mean(models.front().size(), 0.0);
  double total = 0;
  for (std::size_t k = 0; k < models.size(); ++k) {
    total += weights[k];
    for (std::size_t i = 0; i < mean.size(); ++i) mean[i] += weights[k] * models[k].span()[i];
  }
  for (auto& v : mean) v /= total;
  return mean;
}

// save() through to_bytes(): a sink appending with vector::insert trips a GCC 12 -O3 false
// -Wstringop-overflow (see fedavg::to_bytes).
std::vector<std::byte> save_bytes(const fedavg<float>& agg) { return agg.to_bytes(); }

TEST(FedAvg, MatchesNaiveWeightedMean) {
  const auto layout = small_layout();
  const auto models = random_models(layout, 7, 1);
  const std::vector<double> weights{10, 1, 250, 3, 3, 77, 1000};
  fedavg<float> agg(layout);
  for (std::size_t k = 0; k < models.size(); ++k)
    agg.accumulate(client_update<float>{k, models[k].view(), weights[k]});
  EXPECT_EQ(agg.num_inputs(), 7U);
  EXPECT_DOUBLE_EQ(agg.total_weight(), 1344.0);
  const auto expected = naive_mean(models, weights);
  const auto mean = std::move(agg).report();
  ASSERT_EQ(mean.layout(), layout);
  for (std::size_t i = 0; i < expected.size(); ++i)
    EXPECT_NEAR(mean.span()[i], expected[i], 1e-6) << "element " << i;
}

TEST(FedAvg, UniformWeightingIgnoresWeights) {
  const auto layout = small_layout();
  const auto models = random_models(layout, 4, 2);
  fedavg<float> agg(layout, fedpp::weighting::uniform);
  for (std::size_t k = 0; k < models.size(); ++k)
    agg.accumulate(client_update<float>{k, models[k].view(), 0.0}); // weight ignored, even 0
  const auto expected = naive_mean(models, {1, 1, 1, 1});
  const auto mean = std::move(agg).report();
  for (std::size_t i = 0; i < expected.size(); ++i) EXPECT_NEAR(mean.span()[i], expected[i], 1e-6);
}

TEST(FedAvg, BatchedEqualsOneAtATime) {
  const auto layout = small_layout();
  const auto models = random_models(layout, 33, 3);
  std::vector<client_update<float>> updates;
  fedavg<float> single(layout);
  for (std::size_t k = 0; k < models.size(); ++k) {
    updates.push_back({k, models[k].view(), 1.0 + static_cast<double>(k)});
    single.accumulate(updates.back());
  }
  fedavg<float> batched(layout);
  batched.accumulate(std::span<const client_update<float>>(updates));
  EXPECT_EQ(batched.num_inputs(), single.num_inputs());
  EXPECT_DOUBLE_EQ(batched.total_weight(), single.total_weight());
  for (std::size_t i = 0; i < layout.total_size(); ++i)
    EXPECT_NEAR(batched.weighted_sum()[i], single.weighted_sum()[i], 1e-12 * 33 * 33);
}

TEST(FedAvg, MergedPartialsEqualFlat) {
  const auto layout = small_layout();
  const auto models = random_models(layout, 20, 4);
  fedavg<float> flat(layout);
  std::vector<fedavg<float>> partials;
  for (int p = 0; p < 3; ++p) partials.emplace_back(layout);
  for (std::size_t k = 0; k < models.size(); ++k) {
    const client_update<float> u{k, models[k].view(), static_cast<double>(k % 5 + 1)};
    flat.accumulate(u);
    partials[k % 3].accumulate(u);
  }
  // A hierarchy: merge two leaves, then the third into that.
  auto merged = fedpp::merge_all(std::move(partials));
  EXPECT_EQ(merged.num_inputs(), flat.num_inputs());
  EXPECT_DOUBLE_EQ(merged.total_weight(), flat.total_weight());
  const auto a = std::move(flat).report();
  const auto b = std::move(merged).report();
  for (std::size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a.span()[i], b.span()[i], 1e-6);
}

TEST(FedAvg, MergeRejectsIncompatibleAggregatesUnchanged) {
  const auto layout = small_layout();
  auto other_layout = model_layout{};
  other_layout.add("fc.weight", {3, 5}).add("fc.bias", {4}).add("scale", {});
  const auto models = random_models(layout, 1, 5);
  fedavg<float> agg(layout);
  agg.accumulate(client_update<float>{0, models[0].view(), 2.0});
  const auto before = save_bytes(agg);
  try {
    agg.merge(fedavg<float>(other_layout));
    FAIL() << "merge of different layouts must throw";
  } catch (const fedpp::invalid_config& e) {
    EXPECT_NE(std::string(e.what()).find("'fc.bias': expected shape [3], got [4]"), std::string::npos)
        << e.what();
  }
  EXPECT_THROW(agg.merge(fedavg<float>(layout, fedpp::weighting::uniform)), fedpp::invalid_config);
  EXPECT_THROW(agg.merge(std::move(agg)),
               fedpp::invalid_config); // NOLINT(bugprone-use-after-move): self-merge must throw
  EXPECT_EQ(save_bytes(agg), before);
}

// Every kind of bad input: rejected with a message naming client, tensor and values; the state
// is byte-for-byte what it was.
TEST(FedAvg, BadInputIsRejectedAndStateUnchanged) {
  const auto layout = small_layout();
  auto models = random_models(layout, 2, 6);
  fedavg<float> agg(layout);
  agg.accumulate(client_update<float>{1, models[0].view(), 3.0});
  const auto before = save_bytes(agg);

  auto expect_rejected = [&](const client_update<float>& u, fedpp::rejection_reason reason,
                             const std::string& fragment) {
    try {
      agg.accumulate(u);
      ADD_FAILURE() << "expected rejection containing: " << fragment;
    } catch (const fedpp::rejected_update& e) {
      EXPECT_EQ(e.client(), u.client);
      EXPECT_EQ(e.reason(), reason);
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("client " + std::to_string(u.client)), std::string::npos)
          << e.what();
    }
    EXPECT_EQ(save_bytes(agg), before);
    EXPECT_EQ(agg.num_inputs(), 1U);
  };

  // Wrong shape.
  std::vector<float> wrong(16, 0.F);
  fedpp::host_model_view<const float> shape_mismatch;
  shape_mismatch.add("fc.weight", {wrong.data(), {5, 3}})
      .add("fc.bias", {wrong.data(), 3})
      .add("scale", {wrong.data(), fedpp::tensor_shape{}});
  expect_rejected({42, shape_mismatch, 1.0}, fedpp::rejection_reason::layout_mismatch,
                  "tensor 'fc.weight': expected shape [3, 5], got [5, 3]");
  // Wrong name.
  fedpp::host_model_view<const float> name_mismatch;
  name_mismatch.add("fc.weight", {wrong.data(), {3, 5}})
      .add("fc.b", {wrong.data(), 3})
      .add("scale", {wrong.data(), fedpp::tensor_shape{}});
  expect_rejected({43, name_mismatch, 1.0}, fedpp::rejection_reason::layout_mismatch,
                  "expected name 'fc.bias', got 'fc.b'");
  // Missing tensor.
  fedpp::host_model_view<const float> missing;
  missing.add("fc.weight", {wrong.data(), {3, 5}});
  expect_rejected({44, missing, 1.0}, fedpp::rejection_reason::layout_mismatch, "expected 3 tensors, got 1");
  // Same shape but column-major storage: elements are elsewhere.
  fedpp::host_model_view<const float> order_mismatch;
  order_mismatch
      .add("fc.weight", {wrong.data(), fedpp::tensor_shape({3, 5}, fedpp::storage_order::col_major)})
      .add("fc.bias", {wrong.data(), 3})
      .add("scale", {wrong.data(), fedpp::tensor_shape{}});
  expect_rejected({45, order_mismatch, 1.0}, fedpp::rejection_reason::layout_mismatch, "col-major");
  // Bad weights.
  for (double w :
       {0.0, -1.0, std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::infinity()})
    expect_rejected({46, models[1].view(), w}, fedpp::rejection_reason::bad_weight, "weight");
  // NaN and Inf values, in the last tensor, after good tensors were seen.
  models[1].tensor("fc.bias")[2] = std::numeric_limits<float>::quiet_NaN();
  expect_rejected({47, models[1].view(), 1.0}, fedpp::rejection_reason::non_finite,
                  "tensor 'fc.bias' element 2 is nan");
  models[1].tensor("fc.bias")[2] = 0.F;
  models[1].tensor("scale")[0] = -std::numeric_limits<float>::infinity();
  expect_rejected({48, models[1].view(), 1.0}, fedpp::rejection_reason::non_finite,
                  "tensor 'scale' element 0 is -inf");
  // A bad update inside a batch: nothing of the batch is added.
  models[1].tensor("scale")[0] = 1.F;
  std::vector<client_update<float>> batch{{50, models[1].view(), 1.0}, {51, models[1].view(), -2.0}};
  EXPECT_THROW(agg.accumulate(std::span<const client_update<float>>(batch)), fedpp::rejected_update);
  EXPECT_EQ(save_bytes(agg), before);
  // And the aggregator still works.
  agg.accumulate(client_update<float>{52, models[1].view(), 1.0});
  EXPECT_EQ(agg.num_inputs(), 2U);
}

TEST(FedAvg, ReportWithoutInputsThrows) {
  fedavg<float> agg(small_layout());
  EXPECT_FALSE(agg.can_report());
  EXPECT_THROW((void)std::move(agg).report(), fedpp::invalid_config);
  std::vector<float> out(3);
  fedavg<float> agg2(small_layout());
  EXPECT_THROW(agg2.report_into(out), fedpp::invalid_config);
}

TEST(FedAvg, SaveRestoreRoundTripAndRejectsBadBytes) {
  const auto layout = small_layout();
  const auto models = random_models(layout, 3, 7);
  fedavg<float> agg(layout);
  for (std::size_t k = 0; k < models.size(); ++k) agg.accumulate({k, models[k].view(), 2.0});
  const auto bytes = save_bytes(agg);
  auto restored = fedavg<float>::restore(layout, bytes);
  EXPECT_EQ(save_bytes(restored), bytes);
  EXPECT_EQ(restored.num_inputs(), 3U);
  EXPECT_EQ(std::move(restored).report(), std::move(agg).report());

  auto truncated = bytes;
  truncated.pop_back();
  EXPECT_THROW((void)fedavg<float>::restore(layout, truncated), fedpp::malformed_message);
  model_layout other;
  other.add("x", {static_cast<std::size_t>(layout.total_size())});
  EXPECT_THROW((void)fedavg<float>::restore(other, bytes), fedpp::malformed_message);
  auto bad_mode = bytes;
  bad_mode[8] = std::byte{7};
  EXPECT_THROW((void)fedavg<float>::restore(layout, bad_mode), fedpp::malformed_message);
}

// 10^6 clients of float32 updates: the double accumulator stays within 1e-9 relative of an exact
// (compensated long double) reference, while a naive float accumulator drifts by > 1e-4.
TEST(FedAvg, MillionClientsDoNotDrift) {
  model_layout layout;
  constexpr std::size_t dim = 4;
  layout.add("w", {dim});
  fedavg<float> agg(layout);
  std::vector<long double> exact(dim, 0), compensation(dim, 0);
  std::vector<float> naive(dim, 0.F);
  long double weight_sum = 0;
  std::vector<float> values(dim);
  fedpp::rng gen(8);
  constexpr std::size_t clients = 1'000'000;
  std::vector<client_update<float>> batch;
  std::vector<std::vector<float>> storage(64, std::vector<float>(dim));
  for (std::size_t k = 0; k < clients; ++k) {
    auto& v = storage[k % 64];
    for (auto& x : v) x = static_cast<float>(0.1 + 0.01 * gen.uniform());
    const double w = 1.0 + static_cast<double>(gen.below(100));
    for (std::size_t i = 0; i < dim; ++i) { // Kahan in long double: an exact-enough reference
      const long double y = static_cast<long double>(w) * v[i] - compensation[i];
      const long double t = exact[i] + y;
      compensation[i] = (t - exact[i]) - y;
      exact[i] = t;
      naive[i] += static_cast<float>(w) * v[i];
    }
    weight_sum += w;
    batch.push_back(client_update<float>::from_flat(k, layout, v, w));
    if (batch.size() == 64) {
      agg.accumulate(std::span<const client_update<float>>(batch));
      batch.clear();
    }
  }
  ASSERT_TRUE(batch.empty());
  ASSERT_EQ(agg.num_inputs(), clients);
  double worst_ours = 0, worst_naive = 0;
  for (std::size_t i = 0; i < dim; ++i) {
    const long double ref = exact[i];
    worst_ours = std::max(worst_ours, static_cast<double>(std::fabs((agg.weighted_sum()[i] - ref) / ref)));
    worst_naive = std::max(worst_naive, static_cast<double>(std::fabs((naive[i] - ref) / ref)));
  }
  RecordProperty("relative_error_double_accumulator", std::to_string(worst_ours));
  RecordProperty("relative_error_float_accumulator", std::to_string(worst_naive));
  std::printf("relative error after 1e6 clients: double accumulator %.3g, naive float %.3g\n", worst_ours,
              worst_naive);
  EXPECT_LT(worst_ours, 1e-9);
  EXPECT_GT(worst_naive, 1e-4); // shows why the accumulator is double
  EXPECT_NEAR(agg.total_weight(), static_cast<double>(weight_sum), 1e-6);
}

// accumulate(pool, batch) is the serial batch with the fold spread over threads: the state is
// bitwise equal to the serial one for odd tensor sizes (around the kernel's 8192-element blocks,
// which are the threads' chunk unit), odd batch sizes, every pool size, after several batches.
TEST(FedAvg, PooledBatchEqualsSerialBitForBit) {
  model_layout layout;
  layout.add("a", {8191}).add("b", {1}).add("c", {3, 8193}).add("d", {}).add("e", {40001});
  for (const std::size_t k : {std::size_t{1}, std::size_t{5}, std::size_t{13}}) {
    const auto models = random_models(layout, k, 70 + k);
    std::vector<client_update<float>> updates;
    for (std::size_t j = 0; j < k; ++j)
      updates.push_back({j, models[j].view(), 1.5 + static_cast<double>(j)});
    const std::span<const client_update<float>> batch(updates);
    fedavg<float> serial(layout);
    serial.accumulate(batch);
    serial.accumulate(batch.first(k / 2 + 1));
    for (const std::size_t threads : {std::size_t{1}, std::size_t{2}, std::size_t{3}, std::size_t{4}}) {
      fedpp::parallel::thread_pool pool(threads);
      fedavg<float> pooled(layout);
      pooled.accumulate(pool, batch);
      pooled.accumulate(pool, batch.first(k / 2 + 1));
      EXPECT_EQ(save_bytes(pooled), save_bytes(serial)) << k << " updates, " << threads << " threads";
    }
  }
}

// The pooled batch validates as the serial one: a NaN in one chunk of one thread, or a bad
// weight, rejects the batch naming the same client and element, state unchanged.
TEST(FedAvg, PooledBatchRejectsLikeSerialAndKeepsTheState) {
  model_layout layout;
  layout.add("w", {50000}).add("b", {7});
  auto models = random_models(layout, 6, 90);
  std::vector<client_update<float>> updates;
  for (std::size_t j = 0; j < models.size(); ++j) updates.push_back({j, models[j].view(), 2.0});
  fedpp::parallel::thread_pool pool(3);
  fedavg<float> agg(layout);
  agg.accumulate(pool, std::span<const client_update<float>>(updates).first(2));
  const auto before = save_bytes(agg);
  models[4].tensor("w")[41000] = std::numeric_limits<float>::infinity(); // the last thread's chunk
  models[5].tensor("w")[3] = std::numeric_limits<float>::quiet_NaN();    // the first thread's chunk
  for (const bool pooled : {false, true}) {
    try {
      if (pooled)
        agg.accumulate(pool, std::span<const client_update<float>>(updates));
      else
        agg.accumulate(std::span<const client_update<float>>(updates));
      ADD_FAILURE() << "not rejected";
    } catch (const fedpp::rejected_update& e) {
      EXPECT_EQ(e.client(), 4U) << pooled; // (input, index) order: input 4 comes first
      EXPECT_NE(std::string(e.what()).find("tensor 'w' element 41000 is inf"), std::string::npos) << e.what();
    }
    EXPECT_EQ(save_bytes(agg), before) << pooled;
  }
  models[4].tensor("w")[41000] = 0.F;
  models[5].tensor("w")[3] = 0.F;
  updates[3].weight = -1.0;
  EXPECT_THROW(agg.accumulate(pool, std::span<const client_update<float>>(updates)), fedpp::rejected_update);
  EXPECT_EQ(save_bytes(agg), before);
  updates[3].weight = 1.0;
  agg.accumulate(pool, std::span<const client_update<float>>(updates));
  EXPECT_EQ(agg.num_inputs(), 8U);
}

} // namespace
