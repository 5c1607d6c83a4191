/// \file federated_agent.hpp
/// Federated reinforcement learning: agents that learn in their own environments and share policy
/// updates, never experience.
///
///  - `rl_agent`: one agent — its own cart-pole (its own physics), its own generator, a REINFORCE
///    learner and the return of every episode it has played;
///  - `federated_rl_trainer`: a `client_trainer` for `fedpp::server`. In each round client c's
///    agent takes the global parameters (policy and baseline), plays and learns from E episodes in
///    its own environment (E = round_config::local_epochs: one local epoch is one episode), and
///    returns its parameters with FedAvg weight E. The server averages them (plain FedAvg) and
///    broadcasts the mean: federated averaging of policy parameters every E episodes. Adam's
///    moments, the environment and the episodes stay on the client;
///  - `episodes_to_solve`: gymnasium's "solved" criterion over an agent's episode returns.
#pragma once

#include "fedpp/client/client_result.hpp"
#include "fedpp/client/round_config.hpp"
#include "fedpp/error.hpp"
#include "fedpp/personalization/client_state_store.hpp"
#include "fedpp/random/rng.hpp"
#include "fedpp/rl/cartpole.hpp"
#include "fedpp/rl/reinforce.hpp"
#include "fedpp/tensor/flat_model.hpp"

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace fedpp::rl {

/// gymnasium's CartPole-v1 reward threshold: a mean return of 475 over 100 consecutive episodes.
inline constexpr double solved_return = 475.0;
/// The window of that mean.
inline constexpr std::size_t solved_window = 100;

/// The number of episodes after which an agent first counts as solved: the smallest n ≥ window
/// such that the mean return of episodes n − window + 1 … n is ≥ threshold; nullopt when no
/// window qualifies. Throws invalid_config for window 0 or a non-finite threshold.
[[nodiscard]] inline std::optional<std::size_t> episodes_to_solve(std::span<const double> returns,
                                                                  std::size_t window = solved_window,
                                                                  double threshold = solved_return) {
  if (window == 0) throw invalid_config("episodes_to_solve: the window must be >= 1");
  if (!std::isfinite(threshold)) throw invalid_config("episodes_to_solve: the threshold must be finite");
  double sum = 0;
  for (std::size_t i = 0; i < returns.size(); ++i) {
    sum += returns[i];
    if (i >= window) sum -= returns[i - window];
    // Compare sum ≥ threshold·window: exact for integer returns (no rounding of the mean).
    if (i + 1 >= window && sum >= threshold * static_cast<double>(window)) return i + 1;
  }
  return std::nullopt;
}

/// One agent: an environment with its own physics, a REINFORCE learner, a generator, and the
/// returns of the episodes it has played (in order).
class rl_agent {
public:
  /// An agent in an environment with `physics` (validated), learning with `options` (validated)
  /// from the parameters `initial` (e.g. the server's initial model; layout checked against
  /// reinforce_learner::layout_for(options.hidden)). Its generator is rng::for_stream(seed, id):
  /// one independent stream per (seed, agent), used for resets and action sampling.
  rl_agent(const cartpole_parameters& physics, const reinforce_options& options,
           const flat_model<float>& initial, std::uint64_t seed, client_id id)
      : env_(physics), gen_(rng::for_stream(seed, id)), learner_(options, gen_) {
    const model_layout expected = reinforce_learner::layout_for(options.hidden);
    if (initial.layout() != expected)
      throw invalid_config("rl_agent: the initial model's layout is not the learner's (" +
                           model_layout::describe_difference(expected, initial.layout()).value_or("differs") +
                           ")");
    learner_.set_parameters(initial.span());
    gen_ = rng::for_stream(seed, id); // initialisation draws above did not count
  }

  /// Plays one episode and learns from it; the return is recorded.
  episode_result train_episode() {
    const episode_result r = learner_.run_episode(env_, gen_, true);
    returns_.push_back(r.episode_return);
    return r;
  }

  /// Plays one episode with the current policy without learning or recording it (evaluation).
  episode_result play_episode() { return learner_.run_episode(env_, gen_, false); }

  [[nodiscard]] const std::vector<double>& returns() const noexcept { return returns_; }
  [[nodiscard]] reinforce_learner& learner() noexcept { return learner_; }
  [[nodiscard]] const reinforce_learner& learner() const noexcept { return learner_; }
  [[nodiscard]] const cartpole& environment() const noexcept { return env_; }

private:
  cartpole env_;
  rng gen_;
  reinforce_learner learner_;
  std::vector<double> returns_;
};

/// Settings of a federated_rl_trainer.
struct federated_rl_setup {
  std::vector<cartpole_parameters> environments; ///< client c's physics: environments[c]
  reinforce_options learner{};                   ///< every agent's learner settings
  std::uint64_t seed = 0;                        ///< agent c's stream: rng::for_stream(seed, c)
  std::uint32_t max_episodes_per_round = 100000; ///< refuse round_configs asking for more
};

/// A client_trainer (element type float) running agent `id` in its own environment. Copies share
/// the agents (a client_state_store: each agent is created at its client's first round and used
/// under its own lock), so one trainer serves every host thread of an in_process_federation.
class federated_rl_trainer {
public:
  /// Throws invalid_config for no environments, an invalid environment or learner setting, or an
  /// `initial` model whose layout is not the learner's.
  federated_rl_trainer(federated_rl_setup setup, const flat_model<float>& initial)
      : setup_(std::make_shared<const federated_rl_setup>(std::move(setup))) {
    if (setup_->environments.empty())
      throw invalid_config("federated_rl_trainer: needs at least one environment");
    for (const auto& e : setup_->environments) e.validate();
    setup_->learner.validate();
    if (setup_->max_episodes_per_round == 0)
      throw invalid_config("federated_rl_trainer: max_episodes_per_round must be >= 1");
    const model_layout expected = reinforce_learner::layout_for(setup_->learner.hidden);
    if (initial.layout() != expected)
      throw invalid_config("federated_rl_trainer: the initial model's layout is not the learner's");
    initial_ = std::make_shared<const flat_model<float>>(initial);
  }

  /// The layout every agent's parameters have.
  [[nodiscard]] model_layout layout() const { return initial_->layout(); }
  /// Number of agents (clients 0 … n−1).
  [[nodiscard]] std::size_t num_agents() const noexcept { return setup_->environments.size(); }

  /// One federated round for client `id`: take `global`, learn from config.local_epochs episodes,
  /// return the new parameters (update_kind::weights, weight = episodes played) and the metrics
  /// episode_return (mean over the round's episodes) and episodes. Throws invalid_config, the
  /// agent unchanged, for an unknown client, a global model of another layout or with a
  /// non-finite value, or local_epochs outside [1, max_episodes_per_round].
  client_result<float> operator()(client_id id, const host_model_view<const float>& global,
                                  const round_config& config) const {
    if (id >= num_agents())
      throw invalid_config("federated_rl_trainer: client " + std::to_string(id) + " has no environment (" +
                           std::to_string(num_agents()) + " agents)");
    if (config.local_epochs < 1 || config.local_epochs > setup_->max_episodes_per_round)
      throw invalid_config(
          "federated_rl_trainer: local_epochs (episodes per round) = " + std::to_string(config.local_epochs) +
          " is outside [1, " + std::to_string(setup_->max_episodes_per_round) + "]");
    flat_model<float> model = flat_model<float>::copy_of(global);
    if (model.layout() != initial_->layout())
      throw invalid_config("federated_rl_trainer: the global model's layout is not the agents'");
    return agents_.update(
        id, [&] { return make_agent(id); },
        [&](rl_agent& agent) {
          agent.learner().set_parameters(model.span()); // checks finiteness before changing anything
          double sum = 0;
          for (std::uint32_t e = 0; e < config.local_epochs; ++e) sum += agent.train_episode().episode_return;
          std::copy(agent.learner().parameters().span().begin(), agent.learner().parameters().span().end(),
                    model.span().begin());
          const double episodes = static_cast<double>(config.local_epochs);
          return client_result<float>{std::move(model),
                                      update_kind::weights,
                                      episodes,
                                      {{"episode_return", sum / episodes}, {"episodes", episodes}}};
        });
  }

  /// Agent `id`, created when it has not trained yet (for local training without a server, and to
  /// read returns after a run); `f(rl_agent&)` runs under the agent's lock.
  template <class F>
  decltype(auto) with_agent(client_id id, F&& f) const {
    if (id >= num_agents())
      throw invalid_config("federated_rl_trainer: client " + std::to_string(id) + " has no environment");
    return agents_.update(
        id, [&] { return make_agent(id); }, std::forward<F>(f));
  }

private:
  [[nodiscard]] rl_agent make_agent(client_id id) const {
    return rl_agent(setup_->environments[id], setup_->learner, *initial_, setup_->seed, id);
  }

  std::shared_ptr<const federated_rl_setup> setup_;
  std::shared_ptr<const flat_model<float>> initial_;
  mutable client_state_store<rl_agent> agents_;
};

} // namespace fedpp::rl
