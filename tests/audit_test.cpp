// Privacy attacks and empirical auditing (fedpp/audit): ROC figures against hand counts, the
// membership scores, exact and optimization-based gradient inversion, the one-run audit's bound
// against independent computations and a broken mechanism caught, backdoor triggers, PNG bytes.
#include "fedpp/audit/backdoor.hpp"
#include "fedpp/audit/dlg.hpp"
#include "fedpp/audit/gradient_inversion.hpp"
#include "fedpp/audit/membership_inference.hpp"
#include "fedpp/audit/one_run_audit.hpp"
#include "fedpp/audit/png_writer.hpp"
#include "fedpp/audit/roc.hpp"
#include "fedpp/privacy/calibration.hpp"
#include "fedpp/privacy/clipping.hpp"
#include "fedpp/privacy/gaussian_noise.hpp"
#include "fedpp/privacy/rdp_accountant.hpp"
#include "fedpp/privacy/secure_rng.hpp"
#include "fedpp/random/distributions.hpp"

#include <gtest/gtest.h>

#if __has_include(<zlib.h>)
#include <zlib.h>
#define FEDPP_AUDIT_TEST_ZLIB 1
#endif

#include <cmath>
#include <cstdint>
#include <numbers>
#include <vector>

namespace {

using namespace fedpp::audit;
using fedpp::invalid_config;

// ---------------------------------------------------------------------------------------- ROC
TEST(AuditRoc, AucMatchesHandCount) {
  // members 0.9, 0.8, 0.6 against non-members 0.7, 0.55, 0.5: 3 + 3 + 2 = 8 of 9 pairs ordered
  const std::vector<double> s{0.9, 0.8, 0.7, 0.6, 0.55, 0.5};
  const std::vector<std::uint8_t> y{1, 1, 0, 1, 0, 0};
  EXPECT_DOUBLE_EQ(roc_auc(s, y), 8.0 / 9.0);
  // a member/non-member tie counts one half: (0.5 + 1) / 2
  EXPECT_DOUBLE_EQ(roc_auc(std::vector<double>{1, 1, 0}, std::vector<std::uint8_t>{1, 0, 0}), 0.75);
  // the curve: thresholds 0.9, 0.8, 0.7, 0.6, 0.55, 0.5
  const auto c = roc_curve(s, y);
  ASSERT_EQ(c.size(), 7u);
  EXPECT_DOUBLE_EQ(c[2].tpr, 2.0 / 3);
  EXPECT_DOUBLE_EQ(c[2].fpr, 0);
  EXPECT_DOUBLE_EQ(c[3].tpr, 2.0 / 3);
  EXPECT_DOUBLE_EQ(c[3].fpr, 1.0 / 3);
  EXPECT_DOUBLE_EQ(c[6].tpr, 1);
  EXPECT_DOUBLE_EQ(c[6].fpr, 1);
  EXPECT_DOUBLE_EQ(tpr_at_fpr(s, y, 0.01), 2.0 / 3);
  EXPECT_DOUBLE_EQ(tpr_at_fpr(s, y, 0.5), 1.0);
}

TEST(AuditRoc, AucEqualsPairCountAndTrapezoidOnRandomScores) {
  fedpp::rng gen(7);
  std::vector<double> s(301);
  std::vector<std::uint8_t> y(301);
  for (std::size_t i = 0; i < s.size(); ++i) {
    y[i] = static_cast<std::uint8_t>(gen.below(2));
    s[i] = std::round(10 * fedpp::random::normal(gen, y[i] * 0.7, 1)) / 10; // rounded: many ties
  }
  double pairs = 0, favourable = 0;
  for (std::size_t i = 0; i < s.size(); ++i)
    for (std::size_t j = 0; j < s.size(); ++j)
      if (y[i] == 1 && y[j] == 0) {
        pairs += 1;
        favourable += s[i] > s[j] ? 1 : s[i] == s[j] ? 0.5 : 0;
      }
  EXPECT_NEAR(roc_auc(s, y), favourable / pairs, 1e-12);
  const auto c = roc_curve(s, y);
  double area = 0;
  for (std::size_t k = 1; k < c.size(); ++k)
    area += (c[k].fpr - c[k - 1].fpr) * (c[k].tpr + c[k - 1].tpr) / 2;
  EXPECT_NEAR(area, favourable / pairs, 1e-12);
}

TEST(AuditRoc, Refusals) {
  const std::vector<double> s{1, 2};
  EXPECT_THROW((void)roc_auc(s, std::vector<std::uint8_t>{1}), invalid_config);
  EXPECT_THROW((void)roc_auc(s, std::vector<std::uint8_t>{1, 1}), invalid_config);
  EXPECT_THROW((void)roc_auc(s, std::vector<std::uint8_t>{1, 2}), invalid_config);
  EXPECT_THROW((void)roc_auc(std::vector<double>{1, NAN}, std::vector<std::uint8_t>{1, 0}), invalid_config);
  EXPECT_THROW((void)tpr_at_fpr(s, std::vector<std::uint8_t>{1, 0}, 0), invalid_config);
}

// --------------------------------------------------------------------------- membership scores
TEST(AuditMembership, LossThresholdAndLogitConfidence) {
  EXPECT_EQ(loss_threshold_scores(std::vector<double>{0.5, 2}), (std::vector<double>{-0.5, -2}));
  EXPECT_THROW((void)loss_threshold_scores(std::vector<double>{-1}), invalid_config);
  const std::vector<double> z{1.0, -0.5, 2.0};
  double sum = 0;
  for (double v : z) sum += std::exp(v);
  const double p = std::exp(2.0) / sum;
  EXPECT_NEAR(logit_confidence<double>(z, 2), std::log(p / (1 - p)), 1e-13);
  // p_y = 1 − 1e-30 in double is 1; the stable form still gives log((1−q)/q) ≈ 69
  EXPECT_NEAR(logit_confidence<double>(std::vector<double>{80, 10.922}, 0), 80 - 10.922, 1e-12);
  EXPECT_THROW((void)logit_confidence<double>(z, 3), invalid_config);
  EXPECT_THROW((void)logit_confidence<double>(std::vector<double>{1, INFINITY}, 0), invalid_config);
}

TEST(AuditMembership, NormalTailBothFormsAgree) {
  for (double t : {-3.0, 0.0, 1.0, 5.0, 20.0})
    EXPECT_NEAR(log_normal_upper_tail(t), std::log(0.5 * std::erfc(t / std::numbers::sqrt2)), 1e-12);
  // across the switch to the asymptotic series
  EXPECT_NEAR(log_normal_upper_tail(29.999999), log_normal_upper_tail(30.0), 1e-4);
  EXPECT_TRUE(std::isfinite(log_normal_upper_tail(200)));
}

TEST(AuditMembership, LiraOfflineHandCase) {
  // shadows of example 0: {0, 2} (mean 1, variance 1); example 1: {1, 1} (mean 1, variance 0)
  const std::vector<double> target{3, 0}, shadow{0, 2, 1, 1};
  const auto global = lira_offline_scores(target, shadow, 2);
  const double sd = std::sqrt(0.5); // root of the mean variance
  EXPECT_NEAR(global[0], -log_normal_upper_tail(2 / sd), 1e-12);
  EXPECT_NEAR(global[1], -log_normal_upper_tail(-1 / sd), 1e-12);
  const auto own = lira_offline_scores(target, shadow, 2, lira_variance::per_example, 0.25);
  EXPECT_NEAR(own[0], -log_normal_upper_tail(2.0), 1e-12);
  EXPECT_NEAR(own[1], -log_normal_upper_tail(-1 / 0.25), 1e-12); // floored σ
  EXPECT_THROW((void)lira_offline_scores(target, shadow, 1), invalid_config);
  EXPECT_THROW((void)lira_offline_scores(target, std::vector<double>{0, 2, 1}, 2), invalid_config);
  EXPECT_THROW((void)lira_offline_scores(target, std::vector<double>{0, NAN, 1, 1}, 2), invalid_config);
}

TEST(AuditMembership, LiraSeparatesShiftedGaussiansAsTheory) {
  // per-example OUT distributions N(μ_i, 1); members observe μ_i + 1.5, non-members μ_i:
  // the optimal test's AUC is Φ(1.5 / √2) = 0.8556
  fedpp::rng gen(11);
  const std::size_t n = 4000, k = 64;
  std::vector<double> target(n), shadow(n * k);
  std::vector<std::uint8_t> member(n);
  for (std::size_t i = 0; i < n; ++i) {
    const double mu = fedpp::random::normal(gen, 0, 3);
    for (std::size_t j = 0; j < k; ++j) shadow[i * k + j] = fedpp::random::normal(gen, mu, 1);
    member[i] = static_cast<std::uint8_t>(i % 2);
    target[i] = fedpp::random::normal(gen, mu + 1.5 * member[i], 1);
  }
  const double auc = roc_auc(lira_offline_scores(target, shadow, k, lira_variance::per_example), member);
  EXPECT_NEAR(auc, 0.5 * std::erfc(-1.5 / 2), 0.02);
  // ignoring the per-example calibration (loss-threshold style) loses most of it
  EXPECT_LT(roc_auc(target, member), auc - 0.15);
}

// ------------------------------------------------------------------------- gradient inversion
double mse(std::span<const double> a, std::span<const double> b) { return mean_squared_error(a, b); }

std::vector<double> random_vector(std::size_t n, std::uint64_t seed) {
  fedpp::rng gen(seed);
  std::vector<double> v(n);
  for (auto& x : v) x = gen.uniform_open();
  return v;
}

TEST(AuditInversion, ExactFromFirstLayerOfOneExample) {
  const sigmoid_mlp model(784, 32, 10);
  std::vector<double> params(model.num_parameters());
  model.initialize(params, 3);
  const auto x = random_vector(784, 5);
  std::vector<double> y(10, 0.0);
  y[4] = 1;
  std::vector<double> g(params.size());
  (void)model.gradient(params, x, y, g);
  const std::span<const double> gs(g);
  const auto inv =
      invert_fully_connected(gs.subspan(0, 32 * 784), gs.subspan(model.fc1_bias_offset(), 32), 784);
  EXPECT_EQ(inv.rows_used, 32u);
  for (std::size_t j = 0; j < 784; ++j) ASSERT_NEAR(inv.input[j], x[j], 1e-9) << j;
  EXPECT_LT(mse(inv.input, x), 1e-20);
  // a client's update after one SGD step is −η g: the same ratio
  std::vector<float> upd(g.size());
  for (std::size_t i = 0; i < g.size(); ++i) upd[i] = static_cast<float>(-0.1 * g[i]);
  const std::span<const float> us(upd);
  const auto inv_f =
      invert_fully_connected(us.subspan(0, 32 * 784), us.subspan(model.fc1_bias_offset(), 32), 784);
  for (std::size_t j = 0; j < 784; ++j) ASSERT_NEAR(inv_f.input[j], x[j], 1e-5);
}

TEST(AuditInversion, TwoExamplesGiveAMixtureNotEitherInput) {
  const sigmoid_mlp model(64, 16, 4);
  std::vector<double> params(model.num_parameters());
  model.initialize(params, 3);
  auto x = random_vector(128, 9);
  std::vector<double> y{1, 0, 0, 0, 0, 0, 1, 0}, g(params.size());
  (void)model.gradient(params, x, y, g);
  const std::span<const double> gs(g);
  const auto inv =
      invert_fully_connected(gs.subspan(0, 16 * 64), gs.subspan(model.fc1_bias_offset(), 16), 64);
  const std::span<const double> xs(x);
  EXPECT_GT(mse(inv.input, xs.subspan(0, 64)), 1e-3);
  EXPECT_GT(mse(inv.input, xs.subspan(64, 64)), 1e-3);
}

TEST(AuditInversion, RefusalsAndMetrics) {
  const std::vector<double> w(6, 1.0), b_zero(2, 0.0), b{1, 2};
  EXPECT_THROW((void)invert_fully_connected<double>(w, b_zero, 3), invalid_config); // no informative row
  EXPECT_THROW((void)invert_fully_connected<double>(w, b, 4), invalid_config);      // 6 values ≠ 2 × 4
  EXPECT_THROW((void)invert_fully_connected<double>(w, std::vector<double>{1, NAN}, 3), invalid_config);
  EXPECT_THROW((void)invert_fully_connected<double>(w, b, 3, -1), invalid_config);
  EXPECT_DOUBLE_EQ(psnr(0.01), 20);
  EXPECT_TRUE(std::isinf(psnr(0)));
  EXPECT_THROW((void)psnr(-1), invalid_config);
  // greedy pairing recovers a swapped batch
  const std::vector<double> truth{0, 0, 1, 1}, recon{1, 1, 0, 0.5};
  std::vector<std::size_t> pairing;
  EXPECT_DOUBLE_EQ((batch_reconstruction_mse<double, double>(truth, recon, 2, &pairing)), 0.125 / 2);
  EXPECT_EQ(pairing, (std::vector<std::size_t>{1, 0}));
}

// ------------------------------------------------------------------------------------- DLG
TEST(AuditDlg, MatchDerivativeEqualsFiniteDifferences) {
  const sigmoid_mlp model(5, 4, 3);
  std::vector<double> params(model.num_parameters());
  model.initialize(params, 21);
  const auto x = random_vector(10, 22), x_star = random_vector(10, 23);
  const std::vector<double> y{0, 1, 0, 0.2, 0.3, 0.5};
  std::vector<double> target(params.size()), dx(10), scratch(10), mask(params.size(), 1.0);
  (void)model.gradient(params, x_star, y, target);
  for (std::size_t k = 0; k < mask.size(); k += 3) mask[k] = 0;
  std::vector<double> g(params.size());
  (void)model.gradient(params, x, y, g);
  double norm = 0;
  for (double v : g) norm += v * v;
  for (double clip : {0.0, 0.5 * std::sqrt(norm)}) { // unclipped, and clipped to half the gradient's norm
    (void)model.match(params, target, mask, x, y, dx, clip);
    for (std::size_t j = 0; j < x.size(); ++j) {
      auto xp = x, xm = x;
      const double h = 1e-6;
      xp[j] += h;
      xm[j] -= h;
      const double fd = (model.match(params, target, mask, xp, y, scratch, clip) -
                         model.match(params, target, mask, xm, y, scratch, clip)) /
                        (2 * h);
      EXPECT_NEAR(dx[j], fd, 1e-8 + 1e-5 * std::abs(fd)) << j << " clip " << clip;
    }
  }
}

TEST(AuditDlg, RecoversOneExampleOnATinyModel) {
  const sigmoid_mlp model(16, 8, 4);
  std::vector<double> params(model.num_parameters());
  model.initialize(params, 31);
  const auto x = random_vector(16, 32);
  std::vector<double> y(4, 0.0), g(params.size());
  y[2] = 1;
  (void)model.gradient(params, x, y, g);
  const std::size_t label = idlg_label(std::span<const double>(g).subspan(model.fc2_bias_offset(), 4));
  EXPECT_EQ(label, 2u);
  const std::vector<std::size_t> labels{label};
  const auto r =
      dlg_reconstruct(model, params, g, labels, {}, {.optimizer = {.max_iterations = 2000}, .seed = 1});
  EXPECT_LT(r.distance, 1e-16);
  EXPECT_LT(mse(r.inputs, x), 1e-10);
  EXPECT_THROW((void)idlg_label(std::vector<double>{0.1, 0.2}), invalid_config);
  const std::vector<std::size_t> bad{4};
  EXPECT_THROW((void)dlg_reconstruct(model, params, g, bad), invalid_config);
}

// ----------------------------------------------------------------------------- one-run audit
double binomial_tail_exact(int r, int v, double q) { // Σ_{k ≥ v} C(r, k) q^k (1 − q)^(r − k)
  double s = 0;
  for (int k = v; k <= r; ++k) {
    double c = 1;
    for (int j = 1; j <= k; ++j) c = c * (r - k + j) / j;
    s += c * std::pow(q, k) * std::pow(1 - q, r - k);
  }
  return s;
}

TEST(AuditOneRun, PValueMatchesIndependentSums) {
  const double eps = 1.0, q = std::exp(1.0) / (1 + std::exp(1.0));
  EXPECT_NEAR(one_run_p_value(50, 10, 9, eps, 0), binomial_tail_exact(10, 9, q), 1e-14);
  EXPECT_NEAR(one_run_p_value(50, 20, 15, 0.3, 0), binomial_tail_exact(20, 15, 1 / (1 + std::exp(-0.3))),
              1e-13);
  // with δ: f(v) + 2mδ max_i (f(v − i) − f(v)) / i, the maximum over i = 1..v written out
  const int r = 8, v = 7;
  const double delta = 1e-3, f_v = binomial_tail_exact(r, v, q);
  double worst = 0;
  for (int i = 1; i <= v; ++i) worst = std::max(worst, (binomial_tail_exact(r, v - i, q) - f_v) / i);
  EXPECT_NEAR(one_run_p_value(40, r, v, eps, delta), f_v + 2 * 40 * delta * worst, 1e-13);
  EXPECT_DOUBLE_EQ(one_run_p_value(10, 0, 0, 1.0, 0), 1.0);
  EXPECT_THROW((void)one_run_p_value(10, 11, 3, 1, 0), invalid_config);
  EXPECT_THROW((void)one_run_p_value(10, 5, 6, 1, 0), invalid_config);
  EXPECT_THROW((void)one_run_p_value(10, 5, 3, -1, 0), invalid_config);
  EXPECT_THROW((void)one_run_p_value(10, 5, 3, 1, 2), invalid_config);
}

TEST(AuditOneRun, EpsilonBoundMatchesClosedFormWhenAllGuessesAreRight) {
  // δ = 0, v = r: p = q^r < β  ⇔  q < β^(1/r)  ⇔  ε < log(β^(1/r) / (1 − β^(1/r)))
  for (std::size_t r : {10u, 100u, 500u}) {
    const double t = std::pow(0.05, 1.0 / static_cast<double>(r));
    EXPECT_NEAR(one_run_epsilon_lower_bound(1000, r, r, 0, 0.05), std::log(t / (1 - t)), 1e-7) << r;
  }
  // chance-level guessing proves nothing; δ > 0 only lowers the bound
  EXPECT_EQ(one_run_epsilon_lower_bound(1000, 100, 50, 0, 0.05), 0);
  EXPECT_LT(one_run_epsilon_lower_bound(1000, 100, 95, 1e-4), one_run_epsilon_lower_bound(1000, 100, 95, 0));
  EXPECT_THROW((void)one_run_epsilon_lower_bound(10, 5, 5, 0, 1), invalid_config);
}

TEST(AuditOneRun, GuessesAndInclusion) {
  const std::vector<double> s{5, 1, 4, 0, 3, 2};
  const std::vector<std::uint8_t> in{1, 0, 1, 1, 0, 0};
  const auto g = guess_canaries(s, in, 2, 2); // "in": 5, 4 (right, right); "out": 0, 1 (wrong, right)
  EXPECT_EQ(g.guesses, 4u);
  EXPECT_EQ(g.correct, 3u);
  EXPECT_THROW((void)guess_canaries(s, in, 4, 3), invalid_config);
  const auto coins = draw_canary_inclusion(10000, 5);
  std::size_t ones = 0;
  for (auto c : coins) ones += c;
  EXPECT_NEAR(static_cast<double>(ones), 5000, 4 * 50); // 4 standard deviations
  EXPECT_EQ(coins, draw_canary_inclusion(10000, 5));
}

// One release of DP-FedAvg's sum with Dirac canaries: canary i's update is C e_i (clipped by
// privacy::clip_flat), the server adds N(0, (σ_used C)²) per coordinate with the project's
// Gaussian mechanism; the auditor scores canary i by coordinate i of the release.
fedpp::audit::one_run_audit_result audit_gaussian_sum(double sigma_used, std::uint64_t seed) {
  const std::size_t m = 1000;
  const double clip = 0.5;
  const auto included = draw_canary_inclusion(m, seed);
  std::vector<float> sum(m, 0.0f), update(m);
  for (std::size_t i = 0; i < m; ++i) {
    if (!included[i]) continue;
    std::fill(update.begin(), update.end(), 0.0f);
    update[i] = 3.0f; // a client's raw update, clipped to C like any other
    (void)fedpp::privacy::clip_flat(std::span<float>(update), clip);
    sum[i] += update[i];
  }
  auto gen = fedpp::privacy::secure_rng::reproducible(fedpp::privacy::reproducible_seed{seed});
  fedpp::privacy::add_gaussian_noise(gen, std::span<float>(sum), sigma_used * clip);
  const std::vector<double> scores(sum.begin(), sum.end());
  return one_run_audit(scores, included, 100, 100, 1e-5, 0.05);
}

TEST(AuditOneRun, BoundStaysBelowTheAccountantAndCatchesTooLittleNoise) {
  const double delta = 1e-5, claimed = 2.0;
  const double sigma = fedpp::privacy::noise_multiplier_for_epsilon(claimed, 1.0, 1, delta);
  fedpp::privacy::rdp_accountant acc;
  acc.compose(1.0, sigma, 1);
  const double accountant_eps = acc.epsilon(delta);
  ASSERT_LE(accountant_eps, claimed);
  for (std::uint64_t seed : {1u, 2u, 3u}) {
    const auto honest = audit_gaussian_sum(sigma, seed);
    EXPECT_LT(honest.epsilon_lower_bound, accountant_eps) << seed;
    // the broken mechanism draws σ/10 but claims the correct σ's ε: caught
    const auto broken = audit_gaussian_sum(sigma / 10, seed);
    EXPECT_EQ(broken.guesses.correct, 200u) << seed;
    EXPECT_GT(broken.epsilon_lower_bound, claimed) << seed;
  }
}

// ---------------------------------------------------------------------------------- backdoor
TEST(AuditBackdoor, TriggerPixelsPoisoningAndSuccessRate) {
  const pixel_trigger t{.image_width = 6, .image_height = 5, .size = 2, .margin = 1};
  std::vector<float> img(30, 0.5f);
  t.apply(std::span<float>(img));
  // patch rows 2..3, columns 3..4: checkerboard (2,3) on, (2,4) off, (3,3) off, (3,4) on
  EXPECT_EQ(img[2 * 6 + 3], 1.0f);
  EXPECT_EQ(img[2 * 6 + 4], 0.0f);
  EXPECT_EQ(img[3 * 6 + 3], 0.0f);
  EXPECT_EQ(img[3 * 6 + 4], 1.0f);
  float untouched = 0;
  for (std::size_t r = 0; r < 5; ++r)
    for (std::size_t c = 0; c < 6; ++c)
      if (!(r >= 2 && r <= 3 && c >= 3 && c <= 4)) untouched += img[r * 6 + c] == 0.5f;
  EXPECT_EQ(untouched, 26);
  std::vector<float> features(3 * 30, 0.25f);
  std::vector<std::uint8_t> labels{1, 2, 3};
  const std::vector<std::size_t> which{0, 2};
  poison_examples(std::span<float>(features), std::span<std::uint8_t>(labels), which, t, 7);
  EXPECT_EQ(labels, (std::vector<std::uint8_t>{7, 2, 7}));
  EXPECT_EQ(features[30 + 2 * 6 + 3], 0.25f); // example 1 untouched
  EXPECT_EQ(features[2 * 30 + 2 * 6 + 3], 1.0f);
  const std::vector<std::size_t> bad{3};
  EXPECT_THROW(poison_examples(std::span<float>(features), std::span<std::uint8_t>(labels), bad, t, 7),
               invalid_config);
  EXPECT_EQ(labels, (std::vector<std::uint8_t>{7, 2, 7}));
  EXPECT_THROW((pixel_trigger{.image_width = 4, .image_height = 4, .size = 4, .margin = 1}.validate()),
               invalid_config);
  EXPECT_THROW(t.apply(std::span<float>(features).subspan(0, 29)), invalid_config);
  // success rate ignores target-class examples: 2 of the 3 others predicted 7
  const std::vector<std::size_t> pred{7, 7, 1, 7};
  EXPECT_DOUBLE_EQ(attack_success_rate(pred, std::vector<std::uint8_t>{7, 0, 1, 2}, 7), 2.0 / 3);
  EXPECT_THROW((void)attack_success_rate(pred, std::vector<std::uint8_t>{7, 7, 7, 7}, 7), invalid_config);
}

// ------------------------------------------------------------------------------------- PNG
TEST(AuditPng, ValidGreyscaleFile) {
  const std::vector<std::uint8_t> px{0, 64, 128, 255, 10, 20};
  const auto f = encode_png_gray(3, 2, px);
  ASSERT_GT(f.size(), 8u + 25 + 12);
  EXPECT_EQ(std::vector<std::uint8_t>(f.begin(), f.begin() + 8),
            (std::vector<std::uint8_t>{0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'}));
  // the IEND chunk is always 00 00 00 00 'IEND' AE 42 60 82
  EXPECT_EQ(std::vector<std::uint8_t>(f.end() - 12, f.end()),
            (std::vector<std::uint8_t>{0, 0, 0, 0, 'I', 'E', 'N', 'D', 0xAE, 0x42, 0x60, 0x82}));
  EXPECT_EQ(f[8 + 4 + 4 + 3], 3); // width
  EXPECT_EQ(f[8 + 4 + 4 + 7], 2); // height
#ifdef FEDPP_AUDIT_TEST_ZLIB
  // IDAT inflates (zlib's own decoder) to the filtered rows
  const std::size_t idat = 8 + 25;
  const std::size_t len =
      (std::size_t{f[idat]} << 24) | (std::size_t{f[idat + 1]} << 16) | (f[idat + 2] << 8) | f[idat + 3];
  std::vector<unsigned char> raw(8);
  uLongf raw_len = raw.size();
  ASSERT_EQ(uncompress(raw.data(), &raw_len, f.data() + idat + 8, static_cast<uLong>(len)), Z_OK);
  EXPECT_EQ(raw, (std::vector<unsigned char>{0, 0, 64, 128, 0, 255, 10, 20}));
  EXPECT_EQ(crc32(0, f.data() + idat + 4, static_cast<uInt>(len + 4)),
            (std::uint32_t{f[idat + 8 + len]} << 24) | (std::uint32_t{f[idat + 9 + len]} << 16) |
                (std::uint32_t{f[idat + 10 + len]} << 8) | f[idat + 11 + len]);
#endif
  EXPECT_THROW((void)encode_png_gray(4, 2, px), invalid_config);
  std::size_t w = 0, h = 0;
  const std::vector<double> two(2 * 4, 0.5);
  const auto grid = image_grid<double>(two, 2, 2, 2, 1, w, h);
  EXPECT_EQ(w, 7u);
  EXPECT_EQ(h, 4u);
  EXPECT_EQ(grid[1 * 7 + 1], 128);
  EXPECT_EQ(grid[0], 0);
}

} // namespace
