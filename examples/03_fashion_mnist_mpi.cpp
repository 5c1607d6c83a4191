// 03 — The Fashion-MNIST job of example 02 over MPI: rank 0 runs the server, ranks 1..P-1 host
// the virtual clients (client c on rank 1 + c mod (P-1)). Same flags, same seed → the same
// global model as the in-process run, up to the order in which reports are summed (see
// docs/ARCHITECTURE.md, "Determinism").
//
//   mpirun -np 5 build/examples/03_fashion_mnist_mpi --rounds 20
#include "fashion_mnist_job.hpp"

#include "fedpp/orchestration/client_host.hpp"
#include "fedpp/transport/mpi_transport.hpp"

#include <mpi.h>

namespace {

int run(const fmnist_job::options& o) {
  return fmnist_job::with_model(o, [&]<class Model>(const Model&) {
    const fmnist_job::setup<Model> job(o);
    fedpp::mpi_transport transport;
    if (transport.is_server_rank()) {
      auto endpoint = transport.endpoint(fedpp::server_endpoint);
      fmnist_job::run_server(o, job, endpoint);
      // One shutdown per client rank, addressed to a client that rank hosts.
      const auto bye = fedpp::wire::encode_control(
          0, fedpp::server_endpoint, static_cast<std::uint32_t>(fedpp::control_tag::shutdown), {});
      for (int rank = 1; rank < transport.num_ranks(); ++rank)
        for (fedpp::client_id c : job.clients)
          if (transport.rank_of(c) == rank) {
            endpoint.send(c, bye);
            break;
          }
    } else {
      fedpp::mpi_rank_host host(transport);
      fedpp::client_host<float, fmnist_job::trainer<Model>, fedpp::mpi_rank_host> clients(
          host, fmnist_job::trainer<Model>{&job, o.seed}, job.model.layout());
      clients.serve();
    }
    transport.flush();
    return 0;
  });
}

} // namespace

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  fmnist_job::options o;
  example_cli::command_line cli("03_fashion_mnist_mpi: the Fashion-MNIST job of example 02 over MPI (rank 0: "
                                "server, ranks 1..P-1: clients)");
  fmnist_job::add_flags(cli, o, fmnist_job::all_flags());
  // Every rank reads the same flags and comes to the same answer; rank 0 alone prints help or
  // the refusal, and every rank leaves with its status.
  if (const auto status = cli.parse(argc, argv, rank == 0)) {
    MPI_Finalize();
    return *status;
  }
  const int rc = fmnist_job::guarded([&] { return run(o); });
  if (rc != 0) MPI_Abort(MPI_COMM_WORLD, rc); // the other ranks may be waiting for this one
  MPI_Finalize();
  return rc;
}
