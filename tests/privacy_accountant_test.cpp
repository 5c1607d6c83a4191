// Accountants: published values, monotonicity, round trip, PLD <= RDP, budget stop.
#include "fedpp/privacy/calibration.hpp"
#include "fedpp/privacy/pld_accountant.hpp"
#include "fedpp/privacy/privacy_budget.hpp"
#include "fedpp/privacy/rdp_accountant.hpp"

#include <gtest/gtest.h>

using namespace fedpp::privacy;

// TF Privacy's compute_dp_sgd_privacy example (N=60000, batch 256, σ=1.1, 60 epochs, δ=1e-5),
// as dp_accounting 0.4 computes it with the same order grid and conversion: ε = 2.5967 (RDP),
// 2.3818 (PLD, discretization 1e-4).
TEST(PrivacyAccountant, PublishedDpSgdExample) {
  rdp_accountant rdp;
  rdp.compose(256.0 / 60000, 1.1, 14063);
  EXPECT_NEAR(rdp.epsilon(1e-5), 2.59666, 0.01 * 2.59666);
  pld_accountant pld;
  pld.compose(256.0 / 60000, 1.1, 14063);
  EXPECT_NEAR(pld.epsilon(1e-5), 2.38178, 0.01 * 2.38178);
  EXPECT_LT(pld.epsilon(1e-5), rdp.epsilon(1e-5));
}

TEST(PrivacyAccountant, RdpPerOrderMatchesDpAccounting) {
  EXPECT_NEAR(sampled_gaussian_rdp(0.01, 1.0, 3.0), 0.00026464, 1e-2 * 0.00026464);
  EXPECT_NEAR(sampled_gaussian_rdp(0.01, 1.0, 10.5), 0.18833969, 1e-2 * 0.18833969);
  EXPECT_NEAR(sampled_gaussian_rdp(0.01, 1.0, 32.0), 11.24627594, 1e-2 * 11.24627594);
  EXPECT_NEAR(sampled_gaussian_rdp(0.01, 1.0, 2.5), 0.00021777, 1e-2 * 0.00021777);
  EXPECT_DOUBLE_EQ(sampled_gaussian_rdp(1.0, 2.0, 4.0), 4.0 / 8.0);
}

TEST(PrivacyAccountant, PldExactGaussian) {
  // q = 1, σ = 1: the Gaussian mechanism's exact ε(1e-5) = 4.3772 (Balle & Wang 2018).
  pld_accountant pld;
  pld.compose(1.0, 1.0, 1);
  EXPECT_NEAR(pld.epsilon(1e-5), 4.37718, 1e-3);
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
  pld_accountant p;
  p.compose(0.01, 1.0, 50);
  p.compose(0.02, 1.5, 30);
  EXPECT_LE(p.epsilon(1e-5), a.epsilon(1e-5));
  EXPECT_EQ(p.steps(), 80u);
}

TEST(PrivacyAccountant, RoundTripEpsilonSigmaEpsilon) {
  const double sigma = noise_multiplier_for_epsilon<rdp_accountant>(3.0, 0.01, 500, 1e-5);
  const double eps = epsilon_for<rdp_accountant>(0.01, sigma, 500, 1e-5);
  EXPECT_LE(eps, 3.0);
  EXPECT_NEAR(eps, 3.0, 0.01);
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
  EXPECT_THROW(acc.compose(0.0, 1.0), fedpp::invalid_config);
  EXPECT_THROW(acc.compose(1.5, 1.0), fedpp::invalid_config);
  EXPECT_THROW(acc.compose(0.1, -1.0), fedpp::invalid_config);
  EXPECT_EQ(acc.steps(), 0u);
  EXPECT_THROW((void)acc.epsilon(1.0), fedpp::invalid_config);
  EXPECT_THROW(privacy_budget(0.0, 1e-5), fedpp::invalid_config);
}
