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

int run(int argc, char** argv) {
  const auto o = fmnist_job::parse(argc, argv);
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
  int rc = 0;
  try {
    rc = run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    rc = 1;
  }
  if (rc != 0) MPI_Abort(MPI_COMM_WORLD, rc);
  MPI_Finalize();
  return rc;
}
