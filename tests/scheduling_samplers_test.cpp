// Client samplers: distributions at a fixed seed (chi-square at p = 0.001), determinism, no
// duplicates, population handling, over-selection counts, bad parameters.
#include "fedpp/scheduling/client_sampler.hpp"
#include "fedpp/scheduling/over_selection.hpp"
#include "fedpp/scheduling/poisson_sampler.hpp"
#include "fedpp/scheduling/uniform_sampler.hpp"
#include "fedpp/scheduling/weighted_sampler.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <numeric>
#include <set>
#include <string>
#include <vector>

namespace {

using fedpp::client_id;
using testing::HasSubstr;

// --- chi-square tail probability -------------------------------------------------------------------
// P(χ²_k > x) = Q(k/2, x/2), the regularized upper incomplete gamma function: power series of
// P(a, z) for z < a + 1, Legendre's continued fraction of Q (modified Lentz) otherwise
// (Abramowitz & Stegun 6.5.29 and 6.5.31).
double upper_regularized_gamma(double a, double z) {
  if (z <= 0) return 1.0;
  const double log_prefix = a * std::log(z) - z - std::lgamma(a);
  if (z < a + 1) {
    double term = 1.0 / a;
    double sum = term;
    for (int n = 1; n < 10000; ++n) {
      term *= z / (a + n);
      sum += term;
      if (std::abs(term) < std::abs(sum) * 1e-16) break;
    }
    return 1.0 - sum * std::exp(log_prefix);
  }
  constexpr double tiny = 1e-300;
  double b = z + 1 - a;
  double c = 1 / tiny;
  double d = 1 / b;
  double h = d;
  for (int i = 1; i < 10000; ++i) {
    const double an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (std::abs(d) < tiny) d = tiny;
    c = b + an / c;
    if (std::abs(c) < tiny) c = tiny;
    d = 1 / d;
    const double delta = d * c;
    h *= delta;
    if (std::abs(delta - 1) < 1e-16) break;
  }
  return std::exp(log_prefix) * h;
}

double chi_square_sf(double x, double df) { return upper_regularized_gamma(df / 2, x / 2); }

// The x with P(χ²_df > x) = p, by bisection on the tail probability.
double chi_square_critical(double df, double p) {
  double lo = 0;
  double hi = df + 100 * std::sqrt(2 * df) + 100;
  for (int i = 0; i < 200; ++i) {
    const double mid = (lo + hi) / 2;
    (chi_square_sf(mid, df) > p ? lo : hi) = mid;
  }
  return (lo + hi) / 2;
}

constexpr double significance = 0.001;

// Upper 0.001 points of χ² from standard tables (e.g. NIST/SEMATECH e-Handbook, Table 1.3.6.7.4).
TEST(ChiSquare, CriticalValuesMatchTables) {
  EXPECT_NEAR(chi_square_critical(1, significance), 10.828, 2e-3);
  EXPECT_NEAR(chi_square_critical(4, significance), 18.467, 2e-3);
  EXPECT_NEAR(chi_square_critical(9, significance), 27.877, 2e-3);
  EXPECT_NEAR(chi_square_critical(19, significance), 43.820, 2e-3);
  EXPECT_NEAR(chi_square_critical(30, significance), 59.703, 2e-3);
  EXPECT_NEAR(chi_square_critical(100, significance), 149.449, 2e-3);
}

// Pearson statistic Σ (O − E)²/E with cells of expectation < 5 merged into their neighbour
// (from the ends inwards) so that the χ² approximation holds; returns {statistic, df}.
std::pair<double, double> pearson(std::vector<double> observed, std::vector<double> expected) {
  std::vector<double> o;
  std::vector<double> e;
  double po = 0;
  double pe = 0;
  for (std::size_t i = 0; i < observed.size(); ++i) {
    po += observed[i];
    pe += expected[i];
    if (pe >= 5) {
      o.push_back(po);
      e.push_back(pe);
      po = pe = 0;
    }
  }
  if (pe > 0 || po > 0) {
    o.back() += po;
    e.back() += pe;
  }
  double x = 0;
  for (std::size_t i = 0; i < o.size(); ++i) x += (o[i] - e[i]) * (o[i] - e[i]) / e[i];
  return {x, static_cast<double>(o.size() - 1)};
}

// Per-client inclusion counts over `rounds` rounds of sample_round(s, seed, r).
template <class S>
std::vector<double> inclusion_counts(S& s, std::uint64_t seed, std::uint64_t rounds) {
  std::vector<double> counts(s.population_size(), 0.0);
  for (std::uint64_t r = 0; r < rounds; ++r)
    for (const client_id c : fedpp::sample_round(s, seed, r)) counts[static_cast<std::size_t>(c)] += 1;
  return counts;
}

// For without-replacement sampling of exactly m with equal probabilities p = m/N, the counts
// have covariance R·p(1−p)·(N/(N−1))·(I − 11ᵀ/N), so (N−1)/N · Σ (O_i − Rp)²/(Rp(1−p)) is
// asymptotically χ² with N − 1 degrees of freedom.
double equal_probability_statistic(const std::vector<double>& counts, double p, double rounds) {
  const auto n = static_cast<double>(counts.size());
  double x = 0;
  for (const double o : counts) x += (o - rounds * p) * (o - rounds * p) / (rounds * p * (1 - p));
  return x * (n - 1) / n;
}

// Exact inclusion probabilities of successive weighted sampling without replacement (what
// Efraimidis–Spirakis keys implement), by enumerating the ordered draws.
std::vector<double> successive_inclusion(const std::vector<double>& w, std::size_t m) {
  std::vector<double> pi(w.size(), 0.0);
  std::vector<bool> taken(w.size(), false);
  std::vector<std::size_t> path;
  const std::function<void(double, double)> walk = [&](double prob, double remaining) {
    if (path.size() == m) {
      for (const std::size_t i : path) pi[i] += prob;
      return;
    }
    for (std::size_t i = 0; i < w.size(); ++i) {
      if (taken[i]) continue;
      taken[i] = true;
      path.push_back(i);
      walk(prob * w[i] / remaining, remaining - w[i]);
      path.pop_back();
      taken[i] = false;
    }
  };
  walk(1.0, std::accumulate(w.begin(), w.end(), 0.0));
  return pi;
}

void expect_valid_sample(const std::vector<client_id>& picks, std::size_t n) {
  EXPECT_TRUE(std::is_sorted(picks.begin(), picks.end()));
  EXPECT_EQ(std::adjacent_find(picks.begin(), picks.end()), picks.end()) << "duplicate client";
  for (const client_id c : picks) EXPECT_LT(c, n);
}

// --- concepts ---------------------------------------------------------------------------------------
static_assert(fedpp::client_sampler<fedpp::uniform_sampler>);
static_assert(fedpp::client_sampler<fedpp::weighted_sampler>);
static_assert(fedpp::client_sampler<fedpp::poisson_sampler>);
static_assert(fedpp::client_sampler<fedpp::over_selection<fedpp::weighted_sampler>>);
static_assert(fedpp::has_inclusion_probability<fedpp::poisson_sampler>);
static_assert(!fedpp::has_inclusion_probability<fedpp::weighted_sampler>);
static_assert(!fedpp::has_inclusion_probability<fedpp::over_selection<fedpp::weighted_sampler>>);
static_assert(!fedpp::sized_client_sampler<fedpp::poisson_sampler>);
static_assert(!fedpp::client_sampler<int>);

// --- uniform ----------------------------------------------------------------------------------------
TEST(UniformSampler, InclusionFrequenciesAreMOverN) {
  const std::size_t n = 20;
  const std::size_t m = 5;
  const std::uint64_t rounds = 20000;
  fedpp::uniform_sampler s(n, m);
  EXPECT_DOUBLE_EQ(s.inclusion_probability(), 0.25);
  std::vector<double> counts(n, 0.0);
  for (std::uint64_t r = 0; r < rounds; ++r) {
    const auto picks = fedpp::sample_round(s, 11, r);
    ASSERT_EQ(picks.size(), m);
    expect_valid_sample(picks, n);
    for (const client_id c : picks) counts[c] += 1;
  }
  const double x = equal_probability_statistic(counts, 0.25, static_cast<double>(rounds));
  EXPECT_LT(x, chi_square_critical(n - 1, significance)) << "statistic " << x;
}

TEST(UniformSampler, PairFrequenciesAreUniform) {
  // Every 2-subset of 6 clients equally likely (15 cells, multinomial over rounds).
  fedpp::uniform_sampler s(6, 2);
  std::vector<double> cells(36, 0.0);
  const std::uint64_t rounds = 15000;
  for (std::uint64_t r = 0; r < rounds; ++r) {
    const auto p = fedpp::sample_round(s, 5, r);
    cells[p[0] * 6 + p[1]] += 1;
  }
  std::vector<double> observed;
  for (std::size_t a = 0; a < 6; ++a)
    for (std::size_t b = a + 1; b < 6; ++b) observed.push_back(cells[a * 6 + b]);
  const auto [x, df] = pearson(observed, std::vector<double>(15, static_cast<double>(rounds) / 15));
  EXPECT_EQ(df, 14);
  EXPECT_LT(x, chi_square_critical(df, significance));
}

TEST(UniformSampler, TheTestRejectsANonUniformSampler) {
  // Power check of the statistic above: weights 1..20 are far from uniform and must be caught.
  std::vector<double> w(20);
  std::iota(w.begin(), w.end(), 1.0);
  fedpp::weighted_sampler biased(w, 5);
  const auto counts = inclusion_counts(biased, 11, 20000);
  EXPECT_GT(equal_probability_statistic(counts, 0.25, 20000), chi_square_critical(19, significance));
}

TEST(UniformSampler, AllOrOne) {
  fedpp::uniform_sampler all(7, 7);
  EXPECT_EQ(fedpp::sample_round(all, 1, 0), (std::vector<client_id>{0, 1, 2, 3, 4, 5, 6}));
  fedpp::uniform_sampler one(1, 1);
  EXPECT_EQ(fedpp::sample_round(one, 1, 0), (std::vector<client_id>{0}));
}

TEST(UniformSampler, DeterministicUnderSeedAndRound) {
  fedpp::uniform_sampler s(1000, 10);
  EXPECT_EQ(fedpp::sample_round(s, 42, 3), fedpp::sample_round(s, 42, 3));
  EXPECT_NE(fedpp::sample_round(s, 42, 3), fedpp::sample_round(s, 42, 4));
  EXPECT_NE(fedpp::sample_round(s, 42, 3), fedpp::sample_round(s, 43, 3));
  // Same generator state, same picks; the generator advances by exactly m draws.
  fedpp::rng a(9);
  fedpp::rng b(9);
  EXPECT_EQ(s.sample(0, a), s.sample(7, b));
  for (int i = 0; i < 10; ++i) (void)b();
  fedpp::rng c(9);
  (void)s.sample(0, c);
  EXPECT_EQ(a(), c());
  // Pinned picks: fedpp::rng and Floyd's algorithm use integer arithmetic only, so these are
  // the same on every platform; a change here breaks reproducibility of published runs. (The
  // values were cross-checked against an independent Python reimplementation of xoshiro256**,
  // rng::for_stream, Lemire's bounded draw and Floyd's algorithm.)
  EXPECT_EQ(fedpp::sample_round(s, 2024, 0),
            (std::vector<client_id>{84, 198, 331, 425, 637, 766, 770, 779, 866, 880}));
}

TEST(UniformSampler, ExplicitIdsFollowTheListOrder) {
  const std::vector<client_id> ids{900, 5, 77, 1234, 3};
  fedpp::uniform_sampler s(ids, 3);
  EXPECT_EQ(s.population_size(), 5U);
  std::set<client_id> seen;
  for (std::uint64_t r = 0; r < 200; ++r) {
    const auto picks = fedpp::sample_round(s, 8, r);
    ASSERT_EQ(picks.size(), 3U);
    std::vector<std::size_t> positions;
    for (const client_id c : picks) {
      const auto it = std::find(ids.begin(), ids.end(), c);
      ASSERT_NE(it, ids.end()) << c;
      positions.push_back(static_cast<std::size_t>(it - ids.begin()));
      seen.insert(c);
    }
    EXPECT_TRUE(std::is_sorted(positions.begin(), positions.end()));
    EXPECT_EQ(std::adjacent_find(positions.begin(), positions.end()), positions.end());
  }
  EXPECT_EQ(seen.size(), 5U);
}

TEST(UniformSampler, RejectsBadParameters) {
  auto message = [](auto make) {
    try {
      make();
    } catch (const fedpp::invalid_config& e) {
      return std::string(e.what());
    }
    return std::string("no exception");
  };
  EXPECT_THAT(message([] { fedpp::uniform_sampler(10, 0); }), HasSubstr("m = 0"));
  EXPECT_THAT(message([] { fedpp::uniform_sampler(10, 11); }), HasSubstr("m = 11"));
  EXPECT_THAT(message([] { fedpp::uniform_sampler(10, 11); }), HasSubstr("N = 10"));
  EXPECT_THAT(message([] { fedpp::uniform_sampler(0, 1); }), HasSubstr("N = 0"));
  EXPECT_THAT(message([] { fedpp::uniform_sampler(std::vector<client_id>{}, 1); }), HasSubstr("empty"));
  EXPECT_THAT(message([] {
                fedpp::uniform_sampler(std::vector<client_id>{4, 8, 4}, 1);
              }),
              HasSubstr("client 4 appears more than once"));
  fedpp::uniform_sampler s(10, 3);
  EXPECT_THAT(message([&] { (void)s.with_sample_size(0); }), HasSubstr("m = 0"));
  EXPECT_EQ(s.with_sample_size(10).sample_size(), 10U);
  EXPECT_EQ(s.sample_size(), 3U);
}

// --- Poisson ----------------------------------------------------------------------------------------
TEST(PoissonSampler, InclusionFrequenciesAreQ) {
  const std::size_t n = 30;
  const double q = 0.2;
  const std::uint64_t rounds = 20000;
  fedpp::poisson_sampler s(n, q);
  EXPECT_DOUBLE_EQ(s.inclusion_probability(), q);
  EXPECT_DOUBLE_EQ(s.expected_sample_size(), 6.0);
  std::vector<double> counts(n, 0.0);
  std::vector<double> sizes(n + 1, 0.0);
  for (std::uint64_t r = 0; r < rounds; ++r) {
    const auto picks = fedpp::sample_round(s, 3, r);
    expect_valid_sample(picks, n);
    sizes[picks.size()] += 1;
    for (const client_id c : picks) counts[c] += 1;
  }
  // Independent Binomial(R, q) counts: Σ (O − Rq)²/(Rq(1 − q)) ~ χ²_N.
  const auto rr = static_cast<double>(rounds);
  double x = 0;
  for (const double o : counts) x += (o - rr * q) * (o - rr * q) / (rr * q * (1 - q));
  EXPECT_LT(x, chi_square_critical(static_cast<double>(n), significance)) << "statistic " << x;

  // Clients per round ~ Binomial(N, q).
  std::vector<double> expected(n + 1);
  for (std::size_t k = 0; k <= n; ++k) {
    const auto kk = static_cast<double>(k);
    const auto nn = static_cast<double>(n);
    expected[k] = rr * std::exp(std::lgamma(nn + 1) - std::lgamma(kk + 1) - std::lgamma(nn - kk + 1) +
                                kk * std::log(q) + (nn - kk) * std::log1p(-q));
  }
  const auto [xs, df] = pearson(sizes, expected);
  EXPECT_GE(df, 8);
  EXPECT_LT(xs, chi_square_critical(df, significance)) << "statistic " << xs;
}

TEST(PoissonSampler, MayPickNobodyAndQOneIsEveryone) {
  fedpp::poisson_sampler sparse(5, 0.05); // P(empty round) = 0.95^5 ≈ 0.77
  std::size_t empty = 0;
  for (std::uint64_t r = 0; r < 100; ++r) empty += fedpp::sample_round(sparse, 1, r).empty() ? 1U : 0U;
  EXPECT_GT(empty, 50U);
  EXPECT_LT(empty, 100U);
  fedpp::poisson_sampler all(std::vector<client_id>{10, 2, 30}, 1.0);
  for (std::uint64_t r = 0; r < 50; ++r)
    EXPECT_EQ(fedpp::sample_round(all, 1, r), (std::vector<client_id>{10, 2, 30}));
}

TEST(PoissonSampler, DeterministicUnderSeedAndRound) {
  fedpp::poisson_sampler s(200, 0.1);
  EXPECT_EQ(fedpp::sample_round(s, 5, 9), fedpp::sample_round(s, 5, 9));
  EXPECT_NE(fedpp::sample_round(s, 5, 9), fedpp::sample_round(s, 5, 10));
  // Pinned (integer arithmetic and one comparison of an exact double per client: portable).
  // Cross-checked like the uniform ones above.
  EXPECT_EQ(fedpp::sample_round(s, 2024, 0),
            (std::vector<client_id>{3, 16, 18, 33, 38, 43, 89, 94, 103, 105, 124, 129, 136, 140, 144, 145,
                                    161, 183}));
}

TEST(PoissonSampler, RejectsBadQ) {
  for (const double q : {0.0, -0.5, 1.0000001, std::numeric_limits<double>::quiet_NaN()}) {
    try {
      fedpp::poisson_sampler(10, q);
      ADD_FAILURE() << "accepted q = " << q;
    } catch (const fedpp::invalid_config& e) {
      EXPECT_THAT(e.what(), HasSubstr("q = "));
    }
  }
  EXPECT_THROW(fedpp::poisson_sampler(0, 0.5), fedpp::invalid_config);
  try {
    fedpp::poisson_sampler(10, -1e-12);
    ADD_FAILURE() << "accepted q = -1e-12";
  } catch (const fedpp::invalid_config& e) {
    EXPECT_THAT(e.what(), HasSubstr("-1e-12"));
  }
}

// --- weighted ---------------------------------------------------------------------------------------
TEST(WeightedSampler, SinglePickIsProportionalToSize) {
  const std::vector<double> w{1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
  const double total = 55;
  const std::uint64_t rounds = 20000;
  fedpp::weighted_sampler s(w, 1);
  std::vector<double> counts(w.size(), 0.0);
  for (std::uint64_t r = 0; r < rounds; ++r) {
    const auto picks = fedpp::sample_round(s, 17, r);
    ASSERT_EQ(picks.size(), 1U);
    counts[picks[0]] += 1;
  }
  std::vector<double> expected;
  for (const double wi : w) expected.push_back(static_cast<double>(rounds) * wi / total);
  const auto [x, df] = pearson(counts, expected);
  EXPECT_EQ(df, 9);
  EXPECT_LT(x, chi_square_critical(df, significance)) << "statistic " << x;
  // Power: the same counts are far from uniform.
  const auto [xu, dfu] = pearson(counts, std::vector<double>(10, static_cast<double>(rounds) / 10));
  EXPECT_GT(xu, chi_square_critical(dfu, significance));
}

TEST(WeightedSampler, SeveralPicksMatchSuccessiveSampling) {
  const std::vector<double> w{1, 2, 3, 5, 8, 13, 21, 34};
  const std::uint64_t rounds = 20000;
  const auto rr = static_cast<double>(rounds);
  for (const std::size_t m : {2U, 3U}) {
    fedpp::weighted_sampler s(w, m);
    std::vector<double> counts(w.size(), 0.0);
    for (std::uint64_t r = 0; r < rounds; ++r) {
      const auto picks = fedpp::sample_round(s, 23, r);
      ASSERT_EQ(picks.size(), m);
      expect_valid_sample(picks, w.size());
      for (const client_id c : picks) counts[c] += 1;
    }
    const auto pi = successive_inclusion(w, m);
    EXPECT_NEAR(std::accumulate(pi.begin(), pi.end(), 0.0), static_cast<double>(m), 1e-12);
    // Each count ~ Binomial(R, π_i): |z| < 4.42 is two-sided p = 1e-5 per client, so the
    // family of 8 clients rejects a correct sampler with probability < 1e-4.
    for (std::size_t i = 0; i < w.size(); ++i) {
      const double z = (counts[i] - rr * pi[i]) / std::sqrt(rr * pi[i] * (1 - pi[i]));
      EXPECT_LT(std::abs(z), 4.42) << "m = " << m << ", client " << i << ": " << counts[i] << " vs "
                                   << rr * pi[i];
    }
    // Larger clients are picked more often (monotone), but not proportionally: the heaviest
    // client's inclusion probability is below m·w/W (and capped by 1).
    for (std::size_t i = 1; i < w.size(); ++i) EXPECT_GT(counts[i], counts[i - 1]);
    EXPECT_LT(pi.back(), static_cast<double>(m) * w.back() / 87.0);
    EXPECT_GT(pi.front(), static_cast<double>(m) * w.front() / 87.0);
  }
}

TEST(WeightedSampler, EqualSizesAreUniform) {
  fedpp::weighted_sampler s(std::vector<double>(12, 3.5), 4);
  const auto counts = inclusion_counts(s, 4, 15000);
  EXPECT_LT(equal_probability_statistic(counts, 4.0 / 12, 15000), chi_square_critical(11, significance));
}

TEST(WeightedSampler, DeterministicAndExplicitIds) {
  fedpp::weighted_sampler s(std::vector<client_id>{50, 40, 30}, std::vector<double>{1, 1e6, 1}, 1);
  EXPECT_EQ(s.population_size(), 3U);
  std::size_t heavy = 0;
  for (std::uint64_t r = 0; r < 100; ++r) {
    const auto p = fedpp::sample_round(s, 1, r);
    ASSERT_EQ(p.size(), 1U);
    heavy += p[0] == 40 ? 1U : 0U;
    EXPECT_EQ(p, fedpp::sample_round(s, 1, r));
  }
  EXPECT_GE(heavy, 99U);
  fedpp::weighted_sampler big(std::vector<double>(500, 1.0), 20);
  EXPECT_NE(fedpp::sample_round(big, 1, 0), fedpp::sample_round(big, 1, 1));
  // Tiny weights do not underflow the keys: comparisons are on log(u)/w.
  fedpp::weighted_sampler tiny(std::vector<double>{1e-300, 2e-300, 1e-300}, 2);
  const auto counts = inclusion_counts(tiny, 2, 2000);
  EXPECT_GT(counts[1], counts[0]);
  EXPECT_GT(counts[1], counts[2]);
}

TEST(WeightedSampler, RejectsBadSizes) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  for (const double bad : {0.0, -1.0, nan, inf}) {
    try {
      fedpp::weighted_sampler(std::vector<double>{1, 2, bad, 4}, 2);
      ADD_FAILURE() << "accepted size " << bad;
    } catch (const fedpp::invalid_config& e) {
      EXPECT_THAT(e.what(), HasSubstr("client 2 has data size"));
    }
  }
  try {
    fedpp::weighted_sampler(std::vector<client_id>{7, 9}, std::vector<double>{1, -3}, 1);
    ADD_FAILURE();
  } catch (const fedpp::invalid_config& e) {
    EXPECT_THAT(e.what(), HasSubstr("client 9 has data size -3"));
  }
  EXPECT_THROW(fedpp::weighted_sampler(std::vector<client_id>{1, 2}, std::vector<double>{1}, 1),
               fedpp::invalid_config);
  EXPECT_THROW(fedpp::weighted_sampler(std::vector<double>{}, 1), fedpp::invalid_config);
  EXPECT_THROW(fedpp::weighted_sampler(std::vector<double>{1, 2}, 3), fedpp::invalid_config);
  EXPECT_THROW(fedpp::weighted_sampler(std::vector<double>{1, 2}, 0), fedpp::invalid_config);
}

// --- over-selection ---------------------------------------------------------------------------------
TEST(OverSelection, SampleCounts) {
  using os = fedpp::over_selection<fedpp::uniform_sampler>;
  EXPECT_EQ(os::over_selected_size(10, 100, 0.3), 13U); // 10·0.3 is 3.0000000000000004 in binary
  EXPECT_EQ(os::over_selected_size(10, 100, 0.0), 10U);
  EXPECT_EQ(os::over_selected_size(10, 100, 0.25), 13U); // ⌈12.5⌉
  EXPECT_EQ(os::over_selected_size(10, 100, 0.01), 11U); // ⌈10.1⌉
  EXPECT_EQ(os::over_selected_size(7, 100, 1.0), 14U);
  EXPECT_EQ(os::over_selected_size(10, 12, 0.5), 12U); // capped at N

  os s(fedpp::uniform_sampler(100, 10), 0.3);
  EXPECT_EQ(s.target_reports(), 10U);
  EXPECT_EQ(s.sample_size(), 13U);
  EXPECT_EQ(s.population_size(), 100U);
  EXPECT_DOUBLE_EQ(s.inclusion_probability(), 0.13);
  EXPECT_DOUBLE_EQ(s.epsilon(), 0.3);
  for (std::uint64_t r = 0; r < 50; ++r) {
    const auto picks = fedpp::sample_round(s, 6, r);
    ASSERT_EQ(picks.size(), 13U);
    expect_valid_sample(picks, 100);
  }
  // The over-selected picks are the base sampler's picks for m' = 13.
  fedpp::uniform_sampler thirteen(100, 13);
  EXPECT_EQ(fedpp::sample_round(s, 6, 4), fedpp::sample_round(thirteen, 6, 4));
  const auto wider = s.with_epsilon(1.0);
  EXPECT_EQ(wider.sample_size(), 20U);
  EXPECT_EQ(wider.target_reports(), 10U);

  fedpp::over_selection<fedpp::weighted_sampler> ws(fedpp::weighted_sampler(std::vector<double>(8, 1.0), 4),
                                                    0.5);
  EXPECT_EQ(ws.sample_size(), 6U);
  EXPECT_EQ(fedpp::sample_round(ws, 1, 0).size(), 6U);
}

TEST(OverSelection, RejectsBadEpsilon) {
  for (const double eps :
       {-0.1, std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::infinity()}) {
    try {
      fedpp::over_selection<fedpp::uniform_sampler>(fedpp::uniform_sampler(10, 2), eps);
      ADD_FAILURE() << "accepted epsilon " << eps;
    } catch (const fedpp::invalid_config& e) {
      EXPECT_THAT(e.what(), HasSubstr("epsilon"));
    }
  }
}

} // namespace
