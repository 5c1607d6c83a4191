// Federated reinforcement learning (fedpp/rl): CartPole against gymnasium's equations step for
// step, the episode rules (termination, truncation, reset), parameter refusals, the networks'
// gradients against finite differences, the REINFORCE update against an independently computed
// surrogate gradient, the solved criterion, and federated averaging of agents on fedpp::server.
#include "fedpp/orchestration/in_process_federation.hpp"
#include "fedpp/orchestration/server.hpp"
#include "fedpp/rl/cartpole.hpp"
#include "fedpp/rl/federated_agent.hpp"
#include "fedpp/rl/policy_network.hpp"
#include "fedpp/rl/reinforce.hpp"
#include "fedpp/rl/tanh_mlp.hpp"
#include "fedpp/rl/value_network.hpp"
#include "fedpp/scheduling/uniform_sampler.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <numbers>
#include <vector>

namespace {

namespace rl = fedpp::rl;
using rl::cartpole;
using rl::cartpole_parameters;
using rl::cartpole_state;

TEST(CartPole, DefaultsAreGymnasiumCartPoleV1) {
  const cartpole_parameters p;
  EXPECT_EQ(p.gravity, 9.8);
  EXPECT_EQ(p.masscart, 1.0);
  EXPECT_EQ(p.masspole, 0.1);
  EXPECT_EQ(p.length, 0.5);
  EXPECT_EQ(p.force_mag, 10.0);
  EXPECT_EQ(p.tau, 0.02);
  EXPECT_EQ(p.theta_threshold_radians, 12 * 2 * std::numbers::pi / 360);
  EXPECT_NEAR(p.theta_threshold_radians, 0.20943951023931953, 1e-17);
  EXPECT_EQ(p.x_threshold, 2.4);
  EXPECT_EQ(p.reset_bound, 0.05);
  EXPECT_EQ(p.max_episode_steps, 500U);
}

// Three steps from (0.01, −0.02, 0.03, 0.04) under actions 1, 0, 1, computed by hand with
// gymnasium's CartPoleEnv.step formulas in Python floats (IEEE double), printed to 17 digits.
TEST(CartPole, ThreeStepsEqualHandComputedGymnasiumValues) {
  cartpole env;
  env.reset_to({0.01, -0.02, 0.03, 0.04});
  const double expected[3][4] = {
      {0.0096000000000000009, 0.17467919574755525, 0.030799999999999998, -0.24306871796000809},
      {0.013093583914951107, -0.020868848948191993, 0.025938625640799837, 0.059167999939416599},
      {0.012676206935987267, 0.17387177487348129, 0.027121985639588168, -0.22521957255967326}};
  const int actions[3] = {1, 0, 1};
  for (int t = 0; t < 3; ++t) {
    const auto step = env.step(actions[t]);
    const cartpole_state& s = env.state();
    EXPECT_NEAR(s.x, expected[t][0], 1e-16) << t;
    EXPECT_NEAR(s.x_dot, expected[t][1], 1e-16) << t;
    EXPECT_NEAR(s.theta, expected[t][2], 1e-16) << t;
    EXPECT_NEAR(s.theta_dot, expected[t][3], 1e-16) << t;
    EXPECT_EQ(step.reward, 1.0);
    EXPECT_FALSE(step.terminated);
    EXPECT_FALSE(step.truncated);
    EXPECT_EQ(step.observation[1], static_cast<float>(expected[t][1])); // float32 observation
  }
  EXPECT_EQ(env.elapsed_steps(), 3U);
}

// The test's own derivation: the frictionless equations of motion in mass-matrix form
//   [m_c + m_p      m_p·l·cos θ] [ẍ]   [F + m_p·l·θ̇²·sin θ]
//   [cos θ          (4/3)·l    ] [θ̈] = [g·sin θ            ]
// solved by Cramer's rule, then one explicit Euler step with the old state on every right side.
cartpole_state reference_step(const cartpole_parameters& p, const cartpole_state& s, int action) {
  const double f = action == 1 ? p.force_mag : -p.force_mag;
  const double a11 = p.masscart + p.masspole, a12 = p.masspole * p.length * std::cos(s.theta);
  const double a21 = std::cos(s.theta), a22 = 4.0 / 3.0 * p.length;
  const double r1 = f + p.masspole * p.length * s.theta_dot * s.theta_dot * std::sin(s.theta);
  const double r2 = p.gravity * std::sin(s.theta);
  const double det = a11 * a22 - a12 * a21;
  const double xacc = (r1 * a22 - a12 * r2) / det;
  const double thetaacc = (a11 * r2 - a21 * r1) / det;
  return {s.x + p.tau * s.x_dot, s.x_dot + p.tau * xacc, s.theta + p.tau * s.theta_dot,
          s.theta_dot + p.tau * thetaacc};
}

TEST(CartPole, TrajectoriesMatchAnIndependentDerivationForHeterogeneousPhysics) {
  std::vector<cartpole_parameters> cases(4);
  cases[1].length = 1.0;
  cases[1].masspole = 0.5;
  cases[2].length = 0.25;
  cases[2].masscart = 2.0;
  cases[3].gravity = 3.7;
  cases[3].force_mag = 5.0;
  cases[3].tau = 0.01;
  for (std::size_t c = 0; c < cases.size(); ++c) {
    cases[c].theta_threshold_radians = std::numbers::pi / 2; // keep going: a long trajectory
    cases[c].x_threshold = 100;
    cartpole env(cases[c]);
    cartpole_state ref{0.02, -0.03, 0.04, -0.01};
    env.reset_to(ref);
    int t = 0;
    for (; !env.episode_over(); ++t) {                                   // until the pole passes 90 degrees
      const int action = (t * 7 + static_cast<int>(c)) % 3 == 0 ? 0 : 1; // a fixed, irregular sequence
      env.step(action);
      ref = reference_step(cases[c], ref, action);
      const cartpole_state& s = env.state();
      const double tol = 1e-11;
      ASSERT_NEAR(s.x, ref.x, tol * (1 + std::abs(ref.x))) << "case " << c << " step " << t;
      ASSERT_NEAR(s.x_dot, ref.x_dot, tol * (1 + std::abs(ref.x_dot))) << "case " << c << " step " << t;
      ASSERT_NEAR(s.theta, ref.theta, tol * (1 + std::abs(ref.theta))) << "case " << c << " step " << t;
      ASSERT_NEAR(s.theta_dot, ref.theta_dot, tol * (1 + std::abs(ref.theta_dot)))
          << "case " << c << " step " << t;
    }
    EXPECT_GE(t, 20) << "case " << c; // a trajectory long enough to compare
  }
  // Different physics, different motion from the same start and actions.
  cartpole a(cases[0]), b(cases[1]);
  a.reset_to({0, 0, 0.05, 0});
  b.reset_to({0, 0, 0.05, 0});
  a.step(1);
  b.step(1);
  EXPECT_NE(a.state().theta_dot, b.state().theta_dot);
}

TEST(CartPole, TerminatesStrictlyOutsideTheThresholdsWithRewardOne) {
  const cartpole_parameters p;
  {
    cartpole env;
    env.reset_to({2.39, 1.0, 0, 0}); // x = 2.39 + 0.02 · 1 = 2.41 > 2.4
    const auto s = env.step(1);
    EXPECT_TRUE(s.terminated);
    EXPECT_FALSE(s.truncated);
    EXPECT_EQ(s.reward, 1.0); // the terminating step is rewarded too
    EXPECT_TRUE(env.episode_over());
  }
  {
    cartpole env;
    env.reset_to({-2.39, -1.0, 0, 0});
    EXPECT_TRUE(env.step(0).terminated);
  }
  {
    cartpole env;
    env.reset_to({0, 0, -p.theta_threshold_radians + 0.001, -1.0}); // θ leaves by 0.019 rad
    EXPECT_TRUE(env.step(0).terminated);
  }
  {
    // Exactly at the threshold is not beyond it (gymnasium: θ > threshold).
    cartpole env;
    env.reset_to({0, 0, p.theta_threshold_radians, 0}); // θ̇ = 0: θ stays at the threshold
    const auto s = env.step(1);
    EXPECT_EQ(env.state().theta, p.theta_threshold_radians);
    EXPECT_FALSE(s.terminated);
  }
}

TEST(CartPole, TruncatesAtTheStepLimitAndMayTerminateOnTheSameStep) {
  cartpole_parameters p;
  p.max_episode_steps = 3;
  cartpole env(p);
  env.reset_to({0, 0, 0, 0});
  EXPECT_FALSE(env.step(1).truncated);
  EXPECT_FALSE(env.step(0).truncated);
  const auto last = env.step(1);
  EXPECT_TRUE(last.truncated);
  EXPECT_FALSE(last.terminated);
  EXPECT_THROW((void)env.step(0), fedpp::invalid_config); // the episode is over: reset first
  // Both flags on one step: terminated at the time limit.
  p.max_episode_steps = 1;
  cartpole both(p);
  both.reset_to({2.39, 1.0, 0, 0});
  const auto s = both.step(1);
  EXPECT_TRUE(s.terminated);
  EXPECT_TRUE(s.truncated);
}

TEST(CartPole, DefaultEpisodeIsTruncatedAt500Steps) {
  // A hand-written controller (push toward the pole's lean, anticipating with θ̇) keeps the
  // default pole up: the episode must end by truncation at exactly 500 steps.
  cartpole env;
  fedpp::rng gen(5);
  env.reset(gen);
  std::uint32_t steps = 0;
  for (;;) {
    const auto& s = env.state();
    const auto r = env.step(s.theta + 0.5 * s.theta_dot + 0.01 * s.x + 0.1 * s.x_dot > 0 ? 1 : 0);
    ++steps;
    if (r.terminated || r.truncated) {
      EXPECT_TRUE(r.truncated);
      EXPECT_FALSE(r.terminated);
      break;
    }
  }
  EXPECT_EQ(steps, 500U);
}

TEST(CartPole, ResetDrawsUniformlyInsideTheBoundsReproducibly) {
  cartpole env;
  fedpp::rng a(7), b(7);
  const auto first = env.reset(a);
  cartpole other;
  EXPECT_EQ(other.reset(b), first);
  // 4000 resets: every variable inside (−0.05, 0.05); mean 0 and variance b²/3 within 5 standard errors.
  const int n = 4000;
  double sum[4] = {}, sq[4] = {};
  for (int i = 0; i < n; ++i) {
    env.reset(a);
    const cartpole_state s = env.state();
    const double v[4] = {s.x, s.x_dot, s.theta, s.theta_dot};
    for (int k = 0; k < 4; ++k) {
      ASSERT_GT(v[k], -0.05);
      ASSERT_LT(v[k], 0.05);
      sum[k] += v[k];
      sq[k] += v[k] * v[k];
    }
  }
  const double var = 0.05 * 0.05 / 3;                                               // U(−b, b)
  const double se_mean = std::sqrt(var / n);                                        // ≈ 4.6e-4
  const double se_var = std::sqrt((0.05 * 0.05 * 0.05 * 0.05 / 5 - var * var) / n); // of the mean of v²
  for (int k = 0; k < 4; ++k) {
    EXPECT_NEAR(sum[k] / n, 0, 5 * se_mean) << k;
    EXPECT_NEAR(sq[k] / n, var, 5 * se_var) << k;
  }
}

TEST(CartPole, RefusesBadUseWithStateUnchanged) {
  cartpole env;
  EXPECT_THROW((void)env.step(1), fedpp::invalid_config); // before reset
  env.reset_to({0.01, 0, 0, 0});
  const cartpole_state before = env.state();
  EXPECT_THROW((void)env.step(2), fedpp::invalid_config);
  EXPECT_THROW((void)env.step(-1), fedpp::invalid_config);
  EXPECT_EQ(env.state(), before);
  EXPECT_EQ(env.elapsed_steps(), 0U);
  EXPECT_THROW((void)env.reset_to({std::nan(""), 0, 0, 0}), fedpp::invalid_config);
  EXPECT_THROW((void)env.reset_to({0, 0, INFINITY, 0}), fedpp::invalid_config);
  EXPECT_EQ(env.state(), before);
}

TEST(CartPole, RefusesParametersOutsideTheirRanges) {
  const auto refused = [](auto change) {
    cartpole_parameters p;
    change(p);
    EXPECT_THROW(p.validate(), fedpp::invalid_config);
    EXPECT_THROW((cartpole{p}), fedpp::invalid_config);
  };
  const double nan = std::nan(""), inf = INFINITY;
  refused([](cartpole_parameters& p) { p.gravity = 0; });
  refused([&](cartpole_parameters& p) { p.gravity = nan; });
  refused([](cartpole_parameters& p) { p.gravity = 101; });
  refused([](cartpole_parameters& p) { p.masscart = 0; });
  refused([](cartpole_parameters& p) { p.masscart = -1; });
  refused([&](cartpole_parameters& p) { p.masscart = inf; });
  refused([](cartpole_parameters& p) { p.masspole = 0; });
  refused([](cartpole_parameters& p) { p.masspole = 1e3; });
  refused([](cartpole_parameters& p) { p.length = 0.01; });
  refused([](cartpole_parameters& p) { p.length = -0.5; });
  refused([&](cartpole_parameters& p) { p.length = nan; });
  refused([](cartpole_parameters& p) { p.force_mag = 0; });
  refused([](cartpole_parameters& p) { p.tau = 0; });
  refused([](cartpole_parameters& p) { p.tau = 0.5; });
  refused([](cartpole_parameters& p) { p.theta_threshold_radians = 0; });
  refused([](cartpole_parameters& p) { p.theta_threshold_radians = 2; });
  refused([](cartpole_parameters& p) { p.x_threshold = 0; });
  refused([](cartpole_parameters& p) { p.reset_bound = 0; });
  refused([](cartpole_parameters& p) { p.reset_bound = 0.3; });
  refused([](cartpole_parameters& p) { p.max_episode_steps = 0; });
  refused([](cartpole_parameters& p) { p.max_episode_steps = 2'000'000; });
  // The range ends are accepted.
  cartpole_parameters edge;
  edge.length = 0.05;
  edge.masspole = 100;
  edge.masscart = 0.01;
  edge.tau = 0.1;
  EXPECT_NO_THROW(edge.validate());
}

// --- networks ---------------------------------------------------------------------------------

/// Central finite difference of f over parameter i (float parameters, step h).
template <class F>
double numeric_derivative(std::vector<float>& params, std::size_t i, double h, F f) {
  const float keep = params[i];
  params[i] = static_cast<float>(keep + h);
  const double up = f();
  const double actual_up = static_cast<double>(params[i]) - keep;
  params[i] = static_cast<float>(keep - h);
  const double down = f();
  const double actual_down = keep - static_cast<double>(params[i]);
  params[i] = keep;
  return (up - down) / (actual_up + actual_down);
}

TEST(PolicyNetwork, ProbabilitiesAndLogProbGradientMatchFiniteDifferences) {
  rl::policy_network policy(4, 8, 3);
  fedpp::model_layout layout;
  policy.add_to(layout);
  ASSERT_EQ(layout.total_size(), 8U * 4 + 8 + 3 * 8 + 3);
  std::vector<float> params(layout.total_size());
  fedpp::rng gen(3);
  policy.mlp().initialize(params, gen, 1.0); // full-size output layer: a non-trivial policy
  const std::vector<double> s{0.3, -0.2, 0.5, 0.1};
  std::vector<double> h(8), probs(3), dz(3), scratch(8);
  policy.probabilities(params, s, h, probs);
  EXPECT_NEAR(probs[0] + probs[1] + probs[2], 1.0, 1e-15);
  for (const double p : probs) EXPECT_GT(p, 0);
  for (std::size_t action = 0; action < 3; ++action) {
    std::vector<double> grad(params.size(), 0.0);
    policy.add_log_prob_gradient(params, s, h, probs, action, 2.0, grad, dz, scratch);
    for (std::size_t i = 0; i < params.size(); ++i) {
      const double numeric = 2.0 * numeric_derivative(params, i, 1e-3, [&] {
                               std::vector<double> hh(8), pp(3);
                               policy.probabilities(params, s, hh, pp);
                               return std::log(pp[action]);
                             });
      EXPECT_NEAR(grad[i], numeric, 1e-4 * (1 + std::abs(numeric))) << "action " << action << " param " << i;
    }
  }
}

TEST(PolicyNetwork, SamplingFollowsTheProbabilities) {
  rl::policy_network policy(4, 4, 2);
  fedpp::rng gen(11);
  const std::vector<double> probs{0.3, 0.7};
  int ones = 0;
  const int n = 20000;
  for (int i = 0; i < n; ++i) ones += static_cast<int>(policy.sample(probs, gen));
  EXPECT_NEAR(static_cast<double>(ones) / n, 0.7, 5 * std::sqrt(0.21 / n));
}

TEST(ValueNetwork, GradientMatchesFiniteDifferences) {
  rl::value_network value(4, 6);
  fedpp::model_layout layout;
  layout.add("other", {5}); // the value tensors need not start at 0
  value.add_to(layout);
  EXPECT_EQ(value.mlp().offset(), 5U);
  std::vector<float> params(layout.total_size(), 0.F);
  fedpp::rng gen(4);
  value.initialize(params, gen);
  const std::vector<double> s{-0.4, 0.2, 0.7, -0.3};
  std::vector<double> h(6), grad(params.size(), 0.0), scratch(6);
  const double v = value.value(params, s, h);
  value.add_gradient(params, s, h, 1.5, grad, scratch);
  for (std::size_t i = 0; i < 5; ++i) EXPECT_EQ(grad[i], 0.0); // outside the network: untouched
  for (std::size_t i = 5; i < params.size(); ++i) {
    const double numeric = 1.5 * numeric_derivative(params, i, 1e-3, [&] {
                             std::vector<double> hh(6);
                             return value.value(params, s, hh);
                           });
    EXPECT_NEAR(grad[i], numeric, 1e-4 * (1 + std::abs(numeric))) << i;
  }
  EXPECT_TRUE(std::isfinite(v));
}

TEST(Networks, RefuseBadSizes) {
  EXPECT_THROW((rl::policy_network(4, 0, 2)), fedpp::invalid_config);
  EXPECT_THROW((rl::policy_network(4, 8, 1)), fedpp::invalid_config);
  EXPECT_THROW((rl::value_network(0, 8)), fedpp::invalid_config);
  EXPECT_THROW((rl::tanh_mlp("x", 4, 5000, 1)), fedpp::invalid_config);
}

// --- REINFORCE --------------------------------------------------------------------------------

// The first Adam step moves each parameter by −lr·g/(|g| + ε) (m̂ = g, v̂ = g² after one step):
// −lr·sign(g) wherever |g| ≫ ε. The test replays the learner's episode with the same generator
// (the same policy draws), computes the surrogate loss
//   L(θ) = −(1/T)Σ δ_t log π_θ(a_t|s_t) + (1/T)Σ ½(v_θ(s_t) − G_t)²   (δ, G held fixed)
// with G bootstrapped from v(s_T) at the time limit, differentiates it numerically, and checks
// the sign of every clearly non-zero component against the step the learner took.
TEST(Reinforce, FirstUpdateFollowsTheSurrogateGradientWithTruncationBootstrap) {
  rl::reinforce_options o;
  o.hidden = 6;
  o.gamma = 0.9;
  o.normalize_advantages = false;
  o.policy_learning_rate = 1e-3;
  o.value_learning_rate = 2e-3;
  cartpole_parameters physics;
  physics.max_episode_steps = 12; // truncated (the first policy rarely fails within 12 steps)
  fedpp::rng init(9);
  rl::reinforce_learner learner(o, init);
  std::vector<float> before(learner.parameters().span().begin(), learner.parameters().span().end());

  // Replay the episode as the learner will play it.
  cartpole replay(physics);
  fedpp::rng g1(21);
  std::vector<std::vector<double>> states;
  std::vector<std::size_t> actions;
  auto scale = [&](const rl::cartpole_observation& ob) {
    std::vector<double> s(4);
    for (int k = 0; k < 4; ++k) s[k] = static_cast<double>(ob[k]) / o.observation_scale[k];
    return s;
  };
  rl::cartpole_observation ob = replay.reset(g1);
  bool terminated = false;
  for (;;) {
    const auto s = scale(ob);
    std::vector<double> h(6), probs(2);
    learner.policy().probabilities(before, s, h, probs);
    const std::size_t a = learner.policy().sample(probs, g1);
    states.push_back(s);
    actions.push_back(a);
    const auto r = replay.step(static_cast<int>(a));
    ob = r.observation;
    if (r.terminated || r.truncated) {
      terminated = r.terminated;
      break;
    }
  }
  ASSERT_FALSE(terminated) << "choose a seed whose episode reaches the time limit";
  const std::size_t T = states.size();
  ASSERT_EQ(T, 12U);

  std::vector<float> theta = before;
  auto value_of = [&](const std::vector<double>& s) {
    std::vector<double> h(6);
    return learner.baseline().value(theta, s, h);
  };
  std::vector<double> G(T), delta(T);
  double g = value_of(scale(ob)); // bootstrap: the time limit is not the end of the task
  for (std::size_t t = T; t-- > 0;) G[t] = g = 1.0 + o.gamma * g;
  for (std::size_t t = 0; t < T; ++t) delta[t] = G[t] - value_of(states[t]);
  auto surrogate = [&] {
    double loss = 0;
    for (std::size_t t = 0; t < T; ++t) {
      std::vector<double> h(6), probs(2);
      learner.policy().probabilities(theta, states[t], h, probs);
      loss += -delta[t] * std::log(probs[actions[t]]) + 0.5 * std::pow(value_of(states[t]) - G[t], 2);
    }
    return loss / static_cast<double>(T);
  };

  fedpp::rng g2(21);
  cartpole env(physics);
  const auto result = learner.run_episode(env, g2);
  EXPECT_EQ(result.steps, 12U);
  EXPECT_TRUE(result.truncated);
  EXPECT_EQ(result.episode_return, 12.0);
  EXPECT_EQ(learner.updates(), 1U);

  const auto after = learner.parameters().span();
  const std::size_t policy_size = learner.policy().mlp().size();
  std::vector<double> grad(T == 0 ? 0 : theta.size());
  double largest[2] = {0, 0}; // policy, baseline
  for (std::size_t i = 0; i < theta.size(); ++i) {
    grad[i] = numeric_derivative(theta, i, 1e-3, surrogate);
    largest[i < policy_size ? 0 : 1] = std::max(largest[i < policy_size ? 0 : 1], std::abs(grad[i]));
  }
  // The gradient the learner handed to Adam equals the surrogate's.
  const auto analytic = learner.last_gradient();
  ASSERT_EQ(analytic.size(), theta.size());
  for (std::size_t i = 0; i < theta.size(); ++i)
    EXPECT_NEAR(analytic[i], grad[i], 1e-5 + 1e-4 * std::abs(grad[i])) << "parameter " << i;
  std::size_t checked = 0;
  for (std::size_t i = 0; i < theta.size(); ++i) {
    const double moved = static_cast<double>(after[i]) - before[i];
    const double lr = i < policy_size ? o.policy_learning_rate : o.value_learning_rate;
    if (std::abs(grad[i]) > 0.01 * largest[i < policy_size ? 0 : 1]) {
      EXPECT_NEAR(moved, -lr * (grad[i] > 0 ? 1 : -1), 0.02 * lr) << "parameter " << i;
      ++checked;
    } else {
      EXPECT_LE(std::abs(moved), lr * 1.0001) << "parameter " << i; // |Adam's first step| ≤ lr
    }
  }
  EXPECT_GT(checked, theta.size() / 4);
}

TEST(Reinforce, IsDeterministicAndLearnsCartPole) {
  rl::reinforce_options o;
  auto train = [&](std::uint64_t seed, int episodes) {
    fedpp::rng gen(seed);
    rl::reinforce_learner learner(o, gen);
    cartpole env;
    std::vector<double> returns;
    for (int e = 0; e < episodes; ++e) returns.push_back(learner.run_episode(env, gen).episode_return);
    return std::pair{
        returns, std::vector<float>(learner.parameters().span().begin(), learner.parameters().span().end())};
  };
  const auto [r1, p1] = train(1, 250);
  const auto [r2, p2] = train(1, 250);
  EXPECT_EQ(r1, r2);
  EXPECT_EQ(p1, p2);
  // Learning: the last 50 episodes last at least 4 times as long as the first 50 on average
  // (a random policy survives ≈ 22 steps).
  double first = 0, last = 0;
  for (int e = 0; e < 50; ++e) first += r1[e], last += r1[r1.size() - 1 - e];
  EXPECT_GT(last, 4 * first) << "first 50: " << first / 50 << ", last 50: " << last / 50;
}

TEST(Reinforce, RefusesBadOptionsAndParameters) {
  fedpp::rng gen(1);
  const auto refused = [&](auto change) {
    rl::reinforce_options o;
    change(o);
    EXPECT_THROW((rl::reinforce_learner(o, gen)), fedpp::invalid_config);
  };
  refused([](rl::reinforce_options& o) { o.hidden = 0; });
  refused([](rl::reinforce_options& o) { o.gamma = 1.5; });
  refused([](rl::reinforce_options& o) { o.gamma = std::nan(""); });
  refused([](rl::reinforce_options& o) { o.policy_learning_rate = 0; });
  refused([](rl::reinforce_options& o) { o.value_learning_rate = INFINITY; });
  refused([](rl::reinforce_options& o) { o.beta1 = 1; });
  refused([](rl::reinforce_options& o) { o.beta2 = -0.1; });
  refused([](rl::reinforce_options& o) { o.epsilon = 0; });
  refused([](rl::reinforce_options& o) { o.observation_scale[2] = 0; });

  rl::reinforce_learner learner(rl::reinforce_options{}, gen);
  const std::vector<float> keep(learner.parameters().span().begin(), learner.parameters().span().end());
  std::vector<float> wrong(keep.size() + 1, 0.F);
  EXPECT_THROW(learner.set_parameters(wrong), fedpp::invalid_config);
  std::vector<float> bad = keep;
  bad[3] = std::nanf("");
  for (float& v : bad) v += 0.5F;
  EXPECT_THROW(learner.set_parameters(bad), fedpp::invalid_config);
  EXPECT_TRUE(std::equal(keep.begin(), keep.end(), learner.parameters().span().begin()));
}

// --- solved criterion ---------------------------------------------------------------------------

TEST(EpisodesToSolve, IsGymnasiumsMeanOf100AtLeast475) {
  std::vector<double> r(99, 500.0);
  EXPECT_FALSE(rl::episodes_to_solve(r).has_value()); // fewer than 100 episodes
  r.push_back(500);
  EXPECT_EQ(rl::episodes_to_solve(r), 100U);
  std::vector<double> s(50, 10.0);
  for (int i = 0; i < 100; ++i) s.push_back(i < 50 ? 450.0 : 500.0); // mean 475 exactly at episode 150
  EXPECT_EQ(rl::episodes_to_solve(s), 150U);
  s[149] = 499; // mean 474.99
  s.push_back(10);
  EXPECT_FALSE(rl::episodes_to_solve(s).has_value());
  EXPECT_EQ(rl::episodes_to_solve(std::vector<double>{1, 3, 5}, 2, 4.0), 3U);
  EXPECT_THROW((void)rl::episodes_to_solve(r, 0), fedpp::invalid_config);
  EXPECT_THROW((void)rl::episodes_to_solve(r, 100, std::nan("")), fedpp::invalid_config);
}

// --- federated ------------------------------------------------------------------------------------

rl::federated_rl_setup small_setup(std::size_t clients) {
  rl::federated_rl_setup setup;
  for (std::size_t k = 0; k < clients; ++k) {
    cartpole_parameters p;
    p.length = 0.3 + 0.2 * static_cast<double>(k);
    p.masspole = 0.1 + 0.05 * static_cast<double>(k);
    setup.environments.push_back(p);
  }
  setup.learner.hidden = 8;
  setup.seed = 17;
  return setup;
}

fedpp::flat_model<float> initial_for(const rl::federated_rl_setup& setup) {
  fedpp::rng gen(99);
  rl::reinforce_learner l(setup.learner, gen);
  fedpp::flat_model<float> m(l.layout());
  std::copy(l.parameters().span().begin(), l.parameters().span().end(), m.span().begin());
  return m;
}

TEST(FederatedRl, TrainerRefusesBadInputWithTheAgentUnchanged) {
  const auto setup = small_setup(2);
  const auto init = initial_for(setup);
  const rl::federated_rl_trainer trainer(setup, init);
  fedpp::round_config config;
  config.local_epochs = 2;
  const auto view = init.view();
  EXPECT_THROW((void)trainer(2, view, config), fedpp::invalid_config); // no such agent
  config.local_epochs = 0;
  EXPECT_THROW((void)trainer(0, view, config), fedpp::invalid_config);
  config.local_epochs = 100001;
  EXPECT_THROW((void)trainer(0, view, config), fedpp::invalid_config);
  config.local_epochs = 2;
  fedpp::flat_model<float> nan_model(init.layout());
  std::copy(init.span().begin(), init.span().end(), nan_model.span().begin());
  nan_model.span()[5] = INFINITY;
  // Train once, then a non-finite global model must change nothing.
  const auto first = trainer(0, view, config);
  EXPECT_EQ(first.num_examples, 2.0);
  EXPECT_EQ(first.kind, fedpp::update_kind::weights);
  EXPECT_TRUE(first.metrics.count("episode_return"));
  const auto keep = trainer.with_agent(0, [](rl::rl_agent& a) {
    return std::pair{a.returns(), std::vector<float>(a.learner().parameters().span().begin(),
                                                     a.learner().parameters().span().end())};
  });
  EXPECT_THROW((void)trainer(0, nan_model.view(), config), fedpp::invalid_config);
  fedpp::model_layout other;
  other.add("w", {3});
  fedpp::flat_model<float> wrong(other);
  EXPECT_THROW((void)trainer(0, wrong.view(), config), fedpp::invalid_config);
  const auto now = trainer.with_agent(0, [](rl::rl_agent& a) {
    return std::pair{a.returns(), std::vector<float>(a.learner().parameters().span().begin(),
                                                     a.learner().parameters().span().end())};
  });
  EXPECT_EQ(now, keep);

  auto bad = setup;
  bad.environments.clear();
  EXPECT_THROW((rl::federated_rl_trainer(bad, init)), fedpp::invalid_config);
  bad = setup;
  bad.environments[1].length = -1;
  EXPECT_THROW((rl::federated_rl_trainer(bad, init)), fedpp::invalid_config);
  bad = setup;
  bad.learner.hidden = 9; // the initial model has 8 hidden units
  EXPECT_THROW((rl::federated_rl_trainer(bad, init)), fedpp::invalid_config);
  EXPECT_THROW((rl::federated_rl_trainer(setup, wrong)), fedpp::invalid_config);
}

/// Runs `rounds` federated rounds of `clients` agents with E episodes each on fedpp::server.
struct federated_run {
  std::vector<std::vector<float>> server_models; // after each round
  std::vector<double> max_mean_error;            // |server − mean of agents| after each round
  std::vector<std::vector<double>> returns;
};

federated_run run_federation(std::size_t clients, std::size_t rounds, std::uint32_t episodes,
                             std::size_t threads) {
  const auto setup = small_setup(clients);
  const auto init = initial_for(setup);
  const rl::federated_rl_trainer trainer(setup, init);
  std::vector<fedpp::client_id> ids(clients);
  for (std::size_t k = 0; k < clients; ++k) ids[k] = k;
  fedpp::in_process_federation<float, rl::federated_rl_trainer> federation(ids, trainer, init.layout(),
                                                                           threads);
  fedpp::server_options options;
  options.client_config.local_epochs = episodes;
  options.min_reports = clients;
  fedpp::flat_model<float> start(init.layout());
  std::copy(init.span().begin(), init.span().end(), start.span().begin());
  fedpp::server<float, fedpp::uniform_sampler> server(std::move(start),
                                                      fedpp::uniform_sampler(clients, clients), {}, options);
  federated_run out;
  for (std::size_t r = 0; r < rounds; ++r) {
    const auto m = server.run_round(federation.server_endpoint());
    EXPECT_TRUE(m.succeeded);
    EXPECT_EQ(m.reported, clients);
    // FedAvg with equal weights: the new global model is the mean of the agents' parameters.
    std::vector<double> mean(server.model().size(), 0.0);
    for (std::size_t k = 0; k < clients; ++k)
      trainer.with_agent(k, [&](rl::rl_agent& a) {
        const auto p = a.learner().parameters().span();
        for (std::size_t i = 0; i < p.size(); ++i)
          mean[i] += static_cast<double>(p[i]) / static_cast<double>(clients);
      });
    double err = 0;
    for (std::size_t i = 0; i < mean.size(); ++i)
      err = std::max(err, std::abs(mean[i] - static_cast<double>(server.model().span()[i])));
    out.max_mean_error.push_back(err);
    out.server_models.emplace_back(server.model().span().begin(), server.model().span().end());
  }
  for (std::size_t k = 0; k < clients; ++k)
    out.returns.push_back(trainer.with_agent(k, [](rl::rl_agent& a) { return a.returns(); }));
  return out;
}

TEST(FederatedRl, ServerAveragesTheAgentsPoliciesEveryEEpisodesReproducibly) {
  const auto a = run_federation(3, 4, 3, 1);
  ASSERT_EQ(a.server_models.size(), 4U);
  for (const double e : a.max_mean_error) EXPECT_LT(e, 1e-6); // float rounding of the double mean
  for (const auto& r : a.returns) EXPECT_EQ(r.size(), 12U);   // 4 rounds × E = 3 episodes
  EXPECT_NE(a.server_models[0], a.server_models[3]);
  // Different physics: the agents' experiences differ, their returns too.
  EXPECT_NE(a.returns[0], a.returns[2]);
  const auto b = run_federation(3, 4, 3, 1);
  EXPECT_EQ(a.server_models, b.server_models); // bit-identical at a fixed seed
  EXPECT_EQ(a.returns, b.returns);
  // Two host threads: the same agents, seeds and rounds. FedAvg's double sum of 3 equally
  // weighted floats is exact here, so arrival order cannot change the mean.
  const auto c = run_federation(3, 4, 3, 2);
  EXPECT_EQ(a.server_models, c.server_models);
}

} // namespace
