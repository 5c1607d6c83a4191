// Federated GANs (fedpp/gan): G's and D's backpropagation against central finite differences in
// double; the Fréchet distance against closed forms (diagonal, commuting and 2 × 2 Gaussians) and
// 0 for identical sets; G and D aggregated separately by fedpp::server (different policies, a
// discriminator kept local, a NaN report refused); the mode-collapse and loss monitors on
// constructed cases; every refusal with state unchanged; determinism; a small GAN that learns.
#include "fedpp/gan/frechet.hpp"
#include "fedpp/gan/gan_models.hpp"
#include "fedpp/gan/gan_plan.hpp"
#include "fedpp/gan/gan_trainer.hpp"
#include "fedpp/gan/mode_collapse.hpp"
#include "fedpp/orchestration/in_process_federation.hpp"
#include "fedpp/scheduling/uniform_sampler.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <string>
#include <vector>

namespace {

namespace gan = fedpp::gan;

gan::gan_architecture tiny_arch(std::size_t classes) {
  gan::gan_architecture a;
  a.data_dim = 6;
  a.noise_dim = 3;
  a.num_classes = classes;
  a.generator_hidden = {5, 4};
  a.discriminator_hidden = {5};
  return a;
}

std::vector<double> uniform_values(std::size_t n, std::uint64_t seed, double lo, double hi) {
  fedpp::rng gen(seed);
  std::vector<double> v(n);
  for (auto& x : v) x = lo + (hi - lo) * gen.uniform();
  return v;
}

// ---------------------------------------------------------------------------------------------
// Backpropagation vs finite differences (double)

class GanBackprop : public ::testing::TestWithParam<std::size_t> {};

TEST_P(GanBackprop, DiscriminatorGradientMatchesFiniteDifferences) {
  const std::size_t classes = GetParam();
  const gan::gan_model<double> model(tiny_arch(classes));
  std::vector<double> params(model.num_parameters());
  model.initialize(params, 7);
  const std::size_t nr = 4, nf = 3;
  const auto real = uniform_values(nr * 6, 1, 0, 1), fake = uniform_values(nf * 6, 2, 0, 1);
  std::vector<std::uint8_t> rl, fl;
  if (classes > 0) {
    rl = {0, 2, 1, 2};
    fl = {1, 0, 2};
  }
  gan::gan_model<double>::workspace ws;
  std::vector<double> grad(model.discriminator_size());
  const auto r = model.discriminator_loss_and_gradient(params, nr, real, rl, nf, fake, fl, grad, ws);
  EXPECT_GT(r.real_score, 0);
  EXPECT_LT(r.real_score, 1);
  std::vector<double> scratch(model.discriminator_size());
  auto loss_at = [&](const std::vector<double>& p) {
    return model.discriminator_loss_and_gradient(p, nr, real, rl, nf, fake, fl, scratch, ws).loss;
  };
  const double h = 1e-6;
  double worst = 0;
  for (std::size_t i = 0; i < model.discriminator_size(); ++i) {
    auto p = params;
    p[model.generator_size() + i] += h;
    const double up = loss_at(p);
    p[model.generator_size() + i] -= 2 * h;
    const double down = loss_at(p);
    const double fd = (up - down) / (2 * h);
    worst = std::max(worst, std::abs(fd - grad[i]) / std::max(1e-3, std::abs(fd) + std::abs(grad[i])));
  }
  EXPECT_LT(worst, 1e-6);
}

TEST_P(GanBackprop, GeneratorGradientMatchesFiniteDifferences) {
  const std::size_t classes = GetParam();
  const gan::gan_model<double> model(tiny_arch(classes));
  std::vector<double> params(model.num_parameters());
  model.initialize(params, 11);
  const std::size_t n = 5;
  const auto z = uniform_values(n * 3, 3, -2, 2);
  std::vector<std::uint8_t> labels;
  if (classes > 0) labels = {2, 0, 1, 1, 2};
  gan::gan_model<double>::workspace ws;
  std::vector<double> grad(model.generator_size()), scratch(model.generator_size());
  double score = 0;
  const double loss = model.generator_loss_and_gradient(params, n, z, labels, grad, ws, &score);
  EXPECT_GT(loss, 0);
  EXPECT_GT(score, 0);
  const double h = 1e-6;
  double worst = 0, largest = 0;
  for (std::size_t i = 0; i < model.generator_size(); ++i) {
    auto p = params;
    p[i] += h;
    const double up = model.generator_loss_and_gradient(p, n, z, labels, scratch, ws);
    p[i] -= 2 * h;
    const double down = model.generator_loss_and_gradient(p, n, z, labels, scratch, ws);
    const double fd = (up - down) / (2 * h);
    worst = std::max(worst, std::abs(fd - grad[i]) / std::max(1e-3, std::abs(fd) + std::abs(grad[i])));
    largest = std::max(largest, std::abs(grad[i]));
  }
  EXPECT_LT(worst, 1e-6);
  EXPECT_GT(largest, 1e-4); // the gradient reaches G through D
}

INSTANTIATE_TEST_SUITE_P(UnconditionalAndConditional, GanBackprop,
                         ::testing::Values(std::size_t{0}, std::size_t{3}));

TEST(GanModel, ForwardMatchesAHandComputedNetwork) {
  // G: 1 noise → 1 hidden (leaky) → 1 output (sigmoid); D: 1 → 1 (leaky) → logit. Layout order
  // gen.fc1.weight, gen.fc1.bias, gen.fc2.weight, gen.fc2.bias, then disc.fc1.*, disc.fc2.*.
  gan::gan_architecture a;
  a.data_dim = 1;
  a.noise_dim = 1;
  a.generator_hidden = {1};
  a.discriminator_hidden = {1};
  a.leaky_slope = 0.25;
  const gan::gan_model<double> model(a);
  ASSERT_EQ(model.num_parameters(), 8U);
  EXPECT_EQ(model.layout()[0].name, "gen.fc1.weight");
  EXPECT_EQ(model.layout()[4].name, "disc.fc1.weight");
  const std::vector<double> p{2.0, -1.0, 3.0, 0.5, -1.5, 0.25, 2.0, -0.5};
  gan::gan_model<double>::workspace ws;
  const std::vector<double> z{0.2};
  const auto g = model.generate(p, 1, z, {}, ws);
  const double h = 2.0 * 0.2 - 1.0; // -0.6 → leaky 0.25 · -0.6 = -0.15
  const double expected = 1.0 / (1.0 + std::exp(-(3.0 * 0.25 * h + 0.5)));
  EXPECT_NEAR(g[0], expected, 1e-15);
  std::vector<double> logit(1);
  model.discriminate(p, 1, std::vector<double>{0.4}, {}, logit, ws);
  const double hd = -1.5 * 0.4 + 0.25; // -0.35 → -0.0875
  EXPECT_NEAR(logit[0], 2.0 * 0.25 * hd - 0.5, 1e-15);
}

TEST(GanModel, Refusals) {
  auto bad = tiny_arch(0);
  bad.noise_dim = 0;
  EXPECT_THROW((gan::gan_model<float>(bad)), fedpp::invalid_config);
  bad = tiny_arch(0);
  bad.generator_hidden = {};
  EXPECT_THROW((gan::gan_model<float>(bad)), fedpp::invalid_config);
  bad = tiny_arch(300);
  EXPECT_THROW((gan::gan_model<float>(bad)), fedpp::invalid_config);
  bad = tiny_arch(0);
  bad.leaky_slope = 1.0;
  EXPECT_THROW((gan::gan_model<float>(bad)), fedpp::invalid_config);

  const gan::gan_model<float> model(tiny_arch(3));
  std::vector<float> p(model.num_parameters());
  model.initialize(p, 1);
  gan::gan_model<float>::workspace ws;
  const std::vector<float> z(2 * 3, 0.1F);
  const std::vector<std::uint8_t> labels{0, 1};
  EXPECT_THROW((void)model.generate(std::vector<float>(5), 2, z, labels, ws), fedpp::invalid_config);
  EXPECT_THROW((void)model.generate(p, 2, z, {}, ws), fedpp::invalid_config); // labels missing
  EXPECT_THROW((void)model.generate(p, 2, z, std::vector<std::uint8_t>{0, 3}, ws), fedpp::invalid_config);
  EXPECT_THROW((void)model.generate(p, 3, z, labels, ws), fedpp::invalid_config); // z too short
  std::vector<float> grad(model.generator_size() + 1);
  EXPECT_THROW((void)model.generator_loss_and_gradient(p, 2, z, labels, grad, ws), fedpp::invalid_config);
  const gan::gan_model<float> plain(tiny_arch(0));
  std::vector<float> q(plain.num_parameters());
  EXPECT_THROW((void)plain.generate(q, 2, z, labels, ws),
               fedpp::invalid_config); // labels to an unconditional GAN
  gan::adam_options adam;
  adam.beta1 = 1.0;
  EXPECT_THROW(adam.validate(), fedpp::invalid_config);
  gan::adam_state<float> state(3);
  std::vector<float> x(3), g2(2);
  EXPECT_THROW(state.step(x, g2, {}), fedpp::invalid_config);
  EXPECT_EQ(state.steps(), 0U);
}

TEST(GanModel, AdamFirstStepMovesEachParameterByTheLearningRate) {
  // With m̂ = g and v̂ = g² after one step, θ moves by −η g / (|g| + ε) ≈ −η sign(g).
  gan::adam_state<double> s(3);
  std::vector<double> x{1.0, 2.0, 3.0};
  const std::vector<double> g{0.5, -4.0, 1e-3};
  gan::adam_options o;
  o.learning_rate = 0.1;
  s.step(x, g, o);
  EXPECT_NEAR(x[0], 0.9, 1e-7);
  EXPECT_NEAR(x[1], 2.1, 1e-7);
  EXPECT_NEAR(x[2], 3.0 - 0.1 * 1e-3 / (1e-3 + 1e-8), 1e-12);
  // Second step against an independent evaluation of Algorithm 1 (β₁ = 0.5, β₂ = 0.999).
  const std::vector<double> g2{-0.1, 1.0, 2e-3};
  const double m1 = 0.5 * 0.5, v1 = 0.001 * 0.25;
  const double m2 = 0.5 * m1 + 0.5 * -0.1, v2 = 0.999 * v1 + 0.001 * 0.01;
  const double x1 = 1.0 - 0.1 * 0.5 / (0.5 + 1e-8);
  const double expected = x1 - 0.1 * (m2 / (1 - 0.25)) / (std::sqrt(v2 / (1 - 0.999 * 0.999)) + 1e-8);
  s.step(x, g2, o);
  EXPECT_NEAR(x[0], expected, 1e-12);
  EXPECT_EQ(s.steps(), 2U);
}

// ---------------------------------------------------------------------------------------------
// Fréchet distance

gan::gaussian_statistics stats(std::vector<double> mean, std::vector<double> cov) {
  gan::gaussian_statistics s;
  s.dim = mean.size();
  s.count = 100;
  s.mean = std::move(mean);
  s.covariance = std::move(cov);
  return s;
}

TEST(Frechet, DiagonalCovariancesMatchTheClosedForm) {
  const std::vector<double> m1{0.5, -1.0, 2.0, 0.0}, m2{1.5, 1.0, 2.0, -0.25};
  const std::vector<double> s1{1.0, 4.0, 0.25, 9.0}, s2{2.0, 1.0, 0.25, 0.5};
  std::vector<double> c1(16, 0.0), c2(16, 0.0);
  double expected = 0;
  for (std::size_t i = 0; i < 4; ++i) {
    c1[i * 5] = s1[i];
    c2[i * 5] = s2[i];
    expected += (m1[i] - m2[i]) * (m1[i] - m2[i]) + s1[i] + s2[i] - 2 * std::sqrt(s1[i] * s2[i]);
  }
  EXPECT_NEAR(gan::frechet_distance(stats(m1, c1), stats(m2, c2)), expected, 1e-10);
  EXPECT_NEAR(gan::frechet_distance(stats(m1, c1), stats(m1, c1)), 0.0, 1e-12);
}

TEST(Frechet, CommutingFullCovariancesMatchTheClosedForm) {
  // Σᵢ = R Dᵢ Rᵀ with one rotation R: the distance is that of the diagonal case.
  const double t = 0.6;
  const double r[4] = {std::cos(t), -std::sin(t), std::sin(t), std::cos(t)};
  auto rotate = [&](double d0, double d1) {
    std::vector<double> c(4, 0.0);
    for (int i = 0; i < 2; ++i)
      for (int j = 0; j < 2; ++j) c[i * 2 + j] = r[i * 2] * d0 * r[j * 2] + r[i * 2 + 1] * d1 * r[j * 2 + 1];
    return c;
  };
  const double expected = 1.0 + (3 + 0.5 - 2 * std::sqrt(1.5)) + (0.2 + 5 - 2 * std::sqrt(1.0));
  EXPECT_NEAR(gan::frechet_distance(stats({1, 0}, rotate(3, 0.2)), stats({0, 0}, rotate(0.5, 5))), expected,
              1e-10);
}

TEST(Frechet, NonCommutingTwoByTwoMatchesTheTraceDeterminantForm) {
  // For 2 × 2 P = Σ₁Σ₂ with eigenvalues λ₁, λ₂ ≥ 0: (Tr P^½)² = Tr P + 2 √det P.
  const std::vector<double> c1{2.0, 0.7, 0.7, 1.0}, c2{0.5, -0.3, -0.3, 3.0};
  const double p00 = 2.0 * 0.5 + 0.7 * -0.3, p11 = 0.7 * -0.3 + 1.0 * 3.0;
  const double det = (2.0 * 1.0 - 0.49) * (0.5 * 3.0 - 0.09);
  const double tr_sqrt = std::sqrt(p00 + p11 + 2 * std::sqrt(det));
  const double expected = 0.25 + 4.0 + (3.0 + 3.5 - 2 * tr_sqrt);
  EXPECT_NEAR(gan::frechet_distance(stats({0.5, 2}, c1), stats({0, 0}, c2)), expected, 1e-10);
}

TEST(Frechet, StatisticsOfSamplesAndIdenticalSets) {
  // feature_statistics against a naive two-pass reference; a set against itself gives 0.
  const std::size_t n = 50, d = 3;
  std::vector<float> x(n * d);
  fedpp::rng gen(5);
  for (std::size_t i = 0; i < n; ++i) {
    const double a = fedpp::random::standard_normal(gen), b = fedpp::random::standard_normal(gen);
    x[i * d] = static_cast<float>(a);
    x[i * d + 1] = static_cast<float>(0.5 * a + b);
    x[i * d + 2] = static_cast<float>(2 - b);
  }
  const auto s = gan::feature_statistics<float>(x, d);
  ASSERT_EQ(s.count, n);
  for (std::size_t j = 0; j < d; ++j) {
    double m = 0;
    for (std::size_t i = 0; i < n; ++i) m += x[i * d + j];
    m /= n;
    EXPECT_NEAR(s.mean[j], m, 1e-12);
    for (std::size_t k = 0; k < d; ++k) {
      double mk = 0, c = 0;
      for (std::size_t i = 0; i < n; ++i) mk += x[i * d + k];
      mk /= n;
      for (std::size_t i = 0; i < n; ++i) c += (x[i * d + j] - m) * (x[i * d + k] - mk);
      EXPECT_NEAR(s.covariance[j * d + k], c / (n - 1), 1e-12);
    }
  }
  EXPECT_NEAR(gan::frechet_distance<float>(x, x, d), 0.0, 1e-9);
  // A shifted copy: only the mean term, ‖δ‖² = 3 · 0.25.
  auto y = x;
  for (auto& v : y) v += 0.5F;
  EXPECT_NEAR(gan::frechet_distance<float>(x, y, d), 0.75, 1e-5);
}

TEST(Frechet, Refusals) {
  std::vector<float> x(12, 1.0F);
  EXPECT_THROW((void)gan::feature_statistics<float>(std::span<const float>(x).first(3), 3),
               fedpp::invalid_config);
  EXPECT_THROW((void)gan::feature_statistics<float>(x, 5), fedpp::invalid_config);
  EXPECT_THROW((void)gan::feature_statistics<float>(x, 0), fedpp::invalid_config);
  x[7] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_THROW((void)gan::feature_statistics<float>(x, 3), fedpp::invalid_config);
  EXPECT_THROW((void)gan::frechet_distance(stats({0, 0}, {1, 0, 0, 1}), stats({0}, {1})),
               fedpp::invalid_config);
  EXPECT_THROW((void)gan::frechet_distance(stats({0, 0}, {1, 0, 0}), stats({0, 0}, {1, 0, 0, 1})),
               fedpp::invalid_config);
  EXPECT_THROW((void)gan::frechet_distance(stats({0, 0}, {1, 0, 0, std::numeric_limits<double>::infinity()}),
                                           stats({0, 0}, {1, 0, 0, 1})),
               fedpp::invalid_config);
}

// ---------------------------------------------------------------------------------------------
// Mode collapse and instability monitors

TEST(ModeCollapse, CollapsedSamplesFlaggedDiverseNot) {
  const std::size_t n = 200, d = 8;
  std::vector<std::uint8_t> real_pred(n), diverse_pred(n), collapsed_pred(n, 3);
  std::vector<float> real(n * d), diverse(n * d), collapsed(n * d);
  fedpp::rng gen(9);
  for (std::size_t i = 0; i < n; ++i) {
    real_pred[i] = static_cast<std::uint8_t>(i % 10);
    diverse_pred[i] = static_cast<std::uint8_t>((i * 7) % 10);
    for (std::size_t k = 0; k < d; ++k) {
      real[i * d + k] = static_cast<float>(gen.uniform());
      diverse[i * d + k] = static_cast<float>(gen.uniform());
      collapsed[i * d + k] = static_cast<float>(0.5 + 0.01 * gen.uniform());
    }
  }
  EXPECT_NEAR(gan::class_entropy(real_pred, 10), std::log(10.0), 1e-12);
  EXPECT_EQ(gan::class_entropy(collapsed_pred, 10), 0.0);
  const auto ok = gan::assess_diversity<float>(diverse_pred, real_pred, 10, diverse, real, d);
  EXPECT_FALSE(ok.collapsed) << ok.reason;
  EXPECT_EQ(ok.classes_covered, 10U);
  EXPECT_NEAR(ok.distance_ratio, 1.0, 0.1);
  const auto bad = gan::assess_diversity<float>(collapsed_pred, real_pred, 10, collapsed, real, d);
  EXPECT_TRUE(bad.collapsed);
  EXPECT_EQ(bad.classes_covered, 1U);
  EXPECT_LT(bad.distance_ratio, 0.05);
  EXPECT_NE(bad.reason.find("class entropy"), std::string::npos) << bad.reason;
  EXPECT_NE(bad.reason.find("pairwise distance"), std::string::npos) << bad.reason;
  // Two classes only, spread kept: only the entropy flags it (log 2 / log 10 ≈ 0.30).
  std::vector<std::uint8_t> two(n);
  for (std::size_t i = 0; i < n; ++i) two[i] = static_cast<std::uint8_t>(i % 2);
  const auto half = gan::assess_diversity<float>(two, real_pred, 10, diverse, real, d);
  EXPECT_TRUE(half.collapsed);
  EXPECT_NEAR(half.entropy_ratio, std::log(2.0) / std::log(10.0), 1e-12);
  // Mean pairwise distance against a hand computation.
  const std::vector<double> three{0, 0, 3, 4, 6, 8};
  EXPECT_NEAR(gan::mean_pairwise_distance<double>(three, 2), (5.0 + 10.0 + 5.0) / 3, 1e-12);
  // Refusals.
  EXPECT_THROW((void)gan::class_entropy({}, 10), fedpp::invalid_config);
  EXPECT_THROW((void)gan::class_entropy(std::vector<std::uint8_t>{10}, 10), fedpp::invalid_config);
  EXPECT_THROW((void)gan::mean_pairwise_distance<double>(std::vector<double>{1, 2}, 2),
               fedpp::invalid_config);
  EXPECT_THROW((void)gan::assess_diversity<float>(diverse_pred, collapsed_pred, 10, diverse, real, d),
               fedpp::invalid_config); // the real set has zero entropy
  gan::collapse_thresholds t;
  t.min_entropy_ratio = 1.5;
  EXPECT_THROW((void)gan::assess_diversity<float>(diverse_pred, real_pred, 10, diverse, real, d, t),
               fedpp::invalid_config);
}

TEST(ModeCollapse, InstabilityMonitorFlagsAfterPatience) {
  gan::gan_instability_monitor m;
  EXPECT_FALSE(m.observe(0, 1.3, 0.8).any());
  EXPECT_FALSE(m.observe(1, 0.01, 6.0).any());
  EXPECT_FALSE(m.observe(2, 0.02, 7.0).any());
  const auto v = m.observe(3, 0.01, 8.0);
  EXPECT_TRUE(v.discriminator_wins);
  EXPECT_TRUE(v.generator_diverges);
  EXPECT_FALSE(m.observe(4, 1.0, 1.0).any()); // back to normal: counters restart
  EXPECT_FALSE(m.observe(5, 0.01, 1.0).any());
  EXPECT_TRUE(m.observe(6, std::numeric_limits<double>::quiet_NaN(), 1.0).non_finite);
  EXPECT_EQ(m.flagged().size(), 2U);
  gan::instability_thresholds bad;
  bad.patience = 0;
  EXPECT_THROW((gan::gan_instability_monitor(bad)), fedpp::invalid_config);
}

// ---------------------------------------------------------------------------------------------
// Training, the trainer and the server

/// Data: two modes in 8 dimensions (prototypes a and b plus small noise), labels = mode.
struct toy_data {
  std::vector<float> x;
  std::vector<std::uint8_t> y;
  static constexpr std::size_t dim = 8;
  explicit toy_data(std::size_t n, std::uint64_t seed = 3) {
    fedpp::rng gen(seed);
    for (std::size_t i = 0; i < n; ++i) {
      const std::uint8_t label = static_cast<std::uint8_t>(i % 2);
      for (std::size_t k = 0; k < dim; ++k) {
        const double proto = label == 0 ? (k < dim / 2 ? 0.85 : 0.15) : (k % 2 == 0 ? 0.8 : 0.2);
        x.push_back(static_cast<float>(proto + 0.05 * (gen.uniform() - 0.5)));
      }
      y.push_back(label);
    }
  }
  [[nodiscard]] gan::gan_data_view view(bool conditional) const {
    return {x.data(), y.size(), dim,
            conditional ? std::span<const std::uint8_t>(y) : std::span<const std::uint8_t>{}};
  }
};

gan::gan_architecture toy_arch(bool conditional) {
  gan::gan_architecture a;
  a.data_dim = toy_data::dim;
  a.noise_dim = 4;
  a.num_classes = conditional ? 2 : 0;
  a.generator_hidden = {16};
  a.discriminator_hidden = {16};
  return a;
}

gan::gan_training_options fast_adam() {
  gan::gan_training_options o;
  o.generator.learning_rate = 5e-3;
  o.discriminator.learning_rate = 5e-3;
  return o;
}

TEST(GanTraining, ASmallGanLearnsTwoModes) {
  // A conditional GAN on two prototypes: the Fréchet distance (in data space) between its samples
  // and the data falls by far from the initial one, and each label's samples approach its prototype.
  const toy_data data(512);
  const gan::gan_model<float> model(toy_arch(true));
  std::vector<float> params(model.num_parameters());
  model.initialize(params, 21);
  gan::gan_learner<float> learner(model, fast_adam(), fedpp::rng(4));
  std::vector<std::size_t> rows(data.y.size());
  std::iota(rows.begin(), rows.end(), std::size_t{0});
  auto sample_fid = [&] {
    fedpp::rng g(77);
    const std::size_t n = 256;
    std::vector<float> z(n * 4);
    gan::fill_standard_normal(std::span<float>(z), g);
    std::vector<std::uint8_t> labels(n);
    for (std::size_t i = 0; i < n; ++i) labels[i] = static_cast<std::uint8_t>(i % 2);
    gan::gan_model<float>::workspace ws;
    const auto s = model.generate(params, n, z, labels, ws);
    return gan::frechet_distance<float>(std::span<const float>(s.data(), s.size()),
                                        std::span<const float>(data.x).first(n * toy_data::dim),
                                        toy_data::dim);
  };
  const double before = sample_fid();
  const auto stats = learner.train_epochs(model, params, data.view(true), rows, 80, 32);
  const double after = sample_fid();
  EXPECT_EQ(stats.steps, 80U * 16U);
  EXPECT_EQ(learner.steps(), 80U * 16U);
  EXPECT_TRUE(std::isfinite(stats.discriminator_loss));
  EXPECT_LT(after, before / 5) << "Frechet distance before " << before << ", after " << after;
  // The label steers the sample: label 0 → high first half (0.85 / 0.15), label 1 → high even coordinates.
  fedpp::rng g(78);
  std::vector<float> z(2 * 4);
  gan::fill_standard_normal(std::span<float>(z), g);
  gan::gan_model<float>::workspace ws;
  const auto s = model.generate(params, 2, z, std::vector<std::uint8_t>{0, 1}, ws);
  const std::size_t d = toy_data::dim;
  double first_half = 0, second_half = 0, even = 0, odd = 0;
  for (std::size_t k = 0; k < d; ++k) {
    (k < d / 2 ? first_half : second_half) += s[k];
    (k % 2 == 0 ? even : odd) += s[d + k];
  }
  EXPECT_GT(first_half - second_half, 0.5 * d / 2);
  EXPECT_GT(even - odd, 0.5 * d / 2);
}

TEST(GanTraining, DeterministicAndRefusalsLeaveTheLearnerUnchanged) {
  const toy_data data(64);
  const gan::gan_model<float> model(toy_arch(false));
  std::vector<float> init(model.num_parameters());
  model.initialize(init, 1);
  std::vector<std::size_t> rows(64);
  std::iota(rows.begin(), rows.end(), std::size_t{0});
  gan::gan_learner<float> a(model, fast_adam(), fedpp::rng(8)), b(model, fast_adam(), fedpp::rng(8));
  auto pa = init, pb = init;
  // Refused calls on b first: nothing changes, so b's run equals a's bit for bit.
  auto wrong_dim = data.view(false);
  wrong_dim.dim = 7;
  EXPECT_THROW(b.train_epochs(model, pb, wrong_dim, rows, 1, 8), fedpp::invalid_config);
  EXPECT_THROW(b.train_epochs(model, pb, data.view(false), std::vector<std::size_t>{0, 64}, 1, 8),
               fedpp::invalid_config);
  EXPECT_THROW(b.train_epochs(model, pb, data.view(false), rows, 0, 8), fedpp::invalid_config);
  EXPECT_THROW(b.train_epochs(model, pb, data.view(false), rows, 1, 0), fedpp::invalid_config);
  EXPECT_EQ(pb, init);
  EXPECT_EQ(b.steps(), 0U);
  a.train_epochs(model, pa, data.view(false), rows, 2, 8);
  b.train_epochs(model, pb, data.view(false), rows, 2, 8);
  EXPECT_EQ(pa, pb);
  EXPECT_NE(pa, init);
  gan::gan_training_options bad = fast_adam();
  bad.discriminator_steps = 0;
  EXPECT_THROW((gan::gan_learner<float>(model, bad, fedpp::rng(1))), fedpp::invalid_config);
}

/// Three clients of 40, 24 and 16 rows of the toy data.
gan::federated_gan_setup
toy_setup(const toy_data& data, bool conditional,
          gan::discriminator_sharing sharing = gan::discriminator_sharing::federated) {
  gan::federated_gan_setup s;
  s.architecture = toy_arch(conditional);
  s.training = fast_adam();
  s.data = data.view(conditional);
  s.rows.resize(3);
  for (std::size_t i = 0; i < 80; ++i) s.rows[i < 40 ? 0 : i < 64 ? 1 : 2].push_back(i);
  s.seed = 17;
  s.sharing = sharing;
  return s;
}

fedpp::round_config toy_config() {
  fedpp::round_config c;
  c.local_epochs = 2;
  c.batch_size = 8;
  return c;
}

TEST(FederatedGanTrainer, RefusalsLeaveTheClientUnchanged) {
  const toy_data data(80);
  const gan::federated_gan_trainer trainer(toy_setup(data, true));
  fedpp::flat_model<float> global(trainer.layout());
  trainer.model().initialize(global.span(), 3);
  const auto view = global.view();
  EXPECT_THROW((void)trainer(3, view, toy_config()), fedpp::invalid_config); // unknown client
  auto cfg = toy_config();
  cfg.local_epochs = 0;
  EXPECT_THROW((void)trainer(0, view, cfg), fedpp::invalid_config);
  cfg = toy_config();
  cfg.batch_size = 0;
  EXPECT_THROW((void)trainer(0, view, cfg), fedpp::invalid_config);
  fedpp::flat_model<float> poisoned = global;
  poisoned.span()[5] = std::numeric_limits<float>::infinity();
  EXPECT_THROW((void)trainer(0, poisoned.view(), toy_config()), fedpp::invalid_config);
  fedpp::model_layout other;
  other.add("gen.fc1.weight", {3, 3});
  fedpp::flat_model<float> small(other);
  EXPECT_THROW((void)trainer(0, small.view(), toy_config()), fedpp::invalid_config);
  // After the refusals client 0 trains exactly as a fresh trainer's client 0.
  const gan::federated_gan_trainer fresh(toy_setup(data, true));
  const auto a = trainer(0, view, toy_config());
  const auto b = fresh(0, view, toy_config());
  EXPECT_EQ(a.model, b.model);
  EXPECT_EQ(a.num_examples, 40.0);
  EXPECT_EQ(a.kind, fedpp::update_kind::weights);
  for (const char* key : {"d_loss", "g_loss", "d_real", "d_fake"})
    EXPECT_TRUE(a.metrics.contains(key)) << key;

  // Setup refusals.
  auto s = toy_setup(data, true);
  s.rows[1].clear();
  EXPECT_THROW((gan::federated_gan_trainer(s)), fedpp::invalid_config);
  s = toy_setup(data, true);
  s.rows[2].push_back(80);
  EXPECT_THROW((gan::federated_gan_trainer(s)), fedpp::invalid_config);
  s = toy_setup(data, true);
  s.rows.clear();
  EXPECT_THROW((gan::federated_gan_trainer(s)), fedpp::invalid_config);
  s = toy_setup(data, true);
  auto labels = data.y;
  labels[4] = 2; // not below 2 classes
  s.data.labels = labels;
  EXPECT_THROW((gan::federated_gan_trainer(s)), fedpp::invalid_config);
}

/// One round of `trainer` on a GAN server over the in-process transport; returns the server model.
template <class Trainer>
fedpp::round_metrics one_round(const Trainer& trainer, const fedpp::model_layout& layout,
                               fedpp::flat_model<float>& model, fedpp::group_plan<float> plan,
                               std::size_t clients, std::size_t min_reports) {
  std::vector<fedpp::client_id> ids(clients);
  std::iota(ids.begin(), ids.end(), fedpp::client_id{0});
  fedpp::in_process_federation<float, Trainer> federation(ids, trainer, layout, 2);
  fedpp::server_options options;
  options.client_config = toy_config();
  options.min_reports = min_reports;
  gan::gan_server<fedpp::uniform_sampler> server(fedpp::flat_model<float>(model),
                                                 fedpp::uniform_sampler(clients, clients), {}, options, {},
                                                 {}, gan::gan_aggregator_factory(std::move(plan)));
  const auto m = server.run_round(federation.server_endpoint());
  std::copy(server.model().span().begin(), server.model().span().end(), model.span().begin());
  return m;
}

TEST(FederatedGanServer, GeneratorAndDiscriminatorAggregatedSeparately) {
  // Different policies per group: G weighted by examples, D uniformly. Client k returns
  // constant weights per group, so the result shows which policy each half went through.
  const gan::gan_model<float> model(toy_arch(false));
  const std::size_t g = model.generator_size();
  auto trainer = [g](fedpp::client_id id, const fedpp::host_model_view<const float>& global,
                     const fedpp::round_config&) {
    auto m = fedpp::flat_model<float>::copy_of(global);
    for (std::size_t i = 0; i < m.size(); ++i)
      m.span()[i] = static_cast<float>(i < g ? id + 1 : 10 * (id + 1));
    return fedpp::client_result<float>{
        std::move(m), fedpp::update_kind::weights, double(id == 2 ? 6 : 1), {}};
  };
  fedpp::group_plan<float> plan;
  plan.by_prefix(gan::generator_group, "gen.",
                 [](const fedpp::model_layout& l) { return fedpp::fedavg<float>(l); })
      .by_prefix(gan::discriminator_group, "disc.", [](const fedpp::model_layout& l) {
        return fedpp::fedavg<float>(l, fedpp::weighting::uniform);
      });
  fedpp::flat_model<float> global(model.layout());
  const auto m = one_round(trainer, model.layout(), global, plan, 3, 3);
  ASSERT_TRUE(m.succeeded);
  const double gen_mean = (1.0 + 2.0 + 6 * 3.0) / 8, disc_mean = (10.0 + 20.0 + 30.0) / 3;
  for (std::size_t i = 0; i < global.size(); ++i)
    ASSERT_NEAR(global.span()[i], i < g ? gen_mean : disc_mean, 1e-5) << i;
}

TEST(FederatedGanServer, OneRoundEqualsTheWeightedMeanOfTheClientsTraining) {
  const toy_data data(80);
  const gan::federated_gan_trainer trainer(toy_setup(data, true)), reference(toy_setup(data, true));
  fedpp::flat_model<float> global(trainer.layout());
  trainer.model().initialize(global.span(), 5);
  const auto start = global;
  const auto m = one_round(trainer, trainer.layout(), global, gan::gan_group_plan(), 3, 3);
  ASSERT_TRUE(m.succeeded);
  EXPECT_EQ(m.reported, 3U);
  EXPECT_EQ(m.rejected, 0U);
  EXPECT_TRUE(m.client_metrics.contains("g_loss"));
  std::vector<double> mean(global.size(), 0.0);
  const double weights[3] = {40, 24, 16};
  for (fedpp::client_id c = 0; c < 3; ++c) {
    const auto r = reference(c, start.view(), toy_config());
    for (std::size_t i = 0; i < mean.size(); ++i) mean[i] += weights[c] / 80.0 * r.model.span()[i];
  }
  double err = 0;
  for (std::size_t i = 0; i < mean.size(); ++i) err = std::max(err, std::abs(mean[i] - global.span()[i]));
  EXPECT_LT(err, 1e-5);
  EXPECT_NE(global, start);
}

TEST(FederatedGanServer, LocalDiscriminatorStaysOnTheClients) {
  const toy_data data(80);
  const auto sharing = gan::discriminator_sharing::local;
  const gan::federated_gan_trainer trainer(toy_setup(data, false, sharing));
  fedpp::flat_model<float> global(trainer.layout());
  trainer.model().initialize(global.span(), 6);
  const auto start = global;
  const std::size_t g = trainer.model().generator_size();
  auto m = one_round(trainer, trainer.layout(), global, gan::gan_group_plan(sharing), 3, 3);
  ASSERT_TRUE(m.succeeded);
  // The server's D did not move (a zero delta); its G did.
  EXPECT_TRUE(std::equal(global.span().begin() + g, global.span().end(), start.span().begin() + g));
  EXPECT_FALSE(std::equal(global.span().begin(), global.span().begin() + g, start.span().begin()));
  // Each client holds its own trained D, different from the others' and from the server's.
  const auto d0 = trainer.local_discriminator(0), d1 = trainer.local_discriminator(1);
  ASSERT_EQ(d0.size(), trainer.model().discriminator_size());
  EXPECT_NE(d0, d1);
  EXPECT_FALSE(std::equal(d0.begin(), d0.end(), start.span().begin() + g));
  // The next round starts each client from its own D, not the broadcast one.
  m = one_round(trainer, trainer.layout(), global, gan::gan_group_plan(sharing), 3, 3);
  ASSERT_TRUE(m.succeeded);
  EXPECT_NE(trainer.local_discriminator(0), d0);
}

TEST(FederatedGanServer, NonFiniteReportRefusedByTheCheckedAggregation) {
  // Client 1 diverges (a NaN in D, then an Inf in G): the grouped aggregator refuses it before
  // any group absorbs it, the round goes on with the others.
  const toy_data data(80);
  const gan::federated_gan_trainer inner(toy_setup(data, false)), reference(toy_setup(data, false));
  auto trainer = [inner](fedpp::client_id id, const fedpp::host_model_view<const float>& global,
                         const fedpp::round_config& config) {
    auto r = inner(id, global, config);
    if (id == 1) {
      r.model.span()[r.model.size() - 1] = std::numeric_limits<float>::quiet_NaN();
      r.model.span()[0] = std::numeric_limits<float>::infinity();
    }
    return r;
  };
  fedpp::flat_model<float> global(inner.layout());
  inner.model().initialize(global.span(), 8);
  const auto start = global;
  const auto m = one_round(trainer, inner.layout(), global, gan::gan_group_plan(), 3, 2);
  ASSERT_TRUE(m.succeeded);
  EXPECT_EQ(m.reported, 2U);
  EXPECT_EQ(m.rejected, 1U);
  const auto r0 = reference(0, start.view(), toy_config()), r2 = reference(2, start.view(), toy_config());
  for (std::size_t i = 0; i < global.size(); ++i) {
    ASSERT_TRUE(std::isfinite(global.span()[i]));
    ASSERT_NEAR(global.span()[i], (40.0 * r0.model.span()[i] + 16.0 * r2.model.span()[i]) / 56.0, 1e-5) << i;
  }
}

} // namespace
