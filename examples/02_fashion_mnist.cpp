// 02 — The main job: federated training on Fashion-MNIST, 100 simulated clients in one process.
//
// Data: Debian's dataset-fashion-mnist (real IDX files), split over clients by Dirichlet label
// skew Dir(0.5). Model: an MLP 784-200-10 written with Eigen. Each round 10 clients train
// locally and FedAvg combines them; the test accuracy is printed per round and, at the end,
// compared with the same model trained centrally on as many example passes.
// `02_fashion_mnist --help` lists the flags (algorithm, partition, α, clients, rounds, ...).
// `--federated-eval-every K` holds out a local test split of each client's data (stratified by its
// labels) and runs a federated evaluation round every K rounds: the clients' weighted mean,
// 10th percentile and worst client (docs/evaluation.md).
#include "fashion_mnist_job.hpp"

#include "fedpp/orchestration/in_process_federation.hpp"

int main(int argc, char** argv) {
  fmnist_job::options o;
  example_cli::command_line cli("02_fashion_mnist: federated training on Fashion-MNIST, simulated clients in "
                                "one process");
  fmnist_job::add_flags(cli, o, fmnist_job::all_flags());
  double local_test_fraction = 0.2;
  cli.count("--federated-eval-every", o.federated_eval.every,
            "federated evaluation on the clients' local test splits every K rounds and after the "
            "last (0: off)",
            std::size_t{0});
  auto* held_out = cli.real("--local-test-fraction", local_test_fraction,
                            "share of each client's examples held out as its local test split",
                            example_cli::within::unit_open);
  auto* asked = cli.real("--federated-eval-fraction", o.federated_eval.fraction,
                         "share of the clients asked in each federated evaluation",
                         example_cli::within::unit_open_low);
  cli.check([&] {
    if (o.federated_eval.every != 0 && fmnist_job::is_async(o))
      example_cli::refuse("--federated-eval-every",
                          "applies only to the synchronous algorithms (fedavg, fedprox)");
    const std::pair<const CLI::Option*, const char*> needs_eval[] = {{held_out, "--local-test-fraction"},
                                                                      {asked, "--federated-eval-fraction"}};
    for (const auto& [opt, flag] : needs_eval)
      if (opt->count() > 0 && o.federated_eval.every == 0)
        example_cli::refuse(flag, "applies only with --federated-eval-every K > 0");
  });
  if (const auto status = cli.parse(argc, argv)) return *status;
  return fmnist_job::guarded([&] {
    return fmnist_job::with_model(o, [&]<class Model>(const Model&) {
      fmnist_job::setup<Model> job(o);
      if (o.federated_eval.every != 0) {
        job.hold_out_local_tests(local_test_fraction, o.seed);
        // An answer claiming more examples than the client's split holds is refused.
        o.federated_eval.known_examples = [&job](fedpp::client_id c) -> std::optional<double> {
          if (c >= job.local_test.size()) return std::nullopt;
          return static_cast<double>(job.local_test[c].size());
        };
      }
      fedpp::in_process_federation<float, fmnist_job::trainer<Model>> federation(
          job.clients, fmnist_job::trainer<Model>{&job, o.seed}, job.model.layout(), o.hosts);
      fmnist_job::run_server(o, job, federation.server_endpoint());
      return 0;
    });
  });
}
