// 11 — Clustered federated learning with IFCA on Fashion-MNIST under strong label skew (issue 16,
// part 2; Ghosh, Chung, Yin, Ramchandran, NeurIPS 2020, "An Efficient Framework for Clustered
// Federated Learning").
//
// 100 simulated clients hold Fashion-MNIST split by Dirichlet label skew Dir(0.1) (or 2 shards per
// client with --partition shards); each holds out 20 % of its examples, stratified by label, as its
// own test split. Two methods train the same model:
//   fedavg  one global model (FedAvg), evaluated as it is on every client's test split;
//   ifca    k cluster models held by one fedpp::server as a stacked model (ifca_layout); every
//           selected client computes its training loss under each of the k models, trains the
//           best one and returns its change with the cluster index (ifca_trainer); the server
//           averages the changes per cluster (ifca_aggregator). Each client is evaluated on the
//           cluster model it would choose;
//   ifca+finetune  the same training; each client fine-tunes its chosen cluster model for k local
//           epochs before it is evaluated (fine_tuning_trainer around ifca_trainer).
// After the last round a federated evaluation round asks every client; the example prints the
// per-client accuracy on the clients' own test splits (mean, 10th percentile, weighted mean,
// worst), the bytes moved, and for IFCA the reports each cluster received. docs/clustered_fl.md
// has the figures.
#include "fashion_mnist_job.hpp"

#include "fedpp/orchestration/in_process_federation.hpp"
#include "fedpp/personalization/fine_tuning_trainer.hpp"
#include "fedpp/personalization/ifca_aggregator.hpp"
#include "fedpp/personalization/ifca_layout.hpp"
#include "fedpp/personalization/ifca_trainer.hpp"

#include <algorithm>
#include <cstdio>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace {

namespace sim = fedpp::simulation;

struct settings {
  std::vector<std::string> methods{"fedavg", "ifca"};
  std::size_t clusters = 4;
  std::uint32_t finetune_epochs = 1;
  double local_test_fraction = 0.2;
};

/// IFCA's cluster choice: the mean cross-entropy of one cluster model on the client's training split.
template <class Model>
struct training_loss {
  const fmnist_job::setup<Model>* job;
  double operator()(fedpp::client_id id, const fedpp::host_model_view<const float>& model,
                    const fedpp::round_config&) const {
    const auto params = fedpp::flat_model<float>::copy_of(model);
    return sim::evaluate(job->model, params.span(), sim::dataset_view(job->data.train, job->parts.at(id)))
        .mean_loss;
  }
};

struct outcome {
  fedpp::evaluation_metrics evaluation;
  std::uint64_t bytes_up = 0, bytes_down = 0;
  std::size_t failed_rounds = 0, rejected = 0;
};

/// Runs the federation with `trainer` and a server over `initial` (aggregator from `factory`),
/// then one evaluation round of every client.
template <class Aggregator, class Trainer, class Model>
outcome run(const fmnist_job::options& o, const fmnist_job::setup<Model>& job, const Trainer& t,
            fedpp::flat_model<float> initial, std::function<Aggregator(const fedpp::model_layout&)> factory) {
  const fedpp::model_layout layout = initial.layout();
  fedpp::in_process_federation<float, Trainer> federation(job.clients, t, layout, o.hosts);
  fedpp::server_options options;
  options.client_config = fmnist_job::client_config(o);
  options.client_lr_decay = o.lr_decay;
  options.seed = o.seed;
  options.evaluation.fraction = 1.0;
  options.evaluation.min_clients = o.clients;
  options.evaluation.known_examples = [&job](fedpp::client_id c) -> std::optional<double> {
    if (c >= job.local_test.size()) return std::nullopt;
    return static_cast<double>(job.local_test[c].size());
  };
  fedpp::server<float, fedpp::uniform_sampler, fedpp::server_sgd<float>, Aggregator> server(
      std::move(initial), fedpp::uniform_sampler(o.clients, o.clients_per_round), {}, options, {}, {},
      std::move(factory));
  outcome out;
  for (std::size_t r = 0; r < o.rounds; ++r) {
    const fedpp::round_metrics m = server.run_round(federation.server_endpoint());
    out.bytes_up += m.bytes_up;
    out.bytes_down += m.bytes_down;
    out.rejected += m.rejected;
    if (!m.succeeded) ++out.failed_rounds;
  }
  out.evaluation = server.run_evaluation_round(federation.server_endpoint());
  return out;
}

template <class Model>
int run_job(const fmnist_job::options& o, const settings& s) {
  fmnist_job::setup<Model> job(o);
  job.hold_out_local_tests(s.local_test_fraction, o.seed);
  std::size_t test_examples = 0;
  for (const auto& t : job.local_test) test_examples += t.size();
  const std::string skew = o.partition == "dirichlet"
                               ? "alpha " + example_cli::format_real(o.alpha)
                               : std::to_string(o.shards_per_client) + " shards/client";
  std::printf("%zu clients, %s %s, %zu per round, %zu rounds, model %s, k = %zu, seed %llu; %zu held-out "
              "examples on the clients\n",
              o.clients, o.partition.c_str(), skew.c_str(), o.clients_per_round, o.rounds, o.model.c_str(),
              s.clusters, static_cast<unsigned long long>(o.seed), test_examples);
  std::printf("%-14s %8s %8s %8s %8s %10s %10s\n", "method", "mean", "p10", "weighted", "worst", "MB up",
              "MB down");
  const fmnist_job::trainer<Model> plain{&job, o.seed};
  for (const std::string& method : s.methods) {
    outcome out;
    std::shared_ptr<fedpp::ifca_round_log> log;
    if (method == "fedavg") {
      using agg = fedpp::fedavg<float>;
      out = run<agg>(o, job, plain, job.model.make_parameters(o.seed),
                     [](const fedpp::model_layout& l) { return agg(l); });
    } else {
      // k models initialised from k different seeds (the paper's random initialisation).
      const fedpp::ifca_layout plan(job.model.layout(), s.clusters);
      std::vector<fedpp::flat_model<float>> init;
      for (std::size_t j = 0; j < s.clusters; ++j)
        init.push_back(job.model.make_parameters(o.seed + 1000 * j));
      log = std::make_shared<fedpp::ifca_round_log>();
      using agg = fedpp::ifca_aggregator<float>;
      using ifca = fedpp::ifca_trainer<float, fmnist_job::trainer<Model>, training_loss<Model>>;
      const auto factory = [plan, log](const fedpp::model_layout&) {
        return agg(plan, fedpp::weighting::by_examples, log);
      };
      const ifca clustered(plan, plain, training_loss<Model>{&job});
      if (method == "ifca") {
        out = run<agg>(o, job, clustered, plan.stack<float>(init), factory);
      } else {
        using tuned = fedpp::fine_tuning_trainer<float, ifca>;
        out = run<agg>(o, job, tuned(clustered, fedpp::fine_tune_options{s.finetune_epochs, std::nullopt}),
                       plan.stack<float>(init), factory);
      }
    }
    const auto& a = out.evaluation.accuracy;
    std::printf("%-14s %8.4f %8.4f %8.4f %8.4f %10.2f %10.2f", method.c_str(), a.mean, a.p10, a.weighted_mean,
                a.min, static_cast<double>(out.bytes_up) / 1e6, static_cast<double>(out.bytes_down) / 1e6);
    if (out.evaluation.reported != o.clients || out.failed_rounds != 0 || out.rejected != 0)
      std::printf("  (%zu of %zu clients answered, %zu failed rounds, %zu refused reports)",
                  out.evaluation.reported, o.clients, out.failed_rounds, out.rejected);
    std::printf("\n");
    if (log) {
      std::printf("%-14s reports per cluster:", "");
      for (const std::size_t n : log->reports) std::printf(" %zu", n);
      std::printf("\n");
    }
    std::fflush(stdout);
  }
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  fmnist_job::options o;
  o.partition = "dirichlet";
  o.alpha = 0.1;
  o.rounds = 100;
  o.hosts = 2;
  settings s;
  example_cli::command_line cli("11_clustered_fl: FedAvg vs IFCA (clustered FL, k models) on Fashion-MNIST "
                                "under label skew; per-client accuracy on the clients' own test splits");
  using fmnist_job::flag;
  fmnist_job::add_flags(cli, o,
                        {flag::model, flag::partition, flag::alpha, flag::shards, flag::clients,
                         flag::clients_per_round, flag::rounds, flag::local_epochs, flag::batch_size,
                         flag::lr, flag::lr_decay, flag::seed, flag::hosts, flag::data_dir});
  cli.list("--methods", s.methods, "methods to run, in order", {"fedavg", "ifca", "ifca+finetune"});
  auto* clusters = cli.count("--clusters", s.clusters, "ifca: k, the number of cluster models",
                             std::size_t{1}, std::size_t{64});
  auto* finetune = cli.count("--finetune-epochs", s.finetune_epochs,
                             "ifca+finetune: local epochs on the chosen cluster model before evaluating",
                             std::uint32_t{1}, std::uint32_t{1000});
  cli.real("--local-test-fraction", s.local_test_fraction,
           "share of each client's examples held out as its test split", example_cli::within::unit_open);
  cli.check([&] {
    const auto runs = [&](const char* method) {
      return std::find(s.methods.begin(), s.methods.end(), method) != s.methods.end();
    };
    // A flag of a method that is not run is refused, not silently ignored.
    if (clusters->count() != 0 && !runs("ifca") && !runs("ifca+finetune"))
      example_cli::refuse("--clusters", "applies only with the methods ifca and ifca+finetune");
    if (finetune->count() != 0 && !runs("ifca+finetune"))
      example_cli::refuse("--finetune-epochs", "applies only with the method ifca+finetune");
    for (std::size_t i = 0; i < s.methods.size(); ++i)
      for (std::size_t j = 0; j < i; ++j)
        if (s.methods[i] == s.methods[j])
          example_cli::refuse("--methods", "'" + s.methods[i] + "' is listed twice");
    if (o.partition != "dirichlet" && o.partition != "shards")
      example_cli::refuse("--partition", "'" + o.partition +
                                             "': this example runs the label-skew partitions "
                                             "(dirichlet, shards)");
  });
  if (const auto status = cli.parse(argc, argv)) return *status;
  return fmnist_job::guarded(
      [&] { return fmnist_job::with_model(o, [&](auto model) { return run_job<decltype(model)>(o, s); }); });
}
