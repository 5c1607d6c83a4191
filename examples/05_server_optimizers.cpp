// Server optimizers and client-drift corrections on Fashion-MNIST under label skew: FedAvg,
// FedProx, SCAFFOLD, FedAvgM, FedAdam, FedYogi and FedNova (with heterogeneous local epochs)
// run from the same initial model on the same clients each round; per-round test accuracy to
// CSV, and a summary: final accuracy and the rounds each needs to reach FedAvg's final accuracy.
//
//   05_server_optimizers --model softmax --rounds 60 --alpha 0.1 --csv-dir out/
//
// The loop is a direct simulation (no transport) so that every algorithm sees identical client
// samples and data order; the aggregators and server optimizers are the ones fedpp::server takes
// as its Aggregator / Optimizer parameters (docs/optimizers.md shows the server wiring).
#include "example_cli.hpp"
#include "fashion_mnist_job.hpp"

#include "fedpp/aggregation/fedavg.hpp"
#include "fedpp/aggregation/fednova.hpp"
#include "fedpp/aggregation/scaffold_aggregator.hpp"
#include "fedpp/aggregation/scaffold_client.hpp"
#include "fedpp/aggregation/scaffold_control_store.hpp"
#include "fedpp/optim/fedopt.hpp"
#include "fedpp/optim/scaffold_server_optimizer.hpp"
#include "fedpp/optim/server_momentum.hpp"
#include "fedpp/optim/server_sgd.hpp"
#include "fedpp/scheduling/uniform_sampler.hpp"

#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

namespace {

namespace sim = fedpp::simulation;
using fedpp::flat_model;

const std::vector<std::string> known_algorithms{"fedavg",  "fedprox", "scaffold", "fedavgm",
                                                "fedadam", "fedyogi", "fednova"};

struct settings {
  fmnist_job::options job;
  std::vector<std::string> algorithms = known_algorithms;
  std::string csv_dir;
  double server_lr_adaptive = 0.01; // FedAdam/FedYogi η
  double tau = 1e-3;                // FedAdam/FedYogi τ
  double momentum = 0.7;            // FedAvgM β (η = 1 − β... see server_lr_momentum)
  double server_lr_momentum = 1.0;  // FedAvgM η
};

/// The example's defaults, then its flags (registered on `cli`, bound to `s`).
void add_flags(example_cli::command_line& cli, settings& s) {
  namespace within = example_cli::within;
  using fmnist_job::flag;
  s.job.model = "softmax";
  s.job.alpha = 0.1;
  s.job.rounds = 60;
  s.job.learning_rate = 0.05;
  s.job.lr_decay = 1.0;
  s.job.mu = 0.1;
  cli.list("--algorithms", s.algorithms, "algorithms to run, in order (the first is the reference)",
           known_algorithms);
  cli.text("--csv-dir", s.csv_dir, "write DIR/<algorithm>.csv (round, accuracy, test loss, seconds)");
  cli.real("--server-lr", s.server_lr_adaptive, "FedAdam/FedYogi server learning rate eta", within::positive);
  cli.real("--tau", s.tau, "FedAdam/FedYogi adaptivity tau", within::positive);
  cli.real("--server-momentum", s.momentum, "FedAvgM momentum beta", within::unit_open_high);
  cli.real("--momentum-lr", s.server_lr_momentum, "FedAvgM server learning rate", within::positive);
  fmnist_job::add_flags(cli, s.job,
                        {flag::model, flag::partition, flag::alpha, flag::beta, flag::shards, flag::clients,
                         flag::clients_per_round, flag::rounds, flag::local_epochs, flag::batch_size,
                         flag::lr, flag::mu, flag::seed, flag::data_dir});
}

// SCAFFOLD local training: the same minibatch SGD as sim::local_train (same data order from the
// same rng stream), with each gradient corrected by c − c_i.
template <class Model>
std::size_t scaffold_local_train(const Model& model, std::span<float> params, const sim::dataset_view& data,
                                 const sim::sgd_config& config, std::uint64_t seed, fedpp::client_id client,
                                 std::uint64_t round, const fedpp::scaffold_client<float>& control) {
  fedpp::rng gen = sim::detail::client_round_rng(seed, client, round);
  const std::size_t n = data.size(), total = std::size_t{config.epochs} * n;
  std::vector<std::size_t> order(n);
  std::vector<float> grad(params.size());
  typename Model::workspace ws;
  sim::row_matrix<float> x;
  std::vector<std::uint8_t> y;
  std::size_t processed = 0, steps = 0;
  while (processed < total) {
    std::iota(order.begin(), order.end(), std::size_t{0});
    for (std::size_t i = n; i > 1; --i) std::swap(order[i - 1], order[gen.below(i)]);
    for (std::size_t b = 0; b < n && processed < total;) {
      const std::size_t count = std::min({std::size_t{config.batch_size}, n - b, total - processed});
      sim::detail::gather(data, order, b, count, x, y);
      model.loss_and_gradient(std::span<const float>(params), x, std::span<const std::uint8_t>(y),
                              std::span<float>(grad), ws);
      control.correct(grad);
      const auto eta = static_cast<float>(config.learning_rate);
      for (std::size_t i = 0; i < params.size(); ++i) params[i] -= eta * grad[i];
      b += count;
      processed += count;
      ++steps;
    }
  }
  return steps;
}

template <class Model>
struct experiment {
  const settings& s;
  const fmnist_job::setup<Model>& job;

  // Runs one algorithm; returns per-round test accuracy.
  std::vector<double> run(const std::string& algorithm) const {
    const auto& o = s.job;
    flat_model<float> global = job.model.make_parameters(o.seed);
    const auto layout = global.layout();
    const std::size_t d = global.size();
    fedpp::server_sgd<float> sgd(1.0);
    fedpp::server_momentum<float> avgm(d, s.server_lr_momentum, s.momentum);
    fedpp::fedadam<float> adam(d, {s.server_lr_adaptive, 0.9, 0.99, s.tau});
    fedpp::fedyogi<float> yogi(d, {s.server_lr_adaptive, 0.9, 0.99, s.tau});
    // SCAFFOLD keeps (x, c) as one doubled model, as fedpp::server would.
    const auto doubled = fedpp::scaffold_layout(layout);
    flat_model<float> xc(doubled);
    std::copy_n(global.data(), d, xc.data());
    fedpp::scaffold_control_store<float> controls(d);
    fedpp::scaffold_server_optimizer<> scaffold_step(d, fedpp::server_sgd<float>(1.0));

    const fedpp::uniform_sampler sampler(o.clients, o.clients_per_round);
    std::unique_ptr<sim::csv_writer> csv;
    if (!s.csv_dir.empty())
      csv = std::make_unique<sim::csv_writer>(
          s.csv_dir + "/" + algorithm + ".csv",
          std::vector<std::string>{"round", "accuracy", "test_loss", "seconds"});
    std::vector<double> accuracy;
    const auto started = std::chrono::steady_clock::now();
    for (std::size_t r = 0; r < o.rounds; ++r) {
      fedpp::rng gen = fedpp::rng::for_stream(o.seed, r);
      const auto selected = sampler.sample(r, gen);
      sim::sgd_config config{o.local_epochs, o.batch_size, o.learning_rate,
                             algorithm == "fedprox" ? o.mu : 0.0};
      fedpp::fedavg<float> mean(layout);
      fedpp::scaffold_aggregator<float> scaffold_mean(doubled, o.clients);
      fedpp::fednova<float> nova(layout);
      for (const fedpp::client_id c : selected) {
        const sim::dataset_view view(job.data.train, job.parts.at(c));
        if (view.size() == 0) continue;
        flat_model<float> local = global;
        if (algorithm == "scaffold") {
          std::vector<float> ci = controls.get(c);
          const fedpp::scaffold_client<float> client(std::span<const float>(xc.data() + d, d), ci);
          const std::size_t k =
              scaffold_local_train(job.model, local.span(), view, config, o.seed, c, r, client);
          flat_model<float> upload(doubled);
          client.finish(global.span(), local.span(), k, config.learning_rate, ci, upload.span());
          controls.put(c, ci);
          scaffold_mean.accumulate(fedpp::client_update<float>::from_flat(c, doubled, upload.span(), 1.0));
          continue;
        }
        // FedNova: clients run 1..3 local epochs (client-dependent), the heterogeneity it fixes.
        sim::sgd_config cfg = config;
        if (algorithm == "fednova") cfg.epochs = static_cast<std::uint32_t>(1 + c % 3);
        const auto result = sim::local_train(job.model, local.span(), view, cfg, o.seed, c, r);
        for (std::size_t i = 0; i < d; ++i) local.data()[i] -= global.data()[i]; // Δ = y − x
        const auto update =
            fedpp::client_update<float>::from_flat(c, layout, local.span(), static_cast<double>(view.size()));
        if (algorithm == "fednova")
          nova.accumulate(update, static_cast<double>(result.num_steps));
        else
          mean.accumulate(update);
      }
      if (algorithm == "scaffold") {
        const auto delta = std::move(scaffold_mean).report();
        scaffold_step.step(xc.span(), delta.span());
        std::copy_n(xc.data(), d, global.data());
      } else if (algorithm == "fednova") {
        const auto delta = std::move(nova).report();
        sgd.step(global.span(), delta.span());
      } else {
        const auto delta = std::move(mean).report();
        if (algorithm == "fedavgm")
          avgm.step(global.span(), delta.span());
        else if (algorithm == "fedadam")
          adam.step(global.span(), delta.span());
        else if (algorithm == "fedyogi")
          yogi.step(global.span(), delta.span());
        else if (algorithm == "fedavg" || algorithm == "fedprox")
          sgd.step(global.span(), delta.span());
        else
          throw std::invalid_argument("unknown algorithm '" + algorithm + "'");
      }
      const auto e = sim::evaluate(job.model, global.span(), job.data.test);
      accuracy.push_back(e.accuracy);
      const double seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
      if (csv) csv->write_row({static_cast<std::uint64_t>(r + 1), e.accuracy, e.mean_loss, seconds});
    }
    return accuracy;
  }
};

// First round (1-based) whose accuracy reaches `target`, or 0 if none.
std::size_t rounds_to_reach(const std::vector<double>& acc, double target) {
  for (std::size_t r = 0; r < acc.size(); ++r)
    if (acc[r] >= target) return r + 1;
  return 0;
}

int run(const settings& s) {
  return fmnist_job::with_model(s.job, [&](auto model) {
    using Model = decltype(model);
    const fmnist_job::setup<Model> job(s.job);
    std::printf(
        "fedpp server optimizers: %s model, %zu clients Dir(%.2f), %zu per round, %zu rounds, E=%u, B=%u, "
        "lr %.3f, seed %llu\n",
        s.job.model.c_str(), s.job.clients, s.job.alpha, s.job.clients_per_round, s.job.rounds,
        s.job.local_epochs, s.job.batch_size, s.job.learning_rate,
        static_cast<unsigned long long>(s.job.seed));
    const experiment<Model> ex{s, job};
    std::vector<std::vector<double>> results;
    for (const auto& a : s.algorithms) {
      const auto t0 = std::chrono::steady_clock::now();
      results.push_back(ex.run(a));
      const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      std::printf("  %-9s final %.4f  best %.4f  (%.1f s)\n", a.c_str(), results.back().back(),
                  *std::max_element(results.back().begin(), results.back().end()), sec);
      std::fflush(stdout);
    }
    const double target = results.front().back();
    std::printf("\n| algorithm | final accuracy | best accuracy | rounds to reach %s's final (%.4f) "
                "|\n|---|---|---|---|\n",
                s.algorithms.front().c_str(), target);
    for (std::size_t i = 0; i < results.size(); ++i) {
      const std::size_t r = rounds_to_reach(results[i], target);
      std::printf("| %s | %.4f | %.4f | %s |\n", s.algorithms[i].c_str(), results[i].back(),
                  *std::max_element(results[i].begin(), results[i].end()),
                  r == 0 ? "not reached" : std::to_string(r).c_str());
    }
    return 0;
  });
}

} // namespace

int main(int argc, char** argv) {
  settings s;
  example_cli::command_line cli("05_server_optimizers: server optimizers and client-drift corrections on "
                                "Fashion-MNIST under label skew");
  add_flags(cli, s);
  if (const auto status = cli.parse(argc, argv)) return *status;
  return fmnist_job::guarded([&] { return run(s); });
}
