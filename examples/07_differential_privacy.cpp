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
  std::size_t clients = 2000;
  double q = 0.015;     // Poisson sampling rate
  double sigma = 1.0;   // noise multiplier
  double clip = 0.5;    // C
  double epsilon = 8.0; // budget (stop before exceeding)
  double delta = 1e-5;  // δ
  std::size_t max_rounds = 1000;
  double server_lr = 1.0; // η_g
  std::uint32_t local_epochs = 1, batch_size = 10;
  double lr = 0.1; // client learning rate
  std::string model = "softmax";
  std::string accountant = "rdp";
  std::uint64_t seed = 1;
  bool reproducible_noise = false; // noise from a seeded stream (NOT private; for documented runs)
  std::size_t eval_every = 10;
  std::size_t hosts = 2;
  std::string csv, data_dir;
};

void usage(const char* program) {
  std::printf("usage: %s [flags]\n"
              "  --clients N             simulated clients, IID split of the 60k images (2000)\n"
              "  --sampling-rate Q       Poisson participation probability per round (0.015)\n"
              "  --noise-multiplier S    sigma: noise sd sigma*C on the sum of clipped updates (1.0)\n"
              "  --clip C                L2 clipping bound of each client update (0.5)\n"
              "  --epsilon E --delta D   budget; training stops before exceeding it (8, 1e-5)\n"
              "  --max-rounds R (1000)   --server-lr ETA (1.0)   --accountant rdp|pld (rdp)\n"
              "  --local-epochs E (1)    --batch-size B (10)     --lr LR (0.1)   --model softmax|mlp\n"
              "  --seed S (1)   --hosts H (2)   --eval-every K: test accuracy every K rounds (10)\n"
              "  --csv FILE   --data-dir DIR\n"
              "  --reproducible-noise    seed the noise from --seed (reproducible, NOT private)\n",
              program);
}

dp_flags parse(int argc, char** argv) {
  dp_flags f;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--help" || flag == "-h") {
      usage(argv[0]);
      std::exit(0);
    }
    if (flag == "--reproducible-noise") {
      f.reproducible_noise = true;
      continue;
    }
    if (i + 1 >= argc) throw std::invalid_argument("flag " + flag + " needs a value");
    const std::string v = argv[++i];
    std::size_t used = 0;
    const auto unreadable = [&] {
      return std::invalid_argument(std::string(flag).append(": cannot read '").append(v) + "'");
    };
    auto num = [&] {
      double x = 0;
      try {
        x = std::stod(v, &used);
      } catch (const std::exception&) {
        throw unreadable();
      }
      if (used != v.size()) throw unreadable();
      return x;
    };
    auto count = [&] {
      unsigned long long x = 0;
      try {
        x = std::stoull(v, &used);
      } catch (const std::exception&) {
        throw unreadable();
      }
      if (used != v.size() || v.find('-') != std::string::npos) throw unreadable();
      return static_cast<std::size_t>(x);
    };
    if (flag == "--clients")
      f.clients = count();
    else if (flag == "--sampling-rate")
      f.q = num();
    else if (flag == "--noise-multiplier")
      f.sigma = num();
    else if (flag == "--clip")
      f.clip = num();
    else if (flag == "--epsilon")
      f.epsilon = num();
    else if (flag == "--delta")
      f.delta = num();
    else if (flag == "--max-rounds")
      f.max_rounds = count();
    else if (flag == "--server-lr")
      f.server_lr = num();
    else if (flag == "--local-epochs")
      f.local_epochs = static_cast<std::uint32_t>(count());
    else if (flag == "--batch-size")
      f.batch_size = static_cast<std::uint32_t>(count());
    else if (flag == "--lr")
      f.lr = num();
    else if (flag == "--model")
      f.model = v;
    else if (flag == "--accountant")
      f.accountant = v;
    else if (flag == "--seed")
      f.seed = count();
    else if (flag == "--eval-every")
      f.eval_every = std::max<std::size_t>(1, count());
    else if (flag == "--hosts")
      f.hosts = std::max<std::size_t>(1, count());
    else if (flag == "--csv")
      f.csv = v;
    else if (flag == "--data-dir")
      f.data_dir = v;
    else
      throw std::invalid_argument("unknown flag " + flag + " (see --help)");
  }
  if (f.accountant != "rdp" && f.accountant != "pld")
    throw std::invalid_argument("--accountant must be rdp or pld, got '" + f.accountant + "'");
  return f;
}

template <class Model, class Accountant>
int run(const dp_flags& f) {
  fmnist_job::options o; // the shared job's data, partition and trainer
  o.model = f.model;
  o.partition = "iid";
  o.clients = f.clients;
  o.seed = f.seed;
  o.data_dir = f.data_dir;
  const fmnist_job::setup<Model> job(o);
  fedpp::in_process_federation<float, fmnist_job::trainer<Model>> federation(
      job.clients, fmnist_job::trainer<Model>{&job, f.seed}, job.model.layout(), f.hosts);

  dp::central_dp_options dpo;
  dpo.noise_multiplier = f.sigma;
  dpo.clip_norm = f.clip;
  dpo.sampling_rate = f.q;
  dpo.population = f.clients;
  dpo.budget = dp::privacy_budget(f.epsilon, f.delta);
  dp::secure_rng noise =
      f.reproducible_noise ? dp::secure_rng::reproducible(dp::reproducible_seed{f.seed}) : dp::secure_rng{};
  using hooks = dp::central_dp_hooks<float, Accountant>;
  fedpp::server_options so;
  so.client_config.local_epochs = f.local_epochs;
  so.client_config.batch_size = f.batch_size;
  so.client_config.learning_rate = f.lr;
  so.seed = f.seed;
  fedpp::server<float, fedpp::poisson_sampler, fedpp::server_sgd<float>, fedpp::fedavg<float>,
                fedpp::wall_clock_availability, hooks>
      server(job.model.make_parameters(f.seed), fedpp::poisson_sampler(f.clients, f.q),
             fedpp::server_sgd<float>(f.server_lr), so, {}, hooks(dpo, job.model.layout(), noise),
             // DP-FedAvg averages clipped updates uniformly (the hooks rescale to the fixed denominator)
             [](const fedpp::model_layout& l) { return fedpp::fedavg<float>(l, fedpp::weighting::uniform); });

  std::printf("DP-FedAvg Fashion-MNIST: %s, %zu clients, q = %g (E|S| = %.1f), sigma = %g, C = %g, "
              "budget epsilon = %g at delta = %g (%s accountant)%s\n",
              f.model.c_str(), f.clients, f.q, f.q * static_cast<double>(f.clients), f.sigma, f.clip,
              f.epsilon, f.delta, f.accountant.c_str(), f.reproducible_noise ? ", reproducible noise" : "");
  std::unique_ptr<sim::csv_writer> csv;
  if (!f.csv.empty())
    csv = std::make_unique<sim::csv_writer>(
        f.csv, std::vector<std::string>{"round", "epsilon", "accuracy", "test_loss", "sampled", "sigma"});
  double accuracy = -1, epsilon = 0;
  std::size_t rounds = 0;
  while (rounds < f.max_rounds && server.hooks().can_run_next_round()) {
    const auto m = server.run_round(federation.server_endpoint());
    ++rounds;
    epsilon = m.evaluation.at("dp_epsilon");
    const bool eval = rounds % f.eval_every == 0;
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
  if (csv && rounds % f.eval_every != 0)
    csv->write_row(
        {static_cast<std::uint64_t>(rounds), epsilon, e.accuracy, e.mean_loss, std::uint64_t{0}, f.sigma});
  std::printf("%s after %zu rounds: epsilon = %.4f at delta = %g, test accuracy %.4f\n",
              rounds < f.max_rounds ? "budget reached" : "max rounds", rounds, epsilon, f.delta, e.accuracy);
  return 0;
}

} // namespace

int main(int argc, char** argv) try {
  const auto f = parse(argc, argv);
  fmnist_job::options o;
  o.model = f.model;
  return fmnist_job::with_model(o, [&]<class Model>(const Model&) {
    return f.accountant == "pld" ? run<Model, dp::pld_accountant>(f) : run<Model, dp::rdp_accountant>(f);
  });
} catch (const fedpp::simulation::dataset_not_found& e) {
  std::fprintf(stderr, "%s\n", e.what());
  return 2;
} catch (const std::exception& e) {
  std::fprintf(stderr, "error: %s\n", e.what());
  return 1;
}
