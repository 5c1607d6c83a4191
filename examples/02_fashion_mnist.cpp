// 02 — The main job: federated training on Fashion-MNIST, 100 simulated clients in one process.
//
// Data: Debian's dataset-fashion-mnist (real IDX files), split over clients by Dirichlet label
// skew Dir(0.5). Model: an MLP 784-200-10 written with Eigen. Each round 10 clients train
// locally and FedAvg combines them; the test accuracy is printed per round and, at the end,
// compared with the same model trained centrally on as many example passes.
// `02_fashion_mnist --help` lists the flags (algorithm, partition, α, clients, rounds, ...).
#include "fashion_mnist_job.hpp"

#include "fedpp/orchestration/in_process_federation.hpp"

int main(int argc, char** argv) {
  fmnist_job::options o;
  example_cli::command_line cli("02_fashion_mnist: federated training on Fashion-MNIST, simulated clients in "
                                "one process");
  fmnist_job::add_flags(cli, o, fmnist_job::all_flags());
  if (const auto status = cli.parse(argc, argv)) return *status;
  return fmnist_job::guarded([&] {
    return fmnist_job::with_model(o, [&]<class Model>(const Model&) {
      const fmnist_job::setup<Model> job(o);
      fedpp::in_process_federation<float, fmnist_job::trainer<Model>> federation(
          job.clients, fmnist_job::trainer<Model>{&job, o.seed}, job.model.layout(), o.hosts);
      fmnist_job::run_server(o, job, federation.server_endpoint());
      return 0;
    });
  });
}
