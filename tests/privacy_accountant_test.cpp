// Accountants: dp_accounting reference values, the Gaussian mechanism's closed form, PLD <= RDP over a
// sweep, the discretization error bound, the noise solver, extreme arguments (no UB, testable +inf),
// monotonicity, budget stop.
//
// Reference values: Google's dp_accounting 0.6 (PyPI `dp-accounting`), PLDAccountant (ADD_OR_REMOVE_ONE,
// value_discretization_interval 1e-4) and RdpAccountant (default orders) on
// SelfComposedDpEvent(PoissonSampledDpEvent(q, GaussianDpEvent(sigma)), T), e.g.
//   a = PLDAccountant(); a.compose(SelfComposedDpEvent(PoissonSampledDpEvent(q, GaussianDpEvent(s)), T))
//   a.get_epsilon(delta)
#include "fedpp/privacy/calibration.hpp"
#include "fedpp/privacy/pld_accountant.hpp"
#include "fedpp/privacy/privacy_budget.hpp"
#include "fedpp/privacy/rdp_accountant.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <tuple>
#include <limits>
#include <numbers>
#include <string>
#include <vector>

using namespace fedpp::privacy;

namespace {

/// The Gaussian mechanism's exact ε(δ) (Balle & Wang 2018, "Improving the Gaussian mechanism for
/// differential privacy", Thm. 8): δ(ε) = Φ(1/(2σ) − εσ) − e^ε Φ(−1/(2σ) − εσ), sensitivity 1;
/// bisection on ε (δ(ε) is decreasing). The second term in logs (e^ε times a tiny Φ).
double gaussian_exact_epsilon(double sigma, double delta) {
  auto log_phi = [](double z) { return std::log(0.5 * std::erfc(-z / std::numbers::sqrt2)); };
  auto d = [&](double eps) {
    return 0.5 * std::erfc(-(1 / (2 * sigma) - eps * sigma) / std::numbers::sqrt2) -
           std::exp(eps + log_phi(-1 / (2 * sigma) - eps * sigma));
  };
  double lo = 0, hi = 1;
  while (d(hi) > delta) hi *= 2;
  for (int i = 0; i < 200; ++i) {
    const double mid = 0.5 * (lo + hi);
    (d(mid) > delta ? lo : hi) = mid;
  }
  return hi;
}

struct reference {
  double q, sigma;
  std::uint64_t steps;
  double delta, pld, rdp; // dp_accounting 0.6
};

// A subset of the sweep below, plus the q = 0.001, T = 100, δ = 1e-6 cases (where the old
// accountant printed ∞) and the TF Privacy DP-SGD example.
const std::vector<reference> dp_accounting_values = {
    {256.0 / 60000, 1.1, 14063, 1e-5, 2.381778812581751, 2.596655529521983},
    {0.001, 1.0, 100, 1e-6, 0.08379167610619447, 0.8131744748521424},
    {0.001, 2.5, 100, 1e-6, 0.014134036358034233, 0.14055848919820116},
    {0.001, 4.0, 100, 1e-6, 0.008031158776515872, 0.06315163377989075},
    {0.001, 4.4, 100, 1e-6, 0.007200112823485806, 0.029206773275577105},
    {0.0001, 1.0, 10000, 1e-5, 0.03996474907219799, 0.4532628807732154},
    {0.001, 1.0, 1000, 1e-5, 0.14895584395017372, 0.677825724599743},
    {0.001, 0.5, 10000, 1e-5, 5.226831044387596, 6.4183673231347385},
    {0.001, 4.4, 100000, 1e-5, 0.24550771868551616, 0.2667990942718642},
    {0.01, 1.0, 100, 1e-5, 0.7180367094172235, 1.2141452944480204},
    {0.01, 2.5, 1000, 1e-5, 0.4715076751675697, 0.5203154587378198},
    {0.01, 4.4, 10000, 1e-5, 0.8501261129697499, 0.9301815539514316},
    {0.01, 10.0, 100000, 1e-5, 1.2044700470783019, 1.3128526522379573},
    {0.1, 2.5, 100, 1e-5, 1.743015276429362, 1.9204525510868218},
    {0.1, 4.4, 1000, 1e-5, 3.077388508320992, 3.3403481624979587},
    {1.0, 1.0, 1, 1e-5, 4.37717810004804, 4.728507067217623},
    {1.0, 2.5, 10, 1e-5, 5.759481500738332, 6.2083564483459375},
};

} // namespace

TEST(PrivacyAccountant, MatchesDpAccounting) {
  for (const auto& r : dp_accounting_values) {
    SCOPED_TRACE("q=" + std::to_string(r.q) + " sigma=" + std::to_string(r.sigma) + " T=" + std::to_string(r.steps));
    pld_accountant pld;
    pld.compose(r.q, r.sigma, r.steps);
    EXPECT_NEAR(pld.epsilon(r.delta), r.pld, 1e-4 * r.pld);
    rdp_accountant rdp;
    rdp.compose(r.q, r.sigma, r.steps);
    EXPECT_NEAR(rdp.epsilon(r.delta), r.rdp, 1e-9 * r.rdp);
    EXPECT_LT(pld.epsilon(r.delta), rdp.epsilon(r.delta));
  }
}

TEST(PrivacyAccountant, RdpPerOrderMatchesDpAccounting) {
  EXPECT_NEAR(sampled_gaussian_rdp(0.01, 1.0, 3.0), 0.00026464, 1e-2 * 0.00026464);
  EXPECT_NEAR(sampled_gaussian_rdp(0.01, 1.0, 10.5), 0.18833969, 1e-2 * 0.18833969);
  EXPECT_NEAR(sampled_gaussian_rdp(0.01, 1.0, 32.0), 11.24627594, 1e-2 * 11.24627594);
  EXPECT_NEAR(sampled_gaussian_rdp(0.01, 1.0, 2.5), 0.00021777, 1e-2 * 0.00021777);
  EXPECT_DOUBLE_EQ(sampled_gaussian_rdp(1.0, 2.0, 4.0), 4.0 / 8.0);
  // fractional order 1.5, q = 0.1, σ = 2.5: dp_accounting 0.6 sums the magnitudes of the series'
  // terms (the default here) and reports 0.00176607, above its own value at α = 2 (0.00173361)
  // although RDP is non-decreasing in α; the signed series (TF Privacy / Opacus) gives the exact
  // log E[(1 − q + q e^{(2x−1)/(2σ²)})^α]/(α − 1) = 0.00128979008 (trapezoid rule, 4e5 points on ±40σ).
  EXPECT_NEAR(sampled_gaussian_rdp(0.1, 2.5, 1.5), 0.001766072248, 1e-11);
  EXPECT_NEAR(sampled_gaussian_rdp(0.1, 2.5, 1.5, fractional_series::signed_terms), 0.00128979008, 1e-11);
  EXPECT_LT(sampled_gaussian_rdp(0.1, 2.5, 1.5, fractional_series::signed_terms), sampled_gaussian_rdp(0.1, 2.5, 2.0));
  // where an order below 2 wins, the two differ (dp_accounting 0.6: 183.48714588169622)
  rdp_accountant dp_like, exact(default_rdp_orders(), fractional_series::signed_terms);
  dp_like.compose(0.1, 2.5, 100000);
  exact.compose(0.1, 2.5, 100000);
  EXPECT_NEAR(dp_like.epsilon(1e-5), 183.48714588169622, 1e-9 * 183.5);
  EXPECT_NEAR(exact.epsilon(1e-5), 146.8768456, 1e-6);
  // at usual settings they agree closely
  rdp_accountant a, b(default_rdp_orders(), fractional_series::signed_terms);
  a.compose(0.01, 1.0, 1000);
  b.compose(0.01, 1.0, 1000);
  EXPECT_NEAR(a.epsilon(1e-5), b.epsilon(1e-5), 1e-5);
  EXPECT_LE(b.epsilon(1e-5), a.epsilon(1e-5));
}

TEST(PrivacyAccountant, DefaultOrdersAreDpAccountings) {
  const auto o = default_rdp_orders();
  ASSERT_EQ(o.size(), 99u + 53u + 4u);
  EXPECT_DOUBLE_EQ(o.front(), 1.1);
  EXPECT_DOUBLE_EQ(o[98], 10.9);
  EXPECT_DOUBLE_EQ(o[99], 11.0);
  EXPECT_DOUBLE_EQ(o.back(), 1024.0);
  EXPECT_EQ(tf_privacy_rdp_orders().size(), 99u + 52u);
}

TEST(PrivacyAccountant, PldMatchesGaussianClosedForm) {
  // q = 1, one step: the Gaussian mechanism, whose exact ε(δ) has the closed form above. The PLD is
  // pessimistic (≥ exact) and within its own error bound, which for one step is about h.
  for (double sigma : {0.5, 1.0, 2.0, 5.0})
    for (double delta : {1e-5, 1e-9}) {
      SCOPED_TRACE("sigma=" + std::to_string(sigma) + " delta=" + std::to_string(delta));
      const double exact = gaussian_exact_epsilon(sigma, delta);
      pld_accountant pld;
      pld.compose(1.0, sigma, 1);
      const auto b = pld.epsilon_bounds(delta);
      EXPECT_GE(b.epsilon, exact - 1e-9);
      EXPECT_LE(b.epsilon, exact + 2e-4);
      EXPECT_LE(b.lower, exact + 1e-9);
      EXPECT_LE(b.discretization_error, 2e-3);
    }
  // dp_accounting's (pessimistic) PLD value 4.3771781000 is 4.4e-9 above the exact 4.3771780957
  EXPECT_NEAR(gaussian_exact_epsilon(1.0, 1e-5), 4.3771780957, 1e-9);
  // T steps at q = 1 compose exactly into one Gaussian with σ/√T (Dong, Roth, Su 2019)
  for (std::uint64_t t : {10ull, 1000ull, 100000ull}) {
    pld_accountant pld;
    pld.compose(1.0, 10.0, t);
    const double exact = gaussian_exact_epsilon(10.0 / std::sqrt(static_cast<double>(t)), 1e-5);
    const auto b = pld.epsilon_bounds(1e-5);
    EXPECT_GE(b.epsilon, exact - 1e-9) << t;
    EXPECT_LE(b.epsilon - b.discretization_error, exact + 1e-9) << t;
    EXPECT_LE(b.epsilon, exact + 4 * b.discretization) << t;
  }
}

TEST(PrivacyAccountant, PldBelowRdpOverSweep) {
  // q × T × σ grid (150 cases, δ = 1e-5): PLD ε finite and ≤ RDP ε up to the reported discretization
  // error. Where PLD > RDP (single-step loss much narrower than h = 1e-4: q = 1e-4, σ ≥ 4.4, T ≥ 1e4,
  // the same as dp_accounting's values there), a finer grid h = 1e-5 brings it below RDP.
  const auto start = std::chrono::steady_clock::now();
  double worst_ratio = 0, worst_error = 0, worst_relative_error = 0; // the latter over ε ≥ 0.1
  int above = 0;
  for (double q : {1e-4, 1e-3, 1e-2, 0.1, 1.0})
    for (std::uint64_t t : {1ull, 10ull, 100ull, 1000ull, 10000ull, 100000ull})
      for (double sigma : {0.5, 1.0, 2.5, 4.4, 10.0}) {
        SCOPED_TRACE("q=" + std::to_string(q) + " T=" + std::to_string(t) + " sigma=" + std::to_string(sigma));
        pld_accountant pld;
        pld.compose(q, sigma, t);
        rdp_accountant rdp;
        rdp.compose(q, sigma, t);
        const auto b = pld.epsilon_bounds(1e-5);
        const double r = rdp.epsilon(1e-5);
        ASSERT_TRUE(std::isfinite(b.epsilon));
        ASSERT_TRUE(std::isfinite(r));
        EXPECT_GE(b.discretization_error, 0);
        EXPECT_LE(b.lower, b.epsilon);
        EXPECT_LE(b.epsilon - b.discretization_error, r * (1 + 1e-12));
        if (r > 0) worst_ratio = std::max(worst_ratio, b.epsilon / r);
        worst_error = std::max(worst_error, b.discretization_error);
        if (b.epsilon >= 0.1) worst_relative_error = std::max(worst_relative_error, b.discretization_error / b.epsilon);
        if (b.epsilon > r) {
          ++above;
          EXPECT_EQ(q, 1e-4);
          pld_accountant fine(1e-5);
          fine.compose(q, sigma, t);
          EXPECT_LE(fine.epsilon(1e-5), r);
        }
      }
  EXPECT_LE(above, 3);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  RecordProperty("worst_pld_over_rdp", std::to_string(worst_ratio));
  RecordProperty("worst_discretization_error", std::to_string(worst_error));
  RecordProperty("worst_relative_discretization_error", std::to_string(worst_relative_error));
  RecordProperty("seconds", std::to_string(seconds));
  std::printf("sweep: worst PLD/RDP %.4f, %d cases above RDP; discretization error bound: worst %.4g, worst "
              "relative (eps >= 0.1) %.4g; %.2f s\n",
              worst_ratio, above, worst_error, worst_relative_error, seconds);
}

TEST(PrivacyAccountant, PldErrorBoundBracketsFinerGrid) {
  // Connect-the-dots on a grid that contains the coarse one is tighter, and the exact ε lies between
  // the coarse bound's lower end and any pessimistic value: lower(h) ≤ ε(h/10) ≤ ε(h).
  for (auto [q, sigma, t] : {std::tuple{0.01, 1.0, 100ull}, std::tuple{0.001, 0.8, 1000ull}, std::tuple{0.1, 2.0, 50ull}}) {
    pld_accountant coarse(1e-4), fine(1e-5);
    coarse.compose(q, sigma, t);
    fine.compose(q, sigma, t);
    const auto b = coarse.epsilon_bounds(1e-5);
    const double e_fine = fine.epsilon(1e-5);
    EXPECT_LE(e_fine, b.epsilon + 1e-9);
    EXPECT_GE(e_fine, b.lower);
    EXPECT_GT(b.lower, 0.9 * b.epsilon); // the bound is not vacuous here
    EXPECT_DOUBLE_EQ(b.discretization_error, coarse.discretization_error(1e-5));
  }
}

TEST(PrivacyAccountant, PldEpsilonInvertsItsDelta) {
  // ε comes from suffix sums in closed form; δ(ε) sums the grid directly: they must agree
  pld_accountant p;
  p.compose(0.05, 1.5, 20);
  for (double d : {1e-3, 1e-7}) {
    const double e = p.epsilon(d);
    ASSERT_GT(e, 0);
    EXPECT_NEAR(p.delta(e), d, 1e-6 * d);
    EXPECT_GT(p.delta(e * (1 - 1e-4)), d);
  }
  EXPECT_EQ(p.epsilon(0.999), 0.0); // δ(0) is below 0.999
  // losses above 745 (e^{-l} underflows): q = 1, σ = 1/√1000
  pld_accountant big;
  big.compose(1.0, 1.0, 1000);
  const double e = big.epsilon(1e-5);
  EXPECT_NEAR(e, gaussian_exact_epsilon(1 / std::sqrt(1000.0), 1e-5), 0.01);
  EXPECT_NEAR(big.delta(e), 1e-5, 1e-8);
}

TEST(PrivacyAccountant, PldCoarsensHugeWindowsAndStaysPessimistic) {
  pld_options o;
  o.max_grid_points = std::size_t{1} << 16;
  pld_accountant small(o);
  small.compose(0.01, 1.0, 1000);
  EXPECT_GT(small.effective_discretization(), 1e-4);
  pld_accountant ref;
  ref.compose(0.01, 1.0, 1000);
  EXPECT_EQ(ref.effective_discretization(), 1e-4);
  const auto b = small.epsilon_bounds(1e-5);
  EXPECT_GE(b.epsilon, ref.epsilon(1e-5) - 1e-9);              // coarser: still pessimistic
  EXPECT_LE(b.epsilon - b.discretization_error, ref.epsilon(1e-5)); // and its bound covers it
  EXPECT_THROW(pld_accountant(pld_options{0.0}), fedpp::invalid_config);
  EXPECT_THROW(pld_accountant(pld_options{1e-4, 0.5}), fedpp::invalid_config);
}

TEST(PrivacyAccountant, PldCopiesAreIndependent) {
  auto a = std::make_unique<pld_accountant>();
  a->compose(0.01, 1.0, 100);
  const double e = a->epsilon(1e-5); // fills the cache
  pld_accountant b = *a;
  a->compose(0.01, 1.0, 100);
  a.reset();
  EXPECT_EQ(b.epsilon(1e-5), e);
  EXPECT_EQ(b.steps(), 100u);
}

TEST(PrivacyAccountant, MonotoneInSigmaQAndSteps) {
  auto eps = [](double q, double s, std::uint64_t t) { return epsilon_for<rdp_accountant>(q, s, t, 1e-5); };
  EXPECT_GT(eps(0.01, 0.8, 100), eps(0.01, 1.0, 100));
  EXPECT_GT(eps(0.01, 1.0, 100), eps(0.01, 1.5, 100));
  EXPECT_LT(eps(0.005, 1.0, 100), eps(0.01, 1.0, 100));
  EXPECT_LT(eps(0.01, 1.0, 100), eps(0.01, 1.0, 1000));
  auto peps = [](double q, double s, std::uint64_t t) { return epsilon_for<pld_accountant>(q, s, t, 1e-5); };
  EXPECT_GT(peps(0.01, 0.8, 100), peps(0.01, 1.0, 100));
  EXPECT_LT(peps(0.005, 1.0, 100), peps(0.01, 1.0, 100));
  EXPECT_LT(peps(0.01, 1.0, 100), peps(0.01, 1.0, 400));
}

TEST(PrivacyAccountant, HeterogeneousStepsCompose) {
  rdp_accountant a, b;
  a.compose(0.01, 1.0, 50);
  a.compose(0.02, 1.5, 30);
  b.compose(0.02, 1.5, 30);
  b.compose(0.01, 1.0, 50);
  EXPECT_NEAR(a.epsilon(1e-5), b.epsilon(1e-5), 1e-12);
  pld_accountant p, r;
  p.compose(0.01, 1.0, 50);
  p.compose(0.02, 1.5, 30);
  r.compose(0.02, 1.5, 30);
  r.compose(0.01, 1.0, 50);
  EXPECT_NEAR(p.epsilon(1e-5), r.epsilon(1e-5), 1e-9);
  EXPECT_LE(p.epsilon(1e-5), a.epsilon(1e-5));
  EXPECT_EQ(p.steps(), 80u);
  // one step at a time (as the server hooks do) equals the group
  pld_accountant one, group;
  for (int i = 0; i < 40; ++i) one.compose(0.02, 1.2, 1);
  group.compose(0.02, 1.2, 40);
  EXPECT_EQ(one.epsilon(1e-5), group.epsilon(1e-5));
  // q = 1 mixed with subsampled steps: ≥ each part alone
  pld_accountant mix, part;
  mix.compose(1.0, 5.0, 3);
  mix.compose(0.01, 1.0, 100);
  part.compose(0.01, 1.0, 100);
  EXPECT_GT(mix.epsilon(1e-5), part.epsilon(1e-5));
  rdp_accountant mix_rdp;
  mix_rdp.compose(1.0, 5.0, 3);
  mix_rdp.compose(0.01, 1.0, 100);
  EXPECT_LT(mix.epsilon(1e-5), mix_rdp.epsilon(1e-5));
}

TEST(PrivacyAccountant, NoiseSolverPldAgainstRdp) {
  // The setting: q = 0.001, T = 100, δ = 1e-6. The old PLD gave ∞ there and a σ 3.7× too
  // large; now PLD's σ is below RDP's and each σ meets its target within the solver's 1e-4.
  // dp_accounting's σ (bisection to 1e-15 on its get_epsilon) in the last two fields.
  struct solve_case {
    double q;
    std::uint64_t t;
    double delta, target, dp_pld_sigma, dp_rdp_sigma;
  };
  for (const auto& c : {solve_case{0.001, 100, 1e-6, 0.1, 0.9602271687357469, 3.037394907490586},
                        solve_case{256.0 / 60000, 14063, 1e-5, 3.0, 0.9684398555087806, 1.0140209571027758}}) {
    const double s_rdp = noise_multiplier_for_epsilon<rdp_accountant>(c.target, c.q, c.t, c.delta);
    const double s_pld = noise_multiplier_for_epsilon<pld_accountant>(c.target, c.q, c.t, c.delta);
    EXPECT_NEAR(s_pld, c.dp_pld_sigma, 3e-4 * c.dp_pld_sigma);
    EXPECT_NEAR(s_rdp, c.dp_rdp_sigma, 3e-4 * c.dp_rdp_sigma);
    EXPECT_LT(s_pld, s_rdp);
    EXPECT_LE(epsilon_for<pld_accountant>(c.q, s_pld, c.t, c.delta), c.target);
    EXPECT_GT(epsilon_for<pld_accountant>(c.q, s_pld * (1 - 3e-4), c.t, c.delta), c.target);
    EXPECT_LE(epsilon_for<rdp_accountant>(c.q, s_rdp, c.t, c.delta), c.target);
    EXPECT_GT(epsilon_for<rdp_accountant>(c.q, s_rdp * (1 - 3e-4), c.t, c.delta), c.target);
  }
  EXPECT_THROW((void)noise_multiplier_for_epsilon<rdp_accountant>(0.0, 0.01, 10, 1e-5), fedpp::invalid_config);
  EXPECT_THROW((void)noise_multiplier_for_epsilon<rdp_accountant>(1e-9, 1.0, 1000000, 1e-5), fedpp::invalid_config);
}

TEST(PrivacyAccountant, RoundTripEpsilonSigmaEpsilon) {
  const double sigma = noise_multiplier_for_epsilon<rdp_accountant>(3.0, 0.01, 500, 1e-5);
  const double eps = epsilon_for<rdp_accountant>(0.01, sigma, 500, 1e-5);
  EXPECT_LE(eps, 3.0);
  EXPECT_NEAR(eps, 3.0, 0.01);
}

TEST(PrivacyAccountant, ExtremeArgumentsGiveTestableValues) {
  const double inf = std::numeric_limits<double>::infinity();
  // σ so small that 1/(2σ²) overflows: RDP is +∞ at every order, ε = +∞ (no UB, no NaN)
  for (double sigma : {1e-300, 1e-160, 1e-5}) {
    for (double alpha : {1.5, 2.0, 10.5, 64.0, 1024.0}) {
      const double r = sampled_gaussian_rdp(0.01, sigma, alpha);
      EXPECT_FALSE(std::isnan(r)) << sigma << " " << alpha;
      EXPECT_GT(r, 1e3) << sigma << " " << alpha;
    }
    rdp_accountant a;
    a.compose(0.01, sigma, 1);
    EXPECT_GT(a.epsilon(1e-5), 1e3) << sigma;
    if (sigma < 1e-154) {
      EXPECT_EQ(a.epsilon(1e-5), inf);
    }
  }
  {
    rdp_accountant a;
    a.compose(1.0, 1e-300, 1);
    EXPECT_EQ(a.epsilon(1e-5), inf);
    pld_accountant p;
    p.compose(0.01, 1e-300, 1);
    EXPECT_EQ(p.epsilon(1e-5), inf); // the sampled record is revealed with probability 0.01 > δ
    EXPECT_NEAR(p.delta(10.0), 0.01, 1e-12);
    pld_accountant g;
    g.compose(1.0, 1e-300, 3);
    EXPECT_EQ(g.epsilon(0.5), inf);
  }
  // huge σ: nothing leaks
  {
    rdp_accountant a;
    a.compose(0.5, 1e300, std::uint64_t{1} << 53);
    EXPECT_EQ(a.epsilon(1e-5), 0.0);
    pld_accountant p;
    p.compose(0.5, 1e300, 1000);
    EXPECT_EQ(p.epsilon(1e-5), 0.0);
  }
  // q = 0: nothing is released about anyone
  {
    rdp_accountant a;
    a.compose(0.0, 0.1, 1000);
    EXPECT_EQ(a.epsilon(1e-5), 0.0);
    EXPECT_EQ(a.steps(), 1000u);
    pld_accountant p;
    p.compose(0.0, 0.1, 1000);
    EXPECT_EQ(p.epsilon(1e-5), 0.0);
  }
  // 2^53 steps accepted, more refused before any change
  {
    rdp_accountant a;
    a.compose(0.01, 1.0, std::uint64_t{1} << 53);
    EXPECT_TRUE(std::isfinite(a.epsilon(1e-5)));
    const auto before = a.rdp();
    EXPECT_THROW(a.compose(0.01, 1.0, 1), fedpp::invalid_config);
    EXPECT_EQ(a.rdp(), before);
    EXPECT_EQ(a.steps(), std::uint64_t{1} << 53);
    rdp_accountant b;
    EXPECT_THROW(b.compose(0.01, 1.0, (std::uint64_t{1} << 53) + 1), fedpp::invalid_config);
    EXPECT_EQ(b.steps(), 0u);
    pld_accountant p;
    EXPECT_THROW(p.compose(0.01, 1.0, pld_accountant::max_steps + 1), fedpp::invalid_config);
    EXPECT_EQ(p.steps(), 0u);
  }
}

TEST(PrivacyAccountant, BudgetStopsBeforeExceeding) {
  privacy_budget budget(1.0, 1e-5);
  rdp_accountant acc;
  int rounds = 0;
  while (budget.can_afford(acc, 0.01, 1.0) && rounds < 100000) {
    acc.compose(0.01, 1.0, 1);
    ++rounds;
  }
  EXPECT_GT(rounds, 0);
  EXPECT_LE(acc.epsilon(1e-5), 1.0);
  acc.compose(0.01, 1.0, 1);
  EXPECT_GT(acc.epsilon(1e-5), 1.0);
}

TEST(PrivacyAccountant, BadArguments) {
  rdp_accountant acc;
  EXPECT_THROW(acc.compose(-0.1, 1.0), fedpp::invalid_config);
  EXPECT_THROW(acc.compose(1.5, 1.0), fedpp::invalid_config);
  EXPECT_THROW(acc.compose(0.1, -1.0), fedpp::invalid_config);
  EXPECT_THROW(acc.compose(0.1, 0.0), fedpp::invalid_config);
  EXPECT_THROW(acc.compose(0.1, std::numeric_limits<double>::infinity()), fedpp::invalid_config);
  EXPECT_THROW(acc.compose(std::numeric_limits<double>::quiet_NaN(), 1.0), fedpp::invalid_config);
  EXPECT_EQ(acc.steps(), 0u);
  EXPECT_THROW((void)acc.epsilon(1.0), fedpp::invalid_config);
  EXPECT_THROW(privacy_budget(0.0, 1e-5), fedpp::invalid_config);
  pld_accountant p;
  EXPECT_THROW(p.compose(0.1, -1.0), fedpp::invalid_config);
  EXPECT_THROW((void)p.epsilon(0.0), fedpp::invalid_config);
  EXPECT_THROW((void)p.epsilon_bounds(1.0), fedpp::invalid_config);
  EXPECT_THROW((void)p.delta(std::numeric_limits<double>::quiet_NaN()), fedpp::invalid_config);
}
