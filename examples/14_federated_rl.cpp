// 14 — Federated reinforcement learning on CartPole (issue 18, part 2).
//
// K agents each balance a pole in their own cart-pole environment (gymnasium's CartPole-v1
// dynamics, fedpp/rl/cartpole.hpp) with their own physics: client k's half pole length, pole mass
// and cart mass are spaced evenly from the --*-low to the --*-high values (client 0 gets the low
// ends, client K−1 the high ends). Each learns with REINFORCE and a learned baseline (a 4-H-2
// softmax policy and a 4-H-1 value network on one flat parameter vector, Adam).
//   federated  every --sync-every E episodes the agents send their parameters to a fedpp::server
//              (in-process transport, FedAvg weighted by episodes, server step 1), which broadcasts
//              the mean: agents share policy updates, never experience;
//   local      the same agents, seeds and initial parameters, learning alone.
// Each agent counts as solved after n episodes when its last 100 episode returns average ≥ 475
// (gymnasium's CartPole-v1 threshold); a mode solves every environment after the largest of
// those n over the agents. The example prints per-agent episodes to solve, the mode's figure,
// and the mean return of the final policy over --eval-episodes fresh episodes per agent; --csv
// writes every episode's return (mode, client, episode, return) for plots (scripts/rl_experiment.sh).
#include "example_cli.hpp"

#include "fedpp/orchestration/in_process_federation.hpp"
#include "fedpp/orchestration/server.hpp"
#include "fedpp/rl/cartpole.hpp"
#include "fedpp/rl/federated_agent.hpp"
#include "fedpp/rl/reinforce.hpp"
#include "fedpp/scheduling/uniform_sampler.hpp"

#include <algorithm>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace {

namespace rl = fedpp::rl;

struct settings {
  std::size_t clients = 8;
  std::uint32_t episodes = 1000; // per agent
  std::uint32_t sync_every = 5;  // E
  std::uint64_t seed = 1;
  std::string mode = "both";
  std::size_t threads = 1;
  std::size_t hidden = 32;
  double lr = 0.01;
  double value_lr = 0.01;
  double gamma = 0.99;
  double length_low = 0.5, length_high = 0.5;
  double masspole_low = 0.1, masspole_high = 0.1;
  double masscart_low = 1.0, masscart_high = 1.0;
  std::uint32_t eval_episodes = 20;
  std::string csv;
};

double spread(double low, double high, std::size_t k, std::size_t n) {
  return n == 1 ? low : low + (high - low) * static_cast<double>(k) / static_cast<double>(n - 1);
}

rl::federated_rl_setup make_setup(const settings& s) {
  rl::federated_rl_setup setup;
  for (std::size_t k = 0; k < s.clients; ++k) {
    rl::cartpole_parameters p;
    p.length = spread(s.length_low, s.length_high, k, s.clients);
    p.masspole = spread(s.masspole_low, s.masspole_high, k, s.clients);
    p.masscart = spread(s.masscart_low, s.masscart_high, k, s.clients);
    setup.environments.push_back(p);
  }
  setup.learner.hidden = s.hidden;
  setup.learner.policy_learning_rate = s.lr;
  setup.learner.value_learning_rate = s.value_lr;
  setup.learner.gamma = s.gamma;
  setup.seed = s.seed;
  return setup;
}

/// The initial parameters every agent (and the server) starts from: one draw of the seed.
fedpp::flat_model<float> initial_model(const settings& s, const rl::federated_rl_setup& setup) {
  fedpp::rng gen = fedpp::rng::for_stream(s.seed, 0xC0FFEE);
  const rl::reinforce_learner learner(setup.learner, gen);
  return learner.parameters(); // a deep copy
}

struct mode_result {
  std::vector<std::vector<double>> returns; // per agent
  std::vector<double> final_eval;           // mean return of the final policy per agent
  std::size_t failed_rounds = 0;
};

/// Evaluates agent k's current policy (sampled actions, no learning) over n episodes.
double evaluate(const rl::federated_rl_trainer& t, std::size_t k, std::uint32_t n) {
  return t.with_agent(k, [n](rl::rl_agent& a) {
    double sum = 0;
    for (std::uint32_t e = 0; e < n; ++e) sum += a.play_episode().episode_return;
    return n == 0 ? 0.0 : sum / n;
  });
}

mode_result run_local(const settings& s, const rl::federated_rl_setup& setup,
                      const fedpp::flat_model<float>& init) {
  const rl::federated_rl_trainer trainer(setup, init);
  mode_result out;
  for (std::size_t k = 0; k < s.clients; ++k) {
    trainer.with_agent(k, [&](rl::rl_agent& a) {
      for (std::uint32_t e = 0; e < s.episodes; ++e) a.train_episode();
      out.returns.push_back(a.returns());
    });
    out.final_eval.push_back(evaluate(trainer, k, s.eval_episodes));
  }
  return out;
}

mode_result run_federated(const settings& s, const rl::federated_rl_setup& setup,
                          const fedpp::flat_model<float>& init) {
  const rl::federated_rl_trainer trainer(setup, init);
  std::vector<fedpp::client_id> clients(s.clients);
  for (std::size_t k = 0; k < s.clients; ++k) clients[k] = k;
  mode_result out;
  {
    fedpp::in_process_federation<float, rl::federated_rl_trainer> federation(clients, trainer, init.layout(),
                                                                             s.threads);
    fedpp::server_options options;
    options.seed = s.seed;
    options.client_config.local_epochs = s.sync_every; // one local epoch = one episode
    options.min_reports = s.clients;
    // The server starts from the agents' initial parameters.
    fedpp::server<float, fedpp::uniform_sampler> server(
        fedpp::flat_model<float>(init), fedpp::uniform_sampler(s.clients, s.clients), {}, options);
    const std::uint32_t rounds = s.episodes / s.sync_every;
    for (std::uint32_t r = 0; r < rounds; ++r) {
      const auto m = server.run_round(federation.server_endpoint());
      if (!m.succeeded) ++out.failed_rounds;
    }
    // Each agent continues from the last global model for the evaluation.
    for (std::size_t k = 0; k < s.clients; ++k)
      trainer.with_agent(k, [&](rl::rl_agent& a) { a.learner().set_parameters(server.model().span()); });
  }
  for (std::size_t k = 0; k < s.clients; ++k) {
    out.returns.push_back(trainer.with_agent(k, [](rl::rl_agent& a) { return a.returns(); }));
    out.final_eval.push_back(evaluate(trainer, k, s.eval_episodes));
  }
  return out;
}

void report(const char* mode, const settings& s, const rl::federated_rl_setup& setup, const mode_result& r,
            std::FILE* csv) {
  std::printf("%s:\n  client  length  masspole  masscart  solved_after  last100_mean  final_eval\n", mode);
  bool all_solved = true;
  std::size_t worst = 0;
  for (std::size_t k = 0; k < s.clients; ++k) {
    const auto& ret = r.returns[k];
    const auto n = rl::episodes_to_solve(ret);
    if (n)
      worst = std::max(worst, *n);
    else
      all_solved = false;
    double last = 0;
    const std::size_t w = std::min<std::size_t>(rl::solved_window, ret.size());
    for (std::size_t i = ret.size() - w; i < ret.size(); ++i) last += ret[i];
    last = w == 0 ? 0 : last / static_cast<double>(w);
    const auto& p = setup.environments[k];
    std::printf("  %6zu  %6.3f  %8.3f  %8.3f  %12s  %12.1f  %10.1f\n", k, p.length, p.masspole, p.masscart,
                n ? std::to_string(*n).c_str() : "-", last, r.final_eval[k]);
    if (csv)
      for (std::size_t e = 0; e < ret.size(); ++e)
        std::fprintf(csv, "%s,%zu,%zu,%g\n", mode, k, e + 1, ret[e]);
  }
  if (r.failed_rounds) std::printf("  failed rounds: %zu\n", r.failed_rounds);
  if (all_solved)
    std::printf("%s: every environment solved after %zu episodes per agent\n", mode, worst);
  else
    std::printf("%s: not every environment solved within %u episodes per agent\n", mode, s.episodes);
}

int run(const settings& s) {
  const rl::federated_rl_setup setup = make_setup(s);
  const fedpp::flat_model<float> init = initial_model(s, setup);
  std::FILE* csv = nullptr;
  if (!s.csv.empty()) {
    csv = std::fopen(s.csv.c_str(), "w");
    if (!csv) throw fedpp::invalid_config("--csv: cannot write '" + s.csv + "'");
    std::fprintf(csv, "mode,client,episode,return\n");
  }
  std::printf("federated RL on CartPole: %zu agents, %u episodes each, sync every %u episodes, seed %llu\n",
              s.clients, s.episodes, s.sync_every, static_cast<unsigned long long>(s.seed));
  if (s.mode != "local") report("federated", s, setup, run_federated(s, setup, init), csv);
  if (s.mode != "federated") report("local", s, setup, run_local(s, setup, init), csv);
  if (csv) std::fclose(csv);
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  settings s;
  namespace within = example_cli::within;
  example_cli::command_line cli(
      "14_federated_rl: federated REINFORCE on heterogeneous CartPole environments");
  cli.count("--clients", s.clients, "agents, each in its own environment", std::size_t{1}, std::size_t{256});
  cli.count("--episodes", s.episodes, "episodes per agent", std::uint32_t{1}, std::uint32_t{1000000});
  cli.count("--sync-every", s.sync_every, "federated: E, episodes between averagings", std::uint32_t{1},
            std::uint32_t{100000});
  cli.count("--seed", s.seed, "seed of initial parameters, resets and action sampling", std::uint64_t{0});
  cli.choice("--mode", s.mode, "federated, local (alone), or both", {"federated", "local", "both"});
  cli.count("--threads", s.threads, "federated: client host threads", std::size_t{1}, std::size_t{64});
  cli.count("--hidden", s.hidden, "hidden units of the policy and of the baseline", std::size_t{1},
            std::size_t{1024});
  cli.real("--lr", s.lr, "Adam step of the policy", within::unit_open_low);
  cli.real("--value-lr", s.value_lr, "Adam step of the baseline", within::unit_open_low);
  cli.real("--gamma", s.gamma, "discount", within::probability);
  cli.real("--length-low", s.length_low, "half pole length of client 0 (m)", within::closed(0.05, 10));
  cli.real("--length-high", s.length_high, "half pole length of the last client (m)",
           within::closed(0.05, 10));
  cli.real("--masspole-low", s.masspole_low, "pole mass of client 0 (kg)", within::closed(0.001, 100));
  cli.real("--masspole-high", s.masspole_high, "pole mass of the last client (kg)",
           within::closed(0.001, 100));
  cli.real("--masscart-low", s.masscart_low, "cart mass of client 0 (kg)", within::closed(0.01, 100));
  cli.real("--masscart-high", s.masscart_high, "cart mass of the last client (kg)",
           within::closed(0.01, 100));
  cli.count("--eval-episodes", s.eval_episodes, "episodes of the final evaluation per agent",
            std::uint32_t{0}, std::uint32_t{100000});
  cli.text("--csv", s.csv, "write every episode's return to this CSV file");
  cli.check([&] {
    if (s.mode != "local" && s.episodes % s.sync_every != 0)
      example_cli::refuse("--sync-every", std::to_string(s.sync_every) + " does not divide --episodes " +
                                              std::to_string(s.episodes) + " (federated rounds are whole)");
    if (s.mode == "local" && cli.app().count("--sync-every") > 0)
      example_cli::refuse("--sync-every", "applies only with --mode federated or both");
    if (s.mode == "local" && cli.app().count("--threads") > 0)
      example_cli::refuse("--threads", "applies only with --mode federated or both");
    if (s.threads > s.clients)
      example_cli::refuse("--threads",
                          std::to_string(s.threads) + " exceeds --clients " + std::to_string(s.clients));
  });
  if (const auto status = cli.parse(argc, argv)) return *status;
  return example_cli::guarded([&] { return run(s); });
}
