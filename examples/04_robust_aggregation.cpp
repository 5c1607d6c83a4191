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
  std::size_t clients = 20, per_round = 20, rounds = 20, f = 4, eval_every = 5, hosts = 2;
  double lr = 0.1;
  std::uint64_t seed = 1;
  std::string csv;
};

flags parse(int argc, char** argv) {
  flags o;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--aggregator")
      o.aggregator = v;
    else if (k == "--attack")
      o.attack = v;
    else if (k == "--fraction")
      o.fraction = std::stod(v);
    else if (k == "--alie-z")
      o.alie_z = std::stod(v);
    else if (k == "--flip-scale")
      o.flip_scale = std::stod(v);
    else if (k == "--trim")
      o.trim = std::stod(v);
    else if (k == "--max-norm")
      o.max_norm = std::stod(v);
    else if (k == "--boost")
      o.boost = std::stod(v);
    else if (k == "--sigma")
      o.sigma = std::stod(v);
    else if (k == "--clients")
      o.clients = std::stoul(v);
    else if (k == "--clients-per-round")
      o.per_round = std::stoul(v);
    else if (k == "--rounds")
      o.rounds = std::stoul(v);
    else if (k == "--f")
      o.f = std::stoul(v);
    else if (k == "--eval-every")
      o.eval_every = std::stoul(v);
    else if (k == "--hosts")
      o.hosts = std::stoul(v);
    else if (k == "--lr")
      o.lr = std::stod(v);
    else if (k == "--seed")
      o.seed = std::stoull(v);
    else if (k == "--csv")
      o.csv = v;
    else
      throw std::invalid_argument("unknown flag " + k);
  }
  if (argc % 2 == 0) throw std::invalid_argument("flags come in pairs: --name value");
  return o;
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
      job.clients, trainer, job.model.layout(), o.hosts, hooks);
  fedpp::server_options so;
  so.client_config.learning_rate = o.lr;
  so.client_config.batch_size = 32;
  so.client_config.local_epochs = 1;
  so.seed = o.seed;
  fedpp::server<float, fedpp::uniform_sampler, fedpp::server_sgd<float>, Agg> server(
      job.model.make_parameters(o.seed), fedpp::uniform_sampler(o.clients, o.per_round), {}, so, {}, {},
      std::move(factory));
  std::unique_ptr<sim::csv_writer> csv;
  if (!o.csv.empty())
    csv = std::make_unique<sim::csv_writer>(o.csv, std::vector<std::string>{"round", "accuracy"});
  double accuracy = 0;
  for (std::size_t r = 0; r < o.rounds; ++r) {
    const auto m = server.run_round(federation.server_endpoint());
    if ((r + 1) % o.eval_every == 0 || r + 1 == o.rounds) {
      accuracy = sim::evaluate(job.model, server.model().span(), job.data.test).accuracy;
      std::printf("round %3zu  accuracy %.4f  reported %zu  rejected %zu%s\n", r + 1, accuracy, m.reported,
                  m.rejected, m.succeeded ? "" : "  (failed)");
      if (csv) csv->write_row({static_cast<std::uint64_t>(r + 1), accuracy});
    }
  }
  return accuracy;
}

} // namespace

int main(int argc, char** argv) try {
  const flags o = parse(argc, argv);
  fmnist_job::options jo;
  jo.model = "softmax";
  jo.partition = "iid";
  jo.clients = o.clients;
  jo.seed = o.seed;
  const fmnist_job::setup<model_type> job(jo);
  const fedpp::attacks::attacker_set attackers(job.clients, o.attack == "none" ? 0.0 : o.fraction, o.seed);
  std::printf("fedpp robust aggregation: %s vs %s, %zu of %zu clients attack, %zu per round, %zu rounds\n",
              o.aggregator.c_str(), o.attack.c_str(), attackers.size(), o.clients, o.per_round, o.rounds);

  trainer_fn trainer = fmnist_job::trainer<model_type>{&job, o.seed};
  attack_hooks hooks;
  std::optional<fmnist_job::setup<model_type>> poisoned;
  if (o.attack == "signflip")
    hooks.flip = fedpp::attacks::sign_flip{attackers, o.flip_scale};
  else if (o.attack == "scaling")
    hooks.scale = fedpp::attacks::scaling_attack{attackers, o.boost};
  else if (o.attack == "gaussian")
    hooks.noise = fedpp::attacks::gaussian_noise_attack{attackers, o.sigma, true, o.seed};
  else if (o.attack == "alie") {
    const std::size_t expected_attackers =
        std::max<std::size_t>(1, attackers.size() * o.per_round / o.clients);
    const double z = o.alie_z ? *o.alie_z : fedpp::attacks::alie_z(o.per_round, expected_attackers);
    std::printf("ALIE z = %.3f\n", z);
    trainer =
        fedpp::attacks::alie_trainer<float, trainer_fn>(trainer, attackers, fedpp::attacks::alie_shift{z});
  } else if (o.attack == "labelflip") {
    poisoned.emplace(jo);
    poisoned->data.train = fedpp::attacks::flip_labels(job.data.train, fedpp::attacks::reversed_labels(10));
    trainer = fedpp::attacks::attacker_router<float, trainer_fn, trainer_fn>(
        trainer, trainer_fn(fmnist_job::trainer<model_type>{&*poisoned, o.seed}), attackers);
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
      return fedpp::trimmed_mean<float>(l, fedpp::trimmed_mean_rule(o.trim));
    });
  else if (o.aggregator == "krum" || o.aggregator == "multikrum")
    accuracy = run<fedpp::krum<float>>(o, job, trainer, hooks, [&](const model_layout& l) {
      return fedpp::krum<float>(l, fedpp::krum_rule(f, o.aggregator == "krum" ? 1 : o.per_round - f));
    });
  else if (o.aggregator == "bulyan")
    accuracy = run<fedpp::bulyan<float>>(o, job, trainer, hooks, [&](const model_layout& l) {
      return fedpp::bulyan<float>(l, fedpp::bulyan_rule{f});
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
} catch (const fedpp::simulation::dataset_not_found& e) {
  std::fprintf(stderr, "%s\n", e.what());
  return 2;
} catch (const std::exception& e) {
  std::fprintf(stderr, "error: %s\n", e.what());
  return 1;
}
