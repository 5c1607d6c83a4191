// Server optimizers (FedAvgM, FedAdam, FedYogi, FedAdagrad): vs naive double references over
// several steps, hand-checked small cases, save/restore round trips, invalid parameters.
#include "fedpp/optim/fedopt.hpp"
#include "fedpp/optim/server_momentum.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

namespace {

using fedpp::fedopt_params;
using fedpp::fedopt_rule;

// Reddi et al. 2021, Algorithm 2, element by element in double.
struct reference_fedopt {
  fedopt_rule rule;
  fedopt_params p;
  std::vector<double> m, v;
  std::uint64_t t = 0;
  reference_fedopt(fedopt_rule r, fedopt_params params, std::size_t n)
      : rule(r), p(params), m(n, 0.0),
        v(n, params.initial_v == fedpp::fedopt_initial_v::zero ? 0.0 : params.tau * params.tau) {}
  void step(std::vector<double>& x, const std::vector<double>& d) {
    ++t;
    double eta = p.learning_rate;
    if (p.bias_correction != fedpp::fedopt_bias_correction::none) {
      const double e =
          static_cast<double>(t) + (p.bias_correction == fedpp::fedopt_bias_correction::flower ? 1 : 0);
      eta = p.learning_rate * std::sqrt(1 - std::pow(p.beta2, e)) / (1 - std::pow(p.beta1, e));
    }
    for (std::size_t i = 0; i < x.size(); ++i) {
      m[i] = p.beta1 * m[i] + (1 - p.beta1) * d[i];
      const double d2 = d[i] * d[i];
      if (rule == fedopt_rule::adagrad) v[i] += d2;
      if (rule == fedopt_rule::adam) v[i] = p.beta2 * v[i] + (1 - p.beta2) * d2;
      if (rule == fedopt_rule::yogi) {
        const double s = v[i] - d2 > 0 ? 1.0 : (v[i] - d2 < 0 ? -1.0 : 0.0);
        v[i] -= (1 - p.beta2) * d2 * s;
      }
      x[i] += eta * m[i] / (std::sqrt(v[i]) + p.tau);
    }
  }
};

std::vector<float> random_vector(std::size_t n, unsigned seed, float scale = 1.0F) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> normal(0.0F, scale);
  std::vector<float> out(n);
  for (auto& x : out) x = normal(gen);
  return out;
}

template <class Opt>
void check_against_reference(fedopt_rule rule, std::size_t n, std::size_t offset,
                             fedopt_params p = {0.05, 0.9, 0.99, 1e-2}) {
  // Unaligned start: the model and delta begin `offset` elements into their buffers.
  std::vector<float> storage = random_vector(n + offset, 7);
  std::span<float> x(storage.data() + offset, n);
  std::vector<double> xr(x.begin(), x.end());
  Opt opt = [&] {
    if constexpr (Opt::rule == fedopt_rule::adagrad)
      return Opt(n, fedpp::fedadagrad_params{p.learning_rate, p.beta1, p.tau, p.initial_v});
    else
      return Opt(n, p);
  }();
  if constexpr (Opt::rule == fedopt_rule::adagrad) p.beta2 = 0; // unused
  reference_fedopt ref(rule, p, n);
  for (unsigned t = 0; t < 6; ++t) {
    // Mixed scales so that Yogi's sign flips both ways.
    std::vector<float> dstore = random_vector(n + offset, 100 + t, t % 2 == 0 ? 0.01F : 1.0F);
    std::span<const float> d(dstore.data() + offset, n);
    std::vector<double> dr(d.begin(), d.end());
    opt.step(x, d);
    ref.step(xr, dr);
  }
  for (std::size_t i = 0; i < n; ++i) {
    EXPECT_NEAR(x[i], xr[i], 1e-5 * (1 + std::abs(xr[i]))) << "n=" << n << " i=" << i;
    EXPECT_NEAR(opt.first_moment()[i], ref.m[i], 1e-5 * (1 + std::abs(ref.m[i])));
    EXPECT_NEAR(opt.second_moment()[i], ref.v[i], 1e-5 * (1 + std::abs(ref.v[i])));
  }
  EXPECT_EQ(opt.steps(), 6U);
}

TEST(Fedopt, MatchesDoubleReferenceOnAllSizesAndOffsets) {
  for (std::size_t n : {0U, 1U, 3U, 7U, 16U, 33U, 1001U})
    for (std::size_t offset : {0U, 1U, 3U}) {
      check_against_reference<fedpp::fedadam<float>>(fedopt_rule::adam, n, offset);
      check_against_reference<fedpp::fedyogi<float>>(fedopt_rule::yogi, n, offset);
      check_against_reference<fedpp::fedadagrad<float>>(fedopt_rule::adagrad, n, offset);
      check_against_reference<fedpp::fedadam<float, double>>(fedopt_rule::adam, n, offset);
      check_against_reference<fedpp::fedyogi<float, double>>(fedopt_rule::yogi, n, offset);
    }
}

TEST(Fedopt, ConventionsMatchTheDoubleReferenceOnAllSizesAndOffsets) {
  // v₋₁ = 0 and both bias corrections through the vector and scalar paths, float and double state.
  using fedpp::fedopt_bias_correction;
  using fedpp::fedopt_initial_v;
  for (const auto bc :
       {fedopt_bias_correction::none, fedopt_bias_correction::flower, fedopt_bias_correction::kingma_ba})
    for (std::size_t n : {0U, 1U, 7U, 33U, 1001U})
      for (std::size_t offset : {0U, 3U}) {
        const fedopt_params p{0.05, 0.9, 0.99, 1e-2, fedopt_initial_v::zero, bc};
        check_against_reference<fedpp::fedadam<float>>(fedopt_rule::adam, n, offset, p);
        check_against_reference<fedpp::fedyogi<float>>(fedopt_rule::yogi, n, offset, p);
        check_against_reference<fedpp::fedadam<float, double>>(fedopt_rule::adam, n, offset, p);
        if (bc == fedopt_bias_correction::none)
          check_against_reference<fedpp::fedadagrad<float, double>>(fedopt_rule::adagrad, n, offset, p);
      }
}

TEST(Fedopt, ZeroStartAndBiasCorrectionByHand) {
  // η = 1, β1 = 0.5, β2 = 0.75, τ = 0.5, Δ = 2, v₋₁ = 0: m = 1, v = 0.25·4 = 1.
  fedopt_params p{1.0, 0.5, 0.75, 0.5, fedpp::fedopt_initial_v::zero};
  std::vector<double> x{0.0};
  const std::vector<double> d{2.0};
  fedpp::fedadam<double> plain(1, p);
  plain.step(x, d);
  EXPECT_DOUBLE_EQ(plain.second_moment()[0], 1.0);
  EXPECT_DOUBLE_EQ(x[0], 1.0 / (1.0 + 0.5));
  // Kingma & Ba at t = 1: η₁ = √(1 − 0.75)/(1 − 0.5) = 1; Flower's exponent t + 1 = 2:
  // η₁ = √(1 − 0.5625)/(1 − 0.25) = √0.4375/0.75; then t = 2 → exponent 3.
  p.bias_correction = fedpp::fedopt_bias_correction::kingma_ba;
  EXPECT_DOUBLE_EQ(fedpp::fedadam<double>(1, p).next_learning_rate(), 1.0);
  p.bias_correction = fedpp::fedopt_bias_correction::flower;
  fedpp::fedadam<double> flower(1, p);
  EXPECT_DOUBLE_EQ(flower.next_learning_rate(), std::sqrt(0.4375) / 0.75);
  x[0] = 0;
  flower.step(x, d);
  EXPECT_DOUBLE_EQ(x[0], std::sqrt(0.4375) / 0.75 * 1.0 / (1.0 + 0.5));
  EXPECT_DOUBLE_EQ(flower.next_learning_rate(), std::sqrt(1 - 0.421875) / (1 - 0.125));
  // FedAdagrad with v₋₁ = 0: v = 4, x = 1·1/(2 + 0.5).
  fedpp::fedadagrad<double> adagrad(1,
                                    fedpp::fedadagrad_params{1.0, 0.5, 0.5, fedpp::fedopt_initial_v::zero});
  x[0] = 0;
  adagrad.step(x, d);
  EXPECT_DOUBLE_EQ(adagrad.second_moment()[0], 4.0);
  EXPECT_DOUBLE_EQ(x[0], 1.0 / 2.5);
}

TEST(Fedopt, HandCheckedFirstStep) {
  // η = 1, β1 = 0.5, β2 = 0.75, τ = 0.5, Δ = 2, x = 0, m₋₁ = 0, v₋₁ = τ² = 0.25.
  const fedopt_params p{1.0, 0.5, 0.75, 0.5};
  std::vector<float> x{0.0F};
  const std::vector<float> d{2.0F};
  // m = 0.5·2 = 1.
  // Adam: v = 0.75·0.25 + 0.25·4 = 1.1875;  x = 1/(√1.1875 + 0.5).
  fedpp::fedadam<float> adam(1, p);
  adam.step(x, d);
  EXPECT_NEAR(x[0], 1.0 / (std::sqrt(1.1875) + 0.5), 1e-6);
  // Yogi: v − Δ² = −3.75 < 0 → v = 0.25 + 0.25·4 = 1.25.
  x[0] = 0;
  fedpp::fedyogi<float> yogi(1, p);
  yogi.step(x, d);
  EXPECT_FLOAT_EQ(yogi.second_moment()[0], 1.25F);
  EXPECT_NEAR(x[0], 1.0 / (std::sqrt(1.25) + 0.5), 1e-6);
  // Adagrad: v = 0.25 + 4 = 4.25.
  x[0] = 0;
  fedpp::fedadagrad<float> adagrad(1, p);
  adagrad.step(x, d);
  EXPECT_FLOAT_EQ(adagrad.second_moment()[0], 4.25F);
  EXPECT_NEAR(x[0], 1.0 / (std::sqrt(4.25) + 0.5), 1e-6);
  // Yogi with v > Δ²: v = 4.25 would shrink. Start from v = 1.25, Δ = 0.5: v − Δ² = 1 > 0 →
  // v = 1.25 − 0.25·0.25 = 1.1875.
  const std::vector<float> small{0.5F};
  yogi.step(x, small);
  EXPECT_FLOAT_EQ(yogi.second_moment()[0], 1.1875F);
}

TEST(ServerMomentum, MatchesDoubleReferenceAndHandCase) {
  // Hand case: β = 0.5, η = 2: m = 1, x = 2; then Δ = 1 again: m = 1.5, x = 2 + 3 = 5.
  fedpp::server_momentum<float> hand(1, 2.0, 0.5);
  std::vector<float> x{0.0F};
  const std::vector<float> one{1.0F};
  hand.step(x, one);
  EXPECT_FLOAT_EQ(x[0], 2.0F);
  hand.step(x, one);
  EXPECT_FLOAT_EQ(x[0], 5.0F);
  EXPECT_FLOAT_EQ(hand.momentum_buffer()[0], 1.5F);

  for (std::size_t n : {0U, 1U, 5U, 17U, 1000U}) {
    std::vector<float> xs = random_vector(n + 1, 3);
    std::span<float> xv(xs.data() + 1, n);
    std::vector<double> xr(xv.begin(), xv.end()), mr(n, 0.0);
    fedpp::server_momentum<float, double> opt(n, 0.7, 0.9);
    for (unsigned t = 0; t < 5; ++t) {
      const auto d = random_vector(n, 50 + t);
      opt.step(xv, d);
      for (std::size_t i = 0; i < n; ++i) {
        mr[i] = 0.9 * mr[i] + d[i];
        xr[i] += 0.7 * mr[i];
      }
    }
    for (std::size_t i = 0; i < n; ++i) {
      EXPECT_NEAR(xv[i], xr[i], 1e-5 * (1 + std::abs(xr[i])));
      EXPECT_NEAR(opt.momentum_buffer()[i], mr[i], 1e-12 * (1 + std::abs(mr[i])));
    }
  }
}

TEST(ServerMomentum, BetaZeroEtaOneIsFedAvg) {
  fedpp::server_momentum<float> opt(3, 1.0, 0.0);
  std::vector<float> x{1, 2, 3};
  const std::vector<float> d{0.5F, -1, 2};
  opt.step(x, d);
  opt.step(x, d);
  EXPECT_EQ(x, (std::vector<float>{2, 0, 7}));
}

template <class Opt, class... Args>
void check_round_trip(Args... args) {
  const std::size_t n = 37;
  Opt a(n, args...);
  std::vector<float> x = random_vector(n, 1), x2;
  for (unsigned t = 0; t < 3; ++t) a.step(x, random_vector(n, 10 + t));
  const std::vector<std::byte> bytes = a.to_bytes();
  std::vector<std::byte> via_sink;
  a.save([&](std::span<const std::byte> b) { via_sink.insert(via_sink.end(), b.begin(), b.end()); });
  EXPECT_EQ(bytes, via_sink);
  Opt b = Opt::restore(bytes);
  EXPECT_EQ(b.steps(), 3U);
  x2 = x;
  // Continuing from the restored state gives bit-identical models.
  for (unsigned t = 0; t < 3; ++t) {
    const auto d = random_vector(n, 20 + t);
    a.step(x, d);
    b.step(x2, d);
  }
  EXPECT_EQ(x, x2);
  EXPECT_EQ(a.to_bytes(), b.to_bytes());

  // load: same size accepted; another size refused with the state unchanged.
  Opt c(n, args...);
  c.load(bytes);
  EXPECT_EQ(c.to_bytes(), bytes);
  Opt other(n + 1, args...);
  const auto before = other.to_bytes();
  EXPECT_THROW(other.load(bytes), fedpp::invalid_config);
  EXPECT_EQ(other.to_bytes(), before);

  // Corruptions → malformed_message, and load leaves the target unchanged.
  auto expect_malformed = [&](std::vector<std::byte> bad, const char* what) {
    EXPECT_THROW((void)Opt::restore(bad), fedpp::malformed_message) << what;
    const auto c_before = c.to_bytes();
    EXPECT_THROW(c.load(bad), fedpp::malformed_message) << what;
    EXPECT_EQ(c.to_bytes(), c_before) << what;
  };
  auto bad = bytes;
  bad[0] = std::byte{'X'};
  expect_malformed(bad, "magic");
  bad = bytes;
  bad[4] = std::byte{9};
  expect_malformed(bad, "version");
  bad = bytes;
  bad[5] = std::byte{77};
  expect_malformed(bad, "kind");
  bad = bytes;
  bad[6] = std::byte{2};
  expect_malformed(bad, "width");
  bad = bytes;
  bad.pop_back();
  expect_malformed(bad, "truncated");
  expect_malformed(std::vector<std::byte>(10), "short");
  bad = bytes;
  const double negative_eta = -1.0;
  std::memcpy(bad.data() + 24, &negative_eta, 8);
  expect_malformed(bad, "eta");
  bad = bytes;
  using S = typename Opt::state_type;
  const S nan = std::numeric_limits<S>::quiet_NaN();
  std::memcpy(bad.data() + bad.size() - sizeof(S), &nan, sizeof(S));
  expect_malformed(bad, "nan state");
}

TEST(ServerOptimizerState, RoundTrips) {
  check_round_trip<fedpp::fedadam<float>>(fedopt_params{});
  check_round_trip<fedpp::fedyogi<float>>(fedopt_params{});
  check_round_trip<fedpp::fedadagrad<float>>(fedpp::fedadagrad_params{});
  check_round_trip<fedpp::fedadagrad<float>>(fedopt_params{});
  check_round_trip<fedpp::server_momentum<float>>(1.0, 0.9);
  // Every convention travels with the state (flags byte) and the restored optimizer continues
  // bit-identically (bias correction depends on the restored step count).
  for (const auto v0 : {fedpp::fedopt_initial_v::tau_squared, fedpp::fedopt_initial_v::zero})
    for (const auto bc : {fedpp::fedopt_bias_correction::none, fedpp::fedopt_bias_correction::flower,
                          fedpp::fedopt_bias_correction::kingma_ba}) {
      SCOPED_TRACE(static_cast<int>(v0) * 10 + static_cast<int>(bc));
      fedopt_params p{0.05, 0.9, 0.99, 1e-3, v0, bc};
      check_round_trip<fedpp::fedadam<float>>(p);
      check_round_trip<fedpp::fedyogi<float>>(p);
      check_round_trip<fedpp::fedadam<float, double>>(p);
    }
  check_round_trip<fedpp::fedadagrad<float>>(
      fedpp::fedadagrad_params{0.1, 0.0, 1e-9, fedpp::fedopt_initial_v::zero});
}

TEST(ServerOptimizerState, ConventionsAreSavedInTheFlagsByte) {
  fedopt_params p{};
  EXPECT_EQ(fedpp::fedadam<float>(2, p).to_bytes()[7], std::byte{0}); // fedpp's defaults: as before
  p.initial_v = fedpp::fedopt_initial_v::zero;
  EXPECT_EQ(fedpp::fedadam<float>(2, p).to_bytes()[7], std::byte{1});
  p.bias_correction = fedpp::fedopt_bias_correction::flower;
  EXPECT_EQ(fedpp::fedadam<float>(2, p).to_bytes()[7], std::byte{3});
  p.bias_correction = fedpp::fedopt_bias_correction::kingma_ba;
  const auto bytes = fedpp::fedyogi<float>(2, p).to_bytes();
  EXPECT_EQ(bytes[7], std::byte{5});
  const auto back = fedpp::fedyogi<float>::restore(bytes);
  EXPECT_EQ(back.params().initial_v, fedpp::fedopt_initial_v::zero);
  EXPECT_EQ(back.params().bias_correction, fedpp::fedopt_bias_correction::kingma_ba);
  // Bits 1–2 = 3 name no bias correction; FedAdagrad defines bit 0 only.
  auto bad = bytes;
  bad[7] = std::byte{7};
  EXPECT_THROW((void)fedpp::fedyogi<float>::restore(bad), fedpp::malformed_message);
  const auto adagrad =
      fedpp::fedadagrad<float>(2, fedpp::fedadagrad_params{0.1, 0.0, 1e-9, fedpp::fedopt_initial_v::zero});
  auto adagrad_bytes = adagrad.to_bytes();
  EXPECT_EQ(adagrad_bytes[7], std::byte{1});
  EXPECT_EQ(fedpp::fedadagrad<float>::restore(adagrad_bytes).to_bytes(), adagrad_bytes);
  adagrad_bytes[7] = std::byte{3};
  try {
    (void)fedpp::fedadagrad<float>::restore(adagrad_bytes);
    ADD_FAILURE() << "accepted a FedAdagrad state with a bias-correction flag";
  } catch (const fedpp::malformed_message& e) {
    EXPECT_NE(std::string(e.what()).find("flags byte is 3, bits outside 1 are not defined"),
              std::string::npos)
        << e.what();
  }
}

TEST(ServerOptimizerState, FedAdagradWritesItsBetaTwoSlotAsPositiveZero) {
  // Built from the four-slot params with β2 = 0.99: the saved slot (bytes 40..47) is +0.0 anyway.
  fedpp::fedadagrad<float> a(3, fedopt_params{0.05, 0.9, 0.99, 1e-3});
  const auto bytes = a.to_bytes();
  double slot = 1;
  std::memcpy(&slot, bytes.data() + 40, 8);
  EXPECT_EQ(slot, 0.0);
  EXPECT_FALSE(std::signbit(slot));
  EXPECT_EQ(a.beta2(), 0.0);
  // A state that carries a β2 there (as FedAdagrad wrote before it had its own params) is refused.
  auto old = bytes;
  const double b2 = 0.99;
  std::memcpy(old.data() + 40, &b2, 8);
  try {
    (void)fedpp::fedadagrad<float>::restore(old);
    ADD_FAILURE() << "accepted a non-canonical β2 slot";
  } catch (const fedpp::malformed_message& e) {
    EXPECT_NE(std::string(e.what()).find("unused hyper-parameter slot 2 holds 0.99"), std::string::npos)
        << e.what();
  }
}

TEST(ServerOptimizerState, KindAndWidthAreChecked) {
  const auto adam_bytes = fedpp::fedadam<float>(4).to_bytes();
  EXPECT_THROW((void)fedpp::fedyogi<float>::restore(adam_bytes), fedpp::malformed_message);
  EXPECT_THROW((void)(fedpp::fedadam<float, double>::restore(adam_bytes)), fedpp::malformed_message);
  // A negative v is not a state FedAdam can reach.
  auto bytes = adam_bytes;
  const float negative = -1.0F;
  std::memcpy(bytes.data() + bytes.size() - sizeof(float), &negative, sizeof(float));
  EXPECT_THROW((void)fedpp::fedadam<float>::restore(bytes), fedpp::malformed_message);
}

template <class F>
void expect_invalid(F&& make, const std::string& needle) {
  try {
    make();
    ADD_FAILURE() << "no exception, expected one naming " << needle;
  } catch (const fedpp::invalid_config& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(ServerOptimizers, InvalidParametersNameTheValue) {
  expect_invalid([] { fedpp::fedadam<float>(4, {0.01, 1.0, 0.99, 1e-3}); }, "β1 must be in [0, 1), got 1");
  expect_invalid([] { fedpp::fedadam<float>(4, {0.01, -0.1, 0.99, 1e-3}); }, "got -0.1");
  expect_invalid([] { fedpp::fedyogi<float>(4, {0.01, 0.9, 1.5, 1e-3}); }, "β2 must be in [0, 1), got 1.5");
  expect_invalid([] { fedpp::fedadam<float>(4, {0.01, 0.9, 0.99, 0.0}); }, "τ must be finite and > 0, got 0");
  expect_invalid(
      [] {
        fedpp::fedadagrad<float>(4, {0.01, 0.9, -1e-9});
      },
      "τ must be finite and > 0, got -1e-09");
  expect_invalid(
      [] {
        fedpp::fedadam<float>(4, {0.0, 0.9, 0.99, 1e-3});
      },
      "learning rate η must be finite and > 0, got 0");
  expect_invalid([] { fedpp::fedadam<float>(4, {std::nan(""), 0.9, 0.99, 1e-3}); }, "got nan");
  expect_invalid([] { fedpp::server_momentum<float>(4, 1.0, 1.0); }, "momentum β must be in [0, 1), got 1");
  expect_invalid([] { fedpp::server_momentum<float>(4, -2.0, 0.5); },
                 "learning rate must be finite and > 0, got -2");
  // FedAdagrad has no β2: the four-slot fedopt_params still builds one, β2 ignored (finite) and
  // not saved (its slot is +0.0), bias correction refused.
  EXPECT_NO_THROW(fedpp::fedadagrad<float>(4, fedopt_params{0.01, 0.0, 5.0, 1e-3}));
  expect_invalid(
      [] {
        fedpp::fedadagrad<float>(4, fedopt_params{0.01, 0.0, std::nan(""), 1e-3});
      },
      "β2 (unused) must be finite, got nan");
  fedopt_params biased{};
  biased.bias_correction = fedpp::fedopt_bias_correction::flower;
  expect_invalid([&] { fedpp::fedadagrad<float>(4, biased); },
                 "FedAdagrad has no β2 and no bias correction, got bias correction 1");
  // Conventions outside the enumerations (e.g. cast from a byte) are refused, naming the value.
  fedopt_params odd{};
  odd.bias_correction = static_cast<fedpp::fedopt_bias_correction>(3);
  expect_invalid([&] { fedpp::fedadam<float>(4, odd); }, "unknown bias correction 3");
  odd = {};
  odd.initial_v = static_cast<fedpp::fedopt_initial_v>(2);
  expect_invalid([&] { fedpp::fedyogi<float>(4, odd); }, "unknown initial v convention 2");
  fedpp::fedadagrad_params ap{};
  ap.initial_v = static_cast<fedpp::fedopt_initial_v>(7);
  expect_invalid([&] { fedpp::fedadagrad<float>(4, ap); }, "unknown initial v convention 7");
}

TEST(ServerOptimizers, SizeMismatchLeavesStateUnchanged) {
  fedpp::fedadam<float> adam(4);
  std::vector<float> x{1, 2, 3, 4}, d{1, 1, 1, 1}, short_d{1, 1, 1};
  adam.step(x, d);
  const auto before = adam.to_bytes();
  const auto x_before = x;
  expect_invalid([&] { adam.step(x, short_d); }, "the optimizer has 4 elements, the model 4, the delta 3");
  EXPECT_EQ(adam.to_bytes(), before);
  EXPECT_EQ(x, x_before);
  fedpp::server_momentum<float> mom(4, 1.0, 0.5);
  std::vector<float> big(5);
  EXPECT_THROW(mom.step(big, std::span<const float>(big)), fedpp::invalid_config);
  EXPECT_EQ(mom.steps(), 0U);
}

} // namespace
