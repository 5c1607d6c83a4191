// Oort and power-of-choice samplers: utilities against hand computations, the exploration /
// exploitation split, the staleness bonus, the pacer, the system penalty, the monopoly cap,
// hostile feedback refused with the state unchanged, determinism, statistical checks at fixed
// seeds, and the hooks that feed them from inside fedpp::server.
#include "fedpp/orchestration/in_process_federation.hpp"
#include "fedpp/orchestration/selection_feedback_hooks.hpp"
#include "fedpp/orchestration/server.hpp"
#include "fedpp/scheduling/oort_sampler.hpp"
#include "fedpp/scheduling/power_of_choice_sampler.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <set>
#include <vector>

namespace {

using fedpp::client_id;
using fedpp::feedback_verdict;
using fedpp::oort_options;
using fedpp::oort_sampler;
using fedpp::power_of_choice_sampler;
using fedpp::selection_feedback;

/// Options that make every pick an exploitation once clients are explored (ε = 0), T = ∞, no
/// pacer change within a test, no clipping.
oort_options exploit_only() {
  oort_options o;
  o.exploration = 0;
  o.exploration_min = 0;
  o.preferred_percentile = 100;
  o.pacer_window = 1000;
  o.clip_quantile = 1;
  return o;
}

selection_feedback fb(client_id c, double examples, double loss_sq, double duration) {
  return {c, examples, std::sqrt(loss_sq), loss_sq, duration};
}

std::vector<client_id> pick(oort_sampler& s, std::uint64_t round, std::uint64_t seed = 7) {
  return fedpp::sample_round(s, seed, round);
}

/// The three clients of a 3-client, 3-per-round sampler after round 0 with feedback:
/// U = 100·1 = 100, 25·2 = 50, 10·1 = 10; durations 10, 20, 40 s.
void explore_three(oort_sampler& s) {
  ASSERT_EQ(pick(s, 0), (std::vector<client_id>{0, 1, 2}));
  const selection_feedback f[] = {fb(0, 100, 1, 10), fb(1, 25, 4, 20), fb(2, 10, 1, 40)};
  const auto counts = s.observe(0, f);
  ASSERT_EQ(counts.accepted, 3U);
  ASSERT_EQ(counts.refused, 0U);
}

TEST(OortSampler, StatisticalUtilityIsExamplesTimesRootMeanSquaredLoss) {
  // |B| sqrt(1/|B| Σ loss²) with |B| = 4 and losses 1, 2, 3, 4: Σ loss² = 30, so 4·sqrt(7.5).
  const double sq = (1.0 + 4.0 + 9.0 + 16.0) / 4.0;
  EXPECT_DOUBLE_EQ(oort_sampler::statistical_utility({0, 4, 2.5, sq, 1}), 4 * std::sqrt(7.5));
  oort_sampler s(3, 3, exploit_only());
  explore_three(s);
  EXPECT_FLOAT_EQ(s.state(0).utility, 100.0F);
  EXPECT_FLOAT_EQ(s.state(1).utility, 50.0F);
  EXPECT_FLOAT_EQ(s.state(2).utility, 10.0F);
  EXPECT_FLOAT_EQ(s.state(2).duration, 40.0F);
  EXPECT_EQ(s.state(0).last_round, 1U);
  EXPECT_TRUE(s.state(0).explored);
}

TEST(OortSampler, ScoresMatchHandComputation) {
  oort_sampler s(3, 3, exploit_only());
  explore_three(s);
  // Round 1: R = 2, L_i = 1; U_min = 10 → lo = 9.99, range = 100 − 9.99 = 90.01.
  const double bonus = std::sqrt(0.1 * std::log(2.0) / 1.0);
  const auto sc = s.scores(1);
  ASSERT_EQ(sc.size(), 3U);
  EXPECT_NEAR(sc[0].second, (100 - 9.99) / 90.01 + bonus, 1e-9);
  EXPECT_NEAR(sc[1].second, (50 - 9.99) / 90.01 + bonus, 1e-9);
  EXPECT_NEAR(sc[2].second, (10 - 9.99) / 90.01 + bonus, 1e-9);
}

TEST(OortSampler, StalenessBonusGrowsWithRoundsAndShrinksWithLastRound) {
  oort_sampler s(3, 3, exploit_only());
  explore_three(s);
  const double base = (100 - 9.99) / 90.01;
  for (std::uint64_t r : {1ULL, 9ULL, 99ULL}) {
    const double big_r = static_cast<double>(r + 1);
    EXPECT_NEAR(s.scores(r)[0].second - base, std::sqrt(0.1 * std::log(big_r) / 1.0), 1e-9) << r;
  }
  // After round 1 picks everyone again, L_i = 2: the bonus at R = 10 is sqrt(0.1 ln 10 / 2).
  (void)pick(s, 1);
  EXPECT_EQ(s.state(0).last_round, 2U);
  EXPECT_NEAR(s.scores(9)[0].second - base, std::sqrt(0.1 * std::log(10.0) / 2.0), 1e-9);
}

TEST(OortSampler, ClipsUtilitiesAtTheQuantile) {
  oort_options o = exploit_only();
  o.clip_quantile = 0.5;
  oort_sampler s(5, 5, o);
  ASSERT_EQ(pick(s, 0).size(), 5U);
  const double u[] = {10, 20, 30, 40, 1000};
  for (client_id c = 0; c < 5; ++c) ASSERT_EQ(s.observe(0, fb(c, u[c], 1, 1)), feedback_verdict::accepted);
  // Sorted U: 10 20 30 40 1000; quantile index floor(5·0.5) = 2 → clip 30; range 1000 − 9.99.
  const double bonus = std::sqrt(0.1 * std::log(2.0));
  const auto sc = s.scores(1);
  EXPECT_NEAR(sc[4].second, (30 - 9.99) / (1000 - 9.99) + bonus, 1e-9);
  EXPECT_NEAR(sc[3].second, sc[4].second, 1e-12); // 40 is clipped to 30 too
  EXPECT_NEAR(sc[1].second, (20 - 9.99) / (1000 - 9.99) + bonus, 1e-9);
}

TEST(OortSampler, SystemPenaltyForClientsSlowerThanThePreferredDuration) {
  oort_options o = exploit_only();
  o.preferred_percentile = 50; // T = the 50th percentile of 10, 20, 40 s: index floor(1.5) = 1 → 20 s
  oort_sampler s(3, 3, o);
  explore_three(s);
  (void)pick(s, 1); // computes T; everyone picked again: L_i = 2
  EXPECT_DOUBLE_EQ(s.preferred_duration(), 20.0);
  const double bonus = std::sqrt(0.1 * std::log(2.0) / 2.0);
  const auto sc = s.scores(1);
  EXPECT_NEAR(sc[0].second, (100 - 9.99) / 90.01 + bonus, 1e-9); // 10 s ≤ T: no penalty
  EXPECT_NEAR(sc[1].second, (50 - 9.99) / 90.01 + bonus, 1e-9);  // 20 s = T: no penalty
  EXPECT_NEAR(sc[2].second, ((10 - 9.99) / 90.01 + bonus) * std::pow(20.0 / 40.0, 2.0), 1e-9);
}

TEST(OortSampler, ExplorationFactorDecaysAndSplitsThePicks) {
  oort_sampler s(100, 10); // ε = 0.9, decay 0.98, min 0.2
  std::vector<std::size_t> exploited;
  for (std::uint64_t r = 0; r < 120; ++r) {
    const auto ids = pick(s, r);
    ASSERT_EQ(ids.size(), 10U);
    EXPECT_NEAR(s.exploration_factor(), std::max(0.9 * std::pow(0.98, static_cast<double>(r + 1)), 0.2),
                1e-12);
    exploited.push_back(s.exploited().size());
    for (client_id c : ids)
      ASSERT_EQ(s.observe(r, fb(c, 50 + static_cast<double>(c), 1, 5)), feedback_verdict::accepted);
  }
  EXPECT_EQ(exploited[0], 0U); // nothing explored yet: all 10 explore
  EXPECT_EQ(exploited[1], static_cast<std::size_t>(std::floor(10 * (1 - 0.9 * 0.98 * 0.98))));
  // Once ε = 0.2 (after round 80): 8 exploited, or more when the unexplored run out.
  EXPECT_GE(exploited[110], 8U);
}

TEST(OortSampler, PacerRelaxesThePreferredDurationWhenUtilityStalls) {
  oort_options o = exploit_only();
  o.preferred_percentile = 30;
  o.pacer_window = 2;
  o.pacer_delta = 5;
  oort_sampler s(10, 10, o);
  std::vector<double> percentiles;
  for (std::uint64_t r = 0; r < 8; ++r) {
    const auto ids = pick(s, r);
    percentiles.push_back(s.preferred_percentile());
    for (client_id c : ids)
      ASSERT_EQ(s.observe(r, fb(c, 100, 1, 1 + static_cast<double>(c))), feedback_verdict::accepted);
  }
  // History of the exploited mean utility: round 0 explored only (0), then 100 every round. The
  // pacer looks at R = 2W = 4 (history 0, 100, 100: too short), R = 6 (100,100 | 100,100: stalled).
  EXPECT_EQ(percentiles, (std::vector<double>{30, 30, 30, 30, 30, 35, 35, 40}));
}

TEST(OortSampler, PacerLeavesTGrowingUtilityAlone) {
  oort_options o = exploit_only();
  o.preferred_percentile = 30;
  o.pacer_window = 2;
  oort_sampler s(4, 4, o);
  double u = 1;
  for (std::uint64_t r = 0; r < 8; ++r) {
    const auto ids = pick(s, r);
    for (client_id c : ids) ASSERT_EQ(s.observe(r, fb(c, u, 1, 1)), feedback_verdict::accepted);
    u *= 2; // doubling: each window's sum changes by 3× — not a stall, not 5×
  }
  EXPECT_EQ(s.preferred_percentile(), 30.0);
}

TEST(OortSampler, HostileFeedbackIsRefusedWithStateUnchanged) {
  oort_sampler s(6, 2, exploit_only());
  const auto ids = pick(s, 0);
  ASSERT_EQ(ids.size(), 2U);
  client_id outsider = 0;
  while (outsider == ids[0] || outsider == ids[1]) ++outsider;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  std::vector<fedpp::oort_client_state> before;
  for (client_id c = 0; c < 6; ++c) before.push_back(s.state(c));
  const std::pair<selection_feedback, feedback_verdict> cases[] = {
      {{ids[0], 10, nan, 1, 1}, feedback_verdict::bad_loss},
      {{ids[0], 10, 1, nan, 1}, feedback_verdict::bad_loss},
      {{ids[0], 10, 1e9, 1e18, 1}, feedback_verdict::bad_loss},
      {{ids[0], 10, -1, 1, 1}, feedback_verdict::bad_loss},
      {{ids[0], 0, 1, 1, 1}, feedback_verdict::bad_examples},
      {{ids[0], inf, 1, 1, 1}, feedback_verdict::bad_examples},
      {{ids[0], 1e12, 1, 1, 1}, feedback_verdict::bad_examples},
      {{ids[0], 10, 1, 1, -1}, feedback_verdict::bad_duration},
      {{ids[0], 10, 1, 1, nan}, feedback_verdict::bad_duration},
      {{outsider, 10, 1, 1, 1}, feedback_verdict::not_selected},
  };
  for (const auto& [f, verdict] : cases) EXPECT_EQ(s.observe(0, f), verdict);
  EXPECT_EQ(s.observe(1, fb(ids[0], 10, 1, 1)), feedback_verdict::wrong_round); // a future round
  for (client_id c = 0; c < 6; ++c)
    EXPECT_EQ(std::memcmp(&before[c], &s.state(c), sizeof(fedpp::oort_client_state)), 0) << c;
  EXPECT_EQ(s.feedback_refused(), 11U);
  // A good feedback is accepted once; a repeat is refused and does not overwrite it.
  EXPECT_EQ(s.observe(0, fb(ids[0], 10, 1, 1)), feedback_verdict::accepted);
  EXPECT_EQ(s.observe(0, fb(ids[0], 1000, 100, 1)), feedback_verdict::repeated);
  EXPECT_FLOAT_EQ(s.state(ids[0]).utility, 10.0F);
  // After the next round is sampled, round 0's feedback is stale.
  (void)pick(s, 1);
  EXPECT_EQ(s.observe(0, fb(ids[1], 10, 1, 1)), feedback_verdict::wrong_round);
}

TEST(OortSampler, SilentPicksCountAsExploredWithZeroUtility) {
  oort_sampler s(4, 2, exploit_only());
  const auto ids = pick(s, 0);
  ASSERT_EQ(s.observe(0, fb(ids[0], 10, 1, 1)), feedback_verdict::accepted);
  (void)pick(s, 1);
  EXPECT_TRUE(s.state(ids[1]).explored);
  EXPECT_EQ(s.state(ids[1]).utility, 0.0F);
  EXPECT_FALSE(s.state(ids[1]).has_duration);
}

TEST(OortSampler, NoClientIsPickedMoreThanMaxConsecutiveRoundsInARow) {
  oort_options o = exploit_only();
  o.max_consecutive = 3;
  oort_sampler s(20, 2, o);
  std::vector<int> streak(20, 0);
  int longest = 0;
  for (std::uint64_t r = 0; r < 60; ++r) {
    const auto ids = pick(s, r);
    std::set<client_id> picked(ids.begin(), ids.end());
    for (client_id c = 0; c < 20; ++c) streak[c] = picked.count(c) ? streak[c] + 1 : 0;
    longest = std::max(longest, *std::max_element(streak.begin(), streak.end()));
    // Client 0 claims the largest utility the bounds allow, every time.
    for (client_id c : ids)
      ASSERT_EQ(s.observe(r, c == 0 ? fb(c, 1e6, 1e6, 0) : fb(c, 1, 0.01, 1)), feedback_verdict::accepted);
  }
  EXPECT_LE(longest, 3);
}

TEST(OortSampler, DeterministicAtAFixedSeed) {
  const auto run = [](std::uint64_t seed) {
    oort_sampler s(50, 5);
    std::vector<client_id> all;
    for (std::uint64_t r = 0; r < 40; ++r) {
      const auto ids = fedpp::sample_round(s, seed, r);
      all.insert(all.end(), ids.begin(), ids.end());
      for (client_id c : ids)
        (void)s.observe(r, fb(c, 10 + static_cast<double>(c % 7), 1, 1 + static_cast<double>(c % 5)));
    }
    return all;
  };
  EXPECT_EQ(run(3), run(3));
  EXPECT_NE(run(3), run(4));
}

TEST(OortSampler, ExplorationFollowsPriorWeights) {
  // One pick among three unexplored clients with priors 1, 2, 7: P = 0.1, 0.2, 0.7. 20,000 draws
  // at fixed seeds; each frequency within 4.5 standard deviations.
  constexpr int trials = 20000;
  std::vector<int> hits(3, 0);
  for (int t = 0; t < trials; ++t) {
    oort_sampler s(std::vector<double>{1, 2, 7}, 1);
    ++hits[static_cast<std::size_t>(fedpp::sample_round(s, 11, static_cast<std::uint64_t>(t))[0])];
  }
  const double p[] = {0.1, 0.2, 0.7};
  for (int i = 0; i < 3; ++i) {
    const double sd = std::sqrt(p[i] * (1 - p[i]) / trials);
    EXPECT_NEAR(hits[static_cast<std::size_t>(i)] / static_cast<double>(trials), p[i], 4.5 * sd) << i;
  }
}

TEST(OortSampler, ExploitationFavoursHigherScores) {
  // Four explored clients, one exploited pick per round (ε = 0, m = 1): the cut-off keeps those
  // at ≥ 95 % of the second score, so the two best share the picks ∝ score and the rest never win.
  int top = 0, second = 0, other = 0;
  for (int t = 0; t < 4000; ++t) {
    oort_sampler s(4, 4, exploit_only());
    (void)fedpp::sample_round(s, 5, 0);
    const selection_feedback f[] = {fb(0, 100, 1, 1), fb(1, 98, 1, 1), fb(2, 10, 1, 1), fb(3, 20, 1, 1)};
    ASSERT_EQ(s.observe(0, f).accepted, 4U);
    auto one = s.with_sample_size(1);
    const auto ids = fedpp::sample_round(one, 5, static_cast<std::uint64_t>(t) + 1);
    (ids[0] == 0 ? top : ids[0] == 1 ? second : other) += 1;
  }
  EXPECT_EQ(other, 0);
  EXPECT_GT(top, 1600);
  EXPECT_GT(second, 1600);
}

TEST(OortSampler, RefusesBadConfiguration) {
  EXPECT_THROW(oort_sampler(0, 1), fedpp::invalid_config);
  EXPECT_THROW(oort_sampler(5, 0), fedpp::invalid_config);
  EXPECT_THROW(oort_sampler(5, 6), fedpp::invalid_config);
  oort_options o;
  o.exploration = 1.5;
  EXPECT_THROW(oort_sampler(5, 2, o), fedpp::invalid_config);
  o = {};
  o.max_consecutive = 0;
  EXPECT_THROW(oort_sampler(5, 2, o), fedpp::invalid_config);
  EXPECT_THROW(oort_sampler(std::vector<double>{1, 0}, 1), fedpp::invalid_config);
  EXPECT_EQ(oort_sampler(5, 2).bytes_per_client(), 16U);
  EXPECT_EQ(oort_sampler(std::vector<double>{1, 2}, 1).bytes_per_client(), 20U);
}

TEST(PowerOfChoiceSampler, PicksTheHighestLossesAmongCandidates) {
  // d = N: every client is a candidate; unknown losses first (ties: lower id).
  power_of_choice_sampler s({1, 2, 3, 4, 5, 6}, 2, 6);
  fedpp::rng gen(1);
  EXPECT_EQ(s.sample(0, gen), (std::vector<client_id>{0, 1}));
  ASSERT_EQ(s.observe(0, selection_feedback{0, 10, 0.5, 0.25, 1}), feedback_verdict::accepted);
  ASSERT_EQ(s.observe(0, selection_feedback{1, 10, 0.9, 0.81, 1}), feedback_verdict::accepted);
  EXPECT_EQ(s.sample(1, gen), (std::vector<client_id>{2, 3}));
  ASSERT_EQ(s.observe(1, selection_feedback{2, 10, 0.1, 0.01, 1}), feedback_verdict::accepted);
  ASSERT_EQ(s.observe(1, selection_feedback{3, 10, 2.0, 4.0, 1}), feedback_verdict::accepted);
  EXPECT_EQ(s.sample(2, gen), (std::vector<client_id>{4, 5}));
  ASSERT_EQ(s.observe(2, selection_feedback{4, 10, 0.3, 0.09, 1}), feedback_verdict::accepted);
  ASSERT_EQ(s.observe(2, selection_feedback{5, 10, 0.7, 0.49, 1}), feedback_verdict::accepted);
  // Losses 0.5 0.9 0.1 2.0 0.3 0.7: the two highest are clients 3 and 1.
  EXPECT_EQ(s.sample(3, gen), (std::vector<client_id>{1, 3}));
  EXPECT_EQ(s.pick_highest({0, 2, 4}), (std::vector<std::size_t>{0, 4}));
}

TEST(PowerOfChoiceSampler, CandidatesAreDrawnInProportionToDataSize) {
  power_of_choice_sampler s({1, 3}, 1, 1);
  constexpr int trials = 20000;
  int heavy = 0;
  for (int t = 0; t < trials; ++t) {
    fedpp::rng gen = fedpp::rng::for_stream(21, static_cast<std::uint64_t>(t));
    heavy += s.draw_candidates(gen)[0] == 1 ? 1 : 0;
  }
  EXPECT_NEAR(heavy / static_cast<double>(trials), 0.75, 4.5 * std::sqrt(0.75 * 0.25 / trials));
}

TEST(PowerOfChoiceSampler, HostileFeedbackIsRefusedWithStateUnchanged) {
  power_of_choice_sampler s({1, 1, 1, 1}, 1, 4);
  fedpp::rng gen(3);
  const auto ids = s.sample(0, gen);
  const client_id c = ids[0];
  const client_id outsider = c == 0 ? 1 : 0;
  EXPECT_EQ(s.observe(0, selection_feedback{c, 10, std::nan(""), 1, 1}), feedback_verdict::bad_loss);
  EXPECT_EQ(s.observe(0, selection_feedback{c, 10, 1e300, 1, 1}), feedback_verdict::bad_loss);
  EXPECT_EQ(s.observe(0, selection_feedback{outsider, 10, 5, 25, 1}), feedback_verdict::not_selected);
  EXPECT_EQ(s.observe(7, selection_feedback{c, 10, 5, 25, 1}), feedback_verdict::wrong_round);
  for (client_id k = 0; k < 4; ++k) EXPECT_TRUE(std::isnan(s.last_loss(k)));
  EXPECT_EQ(s.observe(0, selection_feedback{c, 10, 5, 25, 1}), feedback_verdict::accepted);
  EXPECT_EQ(s.last_loss(c), 5.0);
  EXPECT_EQ(power_of_choice_sampler::bytes_per_client(), 12U);
  EXPECT_THROW(power_of_choice_sampler({1, 1}, 2, 1), fedpp::invalid_config);
}

// --- Inside fedpp::server: hooks post, the sampler reads at its next sample(). --------------

fedpp::model_layout toy_layout() {
  fedpp::model_layout layout;
  layout.add("w", {4});
  return layout;
}

/// Client c reports loss 1 + c (client 3: NaN loss, a hostile report the sampler must refuse).
struct loss_trainer {
  fedpp::client_result<float> operator()(client_id id, const fedpp::host_model_view<const float>& global,
                                         const fedpp::round_config&) const {
    auto model = fedpp::flat_model<float>::copy_of(global);
    const double loss = id == 3 ? std::numeric_limits<double>::quiet_NaN() : 1.0 + static_cast<double>(id);
    return {std::move(model),
            fedpp::update_kind::weights,
            10.0 + static_cast<double>(id),
            {{"train_loss", loss}}};
  }
};

TEST(SelectionFeedbackHooks, FeedTheSamplerFromServerRounds) {
  std::vector<client_id> ids(6);
  std::iota(ids.begin(), ids.end(), client_id{0});
  fedpp::in_process_federation<float, loss_trainer> clients(ids, loss_trainer{}, toy_layout(), 2);
  fedpp::selection_feedback_hooks<float> hooks;
  hooks.duration = [](client_id c, std::uint64_t) { return 2.0 * static_cast<double>(c + 1); };
  oort_sampler sampler(6, 6, exploit_only());
  sampler.connect(hooks.board);
  fedpp::server<float, oort_sampler, fedpp::server_sgd<float>, fedpp::fedavg<float>,
                fedpp::wall_clock_availability, fedpp::selection_feedback_hooks<float>>
      server(fedpp::flat_model<float>(toy_layout()), sampler, {}, {}, {}, hooks);
  const auto m0 = server.run_round(clients.server_endpoint());
  EXPECT_EQ(m0.reported, 6U);
  EXPECT_EQ(server.hooks().board->entries().size(), 5U); // client 3's NaN loss posts nothing
  (void)server.run_round(clients.server_endpoint());     // round 1's sample() reads round 0's board
  const auto& s = server.sampler();
  EXPECT_EQ(s.feedback_accepted(), 5U);
  for (client_id c = 0; c < 6; ++c) {
    if (c == 3) {
      EXPECT_EQ(s.state(c).utility, 0.0F); // silent: its NaN loss was never posted
      continue;
    }
    EXPECT_FLOAT_EQ(s.state(c).utility,
                    static_cast<float>((10.0 + static_cast<double>(c)) * (1.0 + static_cast<double>(c))));
    EXPECT_FLOAT_EQ(s.state(c).duration, static_cast<float>(2.0 * static_cast<double>(c + 1)));
  }
}

} // namespace
