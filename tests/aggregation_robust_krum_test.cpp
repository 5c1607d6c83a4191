// Krum's conventions and public helpers: the neighbour count (Blanchard et al. vs Flower), the
// cases of Flower's own Krum / Multi-Krum tests, per-client scores against a naive double
// reference, the options structs, and counts a rule cannot use: can_report() false with the
// reason, and fedpp::server failing such a round instead of throwing.
#include "fedpp/aggregation/robust/robust.hpp"
#include "fedpp/orchestration/in_process_federation.hpp"
#include "fedpp/orchestration/server.hpp"
#include "fedpp/random/rng.hpp"
#include "fedpp/scheduling/uniform_sampler.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>
#include <vector>

namespace {

using fedpp::client_update;
using fedpp::krum_neighbours;
using fedpp::model_layout;

model_layout layout_of(std::size_t dim) {
  model_layout layout;
  layout.add("w", {dim});
  return layout;
}

std::vector<std::vector<float>> random_rows(std::size_t k, std::size_t dim, std::uint64_t seed) {
  fedpp::rng gen(seed);
  std::vector<std::vector<float>> rows(k, std::vector<float>(dim));
  for (auto& row : rows)
    for (auto& v : row) v = static_cast<float>(gen.uniform() * 2.0 - 1.0);
  return rows;
}

// Every client sends the same value in each of its 4 coordinates, with 5 examples (Flower's tests).
std::vector<std::vector<float>> constant_rows(const std::vector<float>& values, std::size_t dim = 4) {
  std::vector<std::vector<float>> rows;
  for (float v : values) rows.emplace_back(dim, v);
  return rows;
}

template <class Agg>
void feed(Agg& agg, const std::vector<std::vector<float>>& rows, double weight = 5.0) {
  const auto layout = layout_of(rows.front().size());
  for (std::size_t k = 0; k < rows.size(); ++k)
    agg.accumulate(client_update<float>::from_flat(k, layout, rows[k], weight));
}

TEST(KrumConventions, NeighbourCounts) {
  const fedpp::krum_rule blanchard({.byzantine = 2});
  const fedpp::krum_rule flower({.byzantine = 2, .neighbours = krum_neighbours::flower});
  // n − f − 2 where n > 2f + 2; Flower: max(1, n − f − 2), at most n − 1.
  EXPECT_EQ(blanchard.neighbours(7), 3U);
  EXPECT_EQ(flower.neighbours(7), 3U);
  EXPECT_EQ(flower.neighbours(5), 1U);
  EXPECT_EQ(flower.neighbours(3), 1U);
  EXPECT_EQ(flower.neighbours(2), 1U);
  EXPECT_EQ(flower.neighbours(1), 0U);
  EXPECT_FALSE(blanchard.problem(7));
  ASSERT_TRUE(blanchard.problem(6));
  EXPECT_NE(blanchard.problem(6)->find("2f + 2 = 6"), std::string::npos) << *blanchard.problem(6);
  for (std::size_t n = 1; n < 8; ++n) EXPECT_FALSE(flower.problem(n)) << n;
  EXPECT_TRUE(flower.problem(0));
  EXPECT_EQ(flower.options().byzantine, 2U);
  EXPECT_EQ(flower.options().neighbours, krum_neighbours::flower);
}

TEST(KrumConventions, FlowersKrumTestCase) {
  // flwr's krum_test.py: f = 1, clients 0.2, 0.7, 1.0 (4 coordinates each): squared distances
  // 1.0, 2.56, 0.36; with max(1, 3 − 1 − 2) = 1 neighbour the scores are 1.0, 0.36, 0.36 and the
  // first lowest, 0.7, is chosen.
  const auto rows = constant_rows({0.2F, 0.7F, 1.0F});
  fedpp::krum<float> agg(layout_of(4), {.byzantine = 1, .neighbours = krum_neighbours::flower});
  feed(agg, rows);
  const auto scores = agg.rule().scores(agg.updates());
  ASSERT_EQ(scores.size(), 3U);
  EXPECT_NEAR(scores[0], 4 * 0.25, 1e-6);
  EXPECT_NEAR(scores[1], 4 * 0.09, 1e-6);
  EXPECT_NEAR(scores[2], 4 * 0.09, 1e-6);
  ASSERT_TRUE(agg.can_report());
  const auto out = std::move(agg).report();
  for (float v : out.span()) EXPECT_EQ(v, 0.7F);
  // Blanchard et al.'s count refuses n = 3 for f = 1 (it needs n > 4).
  fedpp::krum<float> strict(layout_of(4), {.byzantine = 1});
  feed(strict, rows);
  EXPECT_FALSE(strict.can_report());
  EXPECT_NE(strict.report_blocker()->find("n = 3"), std::string::npos) << *strict.report_blocker();
}

TEST(KrumConventions, FlowersMultiKrumTestCase) {
  // flwr's multikrum_test.py: f = 1, keep 2 of 0.2, 0.5, 1.0 → scores 0.36, 0.36, 1.0, the
  // mean of the first two weighted by their equal examples: 0.35.
  fedpp::krum<float> agg(layout_of(4),
                         {.byzantine = 1, .selected = 2, .neighbours = krum_neighbours::flower});
  feed(agg, constant_rows({0.2F, 0.5F, 1.0F}));
  EXPECT_EQ(agg.rule().select(agg.updates()), (std::vector<std::size_t>{0, 1}));
  const auto out = std::move(agg).report();
  for (float v : out.span()) EXPECT_EQ(v, 0.35F);
}

TEST(KrumConventions, FlowerCountsWithOneOrTwoClients) {
  fedpp::krum<float> one(layout_of(4), {.byzantine = 3, .neighbours = krum_neighbours::flower});
  feed(one, constant_rows({2.5F}));
  EXPECT_EQ(one.rule().scores(one.updates()), std::vector<double>{0.0});
  const auto single = std::move(one).report();
  for (float v : single.span()) EXPECT_EQ(v, 2.5F);
  fedpp::krum<float> two(layout_of(4), {.byzantine = 3, .neighbours = krum_neighbours::flower});
  feed(two, constant_rows({1.0F, 3.0F}));
  EXPECT_EQ(two.rule().scores(two.updates()), (std::vector<double>{16.0, 16.0}));
  const auto first = std::move(two).report();
  for (float v : first.span()) EXPECT_EQ(v, 1.0F); // tie: arrival order
}

// Naive scores: direct double distances, the `nb` smallest to the other rows summed.
std::vector<double> naive_scores(const std::vector<std::vector<float>>& x, std::size_t nb) {
  std::vector<double> scores;
  for (std::size_t i = 0; i < x.size(); ++i) {
    std::vector<double> d;
    for (std::size_t j = 0; j < x.size(); ++j) {
      if (j == i) continue;
      double s = 0;
      for (std::size_t e = 0; e < x[i].size(); ++e) {
        const double diff = double(x[i][e]) - double(x[j][e]);
        s += diff * diff;
      }
      d.push_back(s);
    }
    std::sort(d.begin(), d.end());
    scores.push_back(
        std::accumulate(d.begin(), d.begin() + static_cast<std::ptrdiff_t>(std::min(nb, d.size())), 0.0));
  }
  return scores;
}

TEST(KrumScores, MatchTheNaiveReference) {
  fedpp::parallel::thread_pool pool(2);
  for (std::size_t k : {1, 2, 3, 4, 7, 12, 33})
    for (std::size_t dim : {1, 17, 1030})
      for (std::size_t f : {0, 1, 3})
        for (auto convention : {krum_neighbours::blanchard, krum_neighbours::flower}) {
          const fedpp::krum_rule rule({.byzantine = f, .neighbours = convention});
          if (rule.problem(k)) continue;
          const auto rows = random_rows(k, dim, 13 * k + dim + f);
          fedpp::krum<float> agg(layout_of(dim), rule);
          feed(agg, rows, 1.0);
          const auto ref = naive_scores(rows, rule.neighbours(k));
          for (auto* threads : {static_cast<fedpp::parallel::thread_pool*>(nullptr), &pool}) {
            const auto scores =
                threads ? rule.with_pool(*threads).scores(agg.updates()) : rule.scores(agg.updates());
            ASSERT_EQ(scores.size(), k);
            for (std::size_t i = 0; i < k; ++i)
              ASSERT_NEAR(scores[i], ref[i], 1e-5 * ref[i] + 1e-12)
                  << "K=" << k << " D=" << dim << " f=" << f << " client " << i;
          }
        }
}

TEST(KrumOptions, AggregatorsTakeOptionsOrRules) {
  const auto layout = layout_of(3);
  const fedpp::krum<float> a(layout, {.byzantine = 1, .selected = 2, .weights = fedpp::weighting::uniform});
  EXPECT_EQ(a.rule().options().selected, 2U);
  EXPECT_EQ(a.rule().options().weights, fedpp::weighting::uniform);
  EXPECT_STREQ(a.rule().name(), "multi_krum");
  const fedpp::krum<float> b(layout, fedpp::krum_rule({.byzantine = 1}));
  EXPECT_STREQ(b.rule().name(), "krum");
  const fedpp::geometric_median<float> g(layout, {.max_iterations = 3, .tolerance = 0});
  EXPECT_EQ(g.rule().options().max_iterations, 3U);
  const fedpp::trimmed_mean<float> t(layout, {.beta = 0.1});
  EXPECT_EQ(t.rule().options().beta, 0.1);
  const fedpp::bulyan<float> u(layout, {.byzantine = 2});
  EXPECT_EQ(u.rule().options().byzantine, 2U);
  const fedpp::coordinate_median<float> m(layout);
  EXPECT_FALSE(m.can_report());
}

TEST(GeometricMedianOptions, ZeroToleranceRunsExactlyMaxIterations) {
  const auto rows = random_rows(9, 5, 3);
  fedpp::update_matrix<float> x(5);
  x.reserve_more(rows.size(), "test");
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const std::span<const float> piece[1] = {rows[i]};
    x.append(i, 1.0, piece);
  }
  std::vector<double> v;
  for (std::size_t iterations : {1, 3, 50})
    EXPECT_EQ(fedpp::geometric_median_rule({.max_iterations = iterations, .tolerance = 0}).solve(x, v),
              iterations);
  EXPECT_LT(fedpp::geometric_median_rule({.max_iterations = 1000, .tolerance = 1e-3}).solve(x, v), 1000U);
}

// --- A round the rule cannot use fails in fedpp::server, without an exception ----------------

struct constant_trainer {
  fedpp::client_result<float> operator()(fedpp::client_id id,
                                         const fedpp::host_model_view<const float>& global,
                                         const fedpp::round_config&) const {
    fedpp::client_result<float> result{
        fedpp::flat_model<float>(global.layout()), fedpp::update_kind::weights, 1.0, {}};
    constexpr float values[] = {0.0F, 10.0F, 11.0F, 20.0F, 40.0F}; // one closest pair: clients 1 and 2
    for (auto& v : result.model.span()) v = values[id % 5];
    return result;
  }
};

TEST(RobustServer, ARoundWithTooFewUpdatesForTheRuleFailsWithoutThrowing) {
  std::vector<fedpp::client_id> clients{0, 1, 2, 3, 4};
  const auto layout = layout_of(3);
  fedpp::in_process_federation<float, constant_trainer> fed(clients, constant_trainer{}, layout, 2);
  using server_type =
      fedpp::server<float, fedpp::uniform_sampler, fedpp::server_sgd<float>, fedpp::krum<float>>;
  // Krum with f = 2 needs n > 6 under Blanchard et al.'s count: 5 reports cannot be used.
  server_type strict(fedpp::flat_model<float>(layout), fedpp::uniform_sampler(5, 5), {}, {}, {}, {},
                     [](const model_layout& l) { return fedpp::krum<float>(l, {.byzantine = 2}); });
  fedpp::round_metrics metrics;
  ASSERT_NO_THROW(metrics = strict.run_round(fed.server_endpoint()));
  EXPECT_EQ(metrics.reported, 5U);
  EXPECT_FALSE(metrics.succeeded);
  for (float v : strict.model().span()) EXPECT_EQ(v, 0.0F); // model unchanged
  // Flower's count accepts them: with max(1, 5 − 2 − 2) = 1 neighbour the closest pair (clients 1
  // and 2) share the lowest score, and the one that arrived first is chosen.
  server_type flower(fedpp::flat_model<float>(layout), fedpp::uniform_sampler(5, 5), {}, {}, {}, {},
                     [](const model_layout& l) {
                       return fedpp::krum<float>(l, {.byzantine = 2, .neighbours = krum_neighbours::flower});
                     });
  metrics = flower.run_round(fed.server_endpoint());
  EXPECT_TRUE(metrics.succeeded);
  const float chosen = flower.model().span()[0];
  EXPECT_TRUE(chosen == 10.0F || chosen == 11.0F) << chosen;
  for (float v : flower.model().span()) EXPECT_EQ(v, chosen);
}

} // namespace
