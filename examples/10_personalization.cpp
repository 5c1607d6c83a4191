// 10 — Personalization on Fashion-MNIST under strong label skew (issue 16, part 2).
//
// 100 simulated clients hold Fashion-MNIST split by Dirichlet label skew Dir(0.1) (or 2 shards per
// client with --partition shards); each holds out 20 % of its examples, stratified by label, as its
// own test split. The same MLP 784-200-10 job runs once per method:
//   fedavg           the FedAvg global model, evaluated as it is;
//   fedavg+finetune  the same training; each client evaluates a copy fine-tuned for k local epochs
//                    (fine_tuning_trainer);
//   fedper           partial sharing (Arivazhagan et al. 2019): fc2 (the last layer) stays on the
//                    clients, only fc1 is federated — the server's model is the shared sub-layout;
//   fedrep           the same split trained FedRep's way (Collins et al. 2021): the head for
//                    --head-epochs with the body frozen, then the body with the head frozen;
//   ditto            Ditto (Li et al. 2021): FedAvg plus a personal model per client, trained with
//                    λ/2 ‖v − w‖² toward the global model; evaluated on the personal model.
// After the last round a federated evaluation round asks every client; the example prints the
// per-client accuracy on the clients' own test splits (mean, 10th percentile, weighted mean,
// worst) and the bytes each method moved up and down. docs/personalization.md has the figures.
#include "fashion_mnist_job.hpp"

#include "fedpp/orchestration/in_process_federation.hpp"
#include "fedpp/personalization/ditto_trainer.hpp"
#include "fedpp/personalization/fine_tuning_trainer.hpp"
#include "fedpp/personalization/partial_sharing_trainer.hpp"
#include "fedpp/personalization/sharing_plan.hpp"

#include <algorithm>
#include <cstdio>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace {

namespace sim = fedpp::simulation;

struct settings {
  std::vector<std::string> methods{"fedavg", "fedavg+finetune", "fedper", "ditto"};
  double local_test_fraction = 0.2;
  std::uint32_t finetune_epochs = 1;
  std::uint32_t head_epochs = 2;
  double ditto_lambda = 0.1;
};

/// Local SGD on the client's training split (FedRep's frozen part honoured when a sharing plan
/// is given); evaluation on its own test split. Stateless: safe to call concurrently.
template <class Model>
struct trainer {
  const fmnist_job::setup<Model>* job;
  std::uint64_t seed;
  const fedpp::sharing_plan* plan = nullptr; // FedPer/FedRep: the full model's split

  fedpp::client_result<float> operator()(fedpp::client_id id,
                                         const fedpp::host_model_view<const float>& global,
                                         const fedpp::round_config& config) const {
    auto params = fedpp::flat_model<float>::copy_of(global);
    const std::vector<fedpp::element_range> frozen =
        plan ? plan->frozen_ranges(config) : std::vector<fedpp::element_range>{};
    const sim::dataset_view view(job->data.train, job->parts.at(id));
    const auto r = sim::local_train(job->model, params.span(), view, sim::sgd_config::from(config), seed, id,
                                    config.round, {}, frozen);
    return {std::move(params),
            fedpp::update_kind::weights,
            static_cast<double>(view.size()),
            {{"train_loss", r.mean_loss}}};
  }

  fedpp::evaluation_result evaluate(fedpp::client_id id, const fedpp::host_model_view<const float>& model,
                                    const fedpp::round_config&) const {
    if (id >= job->local_test.size() || job->local_test[id].empty())
      throw std::runtime_error("client " + std::to_string(id) + " has no local test split");
    const auto params = fedpp::flat_model<float>::copy_of(model);
    const auto e =
        sim::evaluate(job->model, params.span(), sim::dataset_view(job->data.train, job->local_test[id]));
    return {static_cast<double>(e.num_examples), e.mean_loss, e.accuracy};
  }
};

/// Ditto's personal update: the round's local epochs of SGD on F_k(v) + λ/2 ‖v − w‖² (local_train
/// with the proximal anchor w and μ = λ), on a shuffling stream of its own.
template <class Model>
struct ditto_personal {
  const fmnist_job::setup<Model>* job;
  std::uint64_t seed;
  void operator()(fedpp::client_id id, std::span<float> v, const fedpp::host_model_view<const float>& global,
                  const fedpp::round_config& config, double lambda) const {
    const auto w = fedpp::flat_model<float>::copy_of(global);
    sim::sgd_config sgd = sim::sgd_config::from(config);
    sgd.proximal_mu = lambda;
    const sim::dataset_view view(job->data.train, job->parts.at(id));
    (void)sim::local_train(job->model, v, view, sgd, seed ^ 0x646974746fULL /* "ditto" */, id, config.round,
                           std::span<const float>(w.span()));
  }
};

struct outcome {
  fedpp::evaluation_metrics evaluation;
  std::uint64_t bytes_up = 0, bytes_down = 0;
  std::size_t failed_rounds = 0;
};

/// Runs the federation with `trainer` and a server over `initial`, then one evaluation round of
/// every client.
template <class Trainer, class Model>
outcome run(const fmnist_job::options& o, const fmnist_job::setup<Model>& job, const Trainer& t,
            fedpp::flat_model<float> initial) {
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
  fedpp::server<float, fedpp::uniform_sampler> server(
      std::move(initial), fedpp::uniform_sampler(o.clients, o.clients_per_round), {}, options);
  outcome out;
  for (std::size_t r = 0; r < o.rounds; ++r) {
    const fedpp::round_metrics m = server.run_round(federation.server_endpoint());
    out.bytes_up += m.bytes_up;
    out.bytes_down += m.bytes_down;
    if (!m.succeeded) ++out.failed_rounds;
  }
  out.evaluation = server.run_evaluation_round(federation.server_endpoint());
  return out;
}

} // namespace

int main(int argc, char** argv) {
  fmnist_job::options o;
  o.partition = "dirichlet";
  o.alpha = 0.1;
  o.rounds = 100;
  o.hosts = 2;
  settings s;
  example_cli::command_line cli(
      "10_personalization: FedAvg vs fine-tuning, FedPer/FedRep and Ditto on "
      "Fashion-MNIST under label skew; per-client accuracy on the clients' own test splits");
  using fmnist_job::flag;
  fmnist_job::add_flags(cli, o,
                        {flag::partition, flag::alpha, flag::shards, flag::clients, flag::clients_per_round,
                         flag::rounds, flag::local_epochs, flag::batch_size, flag::lr, flag::lr_decay,
                         flag::seed, flag::hosts, flag::data_dir});
  cli.list("--methods", s.methods, "methods to run, in order",
           {"fedavg", "fedavg+finetune", "fedper", "fedrep", "ditto"});
  cli.real("--local-test-fraction", s.local_test_fraction,
           "share of each client's examples held out as its test split", example_cli::within::unit_open);
  auto* finetune = cli.count("--finetune-epochs", s.finetune_epochs,
                             "fedavg+finetune: local epochs on a copy before evaluating", std::uint32_t{1},
                             std::uint32_t{1000});
  auto* head =
      cli.count("--head-epochs", s.head_epochs, "fedrep: epochs on the head (body frozen) before the body's",
                std::uint32_t{1}, std::uint32_t{1000});
  auto* lambda = cli.real("--ditto-lambda", s.ditto_lambda,
                          "ditto: lambda, the pull of the personal model toward the global one",
                          example_cli::within::closed(0, 1e6));
  cli.check([&] {
    const auto runs = [&](const char* method) {
      return std::find(s.methods.begin(), s.methods.end(), method) != s.methods.end();
    };
    // A flag of a method that is not run is refused, not silently ignored.
    if (finetune->count() != 0 && !runs("fedavg+finetune"))
      example_cli::refuse("--finetune-epochs", "applies only with the method fedavg+finetune");
    if (head->count() != 0 && !runs("fedrep"))
      example_cli::refuse("--head-epochs", "applies only with the method fedrep");
    if (lambda->count() != 0 && !runs("ditto"))
      example_cli::refuse("--ditto-lambda", "applies only with the method ditto");
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
  return fmnist_job::guarded([&] {
    using Model = sim::mlp<float>;
    fmnist_job::setup<Model> job(o);
    job.hold_out_local_tests(s.local_test_fraction, o.seed);
    const fedpp::flat_model<float> initial = job.model.make_parameters(o.seed);
    const fedpp::sharing_plan plan(job.model.layout(), {"fc2.weight", "fc2.bias"});
    std::size_t test_examples = 0;
    for (const auto& t : job.local_test) test_examples += t.size();
    std::printf(
        "%zu clients, %s%s, %zu per round, %zu rounds, seed %llu; %zu held-out examples on the clients\n",
        o.clients, o.partition.c_str(),
        o.partition == "dirichlet" ? (" alpha " + example_cli::format_real(o.alpha)).c_str()
                                   : (" " + std::to_string(o.shards_per_client) + " shards/client").c_str(),
        o.clients_per_round, o.rounds, static_cast<unsigned long long>(o.seed), test_examples);
    std::printf("%-16s %8s %8s %8s %8s %12s %12s\n", "method", "mean", "p10", "weighted", "worst", "MB up",
                "MB down");
    const trainer<Model> plain{&job, o.seed};
    for (const std::string& method : s.methods) {
      outcome out;
      std::size_t untrained = 0; // clients never sampled: no personal state, they answer without it
      if (method == "fedavg") {
        out = run(o, job, plain, initial);
      } else if (method == "fedavg+finetune") {
        using tuned = fedpp::fine_tuning_trainer<float, trainer<Model>>;
        out = run(o, job, tuned(plain, fedpp::fine_tune_options{s.finetune_epochs, std::nullopt}), initial);
      } else if (method == "fedper" || method == "fedrep") {
        using personalized = fedpp::partial_sharing_trainer<float, trainer<Model>>;
        const trainer<Model> split{&job, o.seed, &plan};
        const std::optional<fedpp::fedrep_options> fedrep =
            method == "fedrep" ? std::optional<fedpp::fedrep_options>(fedpp::fedrep_options{s.head_epochs})
                               : std::nullopt;
        const personalized t(plan, split, initial, fedrep);
        out = run(o, job, t, plan.shared_part(initial));
        untrained = o.clients - t.local_store().size();
      } else {
        using ditto = fedpp::ditto_trainer<float, trainer<Model>, ditto_personal<Model>>;
        const ditto t(plain, ditto_personal<Model>{&job, o.seed}, fedpp::ditto_options{s.ditto_lambda});
        out = run(o, job, t, initial);
        untrained = o.clients - t.personal_models().size();
      }
      const auto& a = out.evaluation.accuracy;
      std::printf("%-16s %8.4f %8.4f %8.4f %8.4f %12.2f %12.2f", method.c_str(), a.mean, a.p10,
                  a.weighted_mean, a.min, static_cast<double>(out.bytes_up) / 1e6,
                  static_cast<double>(out.bytes_down) / 1e6);
      if (out.evaluation.reported != o.clients || out.failed_rounds != 0)
        std::printf("  (%zu of %zu clients answered, %zu failed rounds)", out.evaluation.reported, o.clients,
                    out.failed_rounds);
      if (untrained != 0)
        std::printf("  (%zu clients never trained: evaluated without personal state)", untrained);
      std::printf("\n");
      std::fflush(stdout);
    }
    return 0;
  });
}
