// 18 (MPI) — The split neural network of example 18 with one MPI rank per party: rank 0 is the
// label holder (left image halves and labels, endpoint server_endpoint), rank 1 the feature party
// (right halves, endpoint 0). Same flags and seeds as 18_split_nn, so the same batches and initial
// models; the two parties exchange only the cut-layer activations and their gradients.
//
//   mpirun -np 2 build/examples/18_split_nn_mpi --epochs 10
//   (as root add --allow-run-as-root; on 2 cores --oversubscribe)
#include "split_nn_job.hpp"

#include "fedpp/transport/mpi_transport.hpp"

#include <mpi.h>

#include <cstdio>

namespace {

int run(const split_job::options& o) {
  fedpp::mpi_transport transport;
  const fedpp::endpoint_id label_id = fedpp::server_endpoint, feature_id = 0; // client 0 lives on rank 1
  const split_job::architecture arch(o, label_id, feature_id);
  // Each rank loads the files and keeps only its own half (and rank 0 the labels).
  split_job::job_data data(o);
  int rc = 0;
  if (transport.is_server_rank()) {
    data.right = {};
    auto endpoint = transport.endpoint(label_id);
    std::printf("split NN over MPI: rank 0 label holder (left halves), rank 1 feature party (right halves); "
                "%zu parameters\n",
                arch.num_parameters());
    const double accuracy = split_job::run_label_party(o, arch, data.left, endpoint);
    if (accuracy < o.require_accuracy) {
      std::fprintf(stderr, "final test accuracy %.4f is below --require-accuracy %.4f\n", accuracy,
                   o.require_accuracy);
      rc = 3;
    }
  } else {
    data.left.train.clear();
    data.left.test.clear();
    data.left.train_labels.clear();
    data.left.test_labels.clear();
    auto endpoint = transport.endpoint(feature_id);
    split_job::run_feature_party(o, arch, data.right, endpoint);
  }
  transport.flush();
  return rc;
}

} // namespace

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  split_job::options o;
  example_cli::command_line cli(
      "18_split_nn_mpi: the split neural network of example 18 with one MPI rank per "
      "party (rank 0: label holder, rank 1: feature party)");
  split_job::add_flags(cli, o, false);
  cli.check([size] {
    if (size != 2)
      example_cli::refuse("mpirun -np", std::to_string(size) +
                                            " rank(s): the split network has exactly 2 parties "
                                            "(-np 2)");
  });
  if (const auto status = cli.parse(argc, argv, rank == 0)) {
    MPI_Finalize();
    return *status;
  }
  const int rc = example_cli::guarded([&] {
    try {
      return run(o);
    } catch (const fedpp::simulation::dataset_not_found& e) {
      std::fprintf(stderr, "%s\n", e.what());
      return 2;
    }
  });
  if (rc != 0 && rc != 3) MPI_Abort(MPI_COMM_WORLD, rc); // the other rank may be waiting for this one
  MPI_Finalize();
  return rc;
}
