// 04 — Byzantine-robust aggregation under attack, on Fashion-MNIST.
//
// A fraction of the simulated clients (chosen by seed) attack every round — sign flipping,
// "A Little Is Enough", label flipping, Gaussian noise or scaling — and the server aggregates the
// round's deltas with FedAvg or a robust rule (median, trimmed mean, Krum, Multi-Krum, Bulyan,
// geometric median, norm bounding). Prints the test accuracy per evaluation and at the end
// ("final accuracy A"); --csv writes round,accuracy for plotting (scripts/robust_experiment.sh).
//
//   04_robust_aggregation --aggregator median --attack signflip --fraction 0.2 --rounds 20
//   04_robust_aggregation --aggregator fedavg --attack alie --alie-z 3   (z beyond the paper's)
#include "example_cli.hpp"
#include "fashion_mnist_job.hpp"

#include "fedpp/aggregation/robust/robust.hpp"
#include "fedpp/attacks/attacks.hpp"
#include "fedpp/orchestration/in_process_federation.hpp"

#include <cstdio>
#include <functional>
#include <map>
#include <optional>
#include <string>

namespace {

namespace sim = fedpp::simulation;
using model_type = sim::softmax_regression<float>;
using trainer_fn = std::function<fedpp::client_result<float>(
    fedpp::client_id, const fedpp::host_model_view<const float>&, const fedpp::round_config&)>;

struct flags {
  std::string aggregator = "fedavg", attack = "none";
  double fraction = 0.2, flip_scale = 1.0, trim = 0.2, max_norm = 1.0, boost = 10, sigma = 1.0;
  std::optional<double> alie_z; // default: Baruch et al.'s z for (clients per round, f)
  std::size_t f = 4;
  fmnist_job::options job; // clients, clients per round, rounds, lr, seed, ... (defaults below)

  flags() {
    job.model = "softmax";
    job.partition = "iid";
    job.clients = 20;
    job.clients_per_round = 20;
    job.rounds = 20;
    job.eval_every = 5;
    job.hosts = 2;
    job.learning_rate = 0.1;
  }
};

/// Registers the flags on `cli`, bound to `o` (its values are the defaults).
/// Returns --alie-z's option (its count says whether it was given).
const CLI::Option* add_flags(example_cli::command_line& cli, flags& o, double& alie_z) {
  namespace within = example_cli::within;
  using fmnist_job::flag;
  cli.choice("--aggregator", o.aggregator, "aggregation rule",
             {"fedavg", "median", "trimmed", "krum", "multikrum", "bulyan", "geomed", "normbound"});
  cli.choice("--attack", o.attack, "what the attackers do",
             {"none", "signflip", "alie", "labelflip", "gaussian", "scaling"});
  cli.real("--fraction", o.fraction, "fraction of the clients that attack", within::probability);
  const CLI::Option* alie_z_flag =
      cli.real("--alie-z", alie_z,
               "ALIE shift z (default: Baruch et al.'s z for the clients per round and f)", within::finite)
          ->default_str("paper's z");
  cli.real("--flip-scale", o.flip_scale, "sign flip: magnitude of the flipped update", within::positive);
  cli.real("--trim", o.trim, "trimmed mean: fraction cut from each side", within::below_half);
  cli.real("--max-norm", o.max_norm, "norm bounding: largest accepted update norm", within::positive);
  cli.real("--boost", o.boost, "scaling attack: factor gamma", within::positive);
  cli.real("--sigma", o.sigma, "Gaussian attack: standard deviation of the noise", within::non_negative);
  cli.count("--f", o.f, "Byzantine clients tolerated by krum, multikrum and bulyan", std::size_t{0},
            fmnist_job::max_clients);
  fmnist_job::add_flags(cli, o.job,
                        {flag::clients, flag::clients_per_round, flag::rounds, flag::eval_every, flag::hosts,
                         flag::lr, flag::seed, flag::csv});
  cli.check([&o] {
    const std::size_t n = o.job.clients_per_round; // updates per round (no dropouts)
    if ((o.aggregator == "krum" || o.aggregator == "multikrum") && n <= 2 * o.f + 2)
      example_cli::refuse("--f", std::to_string(o.f) + " is too large for " + o.aggregator + ": needs " +
                                     "--clients-per-round > 2f + 2, got " + std::to_string(n));
    if (o.aggregator == "bulyan" && n < 4 * o.f + 3)
      example_cli::refuse("--f", std::to_string(o.f) +
                                     " is too large for bulyan: needs --clients-per-round >= " +
                                     "4f + 3, got " + std::to_string(n));
  });
  return alie_z_flag;
}

// Honest and attacking clients in one hook type: sign flip / scaling / Gaussian noise.
struct attack_hooks {
  std::optional<fedpp::attacks::sign_flip> flip;
  std::optional<fedpp::attacks::scaling_attack> scale;
  std::optional<fedpp::attacks::gaussian_noise_attack> noise;
  void process_update(fedpp::client_id c, const fedpp::round_config& config, std::span<float> delta) const {
    if (flip) flip->process_update(c, config, delta);
    if (scale) scale->process_update(c, config, delta);
    if (noise) noise->process_update(c, config, delta);
  }
};

template <class Agg>
double run(const flags& o, const fmnist_job::setup<model_type>& job, const trainer_fn& trainer,
           const attack_hooks& hooks, std::function<Agg(const fedpp::model_layout&)> factory) {
  fedpp::in_process_federation<float, trainer_fn, attack_hooks> federation(
      job.clients, trainer, job.model.layout(), o.job.hosts, hooks);
  fedpp::server_options so;
  so.client_config.learning_rate = o.job.learning_rate;
  so.client_config.batch_size = 32;
  so.client_config.local_epochs = 1;
  so.seed = o.job.seed;
  fedpp::server<float, fedpp::uniform_sampler, fedpp::server_sgd<float>, Agg> server(
      job.model.make_parameters(o.job.seed), fedpp::uniform_sampler(o.job.clients, o.job.clients_per_round),
      {}, so, {}, {}, std::move(factory));
  std::unique_ptr<sim::csv_writer> csv;
  if (!o.job.csv.empty())
    csv = std::make_unique<sim::csv_writer>(o.job.csv, std::vector<std::string>{"round", "accuracy"});
  double accuracy = 0;
  for (std::size_t r = 0; r < o.job.rounds; ++r) {
    const auto m = server.run_round(federation.server_endpoint());
    if ((r + 1) % o.job.eval_every == 0 || r + 1 == o.job.rounds) {
      accuracy = sim::evaluate(job.model, server.model().span(), job.data.test).accuracy;
      std::printf("round %3zu  accuracy %.4f  reported %zu  rejected %zu%s\n", r + 1, accuracy, m.reported,
                  m.rejected, m.succeeded ? "" : "  (failed)");
      if (csv) csv->write_row({static_cast<std::uint64_t>(r + 1), accuracy});
    }
  }
  return accuracy;
}

int run_example(const flags& o) {
  const fmnist_job::options& jo = o.job;
  const fmnist_job::setup<model_type> job(jo);
  const fedpp::attacks::attacker_set attackers(job.clients, o.attack == "none" ? 0.0 : o.fraction, jo.seed);
  std::printf("fedpp robust aggregation: %s vs %s, %zu of %zu clients attack, %zu per round, %zu rounds\n",
              o.aggregator.c_str(), o.attack.c_str(), attackers.size(), jo.clients, jo.clients_per_round,
              jo.rounds);

  trainer_fn trainer = fmnist_job::trainer<model_type>{&job, jo.seed};
  attack_hooks hooks;
  std::optional<fmnist_job::setup<model_type>> poisoned;
  if (o.attack == "signflip")
    hooks.flip = fedpp::attacks::sign_flip{attackers, o.flip_scale};
  else if (o.attack == "scaling")
    hooks.scale = fedpp::attacks::scaling_attack{attackers, o.boost};
  else if (o.attack == "gaussian")
    hooks.noise = fedpp::attacks::gaussian_noise_attack{attackers, o.sigma, true, jo.seed};
  else if (o.attack == "alie") {
    const std::size_t expected_attackers =
        std::max<std::size_t>(1, attackers.size() * jo.clients_per_round / jo.clients);
    const double z = o.alie_z ? *o.alie_z : fedpp::attacks::alie_z(jo.clients_per_round, expected_attackers);
    std::printf("ALIE z = %.3f\n", z);
    trainer =
        fedpp::attacks::alie_trainer<float, trainer_fn>(trainer, attackers, fedpp::attacks::alie_shift{z});
  } else if (o.attack == "labelflip") {
    poisoned.emplace(jo);
    poisoned->data.train = fedpp::attacks::flip_labels(job.data.train, fedpp::attacks::reversed_labels(10));
    trainer = fedpp::attacks::attacker_router<float, trainer_fn, trainer_fn>(
        trainer, trainer_fn(fmnist_job::trainer<model_type>{&*poisoned, jo.seed}), attackers);
  } else if (o.attack != "none")
    throw std::invalid_argument("unknown attack " + o.attack);
  const std::size_t f = o.f;
  double accuracy = 0;
  using fedpp::model_layout;
  if (o.aggregator == "fedavg")
    accuracy = run<fedpp::fedavg<float>>(o, job, trainer, hooks,
                                         [](const model_layout& l) { return fedpp::fedavg<float>(l); });
  else if (o.aggregator == "median")
    accuracy = run<fedpp::coordinate_median<float>>(
        o, job, trainer, hooks, [](const model_layout& l) { return fedpp::coordinate_median<float>(l); });
  else if (o.aggregator == "trimmed")
    accuracy = run<fedpp::trimmed_mean<float>>(o, job, trainer, hooks, [&](const model_layout& l) {
      return fedpp::trimmed_mean<float>(l, {.beta = o.trim});
    });
  else if (o.aggregator == "krum" || o.aggregator == "multikrum")
    accuracy = run<fedpp::krum<float>>(o, job, trainer, hooks, [&](const model_layout& l) {
      const std::size_t m = o.aggregator == "krum" ? 1 : jo.clients_per_round - f; // Multi-Krum: n − f
      return fedpp::krum<float>(l, {.byzantine = f, .selected = m});
    });
  else if (o.aggregator == "bulyan")
    accuracy = run<fedpp::bulyan<float>>(o, job, trainer, hooks, [&](const model_layout& l) {
      return fedpp::bulyan<float>(l, {.byzantine = f});
    });
  else if (o.aggregator == "geomed")
    accuracy = run<fedpp::geometric_median<float>>(
        o, job, trainer, hooks, [](const model_layout& l) { return fedpp::geometric_median<float>(l); });
  else if (o.aggregator == "normbound")
    accuracy = run<fedpp::norm_bounding<float>>(o, job, trainer, hooks, [&](const model_layout& l) {
      return fedpp::norm_bounding<float>(l, o.max_norm);
    });
  else
    throw std::invalid_argument("unknown aggregator " + o.aggregator);
  std::printf("final accuracy %.4f\n", accuracy);
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  flags o;
  double alie_z = 0;
  example_cli::command_line cli("04_robust_aggregation: Byzantine-robust aggregation under attack on "
                                "Fashion-MNIST");
  const auto* alie_z_flag = add_flags(cli, o, alie_z);
  if (const auto status = cli.parse(argc, argv)) return *status;
  if (alie_z_flag->count() > 0) o.alie_z = alie_z;
  return fmnist_job::guarded([&] { return run_example(o); });
}
