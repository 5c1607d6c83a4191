// Vertical LR and FTL over fedpp's MPI transport on 2 ranks: rank 0 (the server endpoint) is the
// guest / party A, rank 1 (client endpoint 0) the host / party B; messages travel in small MPI
// pieces. hetero-LR: each rank checks its weights against the central model (the test knows every
// column; the parties do not share them). FTL (Paillier mode): each rank checks its parameters
// against the same two parties stepped in one process. Run by CTest through mpiexec; a plain main,
// not GoogleTest (named *_check so the unit-test glob skips it).
#include "fedpp/transport/mpi_transport.hpp"
#include "fedpp/vertical/ftl.hpp"
#include "fedpp/vertical/hetero_lr.hpp"

#include <mpi.h>

#include <cmath>
#include <cstdio>
#include <vector>

using namespace fedpp::vertical;

namespace {

random_source seeded(std::uint8_t s) {
  fedpp::secagg::key32 k{};
  k[0] = std::byte{s};
  k[2] = std::byte{0x6d};
  return random_source::reproducible(k);
}

paillier_keypair keys(std::uint8_t s) {
  auto r = seeded(s);
  return generate_paillier_keypair(256, r);
}

// 48 rows: columns 0-1 the guest's, 2-4 the host's; labels from a noisy linear rule.
struct lr_data {
  hetero_lr_features all{48, 5, {}}, guest{48, 2, {}}, host{48, 3, {}};
  std::vector<int> labels;
  lr_data() {
    fedpp::rng g(21);
    for (std::size_t i = 0; i < 48; ++i) {
      double s = 0;
      for (std::size_t j = 0; j < 5; ++j) {
        const double v = 4 * g.uniform() - 2;
        all.x.push_back(v);
        (j < 2 ? guest.x : host.x).push_back(v);
        s += (j % 2 == 0 ? 1.0 : -0.7) * v;
      }
      labels.push_back(s > 0 ? 1 : 0);
    }
  }
};

struct ftl_data {
  ftl_rows xa{10, 4, {}}, xb{8, 3, {}};
  std::vector<int> labels;
  std::vector<std::size_t> ov_a{1, 3, 5, 7}, ov_b{0, 2, 4, 6};
  ftl_options o;
  ftl_data() {
    fedpp::rng g(5);
    for (std::size_t i = 0; i < 40; ++i) xa.x.push_back(2 * g.uniform() - 1);
    for (std::size_t i = 0; i < 24; ++i) xb.x.push_back(2 * g.uniform() - 1);
    for (std::size_t i = 0; i < 10; ++i) labels.push_back(static_cast<int>(i % 3));
    o.classes = 3;
    o.gamma = 0.5;
    o.self_weight = 0.5;
    o.learning_rate = 0.01;
    o.mode = ftl_mode::paillier;
    o.timeout = std::chrono::seconds(60);
  }
  ftl_party_a a() const {
    return {split_nn_mlp<double>({4, 5, 3}), 3, xa, labels, ov_a, o, keys(1), seeded(11)};
  }
  ftl_party_b b() const { return {split_nn_mlp<double>({3, 5, 3}), 4, xb, ov_b, o, keys(2), seeded(12)}; }
};

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
    paillier_wire::key_limits small;
    small.min_bits = 256;

    // hetero-LR, 3 epochs.
    const lr_data d;
    hetero_lr_options o;
    o.batch_size = 10;
    o.max_epochs = 3;
    o.tolerance = 0;
    o.timeout = std::chrono::seconds(60);
    const auto central = hetero_lr_central(d.all, d.labels, o, 3, true);
    double worst = 0;
    if (rank == 0) {
      auto ep = t.endpoint(fedpp::server_endpoint);
      hetero_lr_guest guest(d.guest, d.labels, 1, o, keys(7), seeded(8));
      const std::vector<fedpp::endpoint_id> hosts{0};
      (void)run_hetero_lr_guest(ep, hosts, guest);
      const std::vector<std::size_t> rows{0, 1, 2};
      const auto p = hetero_lr_predict(ep, hosts, guest, rows);
      hetero_lr_finish(ep, hosts, guest);
      for (std::size_t j = 0; j < 2; ++j) worst = std::max(worst, std::fabs(guest.weights()[j] - central[j]));
      worst = std::max(worst, std::fabs(guest.intercept() - central[5]));
      for (std::size_t k = 0; k < rows.size(); ++k) {
        double wx = central[5];
        for (std::size_t j = 0; j < 5; ++j) wx += central[j] * d.all.row(rows[k])[j];
        worst = std::max(worst, std::fabs(p[k] - 1.0 / (1.0 + std::exp(-wx))));
      }
    } else {
      auto ep = t.endpoint(0);
      hetero_lr_host host(d.host, o, seeded(9));
      run_hetero_lr_host(ep, fedpp::server_endpoint, host, small);
      for (std::size_t j = 0; j < 3; ++j)
        worst = std::max(worst, std::fabs(host.weights()[j] - central[2 + j]));
    }
    if (!(worst < 1e-9)) ++failures;
    std::printf("rank %d: hetero-LR over MPI, largest difference from the central model %.3g\n", rank, worst);

    // FTL in Paillier mode, 3 steps, against the same parties stepped in one process.
    const ftl_data f;
    auto ref_a = f.a();
    auto ref_b = f.b();
    ref_a.on_public_key(fedpp::wire::decode(ref_b.public_key_message(2)), small);
    ref_b.on_public_key(fedpp::wire::decode(ref_a.public_key_message(1)), small);
    for (int s = 0; s < 3; ++s) {
      const auto ma = ref_a.on_b_components(fedpp::wire::decode(ref_b.components_message(2)), 1);
      const auto reply = ref_b.on_a_components(fedpp::wire::decode(ma), 2);
      ref_b.on_a_reply(fedpp::wire::decode(ref_a.on_b_reply(fedpp::wire::decode(*reply), 1)));
    }
    double fworst = 0;
    if (rank == 0) {
      auto ep = t.endpoint(fedpp::server_endpoint);
      auto a = f.a();
      run_ftl_party_a(
          ep, 0, a, 3, [](std::size_t, double) {}, small);
      for (std::size_t i = 0; i < a.parameters().size(); ++i)
        fworst = std::max(fworst, std::fabs(a.parameters()[i] - ref_a.parameters()[i]));
    } else {
      auto ep = t.endpoint(0);
      auto b = f.b();
      run_ftl_party_b(ep, fedpp::server_endpoint, b, 3, f.o, small);
      for (std::size_t i = 0; i < b.parameters().size(); ++i)
        fworst = std::max(fworst, std::fabs(b.parameters()[i] - ref_b.parameters()[i]));
    }
    if (!(fworst < 1e-9)) ++failures;
    std::printf("rank %d: FTL (Paillier) over MPI, largest difference from the in-process run %.3g\n", rank,
                fworst);
    t.flush();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "rank %d: exception: %s\n", rank, e.what());
    ++failures;
  }
  int total = 0;
  MPI_Allreduce(&failures, &total, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  MPI_Finalize();
  if (rank == 0)
    std::printf(total == 0 ? "vertical LR and FTL over MPI: all checks passed\n"
                           : "vertical LR and FTL over MPI: %d failures\n",
                total);
  return total == 0 ? 0 : 1;
}
