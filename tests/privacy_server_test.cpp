// Central DP-FedAvg inside a real fedpp::server round over in_process_federation: clipping and the
// fixed-denominator estimator exactly (σ tiny), the noise scale statistically at a fixed seed, the
// budget stop, and accounting of empty / too-small Poisson rounds (the server skips aggregation
// but still calls on_round_end, so the accountant charges them).
#include "fedpp/aggregation/fedavg.hpp"
#include "fedpp/orchestration/in_process_federation.hpp"
#include "fedpp/orchestration/server.hpp"
#include "fedpp/privacy/central_dp_hooks.hpp"
#include "fedpp/scheduling/poisson_sampler.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <vector>

namespace {

using fedpp::client_id;
using namespace fedpp::privacy;

constexpr std::size_t rows = 40, cols = 100, dim = rows * cols;

fedpp::model_layout layout() {
  fedpp::model_layout l;
  l.add("w", {rows, cols});
  return l;
}

// Client c's delta: a_c·s_i with s_i = ±1, so ‖Δ_c‖ = 0.3·(c mod 8 + 1): 0.3 … 2.4, half above C = 1.
double delta_norm(client_id c) { return 0.3 * static_cast<double>(c % 8 + 1); }
float delta_value(client_id c, std::size_t i) {
  const double a = delta_norm(c) / std::sqrt(static_cast<double>(dim));
  return static_cast<float>(i % 3 == 0 ? -a : a);
}

// Records who trained in which round (shared between host threads and copies).
struct delta_trainer {
  std::shared_ptr<std::mutex> mutex = std::make_shared<std::mutex>();
  std::shared_ptr<std::map<std::uint64_t, std::set<client_id>>> calls =
      std::make_shared<std::map<std::uint64_t, std::set<client_id>>>();

  fedpp::client_result<float> operator()(client_id id, const fedpp::host_model_view<const float>& global,
                                         const fedpp::round_config& config) const {
    {
      const std::lock_guard lock(*mutex);
      (*calls)[config.round].insert(id);
    }
    fedpp::client_result<float> result{
        fedpp::flat_model<float>(global.layout()), fedpp::update_kind::delta, 1.0, {}};
    for (std::size_t i = 0; i < dim; ++i) result.model.span()[i] = delta_value(id, i);
    return result;
  }
};

template <class Accountant = rdp_accountant>
using dp_server = fedpp::server<float, fedpp::poisson_sampler, fedpp::server_sgd<float>, fedpp::fedavg<float>,
                                fedpp::wall_clock_availability, central_dp_hooks<float, Accountant>>;

template <class Accountant = rdp_accountant>
dp_server<Accountant> make_server(std::size_t n, double q, const central_dp_options& dp, std::uint64_t seed,
                                  std::size_t min_reports = 1) {
  fedpp::server_options options;
  options.seed = seed;
  options.min_reports = min_reports;
  return dp_server<Accountant>(
      fedpp::flat_model<float>(layout()), fedpp::poisson_sampler(n, q), {}, options, {},
      central_dp_hooks<float, Accountant>(dp, layout(), secure_rng::reproducible(reproducible_seed{seed})),
      [](const fedpp::model_layout& l) { return fedpp::fedavg<float>(l, fedpp::weighting::uniform); });
}

std::vector<client_id> ids(std::size_t n) {
  std::vector<client_id> v(n);
  for (client_id c = 0; c < n; ++c) v[c] = c;
  return v;
}

// Σ_{k∈S} clip_C(Δ_k) / (qN), element i, in double.
double expected_update(const std::set<client_id>& s, std::size_t i, double clip, double qn) {
  double sum = 0;
  for (client_id c : s) sum += static_cast<double>(delta_value(c, i)) * std::min(1.0, clip / delta_norm(c));
  return sum / qn;
}

TEST(PrivacyServer, ClipsEachReportAndDividesByTheExpectedCount) {
  const std::size_t n = 60;
  const double q = 0.25, clip = 1.0;
  delta_trainer trainer;
  fedpp::in_process_federation<float, delta_trainer> fed(ids(n), trainer, layout(), 2);
  central_dp_options dp;
  dp.noise_multiplier = 1e-7; // noise sd 1e-7·C/(qN) ≈ 7e-9: the update is the clipped sum
  dp.clip_norm = clip;
  dp.sampling_rate = q;
  dp.population = n;
  auto server = make_server(n, q, dp, 17);
  const auto metrics = server.run_round(fed.server_endpoint());
  ASSERT_TRUE(metrics.succeeded);
  const auto& s = trainer.calls->at(0);
  ASSERT_EQ(metrics.reported, s.size());
  std::size_t clipped = 0;
  for (client_id c : s) clipped += delta_norm(c) > clip ? 1 : 0;
  ASSERT_GT(clipped, 0U); // the seed gives both kinds
  ASSERT_LT(clipped, s.size());
  const double qn = q * static_cast<double>(n);
  for (std::size_t i = 0; i < dim; ++i)
    ASSERT_NEAR(server.model().span()[i], expected_update(s, i, clip, qn), 1e-6) << "element " << i;
  EXPECT_EQ(server.hooks().accountant().steps(), 1U);
}

TEST(PrivacyServer, NoiseHasStandardDeviationSigmaCOverQN) {
  const std::size_t n = 60;
  const double q = 0.25, clip = 1.0, sigma = 0.8;
  delta_trainer trainer;
  fedpp::in_process_federation<float, delta_trainer> fed(ids(n), trainer, layout(), 2);
  central_dp_options dp;
  dp.noise_multiplier = sigma;
  dp.clip_norm = clip;
  dp.sampling_rate = q;
  dp.population = n;
  auto server = make_server(n, q, dp, 23);
  ASSERT_TRUE(server.run_round(fed.server_endpoint()).succeeded);
  const auto& s = trainer.calls->at(0);
  const double qn = q * static_cast<double>(n), sd = sigma * clip / qn;
  // |S| ≠ qN at this seed, so noise scaled by 1/|S| instead of 1/(qN) would fail the check below
  ASSERT_GT(std::abs(static_cast<double>(s.size()) - qn), 1.5);
  double m = 0, v = 0, k4 = 0;
  for (std::size_t i = 0; i < dim; ++i) m += server.model().span()[i] - expected_update(s, i, clip, qn);
  m /= dim;
  for (std::size_t i = 0; i < dim; ++i) {
    const double r = server.model().span()[i] - expected_update(s, i, clip, qn) - m;
    v += r * r;
    k4 += r * r * r * r;
  }
  v /= dim;
  k4 /= dim * v * v;
  EXPECT_NEAR(m, 0.0, 4 * sd / std::sqrt(double(dim)));
  EXPECT_NEAR(std::sqrt(v) / sd, 1.0, 4 * std::sqrt(0.5 / dim)); // sd of the sample sd ≈ sd/√(2D)
  EXPECT_NEAR(k4, 3.0, 4 * std::sqrt(24.0 / dim));               // Gaussian kurtosis
}

TEST(PrivacyServer, StopsBeforeTheRoundThatWouldExceedTheBudget) {
  const std::size_t n = 40;
  const double q = 0.1, sigma = 1.5, delta = 1e-5;
  delta_trainer trainer;
  fedpp::in_process_federation<float, delta_trainer> fed(ids(n), trainer, layout(), 2);
  central_dp_options dp;
  dp.noise_multiplier = sigma;
  dp.sampling_rate = q;
  dp.population = n;
  dp.budget = privacy_budget(2.0, delta);
  auto server = make_server(n, q, dp, 5);
  std::vector<double> eps;
  while (server.hooks().can_run_next_round()) {
    const auto metrics = server.run_round(fed.server_endpoint());
    ASSERT_TRUE(metrics.evaluation.contains("dp_epsilon"));
    eps.push_back(metrics.evaluation.at("dp_epsilon"));
    ASSERT_LT(eps.size(), 200U);
  }
  ASSERT_GE(eps.size(), 2U);
  for (std::size_t i = 1; i < eps.size(); ++i) EXPECT_GT(eps[i], eps[i - 1]);
  EXPECT_LE(eps.back(), 2.0);
  EXPECT_DOUBLE_EQ(eps.back(), server.hooks().epsilon(delta));
  rdp_accountant reference; // the same steps composed directly; one more exceeds the budget
  reference.compose(q, sigma, eps.size());
  EXPECT_NEAR(reference.epsilon(delta), eps.back(), 1e-12);
  reference.compose(q, sigma, 1);
  EXPECT_GT(reference.epsilon(delta), 2.0);
}

TEST(PrivacyServer, EmptyAndTooSmallPoissonRoundsAreCharged) {
  // N = 20, q = 0.05: E|S| = 1, so many rounds are empty (P = 0.36) and with min_reports = 2 most
  // are too small; the server returns before aggregating, yet on_round_end charges every round.
  const std::size_t n = 20, rounds = 30;
  const double q = 0.05, sigma = 1.2, delta = 1e-5;
  delta_trainer trainer;
  fedpp::in_process_federation<float, delta_trainer> fed(ids(n), trainer, layout(), 2);
  central_dp_options dp;
  dp.noise_multiplier = sigma;
  dp.sampling_rate = q;
  dp.population = n;
  dp.budget = privacy_budget(1e6, delta);
  dp.release_below_min_reports = false; // the charging does not depend on releasing
  auto server = make_server(n, q, dp, 3, 2);
  std::size_t empty = 0, too_small = 0, succeeded = 0;
  for (std::size_t r = 0; r < rounds; ++r) {
    const auto before = server.model();
    const auto metrics = server.run_round(fed.server_endpoint());
    empty += metrics.sampled == 0 ? 1 : 0;
    too_small += metrics.sampled == 1 ? 1 : 0;
    succeeded += metrics.succeeded ? 1 : 0;
    ASSERT_TRUE(metrics.evaluation.contains("dp_epsilon")) << "round " << r;
    ASSERT_FALSE(metrics.released_without_quorum);
    if (!metrics.succeeded) { // skipped: the model is exactly unchanged
      ASSERT_TRUE(std::equal(before.span().begin(), before.span().end(), server.model().span().begin()));
    }
  }
  EXPECT_GT(empty, 0U);
  EXPECT_GT(too_small, 0U);
  EXPECT_LT(succeeded, rounds);
  EXPECT_EQ(server.hooks().accountant().steps(), rounds);
  rdp_accountant reference;
  reference.compose(q, sigma, rounds);
  EXPECT_NEAR(server.hooks().epsilon(delta), reference.epsilon(delta), 1e-12);
}

TEST(PrivacyServer, AdaptiveClippingFindsTheMedianNormAndIsAccounted) {
  // norms 0.3·(c mod 8 + 1): the median of the client norms lies between 1.2 and 1.5
  const std::size_t n = 64, rounds = 60;
  const double q = 0.5, sigma = 1.0, delta = 1e-5;
  delta_trainer trainer;
  fedpp::in_process_federation<float, delta_trainer> fed(ids(n), trainer, layout(), 2);
  central_dp_options dp;
  dp.noise_multiplier = sigma;
  dp.sampling_rate = q;
  dp.population = n;
  fedpp::server_options options;
  options.seed = 11;
  dp_server<> server(
      fedpp::flat_model<float>(layout()), fedpp::poisson_sampler(n, q), {}, options, {},
      central_dp_hooks<float>(dp, layout(), secure_rng::reproducible(reproducible_seed{11}), rdp_accountant(),
                              adaptive_clipping(0.1, 0.5, 0.2, 2.0)),
      [](const fedpp::model_layout& l) { return fedpp::fedavg<float>(l, fedpp::weighting::uniform); });
  for (std::size_t r = 0; r < rounds; ++r) (void)server.run_round(fed.server_endpoint());
  EXPECT_GT(server.hooks().current_bound(), 1.05);
  EXPECT_LT(server.hooks().current_bound(), 1.65);
  // the accountant charged the combined mechanism: (σ⁻² + (2σ_b)⁻²)^{−1/2} per round
  rdp_accountant reference;
  reference.compose(q, 1 / std::sqrt(1 / (sigma * sigma) + 1 / 16.0), rounds);
  EXPECT_NEAR(server.hooks().epsilon(delta), reference.epsilon(delta), 1e-12);
}

TEST(PrivacyServer, BadOptionsAreRejected) {
  central_dp_options dp;
  dp.noise_multiplier = 0.0;
  EXPECT_THROW(central_dp_hooks<float>(dp, layout()), fedpp::invalid_config);
  dp.noise_multiplier = 1.0;
  dp.sampling_rate = 1.5;
  EXPECT_THROW(central_dp_hooks<float>(dp, layout()), fedpp::invalid_config);
  dp.sampling_rate = 0.1;
  dp.per_layer_bounds = {1.0, 2.0}; // the layout has one tensor
  EXPECT_THROW(central_dp_hooks<float>(dp, layout()), fedpp::invalid_config);
}

} // namespace

TEST(PrivacyServer, RoundsBelowMinReportsStillReleaseTheNoisySum) {
  // Default: a round with |S| < min_reports (even |S| = 0) releases Σ_{k∈S} clip(Δ_k)/(qN) plus
  // N(0, (σC/(qN))²) like any other, so "too few clients" is never observable. σ tiny: the
  // release of a one-client round is that client's clipped delta / qN; an empty round's is ~0.
  const std::size_t n = 20, rounds = 30;
  const double q = 0.05, clip = 1.0;
  delta_trainer trainer;
  fedpp::in_process_federation<float, delta_trainer> fed(ids(n), trainer, layout(), 2);
  central_dp_options dp;
  dp.noise_multiplier = 1e-7;
  dp.clip_norm = clip;
  dp.sampling_rate = q;
  dp.population = n;
  auto server = make_server(n, q, dp, 3, 2);
  const double qn = q * static_cast<double>(n);
  std::size_t one_client_rounds = 0, empty_rounds = 0;
  for (std::size_t r = 0; r < rounds; ++r) {
    const auto before = server.model();
    const auto metrics = server.run_round(fed.server_endpoint());
    if (metrics.sampled >= 2) continue;
    ASSERT_FALSE(metrics.succeeded);
    ASSERT_TRUE(metrics.released_without_quorum) << "round " << r;
    std::set<client_id> s;
    if (metrics.sampled == 1) {
      s = trainer.calls->at(r); // the lone sampled client was trained and counted
      ASSERT_EQ(s.size(), 1U);
      ASSERT_EQ(metrics.reported, 1U);
      ++one_client_rounds;
    } else {
      ++empty_rounds;
    }
    for (std::size_t i = 0; i < dim; ++i)
      ASSERT_NEAR(server.model().span()[i] - before.span()[i], expected_update(s, i, clip, qn), 1e-5)
          << "round " << r << " element " << i;
  }
  EXPECT_GT(one_client_rounds, 0U);
  EXPECT_GT(empty_rounds, 0U);
  EXPECT_EQ(server.hooks().accountant().steps(), rounds);
}
