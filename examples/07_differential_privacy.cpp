// 07 — DP-FedAvg on Fashion-MNIST: central differential privacy with a privacy budget.
//
// N simulated clients (default 2,000, the 60k training images split IID, 30 each); every round
// each client takes part independently with probability q (Poisson sampling, default q = 0.015:
// about 30 per round). The server clips each report to L2 norm C, sums, divides by the expected
// count qN and adds N(0, (σC/(qN))²) noise from the ChaCha20 sampler (McMahan et al. 2018,
// DP-FedAvg); an RDP accountant (or --accountant pld) composes one Poisson-subsampled Gaussian
// step per round, prints ε at δ after each round, and the loop stops before the round that would
// take ε past --epsilon. See docs/privacy.md (curve: scripts/privacy_curve.sh).
// `07_differential_privacy --help` lists the flags.
#include "example_cli.hpp"
#include "fashion_mnist_job.hpp"

#include "fedpp/orchestration/in_process_federation.hpp"
#include "fedpp/privacy/central_dp_hooks.hpp"
#include "fedpp/privacy/pld_accountant.hpp"
#include "fedpp/scheduling/poisson_sampler.hpp"

#include <cstdio>
#include <map>
#include <stdexcept>
#include <string>

namespace {

namespace sim = fedpp::simulation;
namespace dp = fedpp::privacy;

struct dp_flags {
  double q = 0.015;     // Poisson sampling rate
  double sigma = 1.0;   // noise multiplier
  double clip = 0.5;    // C
  double epsilon = 8.0; // budget (stop before exceeding)
  double delta = 1e-5;  // δ
  std::size_t max_rounds = 1000;
  double server_lr = 1.0; // η_g
  std::string accountant = "rdp";
  bool reproducible_noise = false; // noise from a seeded stream (NOT private; for documented runs)
  fmnist_job::options job;         // clients, model, client training, seed, hosts, ... (defaults below)

  dp_flags() {
    job.model = "softmax";
    job.partition = "iid";
    job.clients = 2000;
    job.local_epochs = 1;
    job.batch_size = 10;
    job.learning_rate = 0.1;
    job.eval_every = 10;
    job.hosts = 2;
  }
};

/// Registers the flags on `cli`, bound to `f` (its values are the defaults).
void add_flags(example_cli::command_line& cli, dp_flags& f) {
  namespace within = example_cli::within;
  using fmnist_job::flag;
  cli.real("--sampling-rate", f.q, "q: Poisson participation probability per round", within::unit_open_low);
  cli.real("--noise-multiplier", f.sigma, "sigma: noise sd sigma*C on the sum of clipped updates",
           within::positive);
  cli.real("--clip", f.clip, "C: L2 clipping bound of each client update", within::positive);
  cli.real("--epsilon", f.epsilon, "budget epsilon; training stops before exceeding it", within::positive);
  cli.real("--delta", f.delta, "budget delta", within::unit_open);
  cli.count("--max-rounds", f.max_rounds, "rounds at most");
  cli.real("--server-lr", f.server_lr, "server learning rate eta", within::positive);
  cli.choice("--accountant", f.accountant, "privacy accountant", {"rdp", "pld"});
  cli.toggle("--reproducible-noise", f.reproducible_noise, true,
             "seed the noise from --seed (reproducible, NOT private)");
  fmnist_job::add_flags(cli, f.job,
                        {flag::model, flag::clients, flag::local_epochs, flag::batch_size, flag::lr,
                         flag::seed, flag::hosts, flag::eval_every, flag::csv, flag::data_dir});
}

template <class Model, class Accountant>
int run(const dp_flags& f) {
  const fmnist_job::options& o = f.job; // the shared job's data, partition and trainer
  const fmnist_job::setup<Model> job(o);
  fedpp::in_process_federation<float, fmnist_job::trainer<Model>> federation(
      job.clients, fmnist_job::trainer<Model>{&job, o.seed}, job.model.layout(), o.hosts);

  dp::central_dp_options dpo;
  dpo.noise_multiplier = f.sigma;
  dpo.clip_norm = f.clip;
  dpo.sampling_rate = f.q;
  dpo.population = o.clients;
  dpo.budget = dp::privacy_budget(f.epsilon, f.delta);
  dp::secure_rng noise =
      f.reproducible_noise ? dp::secure_rng::reproducible(dp::reproducible_seed{o.seed}) : dp::secure_rng{};
  using hooks = dp::central_dp_hooks<float, Accountant>;
  fedpp::server_options so;
  so.client_config.local_epochs = o.local_epochs;
  so.client_config.batch_size = o.batch_size;
  so.client_config.learning_rate = o.learning_rate;
  so.seed = o.seed;
  fedpp::server<float, fedpp::poisson_sampler, fedpp::server_sgd<float>, fedpp::fedavg<float>,
                fedpp::wall_clock_availability, hooks>
      server(job.model.make_parameters(o.seed), fedpp::poisson_sampler(o.clients, f.q),
             fedpp::server_sgd<float>(f.server_lr), so, {}, hooks(dpo, job.model.layout(), noise),
             // DP-FedAvg averages clipped updates uniformly (the hooks rescale to the fixed denominator)
             [](const fedpp::model_layout& l) { return fedpp::fedavg<float>(l, fedpp::weighting::uniform); });

  std::printf("DP-FedAvg Fashion-MNIST: %s, %zu clients, q = %g (E|S| = %.1f), sigma = %g, C = %g, "
              "budget epsilon = %g at delta = %g (%s accountant)%s\n",
              o.model.c_str(), o.clients, f.q, f.q * static_cast<double>(o.clients), f.sigma, f.clip,
              f.epsilon, f.delta, f.accountant.c_str(), f.reproducible_noise ? ", reproducible noise" : "");
  std::unique_ptr<sim::csv_writer> csv;
  if (!o.csv.empty())
    csv = std::make_unique<sim::csv_writer>(
        o.csv, std::vector<std::string>{"round", "epsilon", "accuracy", "test_loss", "sampled", "sigma"});
  double accuracy = -1, epsilon = 0;
  std::size_t rounds = 0;
  while (rounds < f.max_rounds && server.hooks().can_run_next_round()) {
    const auto m = server.run_round(federation.server_endpoint());
    ++rounds;
    epsilon = m.evaluation.at("dp_epsilon");
    const bool eval = rounds % o.eval_every == 0;
    double loss = -1;
    std::printf("round %4zu  epsilon %7.4f  sampled %3zu", rounds, epsilon, m.sampled);
    if (eval) {
      const auto e = sim::evaluate(job.model, server.model().span(), job.data.test);
      accuracy = e.accuracy;
      loss = e.mean_loss;
      std::printf("  test accuracy %.4f", accuracy);
    }
    std::printf("%s\n", m.succeeded ? "" : "  (no update: too few reports)");
    std::fflush(stdout);
    if (csv && eval)
      csv->write_row({static_cast<std::uint64_t>(rounds), epsilon, accuracy, loss,
                      static_cast<std::uint64_t>(m.sampled), f.sigma});
  }
  const auto e = sim::evaluate(job.model, server.model().span(), job.data.test);
  if (csv && rounds % o.eval_every != 0)
    csv->write_row(
        {static_cast<std::uint64_t>(rounds), epsilon, e.accuracy, e.mean_loss, std::uint64_t{0}, f.sigma});
  std::printf("%s after %zu rounds: epsilon = %.4f at delta = %g, test accuracy %.4f\n",
              rounds < f.max_rounds ? "budget reached" : "max rounds", rounds, epsilon, f.delta, e.accuracy);
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  dp_flags f;
  example_cli::command_line cli("07_differential_privacy: DP-FedAvg on Fashion-MNIST with a privacy budget");
  add_flags(cli, f);
  if (const auto status = cli.parse(argc, argv)) return *status;
  return fmnist_job::guarded([&] {
    return fmnist_job::with_model(f.job, [&]<class Model>(const Model&) {
      return f.accountant == "pld" ? run<Model, dp::pld_accountant>(f) : run<Model, dp::rdp_accountant>(f);
    });
  });
}
