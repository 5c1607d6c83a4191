// PSI over fedpp's MPI transport on 2 ranks: rank 0 (the server endpoint) is the label holder,
// rank 1 (client endpoint 0) the feature holder; messages travel in small MPI pieces. Each rank
// checks its rows against plain set logic on the ids, in both modes. Run by CTest through mpiexec
// (tests/CMakeLists.txt); a plain main, not GoogleTest (named *_check so the unit-test glob skips it).
#include "fedpp/transport/mpi_transport.hpp"
#include "fedpp/vertical/psi.hpp"

#include <mpi.h>

#include <cstdio>
#include <string>
#include <unordered_set>
#include <vector>

namespace {

std::vector<std::string> ids_of(int rank) {
  std::vector<std::string> ids;
  for (int i = 0; i < 300; ++i) ids.push_back("id-" + std::to_string(rank == 0 ? 3 * i : 2 * i + 1));
  return ids;
}

} // namespace

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int rank = -1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  int failures = 0;
  try {
    fedpp::mpi_transport_options options;
    options.max_piece_bytes = 1024;
    fedpp::mpi_transport t(MPI_COMM_WORLD, fedpp::round_robin_placement{}, options);
    const auto mine = ids_of(rank);
    const auto holder_ids = ids_of(1);
    const std::unordered_set<std::string> holder(holder_ids.begin(), holder_ids.end());
    std::vector<std::string> expected; // shared ids in the label holder's (rank 0's) order
    for (const auto& id : ids_of(0))
      if (holder.count(id) != 0) expected.push_back(id);
    for (const auto mode : {fedpp::vertical::psi_mode::intersection, fedpp::vertical::psi_mode::size_only}) {
      fedpp::vertical::psi_options o;
      o.mode = mode;
      o.session = static_cast<std::uint64_t>(mode);
      o.timeout = std::chrono::seconds(60);
      fedpp::vertical::random_source rng;
      fedpp::vertical::psi_result r;
      if (rank == 0) {
        auto ep = t.endpoint(fedpp::server_endpoint);
        r = fedpp::vertical::run_psi_initiator(ep, 0, mine, o, rng);
      } else {
        auto ep = t.endpoint(0);
        r = fedpp::vertical::run_psi_responder(ep, fedpp::server_endpoint, mine, o, rng);
      }
      if (r.size != expected.size()) ++failures;
      if (mode == fedpp::vertical::psi_mode::intersection) {
        if (r.rows.size() != expected.size()) ++failures;
        for (std::size_t k = 0; k < r.rows.size() && k < expected.size(); ++k)
          if (mine[r.rows[k]] != expected[k]) ++failures;
      }
      std::printf("rank %d: mode %d, %llu shared ids\n", rank, static_cast<int>(mode),
                  static_cast<unsigned long long>(r.size));
    }
    t.flush();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "rank %d: exception: %s\n", rank, e.what());
    ++failures;
  }
  int total = 0;
  MPI_Allreduce(&failures, &total, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  MPI_Finalize();
  if (rank == 0)
    std::printf(total == 0 ? "psi over MPI: all checks passed\n" : "psi over MPI: %d failures\n", total);
  return total == 0 ? 0 : 1;
}
