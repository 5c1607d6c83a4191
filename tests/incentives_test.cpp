// Contribution evaluation, reputation and rewards (fedpp/incentives): Shapley values on games whose
// values are known (glove, weighted majority, additive, airport), their axioms, the sampling
// estimators (Monte Carlo, TMC, GTG-Shapley) against the exact values, GTG's reconstruction of
// coalition models, leave-one-out, every refusal, the reputation table and sampler, reward
// allocation, and the recorder hooks inside fedpp::server (in_process_federation).
#include "fedpp/incentives/coalition.hpp"
#include "fedpp/incentives/gtg_shapley.hpp"
#include "fedpp/incentives/leave_one_out.hpp"
#include "fedpp/incentives/reputation.hpp"
#include "fedpp/incentives/reputation_sampler.hpp"
#include "fedpp/incentives/rewards.hpp"
#include "fedpp/incentives/shapley.hpp"
#include "fedpp/incentives/update_recorder.hpp"
#include "fedpp/orchestration/in_process_federation.hpp"
#include "fedpp/orchestration/server.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <numeric>
#include <span>
#include <vector>

namespace {

using namespace fedpp::incentives;
using fedpp::client_id;

// --- Games with known Shapley values ---------------------------------------------------------------

// Glove game: players 0 and 1 hold a left glove, player 2 a right one; v(S) = pairs S can make.
// Shapley: (1/6, 1/6, 2/3).
struct glove_game {
  double operator()(const coalition& s) const {
    const int left = int(s.contains(0)) + int(s.contains(1));
    const int right = int(s.contains(2));
    return std::min(left, right);
  }
};

// Weighted majority [51; 50, 49, 1]: {0,1} and {0,2} win, {1,2} loses. Shapley–Shubik index
// (2/3, 1/6, 1/6). Takes the list-of-members form of the utility concept.
struct majority_game {
  double operator()(std::span<const std::size_t> ids) const {
    static constexpr int w[] = {50, 49, 1};
    int total = 0;
    for (const std::size_t i : ids) total += w[i];
    return total >= 51 ? 1.0 : 0.0;
  }
};

// Additive game: v(S) = Σ_{i∈S} a_i; φ_i = a_i (and leave-one-out = a_i).
struct additive_game {
  std::vector<double> a;
  double operator()(const coalition& s) const {
    double v = 0;
    for (std::size_t i = 0; i < a.size(); ++i)
      if (s.contains(i)) v += a[i];
    return v;
  }
};

// Airport game (cost game): v(S) = max_{i∈S} c_i; with c sorted ascending, the Shapley value is
// Littlechild & Owen's (1973) φ_i = Σ_{k≤i} (c_k − c_{k−1}) / (n − k)  (0-based k, c_{−1} = 0).
struct airport_game {
  std::vector<double> c;
  double operator()(const coalition& s) const {
    double v = 0;
    for (std::size_t i = 0; i < c.size(); ++i)
      if (s.contains(i)) v = std::max(v, c[i]);
    return v;
  }
  [[nodiscard]] std::vector<double> shapley() const {
    std::vector<double> phi(c.size(), 0.0);
    const std::size_t n = c.size();
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t k = 0; k <= i; ++k) phi[i] += (c[k] - (k == 0 ? 0.0 : c[k - 1])) / double(n - k);
    return phi;
  }
};

// A game given by a table of 2^n values (random, fixed seed), for the axioms.
struct table_game {
  std::vector<double> v;
  double operator()(const coalition& s) const { return v[s.mask()]; }
  static table_game random(std::size_t n, std::uint64_t seed) {
    fedpp::rng gen(seed);
    table_game g;
    g.v.resize(std::size_t{1} << n);
    for (double& x : g.v) x = gen.uniform() * 10 - 3;
    g.v[0] = 0.5;
    return g;
  }
};

void expect_values(const std::vector<double>& got, const std::vector<double>& want, double tol) {
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], tol) << "player " << i;
}

// --- coalition -------------------------------------------------------------------------------------

TEST(IncentivesCoalition, BitsetBasics) {
  coalition c(70);
  EXPECT_TRUE(c.empty());
  c.add(0).add(65).add(3);
  EXPECT_EQ(c.size(), 3u);
  EXPECT_TRUE(c.contains(65));
  EXPECT_FALSE(c.contains(64));
  EXPECT_FALSE(c.contains(700));
  EXPECT_EQ(c.members(), (std::vector<std::size_t>{0, 3, 65}));
  EXPECT_EQ(c.to_string(), "{0, 3, 65}");
  EXPECT_TRUE(c.without(65).subset_of(c));
  EXPECT_FALSE(c.subset_of(c.without(65)));
  EXPECT_EQ(c.with(7).size(), 4u);
  EXPECT_THROW(c.add(70), fedpp::invalid_config);
  EXPECT_THROW((void)c.mask(), fedpp::invalid_config);
  EXPECT_EQ(coalition::from_mask(5, 0b10110).members(), (std::vector<std::size_t>{1, 2, 4}));
  EXPECT_THROW((void)coalition::from_mask(5, 0b100000), fedpp::invalid_config);
  EXPECT_THROW((void)coalition::from_mask(65, 1), fedpp::invalid_config);
  EXPECT_EQ(coalition::all(64).size(), 64u);
  EXPECT_EQ(coalition::all(64).mask(), ~std::uint64_t{0});
  EXPECT_EQ(coalition::from_mask(5, 3), coalition(5).add(0).add(1));
  EXPECT_EQ(coalition::from_mask(5, 3).hash(), coalition(5).add(1).add(0).hash());
}

TEST(IncentivesCoalition, MemoizedUtilityEvaluatesEachCoalitionOnce) {
  int calls = 0;
  auto v = [&calls](const coalition& s) {
    ++calls;
    return double(s.size());
  };
  memoized_utility<decltype(v)> memo(v);
  const coalition a = coalition::from_mask(4, 5);
  EXPECT_EQ(memo(a), 2.0);
  EXPECT_EQ(memo(a), 2.0);
  EXPECT_EQ(memo(coalition(4)), 0.0);
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(memo.evaluations(), 2u);
  EXPECT_EQ(memo.hits(), 1u);
  // A bounded cache: beyond max_entries values are computed again, never stored.
  memoized_utility<decltype(v)> small(v, 1);
  (void)small(a);
  (void)small(coalition(4));
  (void)small(coalition(4));
  EXPECT_EQ(small.cached(), 1u);
  EXPECT_EQ(small.evaluations(), 3u);
  EXPECT_THROW((memoized_utility<decltype(v)>(v, 0)), fedpp::invalid_config);
}

// --- exact Shapley ---------------------------------------------------------------------------------

TEST(IncentivesShapley, ExactOnKnownGames) {
  glove_game glove;
  expect_values(exact_shapley(glove, 3).values, {1.0 / 6, 1.0 / 6, 2.0 / 3}, 1e-12);
  majority_game majority;
  const auto m = exact_shapley(majority, 3);
  expect_values(m.values, {2.0 / 3, 1.0 / 6, 1.0 / 6}, 1e-12);
  EXPECT_EQ(m.utility_evaluations, 8u);
  additive_game additive{{1.0, -2.0, 3.5, 0.0, 0.25}};
  expect_values(exact_shapley(additive, 5).values, additive.a, 1e-12);
  airport_game airport{{1, 3, 3, 6, 10, 10, 11}};
  const auto a = exact_shapley(airport, 7);
  expect_values(a.values, airport.shapley(), 1e-12);
  EXPECT_DOUBLE_EQ(a.full_utility, 11);
  EXPECT_DOUBLE_EQ(a.empty_utility, 0);
}

TEST(IncentivesShapley, ExactSatisfiesTheAxioms) {
  // Efficiency on a random game.
  auto g = table_game::random(8, 42);
  const auto r = exact_shapley(g, 8);
  EXPECT_NEAR(std::accumulate(r.values.begin(), r.values.end(), 0.0), g.v.back() - g.v.front(), 1e-9);
  // Symmetry: make players 2 and 5 interchangeable (v(S∪{2}) = v(S∪{5}) for S ∌ 2, 5).
  auto sym = g;
  for (std::uint64_t s = 0; s < sym.v.size(); ++s)
    if ((s & 4) != 0 && (s & 32) == 0) sym.v[s] = sym.v[(s & ~std::uint64_t{4}) | 32];
  const auto rs = exact_shapley(sym, 8);
  EXPECT_NEAR(rs.values[2], rs.values[5], 1e-12);
  // Null player: player 3 adds nothing to any coalition.
  auto null = g;
  for (std::uint64_t s = 0; s < null.v.size(); ++s)
    if ((s & 8) != 0) null.v[s] = null.v[s & ~std::uint64_t{8}];
  EXPECT_NEAR(exact_shapley(null, 8).values[3], 0.0, 1e-12);
  // Additivity: φ(v + w) = φ(v) + φ(w).
  auto w = table_game::random(8, 7), sum = g;
  for (std::size_t s = 0; s < sum.v.size(); ++s) sum.v[s] += w.v[s];
  const auto rw = exact_shapley(w, 8), rsum = exact_shapley(sum, 8);
  for (std::size_t i = 0; i < 8; ++i) EXPECT_NEAR(rsum.values[i], r.values[i] + rw.values[i], 1e-9);
}

TEST(IncentivesShapley, Refusals) {
  glove_game glove;
  EXPECT_THROW((void)exact_shapley(glove, 0), fedpp::invalid_config);
  EXPECT_THROW((void)exact_shapley(glove, exact_shapley_max_players + 1), fedpp::invalid_config);
  auto nan = [](const coalition& s) {
    return s.size() == 2 ? std::numeric_limits<double>::quiet_NaN() : 1.0;
  };
  try {
    (void)exact_shapley(nan, 3);
    FAIL() << "a NaN utility was accepted";
  } catch (const fedpp::invalid_config& e) {
    EXPECT_NE(std::string(e.what()).find("{0, 1}"), std::string::npos) << e.what();
  }
  EXPECT_THROW((void)permutation_shapley(nan, 3), fedpp::invalid_config);
  EXPECT_THROW((void)leave_one_out(nan, 3), fedpp::invalid_config);
  for (const auto& bad :
       {permutation_options{.permutations = 0}, permutation_options{.truncation_tolerance = -1},
        permutation_options{.truncation_tolerance = std::numeric_limits<double>::infinity()},
        permutation_options{.convergence_tolerance = std::numeric_limits<double>::quiet_NaN()},
        permutation_options{.convergence_window = 0}, permutation_options{.max_cached = 0}})
    EXPECT_THROW((void)permutation_shapley(glove, 3, bad), fedpp::invalid_config);
  EXPECT_THROW((void)permutation_shapley(glove, 0), fedpp::invalid_config);
}

// --- Monte Carlo and TMC ---------------------------------------------------------------------------

TEST(IncentivesShapley, MonteCarloConvergesToTheExactValues) {
  airport_game airport{{1, 3, 3, 6, 10, 10, 11, 15, 20, 22}};
  const auto exact = airport.shapley();
  const auto r = permutation_shapley(airport, 10, {.permutations = 4000, .seed = 3});
  EXPECT_EQ(r.permutations, 4000u);
  EXPECT_EQ(r.truncated_steps, 0u);
  // The marginal contribution of player i lies in [0, c_i]: σ ≤ c_i / 2, so 5σ/√P bounds the error
  // of an unbiased mean far beyond chance (P(|z| > 5) ≈ 6e-7 per player).
  for (std::size_t i = 0; i < 10; ++i)
    EXPECT_NEAR(r.values[i], exact[i], 5 * (airport.c[i] / 2) / std::sqrt(4000.0)) << "player " << i;
  // Efficiency holds for every sampled ordering, hence for the average (no truncation).
  EXPECT_NEAR(std::accumulate(r.values.begin(), r.values.end(), 0.0), 22.0, 1e-9);
  // The same seed gives the same values; memoization: at most 2^10 distinct coalitions evaluated.
  const auto again = permutation_shapley(airport, 10, {.permutations = 4000, .seed = 3});
  EXPECT_EQ(again.values, r.values);
  EXPECT_LE(r.utility_evaluations, 1024u);
  glove_game glove;
  const auto g = permutation_shapley(glove, 3, {.permutations = 600, .seed = 1});
  expect_values(g.values, {1.0 / 6, 1.0 / 6, 2.0 / 3}, 0.05);
  EXPECT_LE(g.utility_evaluations, 8u);
}

TEST(IncentivesShapley, TruncationSkipsEvaluationsOnceThePrefixReachesTheFullUtility) {
  // Player 0 alone reaches v(N) = 1; the others add 0.01 each without it (capped at v(N)).
  auto v = [](const coalition& s) { return s.contains(0) ? 1.0 : 0.01 * double(s.size()); };
  auto counted = [&v, calls = std::size_t{0}](const coalition& s) mutable {
    ++calls;
    return v(s);
  };
  const permutation_options plain{.permutations = 300, .seed = 5, .max_cached = 1};
  permutation_options tmc = plain;
  tmc.truncation_tolerance = 1e-9;
  const auto full = permutation_shapley(counted, 12, plain);
  const auto trunc = permutation_shapley(counted, 12, tmc);
  EXPECT_GT(trunc.truncated_steps, 0u);
  // Player 0 sits at position (n + 1)/2 on average: about 6.5 of 12 evaluations per ordering remain.
  EXPECT_LT(double(trunc.utility_evaluations), 0.6 * double(full.utility_evaluations));
  // Truncation is exact here (after player 0 every marginal is 0), so the values agree.
  expect_values(trunc.values, full.values, 1e-12);
  EXPECT_GT(trunc.values[0], 0.8);
}

TEST(IncentivesShapley, ConvergenceStopsEarly) {
  additive_game additive{{1.0, 2.0, 3.0}};
  // Every ordering gives the exact marginals: the estimate does not move after the first window.
  const auto r = permutation_shapley(
      additive, 3, {.permutations = 100000, .convergence_tolerance = 0.01, .convergence_window = 10});
  EXPECT_EQ(r.permutations, 20u);
  expect_values(r.values, additive.a, 1e-12);
}

// --- leave-one-out ---------------------------------------------------------------------------------

TEST(IncentivesLeaveOneOut, ValuesAndTheDuplicateBlindSpot) {
  additive_game additive{{1.0, -2.0, 3.5}};
  const auto a = leave_one_out(additive, 3);
  expect_values(a.values, additive.a, 1e-12);
  EXPECT_EQ(a.utility_evaluations, 5u);
  // Players 0 and 1 duplicate each other: each is worth nothing given the other (LOO 0, 0), where the
  // Shapley value splits their worth (1/2, 1/2); player 2 is null in both.
  auto dup = [](const coalition& s) { return (s.contains(0) || s.contains(1)) ? 1.0 : 0.0; };
  expect_values(leave_one_out(dup, 3).values, {0, 0, 0}, 1e-12);
  expect_values(exact_shapley(dup, 3).values, {0.5, 0.5, 0}, 1e-12);
  glove_game glove;
  EXPECT_THROW((void)leave_one_out(glove, 0), fedpp::invalid_config);
}

// --- GTG-Shapley -----------------------------------------------------------------------------------

TEST(IncentivesGtg, GenericGameValuesAndBetweenRoundTruncation) {
  additive_game additive{{0.5, 0.25, 1.0, 0.125}};
  const auto r = gtg_shapley(additive, 4, {.round_tolerance = 0, .tolerance = 0});
  expect_values(r.values, additive.a, 1e-12); // every ordering gives the exact marginals
  EXPECT_EQ(r.permutations % 4, 0u);          // whole batches of n orderings
  EXPECT_GE(r.permutations, 8u);              // min_batches = 2
  // |v(N) − v(∅)| within the round tolerance: all zeros after 2 evaluations.
  additive_game flat{{0.0005, -0.0004, 0.0001}};
  const auto t = gtg_shapley(flat, 3);
  EXPECT_TRUE(t.round_truncated);
  EXPECT_EQ(t.utility_evaluations, 2u);
  expect_values(t.values, {0, 0, 0}, 0);
  airport_game airport{{1, 3, 3, 6, 10, 10, 11}};
  const auto g =
      gtg_shapley(airport, 7, {.tolerance = 0, .convergence_tolerance = 0, .max_batches = 400, .seed = 9});
  expect_values(g.values, airport.shapley(), 0.25);
  for (const auto& bad : {gtg_options{.round_tolerance = -1},
                          gtg_options{.tolerance = std::numeric_limits<double>::quiet_NaN()},
                          gtg_options{.convergence_tolerance = -0.1}, gtg_options{.min_batches = 0},
                          gtg_options{.min_batches = 3, .max_batches = 2}, gtg_options{.max_cached = 0}})
    EXPECT_THROW((void)gtg_shapley(airport, 7, bad), fedpp::invalid_config);
}

// A linear "model" of D = 4 parameters scored by V(M) = −‖M − target‖².
struct distance_score {
  std::vector<float> target;
  std::size_t* calls = nullptr;
  double operator()(std::span<const float> m) const {
    if (calls) ++*calls;
    double s = 0;
    for (std::size_t j = 0; j < m.size(); ++j) s += (double(m[j]) - target[j]) * (double(m[j]) - target[j]);
    return -s;
  }
};

struct toy_round {
  std::vector<float> global{0, 0, 0, 0};
  std::vector<std::vector<float>> deltas{
      {1, 1, 0, 0}, {0.8f, 1.2f, 0.1f, 0}, {1.1f, 0.9f, 0, 0.1f}, {0, 0, 0, 0}, {-1, -1, 0, 0}};
  std::vector<double> weights{100, 50, 80, 100, 60};
  std::vector<client_id> ids{10, 11, 12, 13, 14};
  [[nodiscard]] std::vector<round_update<float>> updates() const {
    std::vector<round_update<float>> u;
    for (std::size_t k = 0; k < deltas.size(); ++k) u.push_back({ids[k], deltas[k], weights[k]});
    return u;
  }
};

TEST(IncentivesGtg, ReconstructsCoalitionModelsAsFedAvgWould) {
  const toy_round round;
  const auto updates = round.updates();
  std::size_t calls = 0;
  reconstruction_utility<float, distance_score> v(round.global, updates,
                                                  distance_score{{1, 1, 0, 0}, &calls});
  const distance_score score{{1, 1, 0, 0}};
  const auto model_of = [&](std::initializer_list<std::size_t> members) {
    std::vector<double> sum(4, 0.0);
    double w = 0;
    for (const std::size_t k : members) {
      for (std::size_t j = 0; j < 4; ++j) sum[j] += round.weights[k] * round.deltas[k][j];
      w += round.weights[k];
    }
    std::vector<float> m(4);
    for (std::size_t j = 0; j < 4; ++j) m[j] = float(round.global[j] + sum[j] / w);
    return score(m);
  };
  EXPECT_DOUBLE_EQ(v(coalition(5)), score(round.global));
  EXPECT_DOUBLE_EQ(v(coalition(5).add(0)), model_of({0}));           // start
  EXPECT_DOUBLE_EQ(v(coalition(5).add(0).add(2)), model_of({0, 2})); // extends the running sum
  EXPECT_DOUBLE_EQ(v(coalition(5).add(1).add(4)), model_of({1, 4})); // starts over
  EXPECT_DOUBLE_EQ(v(coalition::all(5)), model_of({0, 1, 2, 3, 4}));
  EXPECT_EQ(v.reconstructions(), 5u);
  EXPECT_EQ(calls, 5u);
  EXPECT_THROW((void)v(coalition(4)), fedpp::invalid_config);
}

TEST(IncentivesGtg, RoundValuesMatchExactShapleyAndRankBadClientsLast) {
  const toy_round round;
  const auto updates = round.updates();
  reconstruction_utility<float, distance_score> v(round.global, updates, distance_score{{1, 1, 0, 0}});
  const auto exact = exact_shapley(v, 5);
  const auto gtg =
      gtg_shapley_round<float>(round.global, updates, distance_score{{1, 1, 0, 0}},
                               {.tolerance = 0, .convergence_tolerance = 0, .max_batches = 200, .seed = 4});
  ASSERT_EQ(gtg.values.size(), 5u);
  const double range = exact.full_utility - exact.empty_utility;
  for (std::size_t i = 0; i < 5; ++i)
    EXPECT_NEAR(gtg.values[i], exact.values[i], 0.05 * std::abs(range)) << i;
  // The free-rider (3: zero delta) and the flipped client (4) are worth less than every honest one.
  for (const std::size_t bad : {3u, 4u})
    for (const std::size_t good : {0u, 1u, 2u}) EXPECT_LT(gtg.values[bad], gtg.values[good]);
  EXPECT_LT(exact.values[4], 0.0);
  // Default options (truncation, convergence): fewer evaluations than the 2^5 of the exact method.
  const auto fast = gtg_shapley_round<float>(round.global, updates, distance_score{{1, 1, 0, 0}});
  EXPECT_LE(fast.utility_evaluations, 32u);
  EXPECT_LT(fast.values[4], fast.values[0]);
}

TEST(IncentivesGtg, RefusesBadUpdatesNamingTheClient) {
  const toy_round base;
  const distance_score score{{1, 1, 0, 0}};
  const auto refused = [&](toy_round round, client_id who, fedpp::rejection_reason why) {
    const auto updates = round.updates();
    try {
      (void)gtg_shapley_round<float>(round.global, updates, score);
      ADD_FAILURE() << "accepted";
    } catch (const fedpp::rejected_update& e) {
      EXPECT_EQ(e.client(), who);
      EXPECT_EQ(e.reason(), why);
    }
  };
  toy_round r = base;
  r.deltas[2].push_back(0);
  refused(r, 12, fedpp::rejection_reason::layout_mismatch);
  r = base;
  r.deltas[1][3] = std::numeric_limits<float>::quiet_NaN();
  refused(r, 11, fedpp::rejection_reason::non_finite);
  r = base;
  r.deltas[4][0] = std::numeric_limits<float>::infinity();
  refused(r, 14, fedpp::rejection_reason::non_finite);
  for (const double w :
       {0.0, -3.0, std::numeric_limits<double>::infinity(), std::numeric_limits<double>::quiet_NaN()}) {
    r = base;
    r.weights[0] = w;
    refused(r, 10, fedpp::rejection_reason::bad_weight);
  }
  r = base;
  r.ids[3] = 11;
  refused(r, 11, fedpp::rejection_reason::duplicate);
  const std::vector<round_update<float>> none;
  EXPECT_THROW((void)gtg_shapley_round<float>(base.global, none, score), fedpp::invalid_config);
  const auto updates = base.updates();
  auto nan_score = [](std::span<const float>) { return std::numeric_limits<double>::quiet_NaN(); };
  EXPECT_THROW((void)gtg_shapley_round<float>(base.global, updates, nan_score), fedpp::invalid_config);
  EXPECT_THROW((void)gtg_shapley_round<float>(base.global, updates, score, {.max_batches = 0}),
               fedpp::invalid_config);
}

// --- reputation ------------------------------------------------------------------------------------

TEST(IncentivesReputation, Agreement) {
  const std::vector<float> x{1, 2, 3}, y{2, 4, 6}, z{-1, -2, -3}, o{3, 0, -1}, zero{0, 0, 0};
  EXPECT_NEAR(agreement<float>(x, y), 1.0, 1e-12);
  EXPECT_NEAR(agreement<float>(x, z), -1.0, 1e-12);
  EXPECT_NEAR(agreement<float>(x, o), 0.0, 1e-12);
  EXPECT_EQ(agreement<float>(x, zero), 0.0);
  EXPECT_EQ(agreement<float>(zero, zero), 0.0);
  const std::vector<float> w{1, 1};
  EXPECT_THROW((void)agreement<float>(x, w), fedpp::invalid_config);
}

TEST(IncentivesReputation, MovingAverageAndRefusals) {
  reputation_table t(4, {.prior = 0.5, .learning_rate = 0.25});
  EXPECT_EQ(t.bytes_per_client(), 16u);
  EXPECT_EQ(t.observe(1, 0, 1.0), reputation_verdict::accepted);
  EXPECT_DOUBLE_EQ(t.score(1), 0.625); // 0.75·0.5 + 0.25·1
  EXPECT_EQ(t.observe(1, 2, 0.0), reputation_verdict::accepted);
  EXPECT_DOUBLE_EQ(t.score(1), 0.46875);
  EXPECT_EQ(t.observations(1), 2u);
  // Refusals change nothing.
  EXPECT_EQ(t.observe(1, 2, 1.0), reputation_verdict::repeated);
  EXPECT_EQ(t.observe(1, 1, 1.0), reputation_verdict::stale);
  EXPECT_EQ(t.observe(4, 3, 1.0), reputation_verdict::unknown_client);
  for (const double e :
       {-0.01, 1.01, std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::infinity()})
    EXPECT_EQ(t.observe(1, 3, e), reputation_verdict::bad_evidence);
  EXPECT_DOUBLE_EQ(t.score(1), 0.46875);
  EXPECT_EQ(t.observations(1), 2u);
  EXPECT_EQ(t.observe_failure(1, 3), reputation_verdict::accepted);
  EXPECT_DOUBLE_EQ(t.score(1), 0.75 * 0.46875);
  EXPECT_DOUBLE_EQ(t.score(0), 0.5);
  EXPECT_THROW((void)t.score(4), fedpp::invalid_config);
  // Rounds beyond 2^32 − 2 saturate: still accepted, in order.
  EXPECT_EQ(t.observe(2, std::uint64_t{1} << 40, 1.0), reputation_verdict::accepted);
  EXPECT_EQ(t.observe(2, (std::uint64_t{1} << 40) + 1, 1.0), reputation_verdict::accepted);
  EXPECT_EQ(t.observe(2, 5, 1.0), reputation_verdict::stale);
  // Configuration refusals.
  EXPECT_THROW(reputation_table(0), fedpp::invalid_config);
  EXPECT_THROW(reputation_table(3, {.prior = 1.5}), fedpp::invalid_config);
  EXPECT_THROW(reputation_table(3, {.learning_rate = 0}), fedpp::invalid_config);
  EXPECT_THROW(reputation_table(3, {.learning_rate = std::numeric_limits<double>::quiet_NaN()}),
               fedpp::invalid_config);
  EXPECT_THROW(reputation_table(std::vector<client_id>{}), fedpp::invalid_config);
  EXPECT_THROW(reputation_table(std::vector<client_id>{7, 3, 7}), fedpp::invalid_config);
}

TEST(IncentivesReputation, ExplicitIdsAndObserveRound) {
  reputation_table t(std::vector<client_id>{40, 7, 19, 3, 25}, {.prior = 0.5, .learning_rate = 1.0});
  EXPECT_EQ(t.bytes_per_client(), 40u);
  EXPECT_EQ(t.position_of(19), std::optional<std::size_t>(2));
  EXPECT_EQ(t.position_of(20), std::nullopt);
  EXPECT_EQ(t.id_at(0), 40u);
  const std::vector<float> mean{1, 1, 0}, honest{2, 1.5f, 0.2f}, zero{0, 0, 0}, flipped{-1, -1, 0},
      nan{1, std::nanf(""), 0}, wrong{1, 1};
  const std::vector<round_update<float>> u{
      {40, honest, 10}, {7, zero, 10}, {19, flipped, 10}, {3, nan, 10}, {25, wrong, 10}};
  const auto verdicts = t.observe_round<float>(6, u, mean);
  for (const auto v : verdicts) EXPECT_EQ(v, reputation_verdict::accepted);
  EXPECT_NEAR(t.score(40), agreement<float>(honest, mean), 1e-12);
  EXPECT_EQ(t.score(7), 0.0);  // the global model sent back: no agreement
  EXPECT_EQ(t.score(19), 0.0); // pointing away from the mean: clipped at 0
  EXPECT_EQ(t.score(3), 0.0);  // unusable report
  EXPECT_EQ(t.score(25), 0.0); // unusable report
  // A bad aggregate is the caller's mistake: refused, nothing changed.
  const std::vector<float> bad_mean{1, std::numeric_limits<float>::infinity(), 0}, empty;
  EXPECT_THROW((void)t.observe_round<float>(7, u, bad_mean), fedpp::invalid_config);
  EXPECT_THROW((void)t.observe_round<float>(7, u, empty), fedpp::invalid_config);
  EXPECT_EQ(t.observations(40), 1u);
  const std::vector<round_update<float>> stranger{{99, honest, 1}};
  EXPECT_EQ(t.observe_round<float>(7, stranger, mean)[0], reputation_verdict::unknown_client);
}

TEST(IncentivesReputation, ReportQualityAndQualityWeightedEvidence) {
  // Additive game: gains (2, 1, −1, 0), v(N) − v(∅) = 2 → q = (1, 0.5, 0, 0) after n + 2 evaluations.
  additive_game additive{{2.0, 1.0, -1.0, 0.0}};
  std::size_t calls = 0;
  auto counted = [&](const coalition& c) {
    ++calls;
    return additive(c);
  };
  expect_values(report_quality(counted, 4), {1.0, 0.5, 0.0, 0.0}, 1e-12);
  EXPECT_EQ(calls, 6u);
  // One player alone beats the whole coalition: it sets the scale.
  additive_game mixed{{3.0, -2.0, 1.0}};
  expect_values(report_quality(mixed, 3), {1.0, 0.0, 1.0 / 3}, 1e-12);
  // Nobody improves anything: all 0.
  additive_game worse{{-1.0, 0.0}};
  expect_values(report_quality(worse, 2), {0.0, 0.0}, 0);
  EXPECT_THROW((void)report_quality(additive, 0), fedpp::invalid_config);

  reputation_table t(3, {.prior = 0.5, .learning_rate = 1.0});
  const std::vector<float> mean{1, 0}, a{1, 0}, b{1, 1}, c{2, 0};
  const std::vector<round_update<float>> u{{0, a, 1}, {1, b, 1}, {2, c, 1}};
  const std::vector<double> q{0.5, 1.0, std::numeric_limits<double>::quiet_NaN()};
  const auto v = t.observe_round<float>(0, u, mean, q);
  EXPECT_EQ(v[0], reputation_verdict::accepted);
  EXPECT_EQ(v[1], reputation_verdict::accepted);
  EXPECT_EQ(v[2], reputation_verdict::bad_evidence);
  EXPECT_NEAR(t.score(0), 0.5, 1e-12);               // cos 1 × q 0.5
  EXPECT_NEAR(t.score(1), 1 / std::sqrt(2.0), 1e-7); // cos 45° × q 1
  EXPECT_EQ(t.score(2), 0.5);                        // refused: unchanged
  EXPECT_EQ(t.observations(2), 0u);
  const std::vector<double> short_q{1.0};
  EXPECT_THROW((void)t.observe_round<float>(1, u, mean, short_q), fedpp::invalid_config);
  EXPECT_EQ(t.observations(0), 1u);
}

TEST(IncentivesReputationSampler, PicksInProportionToReputation) {
  auto table = std::make_shared<reputation_table>(4, reputation_options{.prior = 0.5, .learning_rate = 1.0});
  (void)table->observe(0, 0, 1.0);
  (void)table->observe(1, 0, 0.5);
  (void)table->observe(2, 0, 0.0);
  (void)table->observe(3, 0, 0.25);
  const reputation_sampler s(table, 1, 0.1, {1, 1, 2, 1});
  static_assert(fedpp::sized_client_sampler<reputation_sampler>);
  const std::vector<double> w = s.weights(); // b·(0.1 + 0.9 r)
  expect_values(w, {1.0, 0.55, 0.2, 0.325}, 1e-12);
  const double total = std::accumulate(w.begin(), w.end(), 0.0);
  std::vector<int> counts(4, 0);
  const int draws = 20000;
  for (int r = 0; r < draws; ++r) {
    const auto picks = fedpp::sample_round(s, 11, std::uint64_t(r));
    ASSERT_EQ(picks.size(), 1u);
    ++counts[picks[0]];
  }
  // m = 1: P(i) = w_i / Σw exactly; a binomial count within 5σ.
  for (std::size_t i = 0; i < 4; ++i) {
    const double p = w[i] / total, sd = std::sqrt(draws * p * (1 - p));
    EXPECT_NEAR(counts[i], draws * p, 5 * sd) << "client " << i;
  }
  // The table is shared: a new score changes the next picks' weights.
  (void)table->observe(2, 1, 1.0);
  EXPECT_NEAR(s.weights()[2], 2.0, 1e-12);
  const auto resized = s.with_sample_size(3);
  const auto picks = fedpp::sample_round(resized, 1, 0);
  EXPECT_EQ(picks.size(), 3u);
  EXPECT_TRUE(std::is_sorted(picks.begin(), picks.end()));
  EXPECT_THROW((void)s.with_sample_size(0), fedpp::invalid_config);
  EXPECT_THROW((void)s.with_sample_size(5), fedpp::invalid_config);
}

TEST(IncentivesReputationSampler, Refusals) {
  auto table = std::make_shared<const reputation_table>(4);
  EXPECT_THROW(reputation_sampler(nullptr, 1), fedpp::invalid_config);
  EXPECT_THROW(reputation_sampler(table, 0), fedpp::invalid_config);
  EXPECT_THROW(reputation_sampler(table, 5), fedpp::invalid_config);
  EXPECT_THROW(reputation_sampler(table, 2, 0.0), fedpp::invalid_config);
  EXPECT_THROW(reputation_sampler(table, 2, 1.5), fedpp::invalid_config);
  EXPECT_THROW(reputation_sampler(table, 2, std::numeric_limits<double>::quiet_NaN()), fedpp::invalid_config);
  EXPECT_THROW(reputation_sampler(table, 2, 0.1, {1, 1, 1}), fedpp::invalid_config);
  EXPECT_THROW(reputation_sampler(table, 2, 0.1, {1, 1, 0, 1}), fedpp::invalid_config);
  EXPECT_THROW(reputation_sampler(table, 2, 0.1, {1, 1, std::numeric_limits<double>::infinity(), 1}),
               fedpp::invalid_config);
}

// --- rewards ---------------------------------------------------------------------------------------

TEST(IncentivesRewards, ProportionalToPositiveContributions) {
  const std::vector<double> phi{2, -1, 6, 0};
  const auto a = allocate_rewards(phi, 100);
  expect_values(a.rewards, {25, 0, 75, 0}, 1e-12);
  EXPECT_NEAR(a.allocated, 100, 1e-12);
  EXPECT_NEAR(a.unallocated, 0, 1e-12);
  // Nobody contributed: nothing is paid.
  const std::vector<double> none{-1, 0, -3};
  const auto n = allocate_rewards(none, 50);
  expect_values(n.rewards, {0, 0, 0}, 0);
  EXPECT_EQ(n.unallocated, 50);
  // Sums that overflow keep their proportions.
  const std::vector<double> huge{1e308, 1e308, 1.5e308};
  const auto h = allocate_rewards(huge, 7);
  EXPECT_NEAR(h.rewards[0] / h.rewards[2], 1 / 1.5, 1e-12);
  EXPECT_NEAR(h.allocated, 7, 1e-12);
  // Refusals.
  const std::vector<double> empty, nan{1, std::numeric_limits<double>::quiet_NaN()};
  EXPECT_THROW((void)allocate_rewards(empty, 1), fedpp::invalid_config);
  EXPECT_THROW((void)allocate_rewards(nan, 1), fedpp::invalid_config);
  EXPECT_THROW((void)allocate_rewards(phi, -1), fedpp::invalid_config);
  EXPECT_THROW((void)allocate_rewards(phi, std::numeric_limits<double>::infinity()), fedpp::invalid_config);
}

TEST(IncentivesRewards, FairnessOnKnownGames) {
  // Efficiency: budget v(N) − v(∅) with Shapley values (all ≥ 0 here) pays exactly the Shapley values.
  glove_game glove;
  const auto g = exact_shapley(glove, 3);
  const auto ga = allocate_rewards(g.values, g.full_utility - g.empty_utility);
  expect_values(ga.rewards, g.values, 1e-12);
  airport_game airport{{1, 3, 3, 6, 10}};
  const auto ap = exact_shapley(airport, 5);
  const auto aa = allocate_rewards(ap.values, 10);
  expect_values(aa.rewards, ap.values, 1e-12);
  EXPECT_NEAR(aa.rewards[1], aa.rewards[2], 1e-12); // symmetry: the two c = 3 planes
  // Null player: a fourth voter with weight 0 in the majority game is paid nothing.
  auto voters = [](const coalition& s) {
    static constexpr int w[] = {50, 49, 1, 0};
    int total = 0;
    for (std::size_t i = 0; i < 4; ++i)
      if (s.contains(i)) total += w[i];
    return total >= 51 ? 1.0 : 0.0;
  };
  const auto v = exact_shapley(voters, 4);
  const auto va = allocate_rewards(v.values, 90);
  expect_values(va.rewards, {60, 15, 15, 0}, 1e-9);
}

// --- inside fedpp::server --------------------------------------------------------------------------

fedpp::model_layout toy_layout() {
  fedpp::model_layout l;
  l.add("w", {4});
  return l;
}

// Honest clients move the model halfway to (1, 1, 1, 1); free-riders (6, 7) send it back unchanged;
// client 5 sends NaN.
struct toy_trainer {
  fedpp::client_result<float> operator()(client_id id, const fedpp::host_model_view<const float>& global,
                                         const fedpp::round_config&) const {
    auto model = fedpp::flat_model<float>::copy_of(global);
    for (float& x : model.span()) {
      if (id == 5)
        x = std::numeric_limits<float>::quiet_NaN();
      else if (id < 5)
        x += 0.5f * (1.0f - x) + 0.01f * float(id);
    }
    return {std::move(model), fedpp::update_kind::weights, 10.0 + double(id), {}};
  }
};

TEST(IncentivesServer, RecorderAndReputationSamplerInsideTheRound) {
  std::vector<client_id> ids(8);
  std::iota(ids.begin(), ids.end(), client_id{0});
  fedpp::in_process_federation<float, toy_trainer> federation(ids, toy_trainer{}, toy_layout(), 1);
  auto table = std::make_shared<reputation_table>(8, reputation_options{.prior = 0.5, .learning_rate = 0.5});
  update_recorder<float> recorder;
  const auto record = recorder.record;
  fedpp::server_options options;
  options.seed = 3;
  fedpp::server<float, reputation_sampler, fedpp::server_sgd<float>, fedpp::fedavg<float>,
                fedpp::wall_clock_availability, update_recorder<float>>
      server(fedpp::flat_model<float>(toy_layout()), reputation_sampler(table, 4, 0.05), {}, options, {},
             recorder);
  std::map<client_id, int> picked;
  for (int r = 0; r < 30; ++r) {
    const std::vector<float> before(server.model().span().begin(), server.model().span().end());
    const auto m = server.run_round(federation.server_endpoint());
    ASSERT_EQ(record->round, std::uint64_t(r));
    for (const client_id c : record->recipients) ++picked[c];
    const bool nan_sampled = std::find(record->recipients.begin(), record->recipients.end(), client_id{5}) !=
                             record->recipients.end();
    EXPECT_EQ(record->refused.size(), nan_sampled ? 1u : 0u);
    EXPECT_EQ(record->clients.size(), m.reported);
    const auto updates = record->updates();
    if (m.succeeded) {
      // The recorded aggregate is the weighted mean of the recorded deltas, and it is what moved the model.
      double w = 0;
      std::vector<double> mean(4, 0.0);
      for (const auto& u : updates) {
        for (std::size_t j = 0; j < 4; ++j) mean[j] += u.weight * u.delta[j];
        w += u.weight;
      }
      for (std::size_t j = 0; j < 4; ++j) {
        EXPECT_NEAR(record->aggregate[j], mean[j] / w, 1e-6);
        EXPECT_NEAR(server.model().span()[j], before[j] + record->aggregate[j], 1e-6);
      }
      (void)table->observe_round<float>(record->round, updates, record->aggregate);
    }
    for (const client_id c : record->refused) (void)table->observe_failure(c, record->round);
  }
  for (const client_id bad : {5u, 6u, 7u})
    for (const client_id good : {0u, 1u, 2u, 3u, 4u}) {
      if (table->observations(bad) > 0) {
        EXPECT_LT(table->score(bad), table->score(good)) << bad << " vs " << good;
      }
    }
  // After the first rounds the bad clients are picked far less than the honest ones.
  int bad_picks = picked[5] + picked[6] + picked[7], good_picks = 0;
  for (client_id c = 0; c < 5; ++c) good_picks += picked[c];
  EXPECT_LT(bad_picks * 5, good_picks); // 3 of 8 clients, well under 3/8 of the picks
}

} // namespace
