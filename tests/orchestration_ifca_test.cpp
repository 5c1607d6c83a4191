// IFCA (clustered FL, Ghosh et al. 2020): the stacked layout, the per-cluster aggregator against
// hand computations, its refusals (state unchanged, counted), the client's cluster choice, and the
// whole algorithm on fedpp::server recovering two linear-regression clusters at a fixed seed.
#include "fedpp/orchestration/in_process_federation.hpp"
#include "fedpp/orchestration/server.hpp"
#include "fedpp/personalization/fine_tuning_trainer.hpp"
#include "fedpp/personalization/ifca_aggregator.hpp"
#include "fedpp/personalization/ifca_layout.hpp"
#include "fedpp/personalization/ifca_trainer.hpp"
#include "fedpp/random/distributions.hpp"
#include "fedpp/random/rng.hpp"
#include "fedpp/scheduling/uniform_sampler.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <span>
#include <vector>

namespace {

fedpp::model_layout base_layout() {
  fedpp::model_layout l;
  l.add("w", {2}).add("b", {1});
  return l;
}

/// A stacked delta naming cluster `j` (written as `index`), with `values` in slice j.
fedpp::flat_model<float> stacked_delta(const fedpp::ifca_layout& plan, std::size_t j,
                                       std::vector<float> values, float index) {
  fedpp::flat_model<float> d(plan.stacked());
  for (std::size_t i = 0; i < values.size(); ++i) d.span()[plan.cluster_offset(j) + i] = values[i];
  d.span()[plan.index_offset()] = index;
  return d;
}

fedpp::client_update<float> as_update(const fedpp::flat_model<float>& m, fedpp::client_id c, double weight) {
  return fedpp::client_update<float>::from_flat(c, m.layout(), m.span(), weight);
}

std::vector<float> values(const fedpp::flat_model<float>& m) { return {m.span().begin(), m.span().end()}; }

TEST(IfcaLayout, StacksKModelsThenTheIndex) {
  const fedpp::ifca_layout plan(base_layout(), 3);
  const auto& s = plan.stacked();
  ASSERT_EQ(s.num_tensors(), 7u);
  EXPECT_EQ(s[0].name, "c0.w");
  EXPECT_EQ(s[4].name, "c2.w");
  EXPECT_EQ(s[5].name, "c2.b");
  EXPECT_EQ(s[6].name, "ifca.cluster");
  EXPECT_EQ(s.total_size(), 10u);
  EXPECT_EQ(plan.cluster_offset(1), 3u);
  EXPECT_EQ(plan.index_offset(), 9u);
  EXPECT_EQ(plan.download_payload_bytes(), 40u); // (k·D + 1) · 4 bytes
  EXPECT_THROW((void)plan.cluster_offset(3), fedpp::invalid_config);
  EXPECT_THROW(fedpp::ifca_layout(base_layout(), 0), fedpp::invalid_config);
  EXPECT_THROW(fedpp::ifca_layout(fedpp::model_layout{}, 2), fedpp::invalid_config);

  std::vector<fedpp::flat_model<float>> models;
  for (int j = 0; j < 3; ++j) {
    fedpp::flat_model<float> m(base_layout());
    for (std::size_t i = 0; i < 3; ++i) m.span()[i] = static_cast<float>(10 * j + static_cast<int>(i));
    models.push_back(std::move(m));
  }
  const auto stacked = plan.stack<float>(models);
  EXPECT_EQ(values(stacked), (std::vector<float>{0, 1, 2, 10, 11, 12, 20, 21, 22, 0}));
  EXPECT_EQ(values(plan.cluster(stacked, 2)), (std::vector<float>{20, 21, 22}));
  EXPECT_EQ(plan.cluster(stacked, 1).layout(), base_layout());
  EXPECT_THROW((void)plan.stack<float>(std::span(models).first(2)), fedpp::invalid_config);
}

TEST(IfcaLayout, ReadsOnlyWholeIndicesBelowK) {
  const fedpp::ifca_layout plan(base_layout(), 3);
  EXPECT_EQ(plan.read_index(0.0f), 0u);
  EXPECT_EQ(plan.read_index(2.0f), 2u);
  EXPECT_FALSE(plan.read_index(3.0f));
  EXPECT_FALSE(plan.read_index(-1.0f));
  EXPECT_FALSE(plan.read_index(1.5f));
  EXPECT_FALSE(plan.read_index(std::numeric_limits<float>::quiet_NaN()));
  EXPECT_FALSE(plan.read_index(std::numeric_limits<float>::infinity()));
  EXPECT_FALSE(plan.read_index(1e30f));
}

TEST(IfcaAggregator, AveragesEachClusterByHand) {
  const fedpp::ifca_layout plan(base_layout(), 3);
  auto log = std::make_shared<fedpp::ifca_round_log>();
  fedpp::ifca_aggregator<float> agg(plan, fedpp::weighting::by_examples, log);
  const auto a = stacked_delta(plan, 0, {1, 2, 3}, 0);
  const auto b = stacked_delta(plan, 0, {5, 6, -1}, 0);
  const auto c = stacked_delta(plan, 2, {-1, 4, 0.5f}, 2);
  agg.accumulate(as_update(a, 1, 1));
  agg.accumulate(as_update(b, 2, 3));
  agg.accumulate(as_update(c, 3, 2));
  EXPECT_EQ(agg.num_inputs(), 3u);
  EXPECT_EQ(agg.cluster_inputs(0), 2u);
  EXPECT_EQ(agg.cluster_inputs(1), 0u);
  EXPECT_EQ(agg.cluster_inputs(2), 1u);
  // cluster 0: (1·[1,2,3] + 3·[5,6,−1]) / 4 = [4, 5, 0]; cluster 1: no report, zero delta;
  // cluster 2: its one report; the index tensor: zero.
  EXPECT_EQ(values(std::move(agg).report()), (std::vector<float>{4, 5, 0, 0, 0, 0, -1, 4, 0.5f, 0}));
  EXPECT_EQ(log->reports, (std::vector<std::size_t>{2, 0, 1}));

  // The paper's unweighted form: (a + b) / 2.
  fedpp::ifca_aggregator<float> uniform(plan, fedpp::weighting::uniform);
  uniform.accumulate(as_update(a, 1, 1));
  uniform.accumulate(as_update(b, 2, 3));
  EXPECT_EQ(values(std::move(uniform).report()), (std::vector<float>{3, 4, 1, 0, 0, 0, 0, 0, 0, 0}));
}

TEST(IfcaAggregator, MergeEqualsOneAggregate) {
  const fedpp::ifca_layout plan(base_layout(), 2);
  const auto a = stacked_delta(plan, 0, {1, 2, 3}, 0);
  const auto b = stacked_delta(plan, 1, {5, 6, -1}, 1);
  const auto c = stacked_delta(plan, 0, {3, 0, 1}, 0);
  fedpp::ifca_aggregator<float> one(plan), left(plan), right(plan);
  for (const auto* m : {&a, &b, &c}) one.accumulate(as_update(*m, 1, 2));
  left.accumulate(as_update(a, 1, 2));
  right.accumulate(as_update(b, 2, 2));
  right.accumulate(as_update(c, 3, 2));
  left.merge(std::move(right));
  EXPECT_EQ(left.num_inputs(), 3u);
  EXPECT_EQ(values(std::move(left).report()), values(std::move(one).report()));
  fedpp::ifca_aggregator<float> other_k(fedpp::ifca_layout(base_layout(), 3));
  fedpp::ifca_aggregator<float> two(plan);
  EXPECT_THROW(two.merge(std::move(other_k)), fedpp::invalid_config);
}

TEST(IfcaAggregator, RefusesBadIndicesAndInconsistentPayloadsUnchanged) {
  const fedpp::ifca_layout plan(base_layout(), 3);
  auto log = std::make_shared<fedpp::ifca_round_log>();
  fedpp::ifca_aggregator<float> agg(plan, fedpp::weighting::by_examples, log);
  const auto good = stacked_delta(plan, 1, {1, 2, 3}, 1);
  agg.accumulate(as_update(good, 1, 2));

  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  std::vector<fedpp::flat_model<float>> bad_index;
  for (const float index : {3.0f, 7.0f, -1.0f, 0.5f, 2.0001f, nan, inf, -inf})
    bad_index.push_back(stacked_delta(plan, 0, {1, 1, 1}, index));
  for (const auto& m : bad_index) EXPECT_THROW(agg.accumulate(as_update(m, 9, 1)), fedpp::rejected_update);
  EXPECT_EQ(log->refused_index, bad_index.size());

  // Names cluster 0, changes cluster 2 as well (one element, or a −0-free NaN).
  auto sneaky = stacked_delta(plan, 0, {1, 1, 1}, 0);
  sneaky.span()[plan.cluster_offset(2) + 1] = 1e-30f;
  auto sneaky_nan = stacked_delta(plan, 0, {1, 1, 1}, 0);
  sneaky_nan.span()[plan.cluster_offset(1)] = nan;
  // Two clusters' worth of training, claiming one.
  auto both = stacked_delta(plan, 0, {1, 1, 1}, 0);
  for (std::size_t i = 0; i < 3; ++i) both.span()[plan.cluster_offset(1) + i] = 1;
  for (const auto* m : {&sneaky, &sneaky_nan, &both})
    EXPECT_THROW(agg.accumulate(as_update(*m, 9, 1)), fedpp::rejected_update);
  EXPECT_EQ(log->refused_inconsistent, 3u);

  // Non-finite values in the chosen slice, a bad weight, another layout.
  auto nan_in_slice = stacked_delta(plan, 2, {1, nan, 1}, 2);
  EXPECT_THROW(agg.accumulate(as_update(nan_in_slice, 9, 1)), fedpp::rejected_update);
  const auto fine = stacked_delta(plan, 2, {1, 1, 1}, 2);
  EXPECT_THROW(agg.accumulate(as_update(fine, 9, 0)), fedpp::rejected_update);
  EXPECT_THROW(agg.accumulate(as_update(fine, 9, -3)), fedpp::rejected_update);
  fedpp::flat_model<float> base_only(base_layout());
  EXPECT_THROW(agg.accumulate(as_update(base_only, 9, 1)), fedpp::rejected_update);
  const fedpp::ifca_layout four(base_layout(), 4);
  const auto k4 = stacked_delta(four, 3, {1, 1, 1}, 3); // a client cannot add a cluster
  EXPECT_THROW(agg.accumulate(as_update(k4, 9, 1)), fedpp::rejected_update);
  EXPECT_EQ(log->refused_other, 5u);

  // Nothing changed: one report, in cluster 1, clusters 0 and 2 without an accumulator.
  EXPECT_EQ(agg.num_inputs(), 1u);
  EXPECT_EQ(agg.cluster_inputs(0), 0u);
  EXPECT_EQ(agg.cluster_inputs(2), 0u);
  EXPECT_EQ(log->reports, (std::vector<std::size_t>{0, 1, 0}));
  EXPECT_EQ(values(std::move(agg).report()), (std::vector<float>{0, 0, 0, 1, 2, 3, 0, 0, 0, 0}));
  fedpp::ifca_aggregator<float> empty(plan);
  EXPECT_FALSE(empty.can_report());
  EXPECT_THROW((void)std::move(empty).report(), fedpp::invalid_config);
}

// --- the client side -----------------------------------------------------------------------------

/// A "trainer" that adds 1 to every weight of the model it is given (as new weights).
struct plus_one {
  fedpp::client_result<float> operator()(fedpp::client_id, const fedpp::host_model_view<const float>& m,
                                         const fedpp::round_config&) const {
    auto w = fedpp::flat_model<float>::copy_of(m);
    for (float& v : w.span()) v += 1;
    return {std::move(w), fedpp::update_kind::weights, 4.0, {{"loss", 0.5}}};
  }
  fedpp::evaluation_result evaluate(fedpp::client_id, const fedpp::host_model_view<const float>& m,
                                    const fedpp::round_config&) const {
    return {1.0, 0.0, static_cast<double>(m[0].view.span()[0]) / 100.0};
  }
};

/// Loss: squared distance of `w` to the client's target value (client id × 10).
struct distance_loss {
  double operator()(fedpp::client_id c, const fedpp::host_model_view<const float>& m,
                    const fedpp::round_config&) const {
    double s = 0;
    for (const auto& t : m.tensors())
      for (const float v : t.view.span())
        s += (v - 10.0 * static_cast<double>(c)) * (v - 10.0 * static_cast<double>(c));
    return s;
  }
};

fedpp::flat_model<float> three_clusters(const fedpp::ifca_layout& plan) {
  std::vector<fedpp::flat_model<float>> models;
  for (int j = 0; j < 3; ++j) {
    fedpp::flat_model<float> m(plan.base());
    for (float& v : m.span()) v = static_cast<float>(10 * j);
    models.push_back(std::move(m));
  }
  return plan.stack<float>(models);
}

TEST(IfcaTrainer, TrainsTheLowestLossClusterAndSendsItsDelta) {
  const fedpp::ifca_layout plan(base_layout(), 3);
  fedpp::ifca_trainer<float, plus_one, distance_loss> t(plan, plus_one{}, distance_loss{});
  const auto global = three_clusters(plan);
  const fedpp::round_config config;
  const auto choice = t.choose(2, global.view(), config); // client 2's target is 20 = cluster 2
  EXPECT_EQ(choice.cluster, 2u);
  EXPECT_EQ(choice.loss, 0.0);
  const auto r = t(1, global.view(), config);
  EXPECT_EQ(r.kind, fedpp::update_kind::delta);
  EXPECT_EQ(r.num_examples, 4.0);
  EXPECT_EQ(r.metrics.at("loss"), 0.5);
  EXPECT_EQ(values(r.model), (std::vector<float>{0, 0, 0, 1, 1, 1, 0, 0, 0, 1}));
  // Evaluation uses the same choice.
  EXPECT_EQ(t.evaluate(2, global.view(), config).accuracy, 0.2);
  // Ties go to the lowest index: clusters 0 and 1 both at client 0's target.
  fedpp::flat_model<float> tied = three_clusters(plan);
  for (std::size_t i = 0; i < 3; ++i) tied.span()[plan.cluster_offset(1) + i] = 0;
  EXPECT_EQ(t.choose(0, tied.view(), config).cluster, 0u);
  // A model of another layout is refused.
  const fedpp::flat_model<float> base(base_layout());
  EXPECT_THROW((void)t.choose(0, base.view(), config), fedpp::invalid_config);
}

TEST(IfcaTrainer, ComposesWithFineTuningBeforeEvaluation) {
  const fedpp::ifca_layout plan(base_layout(), 3);
  using ifca = fedpp::ifca_trainer<float, plus_one, distance_loss>;
  fedpp::fine_tuning_trainer<float, ifca> t(ifca(plan, plus_one{}, distance_loss{}),
                                            fedpp::fine_tune_options{});
  const auto global = three_clusters(plan);
  // Client 2 picks cluster 2 (all 20), fine-tunes it to 21 and is evaluated on it: 21 / 100.
  EXPECT_DOUBLE_EQ(t.evaluate(2, global.view(), {}).accuracy, 0.21);
  // Training is forwarded unchanged: the stacked delta of cluster 2.
  EXPECT_EQ(values(t(2, global.view(), {}).model), (std::vector<float>{0, 0, 0, 0, 0, 0, 1, 1, 1, 2}));
}

TEST(IfcaTrainer, NeverChoosesANonFiniteLoss) {
  const fedpp::ifca_layout plan(base_layout(), 3);
  auto loss = [](fedpp::client_id, const fedpp::host_model_view<const float>& m, const fedpp::round_config&) {
    const float v = m[0].view.span()[0];
    return v == 0 ? std::numeric_limits<double>::quiet_NaN() : (v == 10 ? 5.0 : 7.0);
  };
  fedpp::ifca_trainer<float, plus_one, decltype(loss)> t(plan, plus_one{}, loss);
  EXPECT_EQ(t.choose(0, three_clusters(plan).view(), {}).cluster, 1u);
  auto none = [](fedpp::client_id, const fedpp::host_model_view<const float>&, const fedpp::round_config&) {
    return std::numeric_limits<double>::infinity();
  };
  fedpp::ifca_trainer<float, plus_one, decltype(none)> u(plan, plus_one{}, none);
  EXPECT_THROW((void)u(0, three_clusters(plan).view(), {}), fedpp::invalid_config);
}

// --- the whole algorithm on fedpp::server ---------------------------------------------------------

constexpr std::size_t dim = 5;
constexpr std::size_t clients = 20;
constexpr std::size_t examples = 40;

/// Client c's data: y = w_{c mod 2} · x + 0.01 noise, x ~ N(0, I), drawn from (seed, c).
struct linear_data {
  std::vector<std::vector<double>> x, y;
  static std::vector<double> truth(std::size_t cluster) {
    return cluster == 0 ? std::vector<double>{3, -2, 1, 0, 2} : std::vector<double>{-3, 1, -1, 2, -2};
  }
  explicit linear_data(std::uint64_t seed) {
    for (std::size_t c = 0; c < clients; ++c) {
      auto gen = fedpp::rng::for_stream(seed, c);
      const auto w = truth(c % 2);
      std::vector<double> xs, ys;
      for (std::size_t e = 0; e < examples; ++e) {
        double dot = 0;
        for (std::size_t d = 0; d < dim; ++d) {
          xs.push_back(fedpp::random::standard_normal(gen));
          dot += xs.back() * w[d];
        }
        ys.push_back(dot + 0.01 * fedpp::random::standard_normal(gen));
      }
      x.push_back(std::move(xs));
      y.push_back(std::move(ys));
    }
  }
  [[nodiscard]] double mse(fedpp::client_id c, std::span<const float> w) const {
    double s = 0;
    for (std::size_t e = 0; e < examples; ++e) {
      double p = 0;
      for (std::size_t d = 0; d < dim; ++d) p += x[c][e * dim + d] * static_cast<double>(w[d]);
      s += (p - y[c][e]) * (p - y[c][e]);
    }
    return s / examples;
  }
};

/// 5 steps of full-batch gradient descent on the client's MSE (lr 0.1).
struct linear_trainer {
  const linear_data* data;
  fedpp::client_result<float> operator()(fedpp::client_id c, const fedpp::host_model_view<const float>& m,
                                         const fedpp::round_config&) const {
    auto w = fedpp::flat_model<float>::copy_of(m);
    for (int step = 0; step < 5; ++step) {
      std::vector<double> g(dim, 0);
      for (std::size_t e = 0; e < examples; ++e) {
        double p = 0;
        for (std::size_t d = 0; d < dim; ++d) p += data->x[c][e * dim + d] * static_cast<double>(w.span()[d]);
        for (std::size_t d = 0; d < dim; ++d)
          g[d] += 2 * (p - data->y[c][e]) * data->x[c][e * dim + d] / examples;
      }
      for (std::size_t d = 0; d < dim; ++d) w.span()[d] -= static_cast<float>(0.1 * g[d]);
    }
    return {std::move(w), fedpp::update_kind::weights, static_cast<double>(examples), {}};
  }
};

struct linear_loss {
  const linear_data* data;
  double operator()(fedpp::client_id c, const fedpp::host_model_view<const float>& m,
                    const fedpp::round_config&) const {
    return data->mse(c, m[0].view.span());
  }
};

fedpp::model_layout linear_layout() {
  fedpp::model_layout l;
  l.add("w", {dim});
  return l;
}

/// k = 2 models initialised N(0, 1) from `seed`; 10 of 20 clients per round.
template <class Trainer>
fedpp::flat_model<float> run_ifca(const Trainer& trainer, std::uint64_t seed, std::size_t rounds,
                                  std::shared_ptr<fedpp::ifca_round_log> log,
                                  std::vector<fedpp::round_metrics>* metrics = nullptr,
                                  std::size_t per_round = 10) {
  const fedpp::ifca_layout plan(linear_layout(), 2);
  std::vector<fedpp::flat_model<float>> init;
  auto gen = fedpp::rng::for_stream(seed, 1000);
  for (std::size_t j = 0; j < 2; ++j) {
    fedpp::flat_model<float> m(plan.base());
    for (float& v : m.span()) v = static_cast<float>(fedpp::random::standard_normal(gen));
    init.push_back(std::move(m));
  }
  std::vector<fedpp::client_id> ids;
  for (std::size_t c = 0; c < clients; ++c) ids.push_back(c);
  fedpp::in_process_federation<float, Trainer> federation(ids, trainer, plan.stacked(), 1);
  fedpp::server_options options;
  options.seed = seed;
  using agg = fedpp::ifca_aggregator<float>;
  fedpp::server<float, fedpp::uniform_sampler, fedpp::server_sgd<float>, agg> server(
      plan.stack<float>(init), fedpp::uniform_sampler(clients, per_round), {}, options, {}, {},
      [plan, log](const fedpp::model_layout&) { return agg(plan, fedpp::weighting::by_examples, log); });
  for (std::size_t r = 0; r < rounds; ++r) {
    const auto m = server.run_round(federation.server_endpoint());
    if (metrics) metrics->push_back(m);
  }
  return server.model();
}

double distance(std::span<const float> w, const std::vector<double>& truth) {
  double s = 0;
  for (std::size_t d = 0; d < dim; ++d) s += (w[d] - truth[d]) * (w[d] - truth[d]);
  return std::sqrt(s);
}

TEST(IfcaServer, RecoversTwoLinearRegressionClusters) {
  const linear_data data(7);
  using trainer = fedpp::ifca_trainer<float, linear_trainer, linear_loss>;
  const fedpp::ifca_layout plan(linear_layout(), 2);
  const trainer t(plan, linear_trainer{&data}, linear_loss{&data});
  auto log = std::make_shared<fedpp::ifca_round_log>();
  std::vector<fedpp::round_metrics> metrics;
  const auto model = run_ifca(t, 7, 30, log, &metrics);
  for (const auto& m : metrics) {
    EXPECT_TRUE(m.succeeded);
    EXPECT_EQ(m.rejected, 0u);
  }
  const auto c0 = plan.cluster(model, 0), c1 = plan.cluster(model, 1);
  // Each true cluster is recovered by one model (which one is the initialisation's choice).
  const bool straight =
      distance(c0.span(), linear_data::truth(0)) < distance(c0.span(), linear_data::truth(1));
  const auto& m0 = straight ? c0 : c1;
  const auto& m1 = straight ? c1 : c0;
  EXPECT_LT(distance(m0.span(), linear_data::truth(0)), 0.02);
  EXPECT_LT(distance(m1.span(), linear_data::truth(1)), 0.02);
  // And every client now chooses the model of its own cluster.
  for (fedpp::client_id c = 0; c < clients; ++c)
    EXPECT_EQ(t.choose(c, model.view(), {}).cluster, (c % 2 == 0) == straight ? 0u : 1u) << "client " << c;
  EXPECT_EQ(model.span()[plan.index_offset()], 0.0f);
  ASSERT_EQ(log->reports.size(), 2u);
  EXPECT_EQ(log->reports[0] + log->reports[1], 300u);
}

TEST(IfcaServer, DeterministicAtAFixedSeed) {
  const linear_data data(11);
  using trainer = fedpp::ifca_trainer<float, linear_trainer, linear_loss>;
  const fedpp::ifca_layout plan(linear_layout(), 2);
  const trainer t(plan, linear_trainer{&data}, linear_loss{&data});
  const auto a = run_ifca(t, 11, 8, nullptr);
  const auto b = run_ifca(t, 11, 8, nullptr);
  EXPECT_EQ(std::memcmp(a.span().data(), b.span().data(), a.span().size_bytes()), 0);
  const auto c = run_ifca(t, 12, 8, nullptr);
  EXPECT_NE(std::memcmp(a.span().data(), c.span().data(), a.span().size_bytes()), 0);
}

/// Client 3 lies about its cluster (an index out of range), client 5 changes both clusters;
/// everyone else is honest.
struct lying_trainer {
  fedpp::ifca_trainer<float, linear_trainer, linear_loss> honest;
  fedpp::client_result<float> operator()(fedpp::client_id c, const fedpp::host_model_view<const float>& m,
                                         const fedpp::round_config& config) {
    auto r = honest(c, m, config);
    const auto& plan = honest.plan();
    if (c == 3) r.model.span()[plan.index_offset()] = 2; // k = 2: no such cluster
    if (c == 5) r.model.span()[plan.cluster_offset(0)] += 1, r.model.span()[plan.cluster_offset(1)] += 1;
    return r;
  }
};

TEST(IfcaServer, RefusesAndCountsLyingClientsAndKeepsUnreportedClusters) {
  const linear_data data(7);
  const fedpp::ifca_layout plan(linear_layout(), 2);
  const lying_trainer t{{plan, linear_trainer{&data}, linear_loss{&data}}};
  auto log = std::make_shared<fedpp::ifca_round_log>();
  std::vector<fedpp::round_metrics> metrics;
  (void)run_ifca(t, 7, 10, log, &metrics, clients); // every client every round
  for (const auto& m : metrics) {
    EXPECT_EQ(m.rejected, 2u);
    EXPECT_EQ(m.reported, clients - 2);
    EXPECT_TRUE(m.succeeded);
  }
  EXPECT_EQ(log->refused_index, 10u);
  EXPECT_EQ(log->refused_inconsistent, 10u);
  EXPECT_EQ(log->refused_other, 0u);

  // One round where every client picks cluster 0 (cluster 1 is far away): cluster 1 is unchanged.
  auto far = [](fedpp::client_id, const fedpp::host_model_view<const float>& m, const fedpp::round_config&) {
    return static_cast<double>(std::fabs(m[0].view.span()[0]));
  };
  using far_trainer = fedpp::ifca_trainer<float, linear_trainer, decltype(far)>;
  const far_trainer ft(plan, linear_trainer{&data}, far);
  std::vector<fedpp::client_id> ids;
  for (std::size_t c = 0; c < clients; ++c) ids.push_back(c);
  fedpp::in_process_federation<float, far_trainer> federation(ids, ft, plan.stacked(), 1);
  fedpp::flat_model<float> init(plan.stacked());
  for (std::size_t i = 0; i < dim; ++i)
    init.span()[plan.cluster_offset(1) + i] = 100.0f + static_cast<float>(i);
  using agg = fedpp::ifca_aggregator<float>;
  fedpp::server<float, fedpp::uniform_sampler, fedpp::server_sgd<float>, agg> server(
      init, fedpp::uniform_sampler(clients, 5), {}, {}, {}, {},
      [plan](const fedpp::model_layout&) { return agg(plan); });
  ASSERT_TRUE(server.run_round(federation.server_endpoint()).succeeded);
  EXPECT_EQ(values(plan.cluster(server.model(), 1)), values(plan.cluster(init, 1)));
  EXPECT_NE(values(plan.cluster(server.model(), 0)), values(plan.cluster(init, 0)));
}

} // namespace
