// Knowledge distillation (docs/distillation.md): the loss and its gradients against finite
// differences in double (logits, then through softmax regression and the MLP), the ensemble teacher
// against hand computations, the distiller (reduces the KL on proxy data, early stopping,
// determinism, refusals with the parameters unchanged), FedDF's aggregator (the teacher is the mean
// of the client models' logits, refusals leave no trace) and FedDF on fedpp::server (distilled every
// round, a hostile client refused and counted, bit-identical reruns).
#include "fedpp/distillation/distillation.hpp"
#include "fedpp/orchestration/in_process_federation.hpp"
#include "fedpp/orchestration/server.hpp"
#include "fedpp/random/distributions.hpp"
#include "fedpp/random/rng.hpp"
#include "fedpp/scheduling/uniform_sampler.hpp"
#include "fedpp/simulation/dataset.hpp"
#include "fedpp/simulation/distillation_adapter.hpp"
#include "fedpp/simulation/local_training.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <span>
#include <string>
#include <vector>

namespace {

namespace fd = fedpp::distillation;
namespace sim = fedpp::simulation;
using testing::HasSubstr;
using softmax_d = sim::distillation_adapter<sim::softmax_regression<double>>;
using mlp_d = sim::distillation_adapter<sim::mlp<double>>;
using softmax_f = sim::distillation_adapter<sim::softmax_regression<float>>;

constexpr double nan = std::numeric_limits<double>::quiet_NaN();

template <class V>
std::vector<V> normals(std::size_t n, std::uint64_t seed, double scale = 1.0) {
  fedpp::rng gen(seed);
  std::vector<V> v(n);
  for (auto& x : v) x = static_cast<V>(scale * fedpp::random::standard_normal(gen));
  return v;
}

/// The mean loss alone (no gradient) of `student` against teacher logits `t`.
double loss_of(std::span<const double> student, std::span<const double> t, std::span<const std::uint8_t> y,
               std::size_t c, const fd::loss_options& o) {
  std::vector<double> p(t.size());
  fd::soft_targets<double>(t, c, o.temperature, p);
  return fd::distillation_loss<double>(student, p, y, c, o, {});
}

// --- The loss ------------------------------------------------------------------------------------

TEST(DistillationLoss, HandComputedTwoClassKl) {
  // Teacher logits (0, ln 3): p = (1/4, 3/4); student logits (0, 0): q = (1/2, 1/2).
  // KL(p‖q) = 1/4 ln(1/2) + 3/4 ln(3/2) = 0.130812...; T = 1, α = 0.
  const std::vector<double> t{0.0, std::log(3.0)}, s{0.0, 0.0};
  const double kl = 0.25 * std::log(0.5) + 0.75 * std::log(1.5);
  EXPECT_NEAR(loss_of(s, t, {}, 2, {}), kl, 1e-15);
  // The gradient T (q − p) / n = (1/4, −1/4).
  std::vector<double> p(2), g(2);
  fd::soft_targets<double>(t, 2, 1.0, p);
  (void)fd::distillation_loss<double>(s, p, {}, 2, {}, g);
  EXPECT_NEAR(g[0], 0.25, 1e-15);
  EXPECT_NEAR(g[1], -0.25, 1e-15);
  // A student equal to its teacher has zero loss and zero gradient, at any temperature.
  for (const double T : {1.0, 4.0}) {
    fd::soft_targets<double>(t, 2, T, p);
    EXPECT_NEAR(fd::distillation_loss<double>(t, p, {}, 2, {T, 0.0}, g), 0.0, 1e-15);
    EXPECT_NEAR(g[0], 0.0, 1e-15);
  }
}

TEST(DistillationLoss, GradientMatchesFiniteDifferences) {
  const std::size_t n = 5, c = 4;
  const auto t = normals<double>(n * c, 1, 2.0);
  const auto s0 = normals<double>(n * c, 2, 2.0);
  const std::vector<std::uint8_t> y{0, 3, 1, 2, 3};
  for (const fd::loss_options o : {fd::loss_options{1.0, 0.0}, fd::loss_options{3.0, 0.0},
                                   fd::loss_options{2.5, 0.3}, fd::loss_options{0.5, 1.0}}) {
    std::vector<double> p(n * c), g(n * c);
    fd::soft_targets<double>(t, c, o.temperature, p);
    (void)fd::distillation_loss<double>(s0, p, y, c, o, g);
    for (std::size_t i = 0; i < n * c; ++i) {
      const double h = 1e-6;
      auto plus = s0, minus = s0;
      plus[i] += h;
      minus[i] -= h;
      const double numeric = (loss_of(plus, t, y, c, o) - loss_of(minus, t, y, c, o)) / (2 * h);
      EXPECT_NEAR(g[i], numeric, 1e-8)
          << "T " << o.temperature << " alpha " << o.hard_label_weight << " i " << i;
    }
  }
}

/// ∂L/∂θ through the model (logits, then backward) against central differences of L(θ).
template <class Adapter>
void expect_parameter_gradient(const Adapter& a, std::uint64_t seed) {
  const std::size_t n = 6, f = a.num_features(), c = a.num_classes(), d = a.layout().total_size();
  std::vector<double> theta(d);
  a.model().initialize(theta, seed);
  for (auto& v : theta) v += 0.05; // non-zero biases, so ReLUs are not all on their kink
  const auto x = normals<double>(n * f, seed + 1);
  const auto t = normals<double>(n * c, seed + 2, 2.0);
  const std::vector<std::uint8_t> y{0, 1, 2, 0, 1, 2};
  const fd::loss_options o{2.0, 0.25};
  std::vector<double> p(n * c);
  fd::soft_targets<double>(t, c, o.temperature, p);
  typename Adapter::workspace ws;
  const auto loss_at = [&](std::span<const double> th) {
    std::vector<double> z(n * c);
    a.logits(th, x, z, ws);
    return fd::distillation_loss<double>(z, p, y, c, o, {});
  };
  std::vector<double> z(n * c), dz(n * c), grad(d);
  a.logits(theta, x, z, ws);
  (void)fd::distillation_loss<double>(z, p, y, c, o, dz);
  a.backward(theta, x, dz, grad, ws);
  fedpp::rng pick(seed + 3);
  for (int k = 0; k < 40; ++k) {
    const std::size_t i = pick.below(d);
    const double h = 1e-6;
    auto plus = theta, minus = theta;
    plus[i] += h;
    minus[i] -= h;
    EXPECT_NEAR(grad[i], (loss_at(plus) - loss_at(minus)) / (2 * h), 1e-7) << "parameter " << i;
  }
}

TEST(DistillationLoss, ParameterGradientsThroughTheSimulationModels) {
  expect_parameter_gradient(softmax_d(sim::softmax_regression<double>(5, 3)), 11);
  expect_parameter_gradient(mlp_d(sim::mlp<double>(5, 7, 3)), 12);
}

// --- The ensemble teacher ------------------------------------------------------------------------

TEST(EnsembleTeacher, MeanAndMedianOfLogitsByHand) {
  // Two rows, two classes, three members.
  const std::vector<std::vector<float>> members{{1, 2, 3, 4}, {3, 0, 3, 10}, {-1, 7, 0, 4}};
  fd::ensemble_teacher<float> mean(2, 2), median(2, 2, fd::ensemble_rule::median_logits);
  for (const auto& m : members) {
    mean.add(m);
    median.add(m);
  }
  EXPECT_THAT(mean.logits(), testing::ElementsAre(1.0, 3.0, 2.0, 6.0));
  EXPECT_THAT(median.logits(), testing::ElementsAre(1.0, 2.0, 3.0, 4.0));
  // An even count: the mean of the two middle values; one outlier moves the median by little.
  median.add({1000, -1000, 3, 4});
  EXPECT_THAT(median.logits(), testing::ElementsAre(2.0, 1.0, 3.0, 4.0));
  // Merging partial ensembles equals adding every member to one.
  fd::ensemble_teacher<float> a(2, 2), b(2, 2);
  a.add(members[0]);
  b.add(members[1]);
  b.add(members[2]);
  a.merge(std::move(b));
  EXPECT_EQ(a.members(), 3u);
  EXPECT_EQ(a.logits(), mean.logits());
}

TEST(EnsembleTeacher, RefusesBadLogitsUnchanged) {
  fd::ensemble_teacher<float> e(2, 2);
  e.add({1, 1, 1, 1});
  try {
    e.add({1, std::numeric_limits<float>::infinity(), 0, 0});
    ADD_FAILURE();
  } catch (const fedpp::invalid_config& ex) {
    EXPECT_THAT(ex.what(), HasSubstr("row 0 class 1 is not finite"));
  }
  EXPECT_THROW(e.add({1, 2, 3}), fedpp::invalid_config);
  fd::ensemble_teacher<float> other(3, 2);
  EXPECT_THROW(e.merge(std::move(other)), fedpp::invalid_config);
  EXPECT_EQ(e.members(), 1u);
  EXPECT_THAT(e.logits(), testing::ElementsAre(1.0, 1.0, 1.0, 1.0));
  EXPECT_THROW((void)fd::ensemble_teacher<float>(2, 2).logits(), fedpp::invalid_config);
  EXPECT_THROW(fd::ensemble_teacher<float>(0, 2), fedpp::invalid_config);
}

// --- The proxy set ---------------------------------------------------------------------------------

TEST(ProxySet, SplitIsSeededDisjointAndComplete) {
  const fd::proxy_set<float> a(normals<float>(100 * 3, 5), 3, 0.2, 9),
      b(normals<float>(100 * 3, 5), 3, 0.2, 9);
  ASSERT_EQ(a.validation_indices().size(), 20u);
  ASSERT_EQ(a.train_indices().size(), 80u);
  EXPECT_TRUE(std::ranges::equal(a.validation_indices(), b.validation_indices()));
  std::vector<int> seen(100, 0);
  for (auto i : a.train_indices()) ++seen[i];
  for (auto i : a.validation_indices()) ++seen[i];
  EXPECT_TRUE(std::ranges::all_of(seen, [](int s) { return s == 1; }));
  const fd::proxy_set<float> other(normals<float>(100 * 3, 5), 3, 0.2, 10);
  EXPECT_FALSE(std::ranges::equal(a.validation_indices(), other.validation_indices()));
}

TEST(ProxySet, Refusals) {
  const auto message = [](auto&& make) {
    try {
      make();
    } catch (const fedpp::invalid_config& e) {
      return std::string(e.what());
    }
    return std::string("no exception");
  };
  EXPECT_THAT(message([] { fd::proxy_set<float>({}, 3); }), HasSubstr("empty"));
  EXPECT_THAT(message([] {
                fd::proxy_set<float>({1, 2, 3, 4}, 3);
              }),
              HasSubstr("not a whole number of rows"));
  EXPECT_THAT(message([] { fd::proxy_set<float>({1, 2, 3}, 0); }), HasSubstr("num_features must be > 0"));
  EXPECT_THAT(message([] {
                fd::proxy_set<float>({1, 2, 3, 4, static_cast<float>(nan), 6}, 3);
              }),
              HasSubstr("row 1 feature 1 is not finite"));
  EXPECT_THAT(message([] { fd::proxy_set<float>({1, 2, 3}, 3, 1.0); }), HasSubstr("in [0, 1)"));
  EXPECT_THAT(message([] { fd::proxy_set<float>({1, 2, 3}, 3, nan); }), HasSubstr("in [0, 1)"));
  EXPECT_THAT(message([] {
                fd::proxy_set<float>({1, 2, 3, 4, 5, 6}, 3, 0.1);
              }),
              HasSubstr("no validation row"));
}

// --- The distiller -------------------------------------------------------------------------------

/// A teacher MLP's logits on a proxy set of `n` rows (F = 8, C = 4).
struct teacher_fixture {
  std::size_t n = 400, f = 8, c = 4;
  fd::proxy_set<double> proxy{normals<double>(400 * 8, 21), 8, 0.2, 3};
  mlp_d teacher{sim::mlp<double>(8, 16, 4)};
  std::vector<double> logits = [this] {
    std::vector<double> theta(teacher.layout().total_size());
    teacher.model().initialize(theta, 77);
    for (auto& v : theta) v *= 3; // a confident teacher
    std::vector<double> z(n * c);
    mlp_d::workspace ws;
    fd::logits_of_rows(teacher, std::span<const double>(theta), proxy.rows(), std::span<double>(z), ws);
    return z;
  }();
  softmax_d student{sim::softmax_regression<double>(8, 4)};
  std::vector<double> start = [this] {
    std::vector<double> theta(student.layout().total_size());
    student.model().initialize(theta, 5);
    return theta;
  }();
};

TEST(Distiller, ReducesTheKlOnProxyData) {
  const teacher_fixture fx;
  for (const auto kind : {fd::optimizer_kind::adam, fd::optimizer_kind::sgd}) {
    fd::distillation_options o;
    o.optimizer = kind;
    o.learning_rate = kind == fd::optimizer_kind::adam ? 0.02 : 0.5;
    o.max_steps = 300;
    o.batch_size = 32;
    o.eval_every = 20;
    o.loss.temperature = 2.0;
    auto theta = fx.start;
    const auto r =
        fd::distill(fx.student, std::span<double>(theta), fx.proxy, std::span<const double>(fx.logits), o);
    EXPECT_LT(r.final_train_loss, 0.5 * r.initial_train_loss);
    EXPECT_LT(r.best_validation_loss, 0.5 * r.initial_validation_loss);
    EXPECT_GT(r.best_step, 0u);
    EXPECT_FALSE(r.diverged);
    // The reported losses are those of the returned parameters.
    const double kl = [&] {
      std::vector<double> z(fx.n * fx.c), p(fx.n * fx.c);
      softmax_d::workspace ws;
      fd::logits_of_rows(fx.student, std::span<const double>(theta), fx.proxy.rows(), std::span<double>(z),
                         ws);
      fd::soft_targets<double>(fx.logits, fx.c, 2.0, p);
      std::vector<double> zt, pt;
      for (auto i : fx.proxy.train_indices())
        for (std::size_t j = 0; j < fx.c; ++j) {
          zt.push_back(z[i * fx.c + j]);
          pt.push_back(p[i * fx.c + j]);
        }
      return fd::distillation_loss<double>(zt, pt, {}, fx.c, o.loss, {});
    }();
    EXPECT_NEAR(kl, r.final_train_loss, 1e-12);
  }
}

TEST(Distiller, EarlyStoppingKeepsTheBestValidatedParameters) {
  const teacher_fixture fx;
  fd::distillation_options o;
  o.learning_rate = 3.0; // far too large with SGD: validation stops improving at once
  o.optimizer = fd::optimizer_kind::sgd;
  o.cosine_schedule = false;
  o.max_grad_norm = 0;
  o.max_steps = 400;
  o.eval_every = 10;
  o.patience = 30;
  auto theta = fx.start;
  const auto r =
      fd::distill(fx.student, std::span<double>(theta), fx.proxy, std::span<const double>(fx.logits), o);
  EXPECT_TRUE(r.stopped_early || r.diverged);
  EXPECT_LT(r.steps, 400u);
  EXPECT_LE(r.best_validation_loss, r.initial_validation_loss);
  if (r.best_step == 0) {
    EXPECT_EQ(theta, fx.start); // the start was the best: returned as it was
  }
}

TEST(Distiller, DeterministicAtAFixedSeed) {
  const teacher_fixture fx;
  fd::distillation_options o;
  o.max_steps = 50;
  o.batch_size = 16;
  o.seed = 4;
  auto a = fx.start, b = fx.start, c = fx.start;
  (void)fd::distill(fx.student, std::span<double>(a), fx.proxy, std::span<const double>(fx.logits), o);
  (void)fd::distill(fx.student, std::span<double>(b), fx.proxy, std::span<const double>(fx.logits), o);
  o.seed = 5;
  (void)fd::distill(fx.student, std::span<double>(c), fx.proxy, std::span<const double>(fx.logits), o);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
}

TEST(Distiller, HardLabelsNeedLabelsAndPullTowardsThem) {
  const teacher_fixture fx;
  std::vector<std::uint8_t> y(fx.n);
  for (std::size_t i = 0; i < fx.n; ++i) y[i] = static_cast<std::uint8_t>(i % fx.c);
  fd::distillation_options o;
  o.loss.hard_label_weight = 1.0; // labels only: the loss is the cross-entropy on them
  o.max_steps = 100;
  o.learning_rate = 0.01;
  auto theta = fx.start;
  const auto r =
      fd::distill(fx.student, std::span<double>(theta), fx.proxy, std::span<const double>(fx.logits), o, y);
  EXPECT_LT(r.final_train_loss, r.initial_train_loss);
  y[7] = 4; // label ≥ C
  EXPECT_THROW(
      fd::distill(fx.student, std::span<double>(theta), fx.proxy, std::span<const double>(fx.logits), o, y),
      fedpp::invalid_config);
}

TEST(Distiller, RefusalsLeaveTheParametersUnchanged) {
  const teacher_fixture fx;
  const auto refused = [&](fd::distillation_options o, std::span<const double> teacher,
                           std::vector<double> theta, std::span<const std::uint8_t> labels = {}) {
    const auto before = theta;
    std::string what = "no exception";
    try {
      (void)fd::distill(fx.student, std::span<double>(theta), fx.proxy, teacher, o, labels);
    } catch (const fedpp::invalid_config& e) {
      what = e.what();
    }
    EXPECT_EQ(std::memcmp(theta.data(), before.data(), theta.size() * sizeof(double)), 0);
    return what;
  };
  const std::span<const double> t(fx.logits);
  const fd::distillation_options ok;
  auto with = [&](auto change) {
    fd::distillation_options o = ok;
    change(o);
    return o;
  };
  EXPECT_THAT(refused(with([](auto& o) { o.loss.temperature = 0; }), t, fx.start), HasSubstr("temperature"));
  EXPECT_THAT(refused(with([](auto& o) { o.loss.temperature = nan; }), t, fx.start),
              HasSubstr("temperature"));
  EXPECT_THAT(refused(with([](auto& o) { o.loss.hard_label_weight = 1.5; }), t, fx.start),
              HasSubstr("hard_label_weight"));
  EXPECT_THAT(refused(with([](auto& o) { o.loss.hard_label_weight = 0.5; }), t, fx.start),
              HasSubstr("needs one label per proxy row"));
  EXPECT_THAT(refused(with([](auto& o) { o.max_steps = 0; }), t, fx.start), HasSubstr("max_steps"));
  EXPECT_THAT(refused(with([](auto& o) { o.batch_size = 0; }), t, fx.start), HasSubstr("batch_size"));
  EXPECT_THAT(refused(with([](auto& o) { o.learning_rate = -1; }), t, fx.start), HasSubstr("learning_rate"));
  EXPECT_THAT(refused(with([](auto& o) { o.learning_rate = nan; }), t, fx.start), HasSubstr("learning_rate"));
  EXPECT_THAT(refused(with([](auto& o) { o.beta2 = 1; }), t, fx.start), HasSubstr("beta1 and beta2"));
  EXPECT_THAT(refused(with([](auto& o) { o.max_grad_norm = -1; }), t, fx.start), HasSubstr("max_grad_norm"));
  EXPECT_THAT(refused(with([](auto& o) { o.eval_every = 0; }), t, fx.start), HasSubstr("eval_every"));
  EXPECT_THAT(refused(ok, t.first(t.size() - 4), fx.start), HasSubstr("teacher logits for 400 proxy rows"));
  auto bad_teacher = fx.logits;
  bad_teacher[9] = std::numeric_limits<double>::infinity();
  EXPECT_THAT(refused(ok, bad_teacher, fx.start), HasSubstr("logit 9 is not finite"));
  EXPECT_THAT(refused(ok, t, std::vector<double>(fx.start.size() + 1)),
              HasSubstr("parameters, the student has"));
  auto bad_start = fx.start;
  bad_start[2] = nan;
  EXPECT_THAT(refused(ok, t, bad_start), HasSubstr("starting parameter 2 is not finite"));
  // A proxy set whose rows are not the student's input.
  const fd::proxy_set<double> narrow(normals<double>(400 * 7, 1), 7);
  auto theta = fx.start;
  EXPECT_THROW(fd::distill(fx.student, std::span<double>(theta), narrow, t, ok), fedpp::invalid_config);
  EXPECT_EQ(theta, fx.start);
}

// --- FedDF's aggregator ----------------------------------------------------------------------------

/// A tiny FedDF setting: softmax regression 3 → 2 in float, 6 proxy rows, global model g.
struct feddf_fixture {
  softmax_f model{sim::softmax_regression<float>(3, 2)};
  fedpp::flat_model<float> global = model.model().make_parameters(1);
  fd::feddf_options options = [] {
    fd::feddf_options o;
    o.distillation.max_steps = 20;
    o.distillation.batch_size = 4;
    o.distillation.learning_rate = 0.05;
    return o;
  }();
  fd::feddf<softmax_f> df{model, fd::proxy_set<float>(normals<float>(6 * 3, 8), 3), options};
  feddf_fixture() { df.watch(global); }

  fedpp::flat_model<float> delta(std::uint64_t seed) const {
    fedpp::flat_model<float> d(global.layout());
    const auto v = normals<float>(d.size(), seed, 0.5);
    std::copy(v.begin(), v.end(), d.span().begin());
    return d;
  }
  std::vector<float> logits_of(const fedpp::flat_model<float>& d) const {
    std::vector<float> theta(d.size()), z(6 * 2);
    for (std::size_t i = 0; i < d.size(); ++i) theta[i] = global.span()[i] + d.span()[i];
    softmax_f::workspace ws;
    fd::logits_of_rows(model, std::span<const float>(theta), df.proxy().rows(), std::span<float>(z), ws);
    return z;
  }
};

fedpp::client_update<float> update_of(const fedpp::flat_model<float>& d, fedpp::client_id c, double w) {
  return fedpp::client_update<float>::from_flat(c, d.layout(), d.span(), w);
}

TEST(FeddfAggregator, TeacherIsTheMeanOfTheClientModelsLogits) {
  feddf_fixture fx;
  auto agg = fx.df.factory()(fx.global.layout());
  const auto d1 = fx.delta(1), d2 = fx.delta(2), d3 = fx.delta(3);
  agg.accumulate(update_of(d1, 1, 10));
  agg.accumulate(update_of(d2, 2, 30));
  agg.accumulate(update_of(d3, 3, 60));
  EXPECT_EQ(agg.num_inputs(), 3u);
  EXPECT_EQ(agg.teachers(), 3u);
  // Unweighted (AVGLOGITS), whatever the clients' example counts.
  const auto z1 = fx.logits_of(d1), z2 = fx.logits_of(d2), z3 = fx.logits_of(d3);
  const auto t = agg.teacher_logits();
  ASSERT_EQ(t.size(), z1.size());
  for (std::size_t i = 0; i < t.size(); ++i)
    EXPECT_NEAR(t[i], (static_cast<double>(z1[i]) + z2[i] + z3[i]) / 3.0, 1e-12) << i;
  // The report starts from the FedAvg model and lowers the KL to that teacher.
  const auto mean = std::move(agg).report();
  ASSERT_EQ(fx.df.rounds(), 1u);
  const auto& r = *fx.df.last_round();
  EXPECT_TRUE(r.distilled);
  EXPECT_EQ(r.teachers, 3u);
  EXPECT_EQ(r.distillation.steps, 20u);
  EXPECT_LT(r.distillation.final_train_loss, r.distillation.initial_train_loss);
  // The FedAvg starting point's KL, computed here, is the distiller's initial loss.
  fedpp::flat_model<float> fedavg_delta(fx.global.layout());
  for (std::size_t i = 0; i < fedavg_delta.size(); ++i)
    fedavg_delta.span()[i] =
        static_cast<float>((10.0 * d1.span()[i] + 30.0 * d2.span()[i] + 60.0 * d3.span()[i]) / 100.0);
  const auto z0 = fx.logits_of(fedavg_delta);
  std::vector<double> p(t.size());
  fd::soft_targets<double>(t, 2, 1.0, p);
  EXPECT_NEAR(fd::distillation_loss<float>(z0, p, {}, 2, {}, {}), r.distillation.initial_train_loss, 1e-5);
  EXPECT_NE(mean.span()[0], fedavg_delta.span()[0]); // distillation moved it
}

TEST(FeddfAggregator, RefusedUpdatesLeaveNoTrace) {
  feddf_fixture fx, clean_fx; // two identical contexts: one sees the refused updates too
  auto agg = fx.df.factory()(fx.global.layout());
  auto clean = clean_fx.df.factory()(clean_fx.global.layout());
  const auto d1 = fx.delta(1);
  agg.accumulate(update_of(d1, 1, 10));
  clean.accumulate(update_of(d1, 1, 10));
  const auto reason = [&](const fedpp::client_update<float>& u) {
    try {
      agg.accumulate(u);
    } catch (const fedpp::rejected_update& e) {
      EXPECT_EQ(e.client(), u.client);
      return e.reason();
    }
    return fedpp::rejection_reason::other;
  };
  auto nan_delta = fx.delta(2);
  nan_delta.span()[4] = static_cast<float>(nan);
  EXPECT_EQ(reason(update_of(nan_delta, 2, 10)), fedpp::rejection_reason::non_finite);
  // Finite deltas whose client model x_global + delta overflows.
  fedpp::flat_model<float> overflowing(fx.global.layout());
  for (std::size_t i = 0; i < overflowing.size(); ++i)
    overflowing.span()[i] =
        fx.global.span()[i] >= 0 ? std::numeric_limits<float>::max() : -std::numeric_limits<float>::max();
  EXPECT_EQ(reason(update_of(overflowing, 3, 10)), fedpp::rejection_reason::non_finite);
  fedpp::model_layout other;
  other.add("w", {6});
  const fedpp::flat_model<float> wrong(other);
  EXPECT_EQ(reason(fedpp::client_update<float>::from_flat(4, other, wrong.span(), 10)),
            fedpp::rejection_reason::layout_mismatch);
  EXPECT_EQ(reason(update_of(fx.delta(5), 5, -1)),
            fedpp::rejection_reason::bad_weight); // the inner fedavg's check
  EXPECT_EQ(agg.num_inputs(), 1u);
  EXPECT_EQ(agg.teachers(), 1u);
  EXPECT_EQ(agg.teacher_logits(), clean.teacher_logits());
  const auto a = std::move(agg).report();
  const auto b = std::move(clean).report();
  EXPECT_TRUE(std::ranges::equal(a.span(), b.span()));
}

TEST(FeddfAggregator, MergeAndConfigurationRefusals) {
  feddf_fixture fx;
  const auto factory = fx.df.factory();
  auto whole = factory(fx.global.layout());
  auto left = factory(fx.global.layout());
  auto right = factory(fx.global.layout());
  for (std::uint64_t c = 1; c <= 4; ++c) {
    whole.accumulate(update_of(fx.delta(c), c, 10.0 * static_cast<double>(c)));
    (c <= 2 ? left : right).accumulate(update_of(fx.delta(c), c, 10.0 * static_cast<double>(c)));
  }
  left.merge(std::move(right));
  EXPECT_EQ(left.num_inputs(), 4u);
  const auto tw = whole.teacher_logits(), tl = left.teacher_logits();
  for (std::size_t i = 0; i < tw.size(); ++i) EXPECT_NEAR(tw[i], tl[i], 1e-12);
  // Another context's aggregate does not merge.
  feddf_fixture other;
  auto foreign = other.df.factory()(other.global.layout());
  foreign.accumulate(update_of(other.delta(1), 1, 1));
  EXPECT_THROW(left.merge(std::move(foreign)), fedpp::invalid_config);
  EXPECT_EQ(left.num_inputs(), 4u);
  // No watched model, a wrong layout, bad options, a proxy set of another width.
  fd::feddf<softmax_f> unwatched(fx.model, fd::proxy_set<float>(normals<float>(6 * 3, 8), 3), fx.options);
  EXPECT_THROW((void)unwatched.factory()(fx.global.layout()), fedpp::invalid_config);
  fedpp::model_layout bigger;
  bigger.add("w", {9});
  EXPECT_THROW(unwatched.watch(fedpp::flat_model<float>(bigger)), fedpp::invalid_config);
  auto bad = fx.options;
  bad.distillation.loss.temperature = -1;
  EXPECT_THROW(fd::feddf<softmax_f>(fx.model, fd::proxy_set<float>(normals<float>(6 * 3, 8), 3), bad),
               fedpp::invalid_config);
  bad = fx.options;
  bad.distillation.loss.hard_label_weight = 0.5;
  EXPECT_THROW(fd::feddf<softmax_f>(fx.model, fd::proxy_set<float>(normals<float>(6 * 3, 8), 3), bad),
               fedpp::invalid_config);
  EXPECT_THROW(fd::feddf<softmax_f>(fx.model, fd::proxy_set<float>(normals<float>(6 * 4, 8), 4), fx.options),
               fedpp::invalid_config);
  auto empty = factory(fx.global.layout());
  EXPECT_FALSE(empty.can_report());
  EXPECT_THROW((void)std::move(empty).report(), fedpp::invalid_config);
}

// --- FedDF on fedpp::server ------------------------------------------------------------------------

/// Clients with label-skewed data of a 3-class problem in 4 dimensions; client 5 is hostile
/// (NaN weights) when `hostile`.
struct skewed_task {
  std::size_t clients = 6;
  sim::dataset data = [] {
    fedpp::rng gen(3);
    std::vector<float> x;
    std::vector<std::uint8_t> y;
    for (std::size_t i = 0; i < 600; ++i) {
      const auto label = static_cast<std::uint8_t>(i % 3);
      for (std::size_t j = 0; j < 4; ++j)
        x.push_back(static_cast<float>(fedpp::random::standard_normal(gen) + (j == label ? 2.5 : 0.0)));
      y.push_back(label);
    }
    return sim::dataset(std::move(x), std::move(y), 4, 3);
  }();
  std::vector<std::vector<std::size_t>> parts = [this] {
    // Two clients per label, one with a quarter of that label's examples, one with the rest:
    // unequal sizes, so FedAvg's weighted mean and the unweighted ensemble differ.
    std::vector<std::vector<std::size_t>> p(clients);
    for (std::size_t i = 0; i < 500; ++i) p[(i % 3) * 2 + ((i / 3) % 4 == 0 ? 0 : 1)].push_back(i);
    return p;
  }();
};

struct skewed_trainer {
  const skewed_task* task;
  sim::softmax_regression<float> model{4, 3};
  bool hostile = false;
  fedpp::client_result<float> operator()(fedpp::client_id id,
                                         const fedpp::host_model_view<const float>& global,
                                         const fedpp::round_config& config) const {
    auto params = fedpp::flat_model<float>::copy_of(global);
    const sim::dataset_view view(task->data, task->parts.at(id));
    (void)sim::local_train(model, params.span(), view, sim::sgd_config::from(config), 1, id, config.round);
    if (hostile && id == 5) params.span()[0] = std::numeric_limits<float>::quiet_NaN();
    return {std::move(params), fedpp::update_kind::weights, static_cast<double>(view.size()), {}};
  }
};

std::vector<float> run_feddf(bool hostile, std::vector<fd::feddf_round_report>& reports,
                             std::vector<fedpp::round_metrics>& metrics) {
  const skewed_task task;
  const softmax_f student(sim::softmax_regression<float>(4, 3));
  std::vector<float> proxy(task.data.features().begin() + 500 * 4,
                           task.data.features().end()); // unlabeled rows 500..599
  fd::feddf_options o;
  o.distillation.max_steps = 30;
  o.distillation.batch_size = 16;
  o.distillation.learning_rate = 0.02;
  o.distillation.eval_every = 10;
  fd::feddf<softmax_f> df(student, fd::proxy_set<float>(std::move(proxy), 4, 0.2, 1), o);
  const skewed_trainer trainer{&task, sim::softmax_regression<float>(4, 3), hostile};
  std::vector<fedpp::client_id> ids{0, 1, 2, 3, 4, 5};
  fedpp::in_process_federation<float, skewed_trainer> federation(ids, trainer, student.layout(), 1);
  fedpp::server_options so;
  so.client_config.learning_rate = 0.1;
  so.client_config.batch_size = 16;
  so.seed = 7;
  fedpp::server<float, fedpp::uniform_sampler, fedpp::server_sgd<float>, fd::feddf_aggregator<softmax_f>>
      server(student.model().make_parameters(2), fedpp::uniform_sampler(6, 6), {}, so, {}, {}, df.factory());
  df.watch(server.model());
  for (int r = 0; r < 3; ++r) {
    metrics.push_back(server.run_round(federation.server_endpoint()));
    reports.push_back(*df.last_round());
  }
  return {server.model().span().begin(), server.model().span().end()};
}

TEST(FeddfServer, DistillsEveryRoundRefusesTheHostileClientAndRepeatsBitForBit) {
  std::vector<fd::feddf_round_report> reports, again_reports, hostile_reports;
  std::vector<fedpp::round_metrics> metrics, again_metrics, hostile_metrics;
  const auto model = run_feddf(false, reports, metrics);
  ASSERT_EQ(reports.size(), 3u);
  for (std::size_t r = 0; r < 3; ++r) {
    EXPECT_TRUE(metrics[r].succeeded);
    EXPECT_EQ(metrics[r].reported, 6u);
    EXPECT_TRUE(reports[r].distilled);
    EXPECT_EQ(reports[r].teachers, 6u);
    EXPECT_LE(reports[r].distillation.best_validation_loss, reports[r].distillation.initial_validation_loss);
  }
  EXPECT_LT(reports[0].distillation.final_train_loss, reports[0].distillation.initial_train_loss);
  // Reports arrive in any order from the host thread; here one host serves them in order, so the
  // whole run repeats bit for bit.
  const auto again = run_feddf(false, again_reports, again_metrics);
  EXPECT_EQ(model, again);
  const auto hostile = run_feddf(true, hostile_reports, hostile_metrics);
  for (std::size_t r = 0; r < 3; ++r) {
    EXPECT_TRUE(hostile_metrics[r].succeeded);
    EXPECT_EQ(hostile_metrics[r].rejected, 1u);
    EXPECT_EQ(hostile_metrics[r].reported, 5u);
    EXPECT_EQ(hostile_reports[r].teachers, 5u);
  }
  EXPECT_TRUE(std::ranges::all_of(hostile, [](float v) { return std::isfinite(v); }));
}

} // namespace
