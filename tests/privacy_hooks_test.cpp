// Adaptive clipping (Andrew et al. 2021) and the local-DP client hooks: the quantile it tracks, the
// centred noisy count, the combined noise multiplier, bad arguments; clipping and noise scale of the
// local hooks at fixed seeds; copies of the local hooks never share noise (secure_rng::derive).
#include "fedpp/privacy/adaptive_clipping.hpp"
#include "fedpp/privacy/central_dp_hooks.hpp"
#include "fedpp/privacy/local_dp_hooks.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <string>
#include <vector>

using namespace fedpp::privacy;

TEST(PrivacyAdaptiveClipping, CentredCountWithoutNoiseIsExact) {
  // σ_b = 0: b̄ = (unclipped − reports/2)/qN + ½, C ← C·exp(−η(b̄ − γ))
  adaptive_clipping a(2.0, 0.5, 0.2, 0.0);
  auto g = secure_rng::reproducible(reproducible_seed{1});
  const double b = a.update(3, 10, 8, g);
  EXPECT_DOUBLE_EQ(b, (3.0 - 5.0) / 8.0 + 0.5);
  EXPECT_DOUBLE_EQ(a.bound(), 2.0 * std::exp(-0.2 * (b - 0.5)));
  // an empty round: b̄ = ½ exactly, so with γ = ½ C does not move
  const double before = a.bound();
  EXPECT_DOUBLE_EQ(a.update(0, 0, 8, g), 0.5);
  EXPECT_DOUBLE_EQ(a.bound(), before);
}

TEST(PrivacyAdaptiveClipping, TracksTheTargetQuantile) {
  // 100 clients per round with norms 0.01, 0.02, …, 1.00: the γ-quantile is γ.
  for (double gamma : {0.3, 0.7}) {
    adaptive_clipping a(5.0, gamma, 0.2, 1.0);
    auto g = secure_rng::reproducible(reproducible_seed{2});
    for (int round = 0; round < 400; ++round) {
      double unclipped = 0;
      for (int i = 1; i <= 100; ++i) unclipped += (0.01 * i <= a.bound()) ? 1 : 0;
      a.update(unclipped, 100, 100, g);
    }
    EXPECT_NEAR(a.bound(), gamma, 0.05) << "gamma " << gamma;
  }
}

TEST(PrivacyAdaptiveClipping, EffectiveNoiseMultiplierAndBadArguments) {
  adaptive_clipping a(1.0, 0.5, 0.2, 5.0);
  // (z⁻² + (2σ_b)⁻²)^{−1/2} with z = 1, σ_b = 5: (1 + 0.01)^{−1/2}
  EXPECT_NEAR(a.effective_noise_multiplier(1.0), 1 / std::sqrt(1.01), 1e-15);
  EXPECT_LT(a.effective_noise_multiplier(1.0), 1.0);
  auto g = secure_rng::reproducible(reproducible_seed{3});
  EXPECT_THROW(a.update(5, 4, 10, g), fedpp::invalid_config); // more unclipped than reports
  EXPECT_THROW(a.update(1, 4, 0, g), fedpp::invalid_config);
  EXPECT_EQ(a.bound(), 1.0);
  EXPECT_THROW(adaptive_clipping(0.0, 0.5, 0.2, 1.0), fedpp::invalid_config);
  EXPECT_THROW(adaptive_clipping(1.0, 1.0, 0.2, 1.0), fedpp::invalid_config);
  // the central hooks refuse a noiseless count (it cannot be accounted) and per-layer + adaptive
  fedpp::model_layout layout;
  layout.add("w", fedpp::tensor_shape({4}));
  central_dp_options o;
  EXPECT_THROW(central_dp_hooks<float>(o, layout, secure_rng::reproducible(reproducible_seed{4}),
                                       rdp_accountant(), adaptive_clipping(1.0, 0.5, 0.2, 0.0)),
               fedpp::invalid_config);
  o.per_layer_bounds = {1.0};
  EXPECT_THROW(central_dp_hooks<float>(o, layout, secure_rng::reproducible(reproducible_seed{4}),
                                       rdp_accountant(), adaptive_clipping(1.0, 0.5, 0.2, 1.0)),
               fedpp::invalid_config);
}

// with_pool draws the aggregate's noise on a pool: the same values as the serial hooks with the same
// generator, round after round (sizes that split unevenly between the threads and end mid-batch).
TEST(PrivacyCentralDp, NoiseOnAPoolEqualsTheSerialNoise) {
  for (std::size_t d : {std::size_t{1}, std::size_t{1000}, std::size_t{3} * 65536 + 77}) {
    fedpp::model_layout layout;
    layout.add("w", fedpp::tensor_shape({d}));
    central_dp_options o;
    o.noise_multiplier = 1.3;
    o.sampling_rate = 0.1;
    o.population = 50;
    central_dp_hooks<float> serial(o, layout, secure_rng::reproducible(reproducible_seed{8}));
    central_dp_hooks<float> pooled(o, layout, secure_rng::reproducible(reproducible_seed{8}));
    fedpp::parallel::thread_pool pool(2);
    pooled.with_pool(pool);
    for (std::uint64_t round = 0; round < 3; ++round) {
      std::vector<float> a(d, 0.25f), b(d, 0.25f);
      serial.on_aggregate(std::span<float>(a), round);
      pooled.on_aggregate(std::span<float>(b), round);
      ASSERT_EQ(a, b) << "d = " << d << ", round " << round;
      // no reports counted: the mean is scaled by 0/(qN), so what is left is noise of sd σC/(qN)
      if (d > 100000) {
        double sq = 0;
        for (float v : a) sq += static_cast<double>(v) * v;
        EXPECT_NEAR(std::sqrt(sq / static_cast<double>(d)), 1.3 / 5.0, 0.01);
      }
    }
  }
}

TEST(PrivacyLocalDp, ClipsThenAddsNoiseOfSdSigmaC) {
  const std::size_t d = 20000;
  const double clip = 0.5, sigma = 2.0;
  std::vector<float> x(d, 0.1f); // norm 0.1·√d ≈ 14 > C
  local_dp_hooks clip_only(clip, 0.0, secure_rng::reproducible(reproducible_seed{5}));
  clip_only.process_update<float>(0, fedpp::round_config{}, std::span<float>(x));
  EXPECT_NEAR(l2_norm(std::span<const float>(x)), clip, 1e-5);
  const float clipped = x[0];
  local_dp_hooks noisy(clip, sigma, secure_rng::reproducible(reproducible_seed{6}));
  noisy.process_update<float>(0, fedpp::round_config{}, std::span<float>(x)); // already within C
  double m = 0, v = 0;
  for (float s : x) m += s - clipped;
  m /= d;
  for (float s : x) v += (s - clipped - m) * (s - clipped - m);
  v /= d;
  EXPECT_NEAR(m, 0, 4 * sigma * clip / std::sqrt(double(d)));
  EXPECT_NEAR(std::sqrt(v) / (sigma * clip), 1.0, 4 * std::sqrt(0.5 / d));
  EXPECT_THROW(local_dp_hooks(0.0, 1.0), fedpp::invalid_config);
  EXPECT_THROW(local_dp_hooks(1.0, -1.0), fedpp::invalid_config);
  EXPECT_THROW(local_dp_hooks(INFINITY, 1.0), fedpp::invalid_config);
}

// Noise of one upload of a zero delta (clipping is then a no-op, the upload is the noise).
std::vector<float> noise_of(local_dp_hooks& hooks, std::uint64_t client, std::uint64_t round) {
  std::vector<float> x(257, 0.0F);
  fedpp::round_config config;
  config.round = round;
  hooks.process_update<float>(client, config, std::span<float>(x));
  return x;
}

// Hosts hold copies of the hooks: two copies must never add the same noise, or the server cancels
// it by subtracting two uploads.
TEST(PrivacyLocalDp, CopiesOfOsKeyedHooksDrawIndependentNoise) {
  local_dp_hooks original(1.0, 1.0);
  local_dp_hooks copied(original);
  local_dp_hooks assigned(2.0, 0.5);
  assigned = original;
  const auto a = noise_of(original, 3, 0), b = noise_of(copied, 3, 0), c = noise_of(assigned, 3, 0);
  EXPECT_NE(a, b);
  EXPECT_NE(a, c);
  EXPECT_NE(b, c);
  // one object never repeats itself either, not even for the same client and round
  EXPECT_NE(noise_of(original, 3, 0), a);
  EXPECT_FALSE(std::all_of(a.begin(), a.end(), [](float v) { return v == 0.0F; }));
}

// A reproducible generator keys each upload's noise by (client, round): the same on every copy and
// in any order, different for another client or round.
TEST(PrivacyLocalDp, ReproducibleNoiseIsKeyedByClientAndRound) {
  local_dp_hooks first(1.0, 1.0, secure_rng::reproducible(reproducible_seed{9}));
  local_dp_hooks second(first);
  const auto c1r0 = noise_of(first, 1, 0);
  const auto c2r0 = noise_of(first, 2, 0);
  EXPECT_EQ(noise_of(second, 2, 0), c2r0); // other copy, other order
  EXPECT_EQ(noise_of(second, 1, 0), c1r0);
  EXPECT_NE(c1r0, c2r0);
  EXPECT_NE(noise_of(first, 1, 1), c1r0);
  local_dp_hooks other_seed(1.0, 1.0, secure_rng::reproducible(reproducible_seed{10}));
  EXPECT_NE(noise_of(other_seed, 1, 0), c1r0);
  // the noise is still N(0, (σC)²): pooled over 200 (client, round) pairs
  double sum = 0, sum2 = 0;
  std::size_t n = 0;
  for (std::uint64_t client = 0; client < 20; ++client)
    for (std::uint64_t round = 0; round < 10; ++round)
      for (float v : noise_of(first, client, round)) {
        sum += v;
        sum2 += double(v) * v;
        ++n;
      }
  const double mean = sum / double(n), sd = std::sqrt(sum2 / double(n) - mean * mean);
  EXPECT_NEAR(mean, 0.0, 4.0 / std::sqrt(double(n)));
  EXPECT_NEAR(sd, 1.0, 4.0 * std::sqrt(0.5 / double(n)));
}

// derive: equal labels, equal streams; any other label or key, another stream; the parent does not move.
TEST(PrivacySecureRng, DeriveIsAFunctionOfKeyAndLabels) {
  auto parent = secure_rng::reproducible(reproducible_seed{4});
  const auto before = parent.save_state();
  auto x = parent.derive(7, 11), y = parent.derive(7, 11), a_other = parent.derive(8, 11),
       b_other = parent.derive(7, 12), swapped = parent.derive(11, 7);
  EXPECT_EQ(parent.save_state(), before);
  EXPECT_TRUE(x.is_reproducible());
  EXPECT_FALSE(secure_rng{}.derive(7, 11).is_reproducible());
  const auto first = x();
  EXPECT_EQ(y(), first);
  std::array<std::uint32_t, 4> words{};
  for (auto& w : words) w = x();
  std::array<std::uint32_t, 4> again{};
  for (auto& w : again) w = y();
  EXPECT_EQ(words, again);
  const std::array<std::uint32_t, 4> others{a_other(), b_other(), swapped(),
                                            secure_rng::reproducible(reproducible_seed{5}).derive(7, 11)()};
  for (auto o : others) EXPECT_NE(o, first);
}

// The central noise standard deviation σ·S/(qN) is a documented free function, and the hooks'
// noise_stddev() — what on_aggregate draws with — is that function of their own σ, C and qN.
TEST(PrivacyCentralDp, NoiseStddevIsTheDocumentedFunction) {
  EXPECT_EQ(central_noise_stddev(1.3, 2.0, 5.0), 1.3 * 2.0 / 5.0);
  EXPECT_EQ(central_noise_stddev(0.0, 2.0, 5.0), 0.0);
  for (const auto& [sigma, s, qn] : std::vector<std::array<double, 3>>{
           {-1.0, 1.0, 1.0}, {1.0, -1.0, 1.0}, {1.0, 1.0, 0.0}, {NAN, 1.0, 1.0}, {1.0, INFINITY, 1.0}}) {
    try {
      (void)central_noise_stddev(sigma, s, qn);
      ADD_FAILURE() << sigma << " " << s << " " << qn << " accepted";
    } catch (const fedpp::invalid_config& e) {
      EXPECT_NE(std::string(e.what()).find("central_noise_stddev: need finite sigma >= 0"),
                std::string::npos);
    }
  }
  const std::size_t d = 200000;
  fedpp::model_layout layout;
  layout.add("w", fedpp::tensor_shape({d}));
  central_dp_options o;
  o.noise_multiplier = 0.9;
  o.clip_norm = 0.7;
  o.sampling_rate = 0.2;
  o.population = 40; // qN = 8
  central_dp_hooks<float> hooks(o, layout, secure_rng::reproducible(reproducible_seed{9}));
  EXPECT_EQ(hooks.expected_clients(), 0.2 * 40.0);
  EXPECT_EQ(hooks.noise_stddev(), central_noise_stddev(0.9, 0.7, 0.2 * 40.0));
  // No reports: the mean is scaled by 0/(qN), what is left is the noise; its sd is noise_stddev().
  std::vector<float> mean(d, 1.0F);
  hooks.on_aggregate(std::span<float>(mean), 0);
  double sq = 0;
  for (float v : mean) sq += static_cast<double>(v) * v;
  EXPECT_NEAR(std::sqrt(sq / static_cast<double>(d)) / hooks.noise_stddev(), 1.0, 4 * std::sqrt(0.5 / d));
  // Per-layer bounds: the sensitivity is √Σ C_i².
  fedpp::model_layout two;
  two.add("a", fedpp::tensor_shape({2})).add("b", fedpp::tensor_shape({2}));
  o.per_layer_bounds = {0.3, 0.4};
  const central_dp_hooks<float> layered(o, two, secure_rng::reproducible(reproducible_seed{9}));
  EXPECT_DOUBLE_EQ(layered.noise_stddev(), 0.9 * 0.5 / 8.0);
}

// The target as a clipped fraction t is the quantile γ = 1 − t: C settles where a fraction t of
// the norms lies above it.
TEST(PrivacyAdaptiveClipping, TargetAsClippedFraction) {
  for (double clipped : {0.1, 0.25}) {
    adaptive_clipping a(5.0, clipped, 0.2, 1.0, clipping_target::clipped_fraction);
    EXPECT_DOUBLE_EQ(a.target_clipped_fraction(), clipped);
    EXPECT_DOUBLE_EQ(a.target_quantile(), 1 - clipped);
    EXPECT_EQ(a.target_kind(), clipping_target::clipped_fraction);
    auto g = secure_rng::reproducible(reproducible_seed{12});
    for (int round = 0; round < 400; ++round) {
      double unclipped = 0;
      for (int i = 1; i <= 100; ++i) unclipped += (0.01 * i <= a.bound()) ? 1 : 0;
      a.update(unclipped, 100, 100, g);
    }
    EXPECT_NEAR(a.bound(), 1 - clipped, 0.05) << "clipped fraction " << clipped;
  }
  // One noiseless round by hand: 3 of 10 clipped, target 0.1 clipped (γ = 0.9), qN = 10:
  // b̄ = 0.7, C ← 2·exp(−0.2·(0.7 − 0.9)).
  adaptive_clipping h(2.0, 0.1, 0.2, 0.0, clipping_target::clipped_fraction);
  auto g = secure_rng::reproducible(reproducible_seed{13});
  EXPECT_DOUBLE_EQ(h.update(7, 10, 10, g), 0.7);
  EXPECT_NEAR(h.bound(), 2.0 * std::exp(-0.2 * (0.7 - 0.9)), 1e-15);
  for (double bad : {0.0, 1.0, -0.5, static_cast<double>(NAN)}) {
    try {
      adaptive_clipping(1.0, bad, 0.2, 1.0, clipping_target::clipped_fraction);
      ADD_FAILURE() << bad << " accepted";
    } catch (const fedpp::invalid_config& e) {
      EXPECT_NE(std::string(e.what()).find("0 < clipped fraction < 1"), std::string::npos) << e.what();
    }
  }
  EXPECT_THROW(adaptive_clipping(1.0, 0.5, 0.2, 1.0, static_cast<clipping_target>(7)), fedpp::invalid_config);
  EXPECT_THROW(adaptive_clipping(INFINITY, 0.5, 0.2, 1.0), fedpp::invalid_config);
}

// update_noise_multiplier inverts effective_noise_multiplier, and refuses a combined z the count
// noise alone already exceeds (z ≥ 2σ_b).
TEST(PrivacyAdaptiveClipping, UpdateNoiseMultiplierInvertsTheCombinedOne) {
  const adaptive_clipping a(1.0, 0.5, 0.2, 5.0);
  for (double z : {0.3, 1.0, 3.0, 9.99}) {
    const double z_update = a.update_noise_multiplier(z);
    EXPECT_GT(z_update, z);
    EXPECT_NEAR(a.effective_noise_multiplier(z_update), z, 1e-12 * z);
  }
  for (double z : {10.0, 11.0, 0.0, -1.0, static_cast<double>(INFINITY)})
    EXPECT_THROW((void)a.update_noise_multiplier(z), fedpp::invalid_config) << z;
  EXPECT_THROW((void)adaptive_clipping(1.0, 0.5, 0.2, 0.0).update_noise_multiplier(1.0),
               fedpp::invalid_config);
}
