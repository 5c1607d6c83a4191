/// \file reinforce.hpp
/// REINFORCE with a learned state-value baseline (Williams 1992, "Simple statistical
/// gradient-following algorithms for connectionist reinforcement learning", Machine Learning 8;
/// Sutton & Barto 2018, "Reinforcement Learning: An Introduction", 2nd ed., §13.4), one update
/// per episode, with Adam (Kingma & Ba 2015) on the policy and on the baseline.
///
/// After an episode s₀, a₀, r₁, …, s_{T−1}, a_{T−1}, r_T:
///
///   G_t = r_{t+1} + γ·G_{t+1},   G_T = 0 if the episode terminated, v(s_T) if it was truncated
///                                (a time limit is not an end of the task: the tail is bootstrapped)
///   δ_t = G_t − v(s_t)                                         (advantage against the baseline)
///   policy:   θ ← Adam(θ, −(1/T)·Σ_t δ̂_t ∇_θ log π(a_t|s_t))   (ascent on the return)
///   baseline: w ← Adam(w, (1/T)·Σ_t (v(s_t) − G_t) ∇_w v(s_t))  (descent on ½(v − G)²)
///
/// where δ̂ is δ standardised over the episode when `normalize_advantages` is set (zero mean, unit
/// standard deviation: the usual variance reduction of practical implementations) and δ otherwise.
/// Conventions vs Sutton & Barto's pseudo-code: the γ^t factor of the policy step is dropped and
/// the per-step gradients are averaged over the episode, as in common implementations (e.g.
/// PyTorch's REINFORCE example); both change only the step's scale, which Adam normalises.
///
/// The learner's parameters are one float vector laid out by `layout()`: the policy's tensors
/// (policy.*) then the baseline's (value.*), so an agent is one fedpp model and FedAvg averages
/// policy and baseline alike. Adam's moments are the learner's own (never sent).
#pragma once

#include "fedpp/error.hpp"
#include "fedpp/random/rng.hpp"
#include "fedpp/rl/cartpole.hpp"
#include "fedpp/rl/policy_network.hpp"
#include "fedpp/rl/value_network.hpp"
#include "fedpp/tensor/flat_model.hpp"
#include "fedpp/tensor/model_layout.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace fedpp::rl {

/// Settings of the REINFORCE learner; validate() checks each against its range.
struct reinforce_options {
  std::size_t hidden = 32;            ///< hidden units of the policy and of the baseline: [1, 1024]
  double gamma = 0.99;                ///< discount γ: [0, 1]
  double policy_learning_rate = 0.01; ///< Adam step of the policy: (0, 1]
  double value_learning_rate = 0.01;  ///< Adam step of the baseline: (0, 1]
  double beta1 = 0.9;                 ///< Adam β₁: [0, 1)
  double beta2 = 0.999;               ///< Adam β₂: [0, 1)
  double epsilon = 1e-8;              ///< Adam ε: (0, 1]
  bool normalize_advantages = true;   ///< standardise δ over each episode
  /// Scale of the observation fed to the networks: s_i / observation_scale[i] (CartPole's
  /// typical magnitudes: x ≈ 2.4 m, ẋ ≈ 3 m/s, θ ≈ 0.21 rad, θ̇ ≈ 3 rad/s); each in (0, 1e6].
  std::array<double, 4> observation_scale{2.4, 3.0, 0.21, 3.0};

  /// Throws invalid_config naming the setting and its range when one is outside it.
  void validate() const {
    if (hidden < 1 || hidden > 1024)
      throw invalid_config("reinforce_options: hidden = " + std::to_string(hidden) + " is outside [1, 1024]");
    check("gamma", gamma, std::isfinite(gamma) && gamma >= 0 && gamma <= 1, "[0, 1]");
    check("policy_learning_rate", policy_learning_rate,
          std::isfinite(policy_learning_rate) && policy_learning_rate > 0 && policy_learning_rate <= 1,
          "(0, 1]");
    check("value_learning_rate", value_learning_rate,
          std::isfinite(value_learning_rate) && value_learning_rate > 0 && value_learning_rate <= 1,
          "(0, 1]");
    check("beta1", beta1, std::isfinite(beta1) && beta1 >= 0 && beta1 < 1, "[0, 1)");
    check("beta2", beta2, std::isfinite(beta2) && beta2 >= 0 && beta2 < 1, "[0, 1)");
    check("epsilon", epsilon, std::isfinite(epsilon) && epsilon > 0 && epsilon <= 1, "(0, 1]");
    for (const double s : observation_scale)
      check("observation_scale", s, std::isfinite(s) && s > 0 && s <= 1e6, "(0, 1e6]");
  }

private:
  static void check(const char* name, double v, bool ok, const char* range) {
    if (!ok)
      throw invalid_config(std::string("reinforce_options: ") + name + " = " + std::to_string(v) +
                           " is outside " + range);
  }
};

/// What one episode yielded.
struct episode_result {
  double episode_return = 0; ///< Σ rewards (CartPole: steps survived)
  std::uint32_t steps = 0;
  bool terminated = false;
  bool truncated = false;
};

/// REINFORCE with a learned baseline for a discrete-action environment with 4 observation values
/// and 2 actions (CartPole). Deterministic: a learner, an environment and a generator in the
/// same state give the same episode and the same update, on every platform.
class reinforce_learner {
public:
  static constexpr std::size_t observation_size = 4;
  static constexpr std::size_t action_count = 2;

  /// A learner with `options` (validated) and parameters initialised from `gen`.
  explicit reinforce_learner(const reinforce_options& options, rng& gen)
      : options_((options.validate(), options)), policy_(observation_size, options.hidden, action_count),
        value_(observation_size, options.hidden) {
    model_layout layout;
    policy_.add_to(layout);
    value_.add_to(layout);
    params_ = flat_model<float>(std::move(layout));
    policy_.initialize(params_.span(), gen);
    value_.initialize(params_.span(), gen);
    first_moment_.assign(params_.size(), 0.0);
    second_moment_.assign(params_.size(), 0.0);
    grad_.assign(params_.size(), 0.0);
  }

  /// The layout of the learner's parameters for `hidden` units (what a server holds).
  [[nodiscard]] static model_layout layout_for(std::size_t hidden) {
    policy_network p(observation_size, hidden, action_count);
    value_network v(observation_size, hidden);
    model_layout layout;
    p.add_to(layout);
    v.add_to(layout);
    return layout;
  }

  [[nodiscard]] const reinforce_options& options() const noexcept { return options_; }
  [[nodiscard]] const model_layout& layout() const noexcept { return params_.layout(); }
  /// The parameters (policy then baseline).
  [[nodiscard]] const flat_model<float>& parameters() const noexcept { return params_; }
  [[nodiscard]] const policy_network& policy() const noexcept { return policy_; }
  [[nodiscard]] const value_network& baseline() const noexcept { return value_; }
  /// Adam steps taken so far.
  [[nodiscard]] std::uint64_t updates() const noexcept { return updates_; }
  /// The gradient of the last update's losses (policy then baseline, the parameters' layout): what
  /// Adam was given. Zeros before the first update.
  [[nodiscard]] std::span<const double> last_gradient() const noexcept { return grad_; }

  /// Replaces the parameters (e.g. with the global model of a federated round). Throws
  /// invalid_config, nothing changed, when the size differs from layout() or a value is not
  /// finite. Adam's moments are kept.
  void set_parameters(std::span<const float> values) {
    if (values.size() != params_.size())
      throw invalid_config("reinforce_learner::set_parameters: " + std::to_string(values.size()) +
                           " values for a model of " + std::to_string(params_.size()));
    for (std::size_t i = 0; i < values.size(); ++i)
      if (!std::isfinite(values[i]))
        throw invalid_config("reinforce_learner::set_parameters: value " + std::to_string(i) +
                             " is not finite");
    std::copy(values.begin(), values.end(), params_.span().begin());
  }

  /// π(·|o) for an observation (the action probabilities the policy samples from).
  [[nodiscard]] std::array<double, action_count> action_probabilities(const cartpole_observation& o) const {
    const auto s = scaled(o);
    std::vector<double> h(options_.hidden);
    std::array<double, action_count> probs{};
    policy_.probabilities(params_.span(), s, h, probs);
    return probs;
  }

  /// Plays one episode in `env` (reset from `gen`), sampling actions from π with `gen`, and, when
  /// `learn`, updates the policy and the baseline from it (one Adam step each). The environment
  /// must stay alive for the call only.
  episode_result run_episode(cartpole& env, rng& gen, bool learn = true) {
    const std::size_t H = options_.hidden;
    observations_.clear();
    actions_.clear();
    rewards_.clear();
    hidden_.resize(H);
    std::array<double, action_count> probs{};
    episode_result result;
    cartpole_observation o = env.reset(gen);
    for (;;) {
      const auto s = scaled(o);
      policy_.probabilities(params_.span(), s, hidden_, probs);
      const auto a = static_cast<int>(policy_.sample(probs, gen));
      observations_.insert(observations_.end(), s.begin(), s.end());
      actions_.push_back(static_cast<std::uint8_t>(a));
      const cartpole_step step = env.step(a);
      rewards_.push_back(step.reward);
      result.episode_return += step.reward;
      ++result.steps;
      o = step.observation;
      if (step.terminated || step.truncated) {
        result.terminated = step.terminated;
        result.truncated = step.truncated;
        break;
      }
    }
    if (learn) update(result, o);
    return result;
  }

private:
  [[nodiscard]] std::array<double, observation_size> scaled(const cartpole_observation& o) const noexcept {
    std::array<double, observation_size> s{};
    for (std::size_t i = 0; i < observation_size; ++i)
      s[i] = static_cast<double>(o[i]) / options_.observation_scale[i];
    return s;
  }

  /// One REINFORCE-with-baseline update from the episode just played; `last` is s_T.
  void update(const episode_result& episode, const cartpole_observation& last) {
    const std::size_t T = rewards_.size();
    const std::size_t H = options_.hidden;
    std::vector<double> scratch(H);
    std::array<double, action_count> probs{};
    std::array<double, action_count> dz{};
    // Returns, bootstrapped from v(s_T) when the episode was cut by the time limit.
    returns_.assign(T, 0.0);
    double g = 0;
    if (episode.truncated && !episode.terminated) {
      const auto s = scaled(last);
      g = value_.value(params_.span(), s, hidden_);
    }
    for (std::size_t t = T; t-- > 0;) returns_[t] = g = rewards_[t] + options_.gamma * g;
    // Baseline values and advantages.
    values_.resize(T);
    advantages_.resize(T);
    for (std::size_t t = 0; t < T; ++t) {
      values_[t] = value_.value(params_.span(),
                                std::span<const double>(&observations_[t * observation_size], 4), hidden_);
      advantages_[t] = returns_[t] - values_[t];
    }
    if (options_.normalize_advantages && T > 1) {
      double mean = 0;
      for (const double d : advantages_) mean += d;
      mean /= static_cast<double>(T);
      double var = 0;
      for (const double d : advantages_) var += (d - mean) * (d - mean);
      const double sd = std::sqrt(var / static_cast<double>(T));
      for (double& d : advantages_) d = (d - mean) / (sd + 1e-8);
    }
    // Gradients of the losses −(1/T)Σ δ̂ log π and (1/T)Σ ½(v − G)², both into grad_.
    std::fill(grad_.begin(), grad_.end(), 0.0);
    const double inv_t = 1.0 / static_cast<double>(T);
    for (std::size_t t = 0; t < T; ++t) {
      const std::span<const double> s(&observations_[t * observation_size], observation_size);
      policy_.probabilities(params_.span(), s, hidden_, probs);
      policy_.add_log_prob_gradient(params_.span(), s, hidden_, probs, actions_[t], -advantages_[t] * inv_t,
                                    grad_, dz, scratch);
      (void)value_.value(params_.span(), s, hidden_);
      value_.add_gradient(params_.span(), s, hidden_, (values_[t] - returns_[t]) * inv_t, grad_, scratch);
    }
    adam_step();
  }

  /// Adam (Kingma & Ba 2015, Algorithm 1) on every parameter; the policy's and the baseline's
  /// slices take their own step sizes.
  void adam_step() {
    ++updates_;
    const double b1 = options_.beta1, b2 = options_.beta2;
    const double c1 = 1 - std::pow(b1, static_cast<double>(updates_));
    const double c2 = 1 - std::pow(b2, static_cast<double>(updates_));
    const std::size_t policy_end = policy_.mlp().offset() + policy_.mlp().size();
    auto p = params_.span();
    for (std::size_t i = 0; i < p.size(); ++i) {
      const double lr = i < policy_end ? options_.policy_learning_rate : options_.value_learning_rate;
      first_moment_[i] = b1 * first_moment_[i] + (1 - b1) * grad_[i];
      second_moment_[i] = b2 * second_moment_[i] + (1 - b2) * grad_[i] * grad_[i];
      const double m_hat = first_moment_[i] / c1;
      const double v_hat = second_moment_[i] / c2;
      p[i] =
          static_cast<float>(static_cast<double>(p[i]) - lr * m_hat / (std::sqrt(v_hat) + options_.epsilon));
    }
  }

  reinforce_options options_;
  policy_network policy_;
  value_network value_;
  flat_model<float> params_;
  std::vector<double> first_moment_, second_moment_, grad_;
  std::uint64_t updates_ = 0;
  // Episode buffers, reused.
  std::vector<double> observations_; // T × 4, scaled
  std::vector<std::uint8_t> actions_;
  std::vector<double> rewards_, returns_, values_, advantages_, hidden_;
};

} // namespace fedpp::rl
