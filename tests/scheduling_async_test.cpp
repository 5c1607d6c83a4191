// Asynchronous aggregation: staleness functions (exact values), FedAsync mixing vs a hand
// computation, FedBuff flushes every K with the right discounts vs a naive stored-deltas
// reference, and rejection of bad input with state unchanged.
#include "fedpp/random/rng.hpp"
#include "fedpp/scheduling/constant_staleness.hpp"
#include "fedpp/scheduling/fedasync.hpp"
#include "fedpp/scheduling/fedbuff.hpp"
#include "fedpp/scheduling/hinge_staleness.hpp"
#include "fedpp/scheduling/inverse_sqrt_staleness.hpp"
#include "fedpp/scheduling/polynomial_staleness.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <vector>

namespace {

using fedpp::client_id;
using testing::HasSubstr;

constexpr double nan_value = std::numeric_limits<double>::quiet_NaN();
constexpr double inf_value = std::numeric_limits<double>::infinity();

// --- staleness functions ----------------------------------------------------------------------------
TEST(Staleness, ExactValues) {
  const fedpp::constant_staleness constant;
  EXPECT_EQ(constant(0), 1.0);
  EXPECT_EQ(constant(1000), 1.0);

  const fedpp::polynomial_staleness half(0.5);
  EXPECT_DOUBLE_EQ(half(0), 1.0);
  EXPECT_DOUBLE_EQ(half(3), 0.5);       // 4^-0.5
  EXPECT_DOUBLE_EQ(half(8), 1.0 / 3.0); // 9^-0.5
  const fedpp::polynomial_staleness one(1.0);
  EXPECT_DOUBLE_EQ(one(4), 0.2);
  const fedpp::polynomial_staleness two(2.0);
  EXPECT_DOUBLE_EQ(two(9), 0.01);

  const fedpp::hinge_staleness hinge(0.5, 2.0);
  EXPECT_EQ(hinge(0), 1.0);
  EXPECT_EQ(hinge(2), 1.0);                // d ≤ b
  EXPECT_DOUBLE_EQ(hinge(3), 1.0 / 1.5);   // 1/(0.5·1 + 1)
  EXPECT_DOUBLE_EQ(hinge(6), 1.0 / 3.0);   // 1/(0.5·4 + 1)
  EXPECT_DOUBLE_EQ(hinge(22), 1.0 / 11.0); // 1/(0.5·20 + 1)
  const fedpp::hinge_staleness no_grace(4.0, 0.0);
  EXPECT_EQ(no_grace(0), 1.0);
  EXPECT_DOUBLE_EQ(no_grace(1), 0.2);
  EXPECT_DOUBLE_EQ(hinge.slope(), 0.5);
  EXPECT_DOUBLE_EQ(hinge.threshold(), 2.0);

  const fedpp::inverse_sqrt_staleness fedbuff_discount;
  EXPECT_EQ(fedbuff_discount(0), 1.0);
  EXPECT_DOUBLE_EQ(fedbuff_discount(3), 0.5);
  EXPECT_DOUBLE_EQ(fedbuff_discount(15), 0.25);
  EXPECT_DOUBLE_EQ(fedbuff_discount(1), 1.0 / std::sqrt(2.0));
}

TEST(Staleness, RejectsBadParameters) {
  for (const double a : {0.0, -1.0, nan_value, inf_value}) {
    EXPECT_THROW(fedpp::polynomial_staleness{a}, fedpp::invalid_config) << a;
    EXPECT_THROW((fedpp::hinge_staleness{a, 1.0}), fedpp::invalid_config) << a;
  }
  for (const double b : {-0.5, nan_value, inf_value})
    EXPECT_THROW((fedpp::hinge_staleness{1.0, b}), fedpp::invalid_config) << b;
  EXPECT_NO_THROW((fedpp::hinge_staleness{1.0, 0.0}));
  try {
    fedpp::polynomial_staleness bad(-2);
    ADD_FAILURE();
  } catch (const fedpp::invalid_config& e) {
    EXPECT_THAT(e.what(), HasSubstr("a = -2"));
  }
  try {
    fedpp::hinge_staleness bad(1, -3);
    ADD_FAILURE();
  } catch (const fedpp::invalid_config& e) {
    EXPECT_THAT(e.what(), HasSubstr("b = -3"));
  }
}

// --- FedAsync ---------------------------------------------------------------------------------------
TEST(FedAsync, MixingWeightsPerStalenessFunction) {
  const fedpp::fedasync<float> constant(3, 0.6);
  EXPECT_DOUBLE_EQ(constant.mixing_weight(0), 0.6);
  EXPECT_DOUBLE_EQ(constant.mixing_weight(50), 0.6);
  const fedpp::fedasync<float, fedpp::polynomial_staleness> poly(3, 0.6, fedpp::polynomial_staleness(0.5));
  EXPECT_DOUBLE_EQ(poly.mixing_weight(0), 0.6);
  EXPECT_DOUBLE_EQ(poly.mixing_weight(3), 0.3);
  EXPECT_DOUBLE_EQ(poly.mixing_weight(8), 0.2);
  const fedpp::fedasync<double, fedpp::hinge_staleness> hinge(3, 0.9, fedpp::hinge_staleness(1.0, 4.0));
  EXPECT_DOUBLE_EQ(hinge.mixing_weight(4), 0.9);
  EXPECT_DOUBLE_EQ(hinge.mixing_weight(5), 0.45);
  EXPECT_DOUBLE_EQ(hinge.mixing_weight(13), 0.09);
}

TEST(FedAsync, UpdateMatchesHandComputation) {
  // Server at version 10, client pulled version 7: d = 3, α_v = 0.6·4^-0.5 = 0.3,
  // x ← 0.7·x + 0.3·x_new.
  fedpp::fedasync<double, fedpp::polynomial_staleness> mix(3, 0.6, fedpp::polynomial_staleness(0.5), 10);
  std::vector<double> model{1.0, 2.0, 3.0};
  const std::vector<double> client{3.0, 2.0, -1.0};
  EXPECT_DOUBLE_EQ(mix.apply(4, model, client, 7), 0.3);
  EXPECT_NEAR(model[0], 1.6, 1e-15);
  EXPECT_NEAR(model[1], 2.0, 1e-15);
  EXPECT_NEAR(model[2], 1.8, 1e-15);
  EXPECT_EQ(mix.version(), 11U);
  // A fresh update (pulled version 11) gets the full α = 0.6.
  EXPECT_DOUBLE_EQ(mix.apply(5, model, client, 11), 0.6);
  EXPECT_NEAR(model[0], 0.4 * 1.6 + 0.6 * 3.0, 1e-15);
  EXPECT_NEAR(model[2], 0.4 * 1.8 + 0.6 * -1.0, 1e-15);
  EXPECT_EQ(mix.version(), 12U);
}

TEST(FedAsync, FloatModelsOfManySizesAndUnalignedStarts) {
  // Sizes 0, 1, odd tails and a long run through the vector paths; the spans start one
  // element into their buffers (unaligned).
  fedpp::rng gen(77);
  for (const std::size_t n : {0U, 1U, 7U, 33U, 1001U}) {
    std::vector<float> model_buf(n + 1), client_buf(n + 1);
    for (auto& v : model_buf) v = static_cast<float>(gen.uniform() * 2 - 1);
    for (auto& v : client_buf) v = static_cast<float>(gen.uniform() * 2 - 1);
    std::span<float> model(model_buf.data() + 1, n);
    std::span<const float> client(client_buf.data() + 1, n);
    const float guard = model_buf[0];
    std::vector<double> expected(n);
    fedpp::fedasync<float, fedpp::hinge_staleness> mix(n, 0.8, fedpp::hinge_staleness(2.0, 1.0), 5);
    const double a = 0.8 / (2.0 * (3.0 - 1.0) + 1.0); // d = 5 − 2 = 3 > b = 1
    for (std::size_t i = 0; i < n; ++i) expected[i] = (1 - a) * model[i] + a * client[i];
    EXPECT_DOUBLE_EQ(mix.apply(1, model, client, 2), a);
    for (std::size_t i = 0; i < n; ++i)
      EXPECT_NEAR(model[i], expected[i], 1e-6) << "n = " << n << ", i = " << i;
    EXPECT_EQ(model_buf[0], guard); // the element before the span is untouched
  }
}

TEST(FedAsync, RejectsBadInputWithStateUnchanged) {
  fedpp::fedasync<float, fedpp::polynomial_staleness> mix(3, 0.5, fedpp::polynomial_staleness(1.0), 4);
  std::vector<float> model{1, 2, 3};
  const std::vector<float> before = model;
  auto expect_unchanged = [&] {
    EXPECT_EQ(model, before);
    EXPECT_EQ(mix.version(), 4U);
  };
  try {
    (void)mix.apply(8, model, std::vector<float>{1, 2}, 4);
    ADD_FAILURE();
  } catch (const fedpp::rejected_update& e) {
    EXPECT_EQ(e.client(), 8U);
    EXPECT_EQ(e.reason(), fedpp::rejection_reason::layout_mismatch);
    EXPECT_THAT(e.what(), HasSubstr("2 elements, expected 3"));
  }
  expect_unchanged();
  try {
    (void)mix.apply(8, model, std::vector<float>{1, std::numeric_limits<float>::quiet_NaN(), 3}, 4);
    ADD_FAILURE();
  } catch (const fedpp::rejected_update& e) {
    EXPECT_EQ(e.reason(), fedpp::rejection_reason::non_finite);
    EXPECT_THAT(e.what(), HasSubstr("element 1 is nan"));
  }
  expect_unchanged();
  EXPECT_THROW((void)mix.apply(8, model, std::vector<float>{1, 2, std::numeric_limits<float>::infinity()}, 4),
               fedpp::rejected_update);
  expect_unchanged();
  try {
    (void)mix.apply(8, model, std::vector<float>{1, 2, 3}, 5);
    ADD_FAILURE();
  } catch (const fedpp::rejected_update& e) {
    EXPECT_THAT(e.what(), HasSubstr("version 5, newer than the server's 4"));
  }
  expect_unchanged();
  std::vector<float> short_model{1, 2};
  EXPECT_THROW((void)mix.apply(8, short_model, std::vector<float>{1, 2, 3}, 4), fedpp::invalid_config);
  EXPECT_THROW((void)mix.apply(8, model, std::span<const float>(model), 4),
               fedpp::invalid_config); // aliasing
  expect_unchanged();
}

TEST(FedAsync, RejectsBadAlpha) {
  for (const double alpha : {0.0, -0.1, 1.5, nan_value}) {
    try {
      fedpp::fedasync<float>(3, alpha);
      ADD_FAILURE() << alpha;
    } catch (const fedpp::invalid_config& e) {
      EXPECT_THAT(e.what(), HasSubstr("alpha = "));
    }
  }
  EXPECT_NO_THROW(fedpp::fedasync<float>(3, 1.0));
}

// --- FedBuff ----------------------------------------------------------------------------------------
// Naive FedBuff: stores every delta and its discount, applies Σ s_k Δ_k / K at each flush.
struct naive_fedbuff {
  std::size_t k;
  double eta;
  std::uint64_t version = 0;
  std::vector<std::vector<double>> deltas;
  std::vector<double> discounts;

  bool apply(std::vector<double>& model, const std::vector<float>& delta, std::uint64_t client_version) {
    deltas.emplace_back(delta.begin(), delta.end());
    discounts.push_back(1.0 / std::sqrt(1.0 + static_cast<double>(version - client_version)));
    if (deltas.size() < k) return false;
    for (std::size_t i = 0; i < model.size(); ++i) {
      double sum = 0;
      for (std::size_t j = 0; j < k; ++j) sum += discounts[j] * deltas[j][i];
      model[i] += eta * sum / static_cast<double>(k);
    }
    deltas.clear();
    discounts.clear();
    ++version;
    return true;
  }
};

TEST(FedBuff, FlushesEveryKMatchingANaiveReference) {
  fedpp::rng gen(2022);
  for (const std::size_t n : {0U, 1U, 7U, 33U, 517U}) {
    const std::size_t k = 3;
    fedpp::fedbuff<float> buffered(n, k, 0.5);
    naive_fedbuff naive{k, 0.5, 0, {}, {}};
    std::vector<float> model_buf(n + 1, 0.0F);
    for (auto& v : model_buf) v = static_cast<float>(gen.uniform());
    std::span<float> model(model_buf.data() + 1, n); // unaligned start
    std::vector<double> reference(model.begin(), model.end());
    for (int arrival = 0; arrival < 20; ++arrival) {
      std::vector<float> delta(n);
      for (auto& v : delta) v = static_cast<float>(gen.uniform() * 2 - 1);
      // Clients lag 0..4 versions behind (never ahead of the server).
      const std::uint64_t lag = std::min<std::uint64_t>(gen.below(5), buffered.version());
      const std::uint64_t pulled = buffered.version() - lag;
      const bool flushed = buffered.apply(static_cast<client_id>(arrival), model, delta, pulled);
      EXPECT_EQ(flushed, naive.apply(reference, delta, pulled));
      EXPECT_EQ(flushed, arrival % 3 == 2) << "arrival " << arrival;
      EXPECT_EQ(buffered.buffered(), static_cast<std::size_t>((arrival + 1) % 3));
      EXPECT_EQ(buffered.version(), naive.version);
      for (std::size_t i = 0; i < n; ++i)
        ASSERT_NEAR(model[i], reference[i], 1e-6) << "n = " << n << ", arrival " << arrival << ", i = " << i;
      // The buffer is Σ s(d) Δ over the pending deltas.
      for (std::size_t i = 0; i < n; ++i) {
        double pending = 0;
        for (std::size_t j = 0; j < naive.deltas.size(); ++j)
          pending += naive.discounts[j] * naive.deltas[j][i];
        ASSERT_NEAR(buffered.buffer()[i], pending, 1e-12);
      }
    }
    EXPECT_EQ(buffered.version(), 6U);
  }
}

TEST(FedBuff, DiscountsByHand) {
  // K = 2, η = 1, one element: deltas 4 (staleness 3, weight 1/2) and 9 (staleness 8, weight 1/3)
  // give x += (4/2 + 9/3)/2 = 2.5.
  fedpp::fedbuff<double> buffered(1, 2, 1.0, {}, 8);
  std::vector<double> model{1.0};
  EXPECT_DOUBLE_EQ(buffered.discount(3), 0.5);
  EXPECT_FALSE(buffered.apply(1, model, std::vector<double>{4.0}, 5));
  EXPECT_DOUBLE_EQ(buffered.buffer()[0], 2.0);
  EXPECT_EQ(model[0], 1.0); // untouched until the flush
  EXPECT_TRUE(buffered.apply(2, model, std::vector<double>{9.0}, 0));
  EXPECT_DOUBLE_EQ(model[0], 3.5);
  EXPECT_EQ(buffered.version(), 9U);
  EXPECT_EQ(buffered.buffered(), 0U);
  EXPECT_EQ(buffered.buffer()[0], 0.0);

  // The discount is a policy: constant weights give the plain mean of the deltas.
  fedpp::fedbuff<float, fedpp::constant_staleness> plain(2, 2, 0.1);
  std::vector<float> m2{0.0F, 0.0F};
  EXPECT_FALSE(plain.apply(1, m2, std::vector<float>{1.0F, 2.0F}, 0));
  EXPECT_TRUE(plain.apply(2, m2, std::vector<float>{3.0F, 4.0F}, 0));
  EXPECT_FLOAT_EQ(m2[0], 0.2F);
  EXPECT_FLOAT_EQ(m2[1], 0.3F);
  // K = 1 flushes on every arrival.
  fedpp::fedbuff<float> every(1, 1, 1.0);
  std::vector<float> m3{0.0F};
  EXPECT_TRUE(every.apply(1, m3, std::vector<float>{2.0F}, 0));
  EXPECT_TRUE(every.apply(1, m3, std::vector<float>{3.0F}, 0)); // staleness 1: 3/√2
  EXPECT_FLOAT_EQ(m3[0], static_cast<float>(2.0 + 3.0 / std::sqrt(2.0)));
}

TEST(FedBuff, RejectsBadInputWithStateUnchanged) {
  fedpp::fedbuff<float> buffered(3, 2, 1.0, {}, 3);
  std::vector<float> model{1, 2, 3};
  EXPECT_FALSE(buffered.apply(1, model, std::vector<float>{1, 1, 1}, 3));
  const std::vector<float> model_before = model;
  const std::vector<double> buffer_before(buffered.buffer().begin(), buffered.buffer().end());
  auto expect_unchanged = [&] {
    EXPECT_EQ(model, model_before);
    EXPECT_EQ(std::vector<double>(buffered.buffer().begin(), buffered.buffer().end()), buffer_before);
    EXPECT_EQ(buffered.buffered(), 1U);
    EXPECT_EQ(buffered.version(), 3U);
  };
  try {
    (void)buffered.apply(6, model, std::vector<float>{1, 1}, 3);
    ADD_FAILURE();
  } catch (const fedpp::rejected_update& e) {
    EXPECT_EQ(e.client(), 6U);
    EXPECT_EQ(e.reason(), fedpp::rejection_reason::layout_mismatch);
    EXPECT_THAT(e.what(), HasSubstr("delta of 2 elements, expected 3"));
  }
  expect_unchanged();
  try {
    (void)buffered.apply(6, model, std::vector<float>{1, 1, -std::numeric_limits<float>::infinity()}, 3);
    ADD_FAILURE();
  } catch (const fedpp::rejected_update& e) {
    EXPECT_EQ(e.reason(), fedpp::rejection_reason::non_finite);
    EXPECT_THAT(e.what(), HasSubstr("element 2 is -inf"));
  }
  expect_unchanged();
  EXPECT_THROW((void)buffered.apply(6, model, std::vector<float>{std::nanf(""), 1, 1}, 3),
               fedpp::rejected_update);
  expect_unchanged();
  try {
    (void)buffered.apply(6, model, std::vector<float>{1, 1, 1}, 4);
    ADD_FAILURE();
  } catch (const fedpp::rejected_update& e) {
    EXPECT_THAT(e.what(), HasSubstr("newer than the server's 3"));
  }
  expect_unchanged();
  std::vector<float> long_model{1, 2, 3, 4};
  try {
    (void)buffered.apply(6, long_model, std::vector<float>{1, 1, 1}, 3);
    ADD_FAILURE();
  } catch (const fedpp::invalid_config& e) {
    EXPECT_THAT(e.what(), HasSubstr("the model has 4 elements, expected 3"));
  }
  expect_unchanged();
  // A good delta still completes the buffer afterwards.
  EXPECT_TRUE(buffered.apply(7, model, std::vector<float>{1, 1, 1}, 3));
  EXPECT_FLOAT_EQ(model[0], 2.0F);
}

// A discount policy that breaks the (0, 1] contract is caught before anything changes.
struct broken_discount {
  double operator()(std::uint64_t d) const noexcept { return d == 0 ? 1.0 : 0.0; }
};

TEST(FedBuff, RejectsBadConfiguration) {
  EXPECT_THROW(fedpp::fedbuff<float>(3, 0, 1.0), fedpp::invalid_config);
  for (const double eta : {0.0, -1.0, nan_value, inf_value}) {
    try {
      fedpp::fedbuff<float>(3, 2, eta);
      ADD_FAILURE() << eta;
    } catch (const fedpp::invalid_config& e) {
      EXPECT_THAT(e.what(), HasSubstr("server learning rate"));
    }
  }
  fedpp::fedbuff<float, broken_discount> buffered(1, 2, 1.0, {}, 1);
  std::vector<float> model{1};
  EXPECT_THROW((void)buffered.apply(1, model, std::vector<float>{1}, 0), fedpp::invalid_config);
  EXPECT_EQ(buffered.buffered(), 0U);
  EXPECT_FALSE(buffered.apply(1, model, std::vector<float>{1}, 1));
}

static_assert(fedpp::staleness_function<broken_discount>);
static_assert(!fedpp::staleness_function<int>);

} // namespace
