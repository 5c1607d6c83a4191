// Models and local training: backprop vs finite differences (incl. the FedProx term),
// determinism, validation, evaluation, and one real Fashion-MNIST run.
#include "fedpp/random/distributions.hpp"
#include "fedpp/simulation/fashion_mnist.hpp"
#include "fedpp/simulation/local_training.hpp"
#include "fedpp/simulation/mlp.hpp"
#include "fedpp/simulation/partitioners.hpp"
#include "fedpp/simulation/softmax_regression.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <numeric>
#include <vector>

using namespace fedpp::simulation;

namespace {

/// n examples of d features in [0, 1] with labels from a fixed random linear rule (learnable).
dataset synthetic(std::size_t n, std::size_t d, std::size_t classes, std::uint64_t seed) {
  fedpp::rng gen(seed);
  std::vector<float> w(classes * d);
  for (auto& v : w) v = static_cast<float>(fedpp::random::standard_normal(gen));
  std::vector<float> x(n * d);
  std::vector<std::uint8_t> y(n);
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t j = 0; j < d; ++j) x[i * d + j] = static_cast<float>(gen.uniform());
    std::size_t best = 0;
    double best_score = -1e300;
    for (std::size_t c = 0; c < classes; ++c) {
      double s = 0;
      for (std::size_t j = 0; j < d; ++j) s += w[c * d + j] * (x[i * d + j] - 0.5);
      if (s > best_score) best_score = s, best = c;
    }
    y[i] = static_cast<std::uint8_t>(best);
  }
  return dataset(std::move(x), std::move(y), d, classes);
}

/// Central-difference check of objective_and_gradient at every coordinate (double precision).
template <class M>
void check_gradient(const M& model, std::vector<double> params, const dataset_view& data,
                    const std::vector<double>& global, double mu) {
  std::vector<double> grad(params.size()), scratch(params.size());
  (void)objective_and_gradient(model, std::span<const double>(params), data, std::span<double>(grad), global,
                               mu);
  const double h = 1e-6;
  double max_err = 0;
  for (std::size_t i = 0; i < params.size(); ++i) {
    const double saved = params[i];
    params[i] = saved + h;
    const double up = objective_and_gradient(model, std::span<const double>(params), data,
                                             std::span<double>(scratch), global, mu);
    params[i] = saved - h;
    const double down = objective_and_gradient(model, std::span<const double>(params), data,
                                               std::span<double>(scratch), global, mu);
    params[i] = saved;
    const double numeric = (up - down) / (2 * h);
    max_err = std::max(max_err, std::abs(numeric - grad[i]) / std::max(1.0, std::abs(numeric)));
  }
  EXPECT_LT(max_err, 1e-6);
}

std::vector<double> random_params(std::size_t n, std::uint64_t seed, double scale) {
  fedpp::rng gen(seed);
  std::vector<double> p(n);
  for (auto& v : p) v = scale * fedpp::random::standard_normal(gen);
  return p;
}

} // namespace

TEST(Models, LayoutsArePublished) {
  const mlp<float> net;
  const auto& l = net.layout();
  ASSERT_EQ(l.num_tensors(), 4U);
  EXPECT_EQ(l[0].name, "fc1.weight");
  EXPECT_EQ(l[0].shape, (fedpp::tensor_shape{200, 784}));
  EXPECT_EQ(l[1].name, "fc1.bias");
  EXPECT_EQ(l[2].shape, (fedpp::tensor_shape{10, 200}));
  EXPECT_EQ(l[3].name, "fc2.bias");
  EXPECT_EQ(l.total_size(), 200U * 784 + 200 + 10 * 200 + 10);
  const softmax_regression<float> sr;
  EXPECT_EQ(sr.layout().at("fc.weight").shape, (fedpp::tensor_shape{10, 784}));
  EXPECT_EQ(sr.layout().total_size(), 7850U);
  EXPECT_EQ(softmax_regression<double>(3, 2).layout()[0].type, fedpp::dtype::f64);
  EXPECT_THROW(mlp<float>(0, 3, 2), fedpp::invalid_config);
  EXPECT_THROW(softmax_regression<float>(4, 0), fedpp::invalid_config);
}

TEST(Models, InitializationIsSeededAndScaled) {
  const mlp<float> net(50, 20, 4);
  const auto a = net.make_parameters(3), b = net.make_parameters(3), c = net.make_parameters(4);
  EXPECT_EQ(a, b);
  EXPECT_FALSE(a == c);
  const auto w1 = a.tensor("fc1.weight").span();
  const double limit = std::sqrt(6.0 / 50);
  double sum_sq = 0;
  for (float v : w1) {
    EXPECT_LE(std::abs(v), limit);
    sum_sq += double{v} * v;
  }
  // Var of U(±L) is L²/3.
  EXPECT_NEAR(sum_sq / static_cast<double>(w1.size()), limit * limit / 3, 0.1 * limit * limit / 3);
  for (float v : a.tensor("fc1.bias").span()) EXPECT_EQ(v, 0.0F);
}

TEST(Models, SoftmaxRegressionGradientMatchesFiniteDifferences) {
  const auto data = synthetic(13, 6, 4, 1);
  const softmax_regression<double> model(6, 4);
  const auto p = random_params(model.layout().total_size(), 2, 0.5);
  check_gradient(model, p, data, {}, 0.0);
  check_gradient(model, p, data, random_params(p.size(), 3, 0.5), 0.7); // with FedProx
}

TEST(Models, MlpGradientMatchesFiniteDifferences) {
  const auto data = synthetic(11, 5, 3, 4);
  const mlp<double> model(5, 7, 3);
  const auto p = random_params(model.layout().total_size(), 5, 0.6);
  check_gradient(model, p, data, {}, 0.0);
  check_gradient(model, p, data, random_params(p.size(), 6, 0.6), 0.3);
  // On a subset view too (index list with a repeat).
  const std::vector<std::size_t> idx{3, 0, 3, 9};
  check_gradient(model, p, dataset_view(data, idx), {}, 0.0);
}

TEST(Models, EvaluateMatchesAHandComputedCase) {
  // 2 features, 2 classes, W = I, b = 0: logits equal the features.
  dataset data({1, 0, 0, 2, 3, 1}, {0, 0, 0}, 2, 2);
  const softmax_regression<double> model(2, 2);
  const std::vector<double> p{1, 0, 0, 1, 0, 0};
  const auto ev = evaluate(model, std::span<const double>(p), data, 2);
  EXPECT_EQ(ev.num_examples, 3U);
  EXPECT_DOUBLE_EQ(ev.accuracy, 2.0 / 3.0);
  const auto ce = [](double z0, double z1) { return std::log(std::exp(z0) + std::exp(z1)) - z0; };
  EXPECT_NEAR(ev.mean_loss, (ce(1, 0) + ce(0, 2) + ce(3, 1)) / 3, 1e-12);
  const dataset empty({}, {}, 2, 2);
  EXPECT_EQ(evaluate(model, std::span<const double>(p), empty).num_examples, 0U);
}

TEST(LocalTrain, LearnsAndIsDeterministicPerClientAndRound) {
  const auto data = synthetic(400, 8, 3, 7);
  const mlp<float> model(8, 16, 3);
  const auto init = model.make_parameters(1);
  const auto before = evaluate(model, init.span(), data);
  auto a = init, b = init, c = init;
  const sgd_config cfg{5, 16, 0.2, 0};
  const auto ra = local_train(model, a.span(), data, cfg, 9, 3, 1);
  (void)local_train(model, b.span(), data, cfg, 9, 3, 1);
  (void)local_train(model, c.span(), data, cfg, 9, 3, 2);
  EXPECT_EQ(a, b);
  EXPECT_FALSE(a == c); // another round shuffles differently
  EXPECT_EQ(ra.num_examples, 2000U);
  EXPECT_EQ(ra.num_steps, 5U * 25);
  const auto after = evaluate(model, a.span(), data);
  EXPECT_LT(after.mean_loss, 0.7 * before.mean_loss);
  EXPECT_GT(after.accuracy, 0.75);
}

TEST(LocalTrain, PartialLastBatchAndSubsets) {
  const auto data = synthetic(50, 4, 2, 3);
  const softmax_regression<float> model(4, 2);
  auto p = model.make_parameters(2);
  const std::vector<std::size_t> idx{1, 5, 7, 11, 13, 17, 19};
  const auto r = local_train(model, p.span(), dataset_view(data, idx), sgd_config{2, 3, 0.1, 0}, 1, 0, 0);
  EXPECT_EQ(r.num_examples, 14U);
  EXPECT_EQ(r.num_steps, 6U); // 3 + 3 + 1 per epoch
  auto q = model.make_parameters(2);
  const auto none = local_train(model, q.span(), dataset_view(data, std::span<const std::size_t>{}),
                                sgd_config{2, 3, 0.1, 0}, 1, 0, 0);
  EXPECT_EQ(none.num_steps, 0U);
  EXPECT_EQ(q, model.make_parameters(2));
}

TEST(LocalTrain, FedProxPullsTowardsTheGlobalModel) {
  const auto data = synthetic(200, 6, 3, 5);
  const softmax_regression<float> model(6, 3);
  const auto global = model.make_parameters(8);
  auto plain = global, prox = global, prox_explicit = global;
  (void)local_train(model, plain.span(), data, sgd_config{5, 10, 0.1, 0}, 1, 2, 3);
  (void)local_train(model, prox.span(), data, sgd_config{5, 10, 0.1, 1.0}, 1, 2, 3);
  (void)local_train(model, prox_explicit.span(), data, sgd_config{5, 10, 0.1, 1.0}, 1, 2, 3, global.span());
  EXPECT_EQ(prox, prox_explicit); // empty global = the starting parameters
  double d_plain = 0, d_prox = 0;
  for (std::size_t i = 0; i < global.size(); ++i) {
    d_plain += std::pow(plain.span()[i] - global.span()[i], 2);
    d_prox += std::pow(prox.span()[i] - global.span()[i], 2);
  }
  EXPECT_LT(d_prox, 0.8 * d_plain);
  // From a round_config.
  fedpp::round_config rc;
  rc.local_epochs = 3;
  rc.batch_size = 7;
  rc.learning_rate = 0.05;
  rc.extra["fedprox.mu"] = "0.01";
  const auto cfg = sgd_config::from(rc);
  EXPECT_EQ(cfg.epochs, 3U);
  EXPECT_EQ(cfg.batch_size, 7U);
  EXPECT_DOUBLE_EQ(cfg.learning_rate, 0.05);
  EXPECT_DOUBLE_EQ(cfg.proximal_mu, 0.01);
}

// FedRep's frozen part (personalization/sharing_plan.hpp's frozen_ranges): the listed ranges keep
// their values (even under FedProx's term), every other parameter moves; a range outside the
// parameters is refused before anything changes.
TEST(LocalTrain, FrozenRangesDoNotMove) {
  const auto data = synthetic(60, 4, 3, 2);
  const softmax_regression<float> model(4, 3);
  const auto init = model.make_parameters(3);
  auto p = init;
  const std::vector<std::pair<std::size_t, std::size_t>> frozen{{0, 4}, {10, 2}};
  (void)local_train(model, p.span(), data, sgd_config{2, 8, 0.1, 0.5}, 1, 0, 0, {}, frozen);
  std::size_t moved = 0;
  for (std::size_t i = 0; i < p.size(); ++i) {
    const bool is_frozen = i < 4 || (i >= 10 && i < 12);
    if (is_frozen)
      EXPECT_EQ(p.span()[i], init.span()[i]) << i;
    else
      moved += p.span()[i] != init.span()[i] ? 1 : 0;
  }
  EXPECT_EQ(moved, p.size() - 6);
  auto q = init;
  const std::vector<std::pair<std::size_t, std::size_t>> outside{{p.size() - 1, 2}};
  EXPECT_THROW((void)local_train(model, q.span(), data, sgd_config{}, 1, 0, 0, {}, outside),
               fedpp::invalid_config);
  EXPECT_EQ(q, init);
}

TEST(LocalTrain, InvalidInputLeavesParametersUnchanged) {
  const auto data = synthetic(20, 4, 3, 1);
  const softmax_regression<float> model(4, 3);
  const auto init = model.make_parameters(1);
  auto p = init;
  EXPECT_THROW((void)local_train(model, p.span(), data, sgd_config{1, 0, 0.1, 0}, 1, 0, 0),
               fedpp::invalid_config);
  EXPECT_THROW((void)local_train(model, p.span(), data, sgd_config{1, 4, 0.0, 0}, 1, 0, 0),
               fedpp::invalid_config);
  EXPECT_THROW((void)local_train(model, p.span(), data, sgd_config{1, 4, 0.1, -1}, 1, 0, 0),
               fedpp::invalid_config);
  EXPECT_THROW((void)local_train(model, p.span().first(5), data, sgd_config{}, 1, 0, 0),
               fedpp::invalid_config);
  const std::vector<float> short_global(3);
  EXPECT_THROW((void)local_train(model, p.span(), data, sgd_config{1, 4, 0.1, 0.5}, 1, 0, 0, short_global),
               fedpp::invalid_config);
  const softmax_regression<float> wide(5, 3), few_classes(4, 2);
  auto pw = wide.make_parameters(1);
  EXPECT_THROW((void)local_train(wide, pw.span(), data, sgd_config{}, 1, 0, 0), fedpp::invalid_config);
  auto pf = few_classes.make_parameters(1);
  EXPECT_THROW((void)evaluate(few_classes, pf.span(), data), fedpp::invalid_config);
  EXPECT_EQ(p, init);
  const std::vector<std::size_t> bad{0, 20};
  EXPECT_THROW(dataset_view(data, bad), fedpp::invalid_config);
}

TEST(CentralTrain, ProcessesTheRequestedNumberOfExamples) {
  const auto data = synthetic(100, 5, 2, 2);
  const softmax_regression<float> model(5, 2);
  auto p = model.make_parameters(0), q = model.make_parameters(0);
  const auto r = train_central(model, p.span(), data, 250, 32, 0.1, 4);
  EXPECT_EQ(r.num_examples, 250U);
  EXPECT_EQ(r.num_steps, 4U + 4 + 2); // 32·3 + 4, twice, then 50 = 32 + 18
  (void)train_central(model, q.span(), data, 250, 32, 0.1, 4);
  EXPECT_EQ(p, q);
}

TEST(FashionMnist, SoftmaxRegressionBeatsSeventyPercent) {
  fashion_mnist fm;
  try {
    fm = load_fashion_mnist();
  } catch (const dataset_not_found& e) {
    GTEST_SKIP() << "Fashion-MNIST not installed: " << e.what();
  }
  ASSERT_EQ(fm.train.size(), 60000U);
  ASSERT_EQ(fm.test.size(), 10000U);
  ASSERT_EQ(fm.train.num_features(), 784U);
  for (std::size_t c = 0; c < 10; ++c)
    EXPECT_EQ(std::count(fm.train.labels().begin(), fm.train.labels().end(), c), 6000) << "class " << c;
  const auto minmax = std::minmax_element(fm.test.features().begin(), fm.test.features().end());
  EXPECT_EQ(*minmax.first, 0.0F);
  EXPECT_EQ(*minmax.second, 1.0F);

  const auto train_idx = partition_iid(fm.train.size(), 12, 1)[0]; // 5,000 random training images
  std::vector<std::size_t> test_idx(2000);
  std::iota(test_idx.begin(), test_idx.end(), std::size_t{0});
  const softmax_regression<float> model;
  auto w = model.make_parameters(1);
  const auto r =
      train_central(model, w.span(), dataset_view(fm.train, train_idx), train_idx.size(), 32, 0.1, 2);
  EXPECT_EQ(r.num_examples, 5000U);
  const auto ev = evaluate(model, w.span(), dataset_view(fm.test, test_idx));
  EXPECT_GT(ev.accuracy, 0.70) << "loss " << ev.mean_loss;
  EXPECT_LT(ev.mean_loss, 1.0);
}
