// 12 — Cross-silo federated learning over MPI: a few reliable, powerful clients (silos — hospitals,
// banks), one MPI rank each. Every silo takes part in every round, trains many local epochs, and
// keeps state across rounds; the server sees only the sum of their updates (secure aggregation).
//
//   mpirun -np 4 build/examples/12_cross_silo_mpi            # rank 0: server; ranks 1..3: silos
//   (as root add --allow-run-as-root; on 2 cores --oversubscribe)
//
// The cross-silo profile (fedpp::profiles::cross_silo), against the cross-device defaults of 02/03:
//   - all silos participate: uniform_sampler(S, S), min_reports = S (a round without every silo fails);
//   - many local epochs (--local-epochs, default 5) over each silo's whole shard of Fashion-MNIST
//     (split by Dirichlet label skew Dir(--alpha) over the S silos, so the silos differ);
//   - secure aggregation on (fedpp::secagg: secagg_server_hooks / secagg_client_hooks; the server
//     learns only the weighted mean of the silos' updates; --no-secagg for the plain comparison);
//   - stateful silos: SCAFFOLD (Karimireddy et al. 2020) control variates. Each silo keeps its
//     control c_i across rounds; the server's control c travels with the model as a second tensor
//     of the federated layout, and each silo uploads [Δy_i, Δc_i] — so the control deltas are
//     securely aggregated too (the server never sees one silo's c_i). Local steps use
//     y ← y − η (∇L_i(y) − c_i + c); after K steps, option II: c_i⁺ = c_i − c + (x − y)/(K η).
//     With every silo in every round, c stays the weighted mean of the c_i. --no-scaffold trains
//     plain FedAvg local SGD (and uploads only Δy).
//
// Secure aggregation needs integer weights and a fixed-point budget: a silo's weight is its
// number of examples in units of ⌈max shard / 1000⌉ examples (at most 1,000), every coordinate is
// clipped to [−--clip, --clip], and the scale is the largest power of two that keeps the sum of
// S silos below 2^31 (printed at the start).
#include "fashion_mnist_job.hpp"

#include "fedpp/orchestration/client_host.hpp"
#include "fedpp/orchestration/profiles.hpp"
#include "fedpp/orchestration/server.hpp"
#include "fedpp/secagg/secure_aggregation_hooks.hpp"
#include "fedpp/transport/mpi_transport.hpp"

#include <mpi.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <memory>
#include <numeric>
#include <vector>

namespace {

namespace sa = fedpp::secagg;

struct options {
  fmnist_job::options job; // data, partition, model, seed, local SGD
  bool secagg = true;      // secure aggregation of the silos' updates
  bool scaffold = true;    // stateful silos: SCAFFOLD control variates
  double clip = 4.0;       // secure aggregation: every coordinate clipped to [−clip, clip]
};

constexpr std::uint64_t max_weight = 1000;

/// What every rank builds identically from the flags: data, partition, model, and the federated
/// layout ([model] or [model, SCAFFOLD control]).
template <class Model>
struct silo_job {
  fmnist_job::setup<Model> base;
  std::size_t dim;
  fedpp::model_layout layout;
  std::size_t weight_unit; // examples per unit of secure-aggregation weight

  silo_job(const options& o) : base(o.job), dim(base.model.layout().total_size()) {
    layout.add("model", {dim});
    if (o.scaffold) layout.add("scaffold.control", {dim});
    std::size_t largest = 1;
    for (const auto& part : base.parts) largest = std::max(largest, part.size());
    weight_unit = (largest + max_weight - 1) / max_weight;
  }

  [[nodiscard]] double weight_of(fedpp::client_id silo) const {
    const auto n = static_cast<double>(base.parts.at(silo).size());
    return std::clamp(std::round(n / static_cast<double>(weight_unit)), 1.0, static_cast<double>(max_weight));
  }
};

/// A silo's local training: E epochs of minibatch SGD on its shard from the global model x, with
/// SCAFFOLD's correction when the layout carries the control c. The silo's own control c_i is
/// state kept across rounds (one rank hosts one silo; the host is single-threaded).
template <class Model>
struct silo_trainer {
  const silo_job<Model>* job;
  std::uint64_t seed;
  std::shared_ptr<std::map<fedpp::client_id, std::vector<float>>> controls =
      std::make_shared<std::map<fedpp::client_id, std::vector<float>>>();

  fedpp::client_result<float> operator()(fedpp::client_id silo,
                                         const fedpp::host_model_view<const float>& global,
                                         const fedpp::round_config& config) const {
    namespace sim = fedpp::simulation;
    const std::size_t d = job->dim;
    const auto tensors = global.tensors();
    const auto x = tensors.front().view.span();
    const bool scaffold = tensors.size() == 2;
    std::vector<float> y(x.begin(), x.end());
    std::vector<float> correction(d, 0.0F); // c − c_i
    std::vector<float>& ci = (*controls)[silo];
    if (scaffold) {
      if (ci.empty()) ci.assign(d, 0.0F);
      const auto c = tensors[1].view.span();
      for (std::size_t k = 0; k < d; ++k) correction[k] = c[k] - ci[k];
    }
    const sim::dataset_view data(job->base.data.train, job->base.parts.at(silo));
    const std::size_t n = data.size();
    const auto& model = job->base.model;
    const auto eta = static_cast<float>(config.learning_rate);
    std::vector<std::size_t> order(n);
    std::vector<float> grad(d);
    typename Model::workspace ws;
    sim::row_matrix<float> batch;
    std::vector<std::uint8_t> labels;
    fedpp::rng gen = fedpp::rng::for_stream(seed, (std::uint64_t{config.round} << 20) ^ silo);
    std::size_t steps = 0;
    double loss_sum = 0;
    for (std::uint32_t epoch = 0; epoch < config.local_epochs; ++epoch) {
      std::iota(order.begin(), order.end(), std::size_t{0});
      for (std::size_t i = n; i > 1; --i) std::swap(order[i - 1], order[gen.below(i)]);
      for (std::size_t b = 0; b < n; b += config.batch_size) {
        const std::size_t count = std::min<std::size_t>(config.batch_size, n - b);
        batch.resize(static_cast<Eigen::Index>(count), static_cast<Eigen::Index>(data.num_features()));
        labels.resize(count);
        for (std::size_t r = 0; r < count; ++r) {
          const auto features = data.example(order[b + r]);
          for (std::size_t f = 0; f < features.size(); ++f)
            batch(static_cast<Eigen::Index>(r), static_cast<Eigen::Index>(f)) = features[f];
          labels[r] = data.label(order[b + r]);
        }
        loss_sum +=
            model.loss_and_gradient(std::span<const float>(y), batch, labels, std::span<float>(grad), ws) *
            static_cast<double>(count);
        for (std::size_t k = 0; k < d; ++k) y[k] -= eta * (grad[k] + correction[k]);
        ++steps;
      }
    }
    fedpp::client_result<float> result{fedpp::flat_model<float>(global.layout()),
                                       fedpp::update_kind::delta,
                                       job->weight_of(silo),
                                       {{"train_loss", loss_sum / static_cast<double>(std::max<std::size_t>(
                                                                      1, steps * config.batch_size))}}};
    auto out = result.model.span();
    for (std::size_t k = 0; k < d; ++k) out[k] = y[k] - x[k]; // Δy
    if (scaffold && steps > 0) {
      // Option II: c_i⁺ = c_i − c + (x − y)/(K η); upload Δc_i = c_i⁺ − c_i = (x − y)/(K η) − c.
      const auto c = tensors[1].view.span();
      const float inv = 1.0F / (static_cast<float>(steps) * eta);
      for (std::size_t k = 0; k < d; ++k) {
        const float delta_c = (x[k] - y[k]) * inv - c[k];
        out[d + k] = delta_c;
        ci[k] += delta_c;
      }
    }
    return result;
  }
};

/// Rounds on rank 0, printing accuracy and bytes; returns the final test accuracy.
template <class Model, class Server>
double run_rounds(const options& o, const silo_job<Model>& job, Server& server,
                  fedpp::mpi_endpoint& endpoint) {
  namespace sim = fedpp::simulation;
  const sim::dataset_view test(job.base.data.test);
  std::uint64_t up = 0, down = 0;
  double accuracy = 0;
  for (std::size_t r = 0; r < o.job.rounds; ++r) {
    const auto m = server.run_round(endpoint);
    up += m.bytes_up;
    down += m.bytes_down;
    if (!m.succeeded)
      throw std::runtime_error("round " + std::to_string(r + 1) + " failed: " + std::to_string(m.reported) +
                               " of " + std::to_string(m.sampled) + " silos reported");
    const auto params = server.model().span().first(job.dim);
    const auto e = sim::evaluate(job.base.model, std::span<const float>(params), test);
    accuracy = e.accuracy;
    std::printf("round %zu: %zu silos, test accuracy %.4f, loss %.4f, %.2f MiB up, %.2f MiB down\n", r + 1,
                m.reported, e.accuracy, e.mean_loss, static_cast<double>(m.bytes_up) / 1048576.0,
                static_cast<double>(m.bytes_down) / 1048576.0);
    std::fflush(stdout);
  }
  std::printf("cross-silo: final test accuracy %.4f after %zu rounds; %.2f MiB up, %.2f MiB down in all\n",
              accuracy, o.job.rounds, static_cast<double>(up) / 1048576.0,
              static_cast<double>(down) / 1048576.0);
  return accuracy;
}

/// Secure-aggregation settings for `silos` silos: weights ≤ max_weight, coordinates in [−clip,
/// clip], the largest power-of-two scale whose sum of every silo stays below 2^31.
sa::secure_aggregation_settings secagg_settings(const options& o, std::size_t silos) {
  sa::secure_aggregation_settings s;
  double scale = 1;
  while (static_cast<double>(silos) * static_cast<double>(max_weight) * std::round(o.clip * scale * 2) <
         2147483647.0)
    scale *= 2;
  s.encoding = {32, o.clip, scale, silos, max_weight, 0};
  s.phase_timeout = std::chrono::milliseconds(60000); // silos are reliable; a phase waits for all
  return s;
}

template <class Model>
int run(const options& o, fedpp::mpi_transport& transport) {
  const silo_job<Model> job(o);
  const std::size_t silos = o.job.clients;
  // Every silo in every round, a round missing one fails, no deadline (fedpp::profiles::cross_silo).
  const auto profile = fedpp::profiles::cross_silo({.silos = silos,
                                                    .local_epochs = o.job.local_epochs,
                                                    .batch_size = o.job.batch_size,
                                                    .learning_rate = o.job.learning_rate,
                                                    .seed = o.job.seed});
  const auto settings = secagg_settings(o, silos);
  silo_trainer<Model> trainer{&job, o.job.seed};
  if (transport.is_server_rank()) {
    auto endpoint = transport.endpoint(fedpp::server_endpoint);
    auto initial = fedpp::flat_model<float>(job.layout);
    job.base.model.initialize(initial.span().first(job.dim), o.job.seed);
    std::printf("cross-silo: %zu silos (one MPI rank each), %s model (%zu parameters), %u local epochs, "
                "secure aggregation %s, SCAFFOLD %s; weights in units of %zu examples",
                silos, o.job.model.c_str(), job.dim, o.job.local_epochs, o.secagg ? "on" : "off",
                o.scaffold ? "on" : "off", job.weight_unit);
    if (o.secagg)
      std::printf(", fixed point: clip %g, scale 2^%d", o.clip,
                  static_cast<int>(std::log2(settings.encoding.scale)));
    std::printf("\n");
    for (fedpp::client_id s = 0; s < silos; ++s)
      std::printf("  silo %zu: %zu examples, weight %.0f\n", static_cast<std::size_t>(s),
                  job.base.parts[s].size(), job.weight_of(s));
    double accuracy = 0;
    if (o.secagg) {
      fedpp::server<float, fedpp::uniform_sampler, fedpp::server_sgd<float>, fedpp::fedavg<float>,
                    fedpp::wall_clock_availability, sa::secagg_server_hooks<float>>
          server(std::move(initial), profile.sampler, {}, profile.options, {},
                 sa::secagg_server_hooks<float>(settings, job.layout));
      accuracy = run_rounds(o, job, server, endpoint);
    } else {
      fedpp::server<float, fedpp::uniform_sampler> server(std::move(initial), profile.sampler, {},
                                                          profile.options);
      accuracy = run_rounds(o, job, server, endpoint);
    }
    const auto bye = fedpp::wire::encode_control(
        0, fedpp::server_endpoint, static_cast<std::uint32_t>(fedpp::control_tag::shutdown), {});
    for (fedpp::client_id s = 0; s < silos; ++s) endpoint.send(s, bye); // one silo per rank
    transport.flush();
    if (accuracy < o.job.require_accuracy) {
      std::fprintf(stderr, "final test accuracy %.4f is below --require-accuracy %.4f\n", accuracy,
                   o.job.require_accuracy);
      return 3;
    }
    return 0;
  }
  fedpp::mpi_rank_host host(transport);
  if (o.secagg) {
    fedpp::client_host<float, silo_trainer<Model>, fedpp::mpi_rank_host, sa::secagg_client_hooks<float>> silo(
        host, trainer, job.layout, sa::secagg_client_hooks<float>(settings));
    silo.serve();
  } else {
    fedpp::client_host<float, silo_trainer<Model>, fedpp::mpi_rank_host> silo(host, trainer, job.layout);
    silo.serve();
  }
  transport.flush();
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  options o;
  o.job.rounds = 20;
  o.job.local_epochs = 5;
  o.job.learning_rate = 0.05;
  o.job.lr_decay = 1.0;
  example_cli::command_line cli(
      "12_cross_silo_mpi: cross-silo FL over MPI — rank 0 the server, ranks 1..P-1 one "
      "silo each; every silo in every round, many local epochs, secure aggregation, "
      "SCAFFOLD control variates kept by each silo");
  using fl = fmnist_job::flag;
  fmnist_job::add_flags(cli, o.job,
                        {fl::model, fl::alpha, fl::rounds, fl::local_epochs, fl::batch_size, fl::lr, fl::seed,
                         fl::data_dir, fl::require_accuracy});
  cli.toggle("--no-secagg", o.secagg, false, "plain FedAvg collection instead of secure aggregation");
  cli.toggle("--no-scaffold", o.scaffold, false, "stateless silos (plain local SGD) instead of SCAFFOLD");
  cli.real("--clip", o.clip, "secure aggregation: every uploaded coordinate is clipped to [-clip, clip]",
           example_cli::interval{0, 1e6, true, false});
  cli.check([size] {
    if (size < 3)
      example_cli::refuse("mpirun -np",
                          std::to_string(size) +
                              " rank(s): cross-silo needs the server and at least 2 silos (-np >= 3); "
                              "secure aggregation needs 2 or more parties");
  });
  if (const auto status = cli.parse(argc, argv, rank == 0)) {
    MPI_Finalize();
    return *status;
  }
  o.job.clients = static_cast<std::size_t>(size - 1); // one silo per rank
  o.job.clients_per_round = o.job.clients;
  o.job.partition = "dirichlet";
  const int rc = fmnist_job::guarded([&] {
    fedpp::mpi_transport transport;
    return fmnist_job::with_model(o.job, [&]<class Model>(const Model&) { return run<Model>(o, transport); });
  });
  if (rc != 0) MPI_Abort(MPI_COMM_WORLD, rc);
  MPI_Finalize();
  return rc;
}
