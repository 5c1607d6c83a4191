/// \file cartpole.hpp
/// The cart-pole balancing task (Barto, Sutton & Anderson 1983, "Neuronlike adaptive elements that
/// can solve difficult learning control problems", IEEE SMC 13(5)) with the constants, equations,
/// thresholds and episode rules of gymnasium's CartPole-v1, and per-environment physics parameters
/// for heterogeneous federated clients.
///
/// One step (gymnasium's `CartPoleEnv.step`, Euler integrator; equations as corrected by Florian
/// 2007, "Correct equations for the dynamics of the cart-pole system", without friction):
///
///   F      = +force_mag if action == 1 else −force_mag
///   temp   = (F + m_p·l·θ̇²·sin θ) / (m_c + m_p)
///   θ̈      = (g·sin θ − cos θ·temp) / (l·(4/3 − m_p·cos²θ / (m_c + m_p)))
///   ẍ      = temp − m_p·l·θ̈·cos θ / (m_c + m_p)
///   x ← x + τ·ẋ,  ẋ ← ẋ + τ·ẍ,  θ ← θ + τ·θ̇,  θ̇ ← θ̇ + τ·θ̈     (every right side uses the old state)
///
/// where l is HALF the pole's length (gymnasium's `length` = 0.5). The episode terminates when
/// |x| > x_threshold (2.4) or |θ| > θ_threshold (12° = 12·2π/360 rad); it is truncated when the
/// step count reaches max_episode_steps (500 for v1: gymnasium's TimeLimit wrapper, applied after
/// the step, so a step may be both terminated and truncated). The reward is 1 for every step,
/// including the terminating one. reset() draws each of the four state variables uniformly from
/// (−0.05, 0.05). The state is kept in double (as gymnasium's numpy state is float64) and observed
/// as float (gymnasium returns a float32 array).
///
/// Convention difference: gymnasium returns reward 0 and warns when step() is called after a
/// termination; here that call (and a step after truncation, or before the first reset) throws
/// invalid_config — the episode is over and the caller must reset().
#pragma once

#include "fedpp/error.hpp"
#include "fedpp/random/rng.hpp"

#include <array>
#include <cmath>
#include <cstdint>
#include <numbers>
#include <string>

namespace fedpp::rl {

/// Physics and episode parameters of one cart-pole environment. The defaults are CartPole-v1's.
/// validate() accepts each value only inside the documented range below (both ends included),
/// finite, so a heterogeneous client's environment is always a well-posed cart-pole.
struct cartpole_parameters {
  double gravity = 9.8;    ///< g, m/s²: [0.1, 100]
  double masscart = 1.0;   ///< m_c, kg: [0.01, 100]
  double masspole = 0.1;   ///< m_p, kg: [0.001, 100]
  double length = 0.5;     ///< l, HALF the pole's length, m: [0.05, 10]
  double force_mag = 10.0; ///< |F|, N: [0.1, 1000]
  double tau = 0.02;       ///< τ, seconds per step: [1e-4, 0.1]
  /// Termination angle, rad: (0, π/2]; v1: 12 degrees.
  double theta_threshold_radians = 12 * 2 * std::numbers::pi / 360;
  double x_threshold = 2.4;              ///< termination position, m: [0.1, 100]
  double reset_bound = 0.05;             ///< reset draws every state variable from U(−b, b): (0, 0.2]
  std::uint32_t max_episode_steps = 500; ///< truncation (TimeLimit): [1, 10^6]; v1: 500

  /// Throws invalid_config naming the parameter, its value and its range, when one is out of
  /// range or not finite.
  void validate() const {
    check("gravity", gravity, 0.1, 100);
    check("masscart", masscart, 0.01, 100);
    check("masspole", masspole, 0.001, 100);
    check("length", length, 0.05, 10);
    check("force_mag", force_mag, 0.1, 1000);
    check("tau", tau, 1e-4, 0.1);
    if (!(std::isfinite(theta_threshold_radians) && theta_threshold_radians > 0 &&
          theta_threshold_radians <= std::numbers::pi / 2))
      throw invalid_config("cartpole_parameters: theta_threshold_radians = " + show(theta_threshold_radians) +
                           " is outside (0, pi/2]");
    check("x_threshold", x_threshold, 0.1, 100);
    if (!(std::isfinite(reset_bound) && reset_bound > 0 && reset_bound <= 0.2))
      throw invalid_config("cartpole_parameters: reset_bound = " + show(reset_bound) +
                           " is outside (0, 0.2]");
    if (max_episode_steps < 1 || max_episode_steps > 1'000'000)
      throw invalid_config("cartpole_parameters: max_episode_steps = " + std::to_string(max_episode_steps) +
                           " is outside [1, 1000000]");
  }

private:
  static std::string show(double v) {
    if (std::isnan(v)) return "nan";
    if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
    return std::to_string(v);
  }
  static void check(const char* name, double v, double low, double high) {
    if (!(std::isfinite(v) && v >= low && v <= high))
      throw invalid_config(std::string("cartpole_parameters: ") + name + " = " + show(v) + " is outside [" +
                           show(low) + ", " + show(high) + "]");
  }
};

/// The cart-pole state (x, ẋ, θ, θ̇): cart position (m), cart velocity (m/s), pole angle from
/// upright (rad, positive clockwise as gymnasium draws it), pole angular velocity (rad/s).
struct cartpole_state {
  double x = 0;
  double x_dot = 0;
  double theta = 0;
  double theta_dot = 0;
  friend bool operator==(const cartpole_state&, const cartpole_state&) = default;
};

/// The observation an agent sees: the state as float32, in the order (x, ẋ, θ, θ̇).
using cartpole_observation = std::array<float, 4>;

/// One Euler step of the dynamics from `s` under `action` (0: push left, 1: push right), without
/// the episode rules. `p` is trusted here (validate it first); `action` must be 0 or 1.
[[nodiscard]] inline cartpole_state cartpole_dynamics(const cartpole_parameters& p, const cartpole_state& s,
                                                      int action) noexcept {
  const double total_mass = p.masspole + p.masscart;
  const double polemass_length = p.masspole * p.length;
  const double force = action == 1 ? p.force_mag : -p.force_mag;
  const double costheta = std::cos(s.theta);
  const double sintheta = std::sin(s.theta);
  const double temp = (force + polemass_length * s.theta_dot * s.theta_dot * sintheta) / total_mass;
  const double thetaacc = (p.gravity * sintheta - costheta * temp) /
                          (p.length * (4.0 / 3.0 - p.masspole * costheta * costheta / total_mass));
  const double xacc = temp - polemass_length * thetaacc * costheta / total_mass;
  return {s.x + p.tau * s.x_dot, s.x_dot + p.tau * xacc, s.theta + p.tau * s.theta_dot,
          s.theta_dot + p.tau * thetaacc};
}

/// What one step returns (gymnasium's (observation, reward, terminated, truncated)).
struct cartpole_step {
  cartpole_observation observation{};
  double reward = 0;
  bool terminated = false; ///< the pole fell or the cart left the track: a true end (no bootstrap)
  bool truncated = false;  ///< the step limit was reached: a time limit, the state could go on
};

/// A CartPole-v1 environment with its own parameters. Not thread-safe; one per agent.
class cartpole {
public:
  /// An environment with parameters `p` (validated: throws invalid_config when out of range).
  explicit cartpole(const cartpole_parameters& p = {}) : params_(p) { params_.validate(); }

  /// Starts an episode: every state variable uniform in (−reset_bound, reset_bound), drawn from
  /// `gen` in the order x, ẋ, θ, θ̇. Returns the first observation.
  cartpole_observation reset(rng& gen) {
    const double b = params_.reset_bound;
    cartpole_state s;
    s.x = -b + 2 * b * gen.uniform_open();
    s.x_dot = -b + 2 * b * gen.uniform_open();
    s.theta = -b + 2 * b * gen.uniform_open();
    s.theta_dot = -b + 2 * b * gen.uniform_open();
    return reset_to(s);
  }

  /// Starts an episode from a given state (tests, replays). Throws invalid_config when a value is
  /// not finite; the state need not lie inside the reset bounds.
  cartpole_observation reset_to(const cartpole_state& s) {
    if (!(std::isfinite(s.x) && std::isfinite(s.x_dot) && std::isfinite(s.theta) &&
          std::isfinite(s.theta_dot)))
      throw invalid_config("cartpole::reset_to: the state must be finite");
    state_ = s;
    steps_ = 0;
    started_ = true;
    done_ = false;
    return observe();
  }

  /// Applies `action` (0: push left, 1: push right) for one step of τ seconds. Throws
  /// invalid_config, nothing changed, for another action, before reset(), or after the episode
  /// ended (terminated or truncated): reset() first.
  cartpole_step step(int action) {
    if (action != 0 && action != 1)
      throw invalid_config("cartpole::step: action " + std::to_string(action) +
                           " is not 0 (left) or 1 (right)");
    if (!started_) throw invalid_config("cartpole::step: call reset() before the first step");
    if (done_)
      throw invalid_config("cartpole::step: the episode has ended (terminated or truncated); call reset()");
    state_ = cartpole_dynamics(params_, state_, action);
    ++steps_;
    cartpole_step out;
    out.observation = observe();
    out.reward = 1.0;
    out.terminated = state_.x < -params_.x_threshold || state_.x > params_.x_threshold ||
                     state_.theta < -params_.theta_threshold_radians ||
                     state_.theta > params_.theta_threshold_radians;
    out.truncated = steps_ >= params_.max_episode_steps;
    done_ = out.terminated || out.truncated;
    return out;
  }

  /// The current state (double precision).
  [[nodiscard]] const cartpole_state& state() const noexcept { return state_; }
  /// Steps taken in the current episode.
  [[nodiscard]] std::uint32_t elapsed_steps() const noexcept { return steps_; }
  /// True when the current episode has ended (or none has started).
  [[nodiscard]] bool episode_over() const noexcept { return !started_ || done_; }
  /// The parameters.
  [[nodiscard]] const cartpole_parameters& parameters() const noexcept { return params_; }

private:
  [[nodiscard]] cartpole_observation observe() const noexcept {
    return {static_cast<float>(state_.x), static_cast<float>(state_.x_dot), static_cast<float>(state_.theta),
            static_cast<float>(state_.theta_dot)};
  }

  cartpole_parameters params_;
  cartpole_state state_{};
  std::uint32_t steps_ = 0;
  bool started_ = false;
  bool done_ = false;
};

} // namespace fedpp::rl
