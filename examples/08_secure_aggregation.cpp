// 08 — Secure aggregation (Bonawitz et al. 2017; SecAgg+ graphs from Bell et al. 2020).
//
// Default: a small federated job (linear regression, 12 clients) whose rounds sum the clients'
// fixed-point weighted updates [w, w·Δ] with the secure-aggregation protocol over the in-process
// transport, one client dropping out mid-protocol in most rounds. Each round checks that the
// unmasked sum equals the plain sum of the survivors' encodings bit for bit, compares the decoded
// weighted mean with the float one, and prints the per-phase counters (clients answering in each
// phase, refused messages, aborts, bytes per client).
//
// Protocol benchmark: `--clients N --dim D --dropout P [--graph complete|plus] [--drop-phase R]`
// runs one round with N simulated clients in this process (one thread), P·N of them dropping
// before round R (0 advertise, 1 share keys, 2 masked input — the default, the costliest for the
// server —, 3 unmasking), and prints the time of each phase (clients summed and per client, and
// the server) and the bytes each client sends and receives. `--csv` prints one machine-readable
// line (scripts/secagg_scaling.sh collects them).
//
// Server policy: `--server-rounds N [--graph plus] [--ddg-sigma S]` runs the same job as
// fedpp::server rounds with secagg_server_hooks / secagg_client_hooks (secure aggregation as one
// policy of the orchestration, clients on host threads), beside a plain FedAvg server, optionally
// with each client adding discrete Gaussian noise of standard deviation S (fixed-point units).
//
// Usage: 08_secure_aggregation [--rounds N]
//        08_secure_aggregation --clients N --dim D --dropout P [--graph complete|plus]
//                              [--adversary G (with --graph plus)] [--drop-phase R] [--seed S] [--csv]
//        08_secure_aggregation --server-rounds N [--graph complete|plus] [--ddg-sigma S]
// (--help lists the defaults and ranges)
#include "example_cli.hpp"

#include "fedpp/aggregation/fedavg.hpp"
#include "fedpp/orchestration/in_process_federation.hpp"
#include "fedpp/orchestration/server.hpp"
#include "fedpp/scheduling/uniform_sampler.hpp"
#include "fedpp/secagg/fixed_point_encoder.hpp"
#include "fedpp/secagg/neighbor_graph.hpp"
#include "fedpp/secagg/secagg_client.hpp"
#include "fedpp/secagg/secagg_config.hpp"
#include "fedpp/secagg/secagg_plus_parameters.hpp"
#include "fedpp/secagg/secagg_server.hpp"
#include "fedpp/secagg/secure_aggregation_hooks.hpp"
#include "fedpp/transport/in_process_transport.hpp"

#include <sys/resource.h>
#include <time.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace sa = fedpp::secagg;
using fedpp::client_id;

namespace {

// Phases are timed in CPU time of this (single-threaded) process: the machines this runs on are
// often shared, and wall time would count other jobs' time slices. Totals also give wall time.
struct clock_type {
  using time_point = double;
  static double now() {
    timespec ts{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
  }
};

double seconds_since(clock_type::time_point t0) { return clock_type::now() - t0; }

/// Reproducible client secrets (benchmark and demo only: a known seed reveals everything).
sa::key32 demo_seed(client_id id, std::uint64_t round) {
  sa::key32 k{};
  for (std::size_t i = 0; i < 8; ++i) {
    k[i] = static_cast<std::byte>((id >> (8 * i)) & 0xffU);
    k[8 + i] = static_cast<std::byte>((round >> (8 * i)) & 0xffU);
  }
  k[31] = std::byte{0x08};
  return k;
}

/// What one round cost, per protocol round 0..3 (advertise, share keys, masked input, unmasking).
struct round_stats {
  std::array<double, 4> client_seconds{}; // summed over the clients that worked in that round
  std::array<std::size_t, 4> client_count{};
  std::array<double, 4> server_seconds{};  // handling that round's messages + closing the phase
  std::array<std::uint64_t, 4> sent{};     // bytes sent by clients in that round (total)
  std::array<std::uint64_t, 4> received{}; // bytes received by clients for that round (total)
  std::array<std::size_t, 4> answered{};   // |U1|, |U2|, |U3|, |U5|
  std::uint64_t refused = 0, aborts = 0;
  bool aborted = false;
  std::vector<std::uint32_t> sum;
};

/// One secure-aggregation round over the in-process hub, clients simulated in this thread.
/// `input(u)` gives client u's encoded input when it is needed (so only one input exists at a
/// time); `drop[u] = r` makes u stop answering from protocol round r on.
round_stats run_round(const sa::secagg_config& config, const sa::neighbor_graph& graph,
                      const std::map<client_id, int>& drop,
                      const std::function<std::vector<std::uint32_t>(client_id)>& input) {
  round_stats st;
  fedpp::in_process_transport hub;
  auto server_ep = hub.server();
  sa::secagg_server server(config, graph);
  std::map<client_id, fedpp::in_process_endpoint> eps;
  std::map<client_id, std::unique_ptr<sa::secagg_client>> clients;
  for (const auto u : graph.clients()) {
    eps.emplace(u, hub.endpoint(u));
    clients.emplace(u, std::make_unique<sa::secagg_client>(u, config, demo_seed(u, config.round)));
  }
  const auto gone = [&](client_id u, int r) {
    const auto it = drop.find(u);
    return it != drop.end() && it->second <= r;
  };
  const auto drain_server = [&](int r) {
    const auto t0 = clock_type::now();
    while (auto e = server_ep.try_receive()) {
      try {
        (void)server.handle(server_ep, *e);
      } catch (const sa::protocol_violation& v) {
        std::fprintf(stderr, "refused: %s\n", v.what());
      }
    }
    st.server_seconds[static_cast<std::size_t>(r)] += seconds_since(t0);
  };
  try {
    for (int r = 0; r < 4; ++r) {
      const auto ri = static_cast<std::size_t>(r);
      for (const auto u : graph.clients()) {
        auto& ep = eps.at(u);
        auto& c = *clients.at(u);
        const auto sent0 = ep.bytes_sent();
        const auto recv0 = ep.bytes_received();
        if (r == 0) {
          if (gone(u, 0)) continue;
          const auto t0 = clock_type::now();
          c.start(ep);
          st.client_seconds[0] += seconds_since(t0);
          ++st.client_count[0];
        } else {
          auto e = ep.try_receive();
          if (!e || gone(u, r)) continue; // a dropped client never reads its mail
          if (r == 2) c.set_input(input(u));
          const auto t0 = clock_type::now();
          c.handle(ep, *e);
          st.client_seconds[ri] += seconds_since(t0);
          ++st.client_count[ri];
        }
        st.sent[ri] += ep.bytes_sent() - sent0;
        st.received[ri] += ep.bytes_received() - recv0;
        drain_server(r); // keeps at most one masked input queued
      }
      const auto t0 = clock_type::now();
      server.close_phase(server_ep);
      st.server_seconds[ri] += seconds_since(t0);
      st.answered[ri] = server.answered(static_cast<sa::secagg_server::phase>(r)).size();
    }
    const auto s = server.sum();
    st.sum.assign(s.begin(), s.end());
  } catch (const sa::secagg_aborted& a) {
    std::printf("  round aborted: %s\n", a.what());
    st.aborted = true;
  }
  st.refused = server.counters().total_refused();
  st.aborts = server.counters().aborts;
  for (const auto& [u, c] : clients) st.refused += c->counters().total_refused();
  return st;
}

const char* round_name(std::size_t r) {
  static constexpr const char* names[] = {"advertise keys", "share keys", "masked input", "unmasking"};
  return names[r];
}

double peak_rss_mib() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_maxrss) / 1024.0;
}

// --- protocol benchmark -----------------------------------------------------------------------

struct bench_options {
  std::size_t clients = 100;
  std::size_t dim = std::size_t{1} << 20;
  double dropout = 0.1;
  double adversary = 0.0;
  bool plus = false;
  int drop_phase = 2;
  std::uint64_t seed = 1;
  bool csv = false;
};

int run_benchmark(const bench_options& o) {
  std::vector<client_id> ids;
  for (std::size_t i = 0; i < o.clients; ++i) ids.push_back(i + 1);
  std::size_t degree = o.clients - 1, threshold = o.clients / 2 + 1;
  if (o.plus) {
    const auto p = sa::secagg_plus_parameters::choose(o.clients, o.dropout, o.adversary);
    degree = p.degree;
    threshold = p.threshold;
  }
  const auto graph =
      o.plus ? sa::neighbor_graph::random_regular(ids, degree, o.seed) : sa::neighbor_graph::complete(ids);
  const sa::secagg_config config{o.seed, o.dim, 32, threshold};
  std::mt19937_64 gen(o.seed);
  auto order = ids;
  std::shuffle(order.begin(), order.end(), gen);
  const auto drops = static_cast<std::size_t>(std::llround(o.dropout * static_cast<double>(o.clients)));
  std::map<client_id, int> drop;
  for (std::size_t i = 0; i < drops; ++i) drop[order[i]] = o.drop_phase;
  // Inputs: a per-client stream; the expected sum is accumulated as inputs are handed out.
  std::vector<std::uint32_t> expected(o.dim, 0);
  std::vector<client_id> sent_input;
  const auto input = [&](client_id u) {
    std::mt19937 g(static_cast<std::uint32_t>(u * 7919 + o.seed));
    std::vector<std::uint32_t> x(o.dim);
    for (auto& v : x) v = static_cast<std::uint32_t>(g());
    for (std::size_t i = 0; i < o.dim; ++i) expected[i] += x[i];
    return x;
  };
  const auto t0 = clock_type::now();
  const auto w0 = std::chrono::steady_clock::now();
  const auto st = run_round(config, graph, drop, input);
  const double total = seconds_since(t0);
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - w0).count();
  if (st.aborted) return 1;
  const bool exact = st.sum == expected;
  double client_total = 0, server_total = 0;
  std::uint64_t sent = 0, received = 0;
  for (std::size_t r = 0; r < 4; ++r) {
    client_total += st.client_seconds[r];
    server_total += st.server_seconds[r];
    sent += st.sent[r];
    received += st.received[r];
  }
  const double n = static_cast<double>(o.clients);
  if (o.csv) {
    // graph,n,D,k,t,dropped,client_s_per_client,server_s,total_s,sent_B_per_client,recv_B_per_client,exact
    std::printf("csv,%s,%zu,%zu,%zu,%zu,%zu,%.6f,%.6f,%.3f,%.0f,%.0f,%d\n", o.plus ? "secagg+" : "complete",
                o.clients, o.dim, graph.degree(), threshold, drops, client_total / n, server_total, total,
                static_cast<double>(sent) / n, static_cast<double>(received) / n, exact ? 1 : 0);
    return exact ? 0 : 1;
  }
  std::printf("secure aggregation: %zu clients (%s, degree %zu, threshold %zu), D = %zu words, %zu dropped "
              "before round %d\n",
              o.clients, o.plus ? "SecAgg+ graph" : "complete graph", graph.degree(), threshold, o.dim, drops,
              o.drop_phase);
  std::printf("%-15s %8s %12s %12s %12s %14s %14s\n", "round", "clients", "clients CPU s", "CPU s/client",
              "server CPU s", "sent B/client", "recv B/client");
  for (std::size_t r = 0; r < 4; ++r) {
    const double c = static_cast<double>(st.client_count[r] ? st.client_count[r] : 1);
    std::printf("%-15s %8zu %12.3f %12.5f %12.3f %14.0f %14.0f\n", round_name(r), st.client_count[r],
                st.client_seconds[r], st.client_seconds[r] / c, st.server_seconds[r],
                static_cast<double>(st.sent[r]) / c, static_cast<double>(st.received[r]) / c);
  }
  std::printf(
      "total: %.2f s CPU, %.2f s wall (clients %.2f s, %.3f s per client; server %.2f s); bytes per client "
      "(all rounds, mean over the %zu clients): sent %.0f, received %.0f; peak RSS %.0f MiB\n",
      total, wall, client_total, client_total / n, server_total, o.clients, static_cast<double>(sent) / n,
      static_cast<double>(received) / n, peak_rss_mib());
  std::printf(
      "answered per phase: U1 %zu, U2 %zu, U3 %zu, U5 %zu; refused %llu, aborts %llu; sum %s the plain "
      "sum of the survivors' inputs\n",
      st.answered[0], st.answered[1], st.answered[2], st.answered[3],
      static_cast<unsigned long long>(st.refused), static_cast<unsigned long long>(st.aborts),
      exact ? "EQUALS" : "DIFFERS FROM");
  return exact ? 0 : 1;
}

// --- federated demo ---------------------------------------------------------------------------

struct client_data {
  std::vector<std::vector<double>> x;
  std::vector<double> y;
};

/// Mean squared error of the linear model w (last entry: bias) on `d`.
double mse(const std::vector<double>& w, const client_data& d) {
  double s = 0;
  for (std::size_t i = 0; i < d.y.size(); ++i) {
    double p = w.back();
    for (std::size_t j = 0; j + 1 < w.size(); ++j) p += w[j] * d.x[i][j];
    s += (p - d.y[i]) * (p - d.y[i]);
  }
  return s / static_cast<double>(d.y.size());
}

/// Local training: `steps` full-batch gradient steps from w; returns the update Δ = w' − w.
std::vector<float> local_update(const std::vector<double>& w, const client_data& d, int steps, double lr) {
  auto v = w;
  const double m = static_cast<double>(d.y.size());
  for (int s = 0; s < steps; ++s) {
    std::vector<double> g(v.size(), 0.0);
    for (std::size_t i = 0; i < d.y.size(); ++i) {
      double p = v.back();
      for (std::size_t j = 0; j + 1 < v.size(); ++j) p += v[j] * d.x[i][j];
      const double r = 2 * (p - d.y[i]) / m;
      for (std::size_t j = 0; j + 1 < v.size(); ++j) g[j] += r * d.x[i][j];
      g.back() += r;
    }
    for (std::size_t j = 0; j < v.size(); ++j) v[j] -= lr * g[j];
  }
  std::vector<float> delta(v.size());
  for (std::size_t j = 0; j < v.size(); ++j) delta[j] = static_cast<float>(v[j] - w[j]);
  return delta;
}

constexpr std::size_t job_features = 31, job_dim = job_features + 1, job_clients = 12;

/// The federated linear-regression job: per client, its samples (mildly non-IID) and their count.
struct regression_job {
  std::vector<client_data> data;
  std::vector<std::uint64_t> weight; ///< samples: the integer weight of the weighted mean
};

regression_job make_regression_job() {
  std::mt19937_64 gen(2024);
  std::normal_distribution<double> normal(0.0, 1.0);
  std::vector<double> truth(job_dim);
  for (auto& t : truth) t = normal(gen);
  regression_job job{std::vector<client_data>(job_clients), std::vector<std::uint64_t>(job_clients)};
  for (std::size_t c = 0; c < job_clients; ++c) {
    job.weight[c] = 20 + gen() % 81;
    for (std::uint64_t i = 0; i < job.weight[c]; ++i) {
      std::vector<double> x(job_features);
      for (auto& v : x) v = normal(gen) + 0.3 * static_cast<double>(c % 3);
      double y = truth.back();
      for (std::size_t j = 0; j < job_features; ++j) y += truth[j] * x[j];
      job.data[c].x.push_back(std::move(x));
      job.data[c].y.push_back(y + 0.1 * normal(gen));
    }
  }
  return job;
}

int run_federated(int rounds) {
  constexpr std::size_t dim = job_dim, num_clients = job_clients;
  const regression_job job = make_regression_job();
  const auto& data = job.data;
  const auto& weight = job.weight;
  // K·W·round(c·s) = 12·100·2^16 < 2^31: the encoder checks this and would refuse more.
  const sa::fixed_point_encoder encoder({32, 1.0, 65536.0, num_clients, 100, 0});
  std::vector<client_id> ids;
  for (std::size_t c = 0; c < num_clients; ++c) ids.push_back(c + 1);
  // 12 clients cannot reach 2^-40 / 2^-20 (choose() refuses and says so); a demo-sized 2^-20 / 2^-4.
  const auto params = sa::secagg_plus_parameters::choose(num_clients, 0.1, 0.0, 20, 4);
  std::printf("federated linear regression: %zu clients, model of %zu parameters, weighted updates [w, w·Δ] "
              "as fixed point (scale 2^16, clip 1.0, modulus 2^32)\n",
              num_clients, dim);
  std::printf("SecAgg+ parameters for n = %zu, dropout 10%%, sigma 20, eta 4: degree %zu, threshold %zu\n",
              num_clients, params.degree, params.threshold);
  std::vector<double> w(dim, 0.0);
  const auto global_loss = [&] {
    double s = 0, m = 0;
    for (std::size_t c = 0; c < num_clients; ++c) {
      s += mse(w, data[c]) * static_cast<double>(weight[c]);
      m += static_cast<double>(weight[c]);
    }
    return s / m;
  };
  std::printf("round 0: loss %.4f\n", global_loss());
  bool all_exact = true;
  int compared = 0; // rounds whose secure sum was checked (an aborted round has none)
  for (int round = 1; round <= rounds; ++round) {
    // Alternate the complete graph (SecAgg) and the SecAgg+ graph; drop one client in a phase
    // that moves with the round (round 1: none).
    const bool plus = round % 2 == 0;
    const auto graph =
        plus ? sa::neighbor_graph::random_regular(ids, params.degree, 100 + static_cast<std::uint64_t>(round))
             : sa::neighbor_graph::complete(ids);
    const std::size_t threshold = plus ? params.threshold : num_clients / 2 + 1;
    std::map<client_id, int> drop;
    if (round > 1) drop[ids[static_cast<std::size_t>(round) % num_clients]] = round % 4;
    const sa::secagg_config config{static_cast<std::uint64_t>(round), dim + 1, 32, threshold};
    std::vector<std::uint32_t> plain(dim + 1, 0); // plain sum of the submitted encodings
    std::vector<double> float_num(dim, 0.0);
    double float_den = 0;
    std::size_t clipped = 0;
    const auto input = [&](client_id u) {
      const auto c = static_cast<std::size_t>(u - 1);
      const auto delta = local_update(w, data[c], 5, 0.05);
      std::vector<std::uint32_t> enc(dim + 1);
      clipped += encoder.encode_weighted(delta, weight[c], enc);
      for (std::size_t i = 0; i < enc.size(); ++i) plain[i] += enc[i];
      for (std::size_t i = 0; i < dim; ++i)
        float_num[i] += static_cast<double>(weight[c]) * std::clamp(static_cast<double>(delta[i]), -1.0, 1.0);
      float_den += static_cast<double>(weight[c]);
      return enc;
    };
    const auto st = run_round(config, graph, drop, input);
    if (st.aborted) continue;
    const bool exact = st.sum == plain;
    all_exact = all_exact && exact;
    ++compared;
    std::vector<float> mean(dim);
    encoder.decode_weighted_mean(st.sum, mean);
    double max_err = 0;
    for (std::size_t i = 0; i < dim; ++i) {
      max_err = std::max(max_err, std::abs(static_cast<double>(mean[i]) - float_num[i] / float_den));
      w[i] += static_cast<double>(mean[i]);
    }
    std::uint64_t bytes = 0;
    for (std::size_t r = 0; r < 4; ++r) bytes += st.sent[r] + st.received[r];
    std::string dropped = "none";
    if (!drop.empty())
      dropped = "client " + std::to_string(drop.begin()->first) + " before '" +
                round_name(static_cast<std::size_t>(drop.begin()->second)) + "'";
    std::printf("round %d (%s, t = %zu, dropped: %s): U1/U2/U3/U5 = %zu/%zu/%zu/%zu, refused %llu, aborts "
                "%llu, %.1f KiB per client; secure sum %s plain sum of encodings; |mean − float mean| ≤ %.2e "
                "(%zu clipped); loss %.4f\n",
                round, plus ? "SecAgg+" : "SecAgg", threshold, dropped.c_str(), st.answered[0],
                st.answered[1], st.answered[2], st.answered[3], static_cast<unsigned long long>(st.refused),
                static_cast<unsigned long long>(st.aborts),
                static_cast<double>(bytes) / 1024.0 / static_cast<double>(num_clients),
                exact ? "==" : "!=", max_err, clipped, global_loss());
  }
  if (compared == 0) {
    std::printf("no round completed: no secure sum to compare\n");
    return 1;
  }
  std::printf("%s\n", all_exact ? "every secure sum equals the plain sum exactly" : "MISMATCH");
  return all_exact ? 0 : 1;
}

/// The same job as run_federated, but as fedpp::server rounds: the server's hooks run secure
/// aggregation in place of the plain collection (secagg_server_hooks), the clients' hooks take
/// their upload into the protocol (secagg_client_hooks), host threads serve the clients over the
/// in-process transport. A plain FedAvg server runs the same rounds beside it; with ddg_sigma = 0
/// the two models must agree to fixed-point precision.
int run_server_rounds(int rounds, bool plus, double ddg_sigma) {
  const auto job = std::make_shared<const regression_job>(make_regression_job());
  fedpp::model_layout layout;
  layout.add("w", {job_dim});
  // The trainer: 5 full-batch gradient steps from the global model, the delta out, weight = samples.
  const auto trainer = [job](client_id c, const fedpp::host_model_view<const float>& global,
                             const fedpp::round_config&) {
    const auto g = global.tensors().front().view.span();
    const std::vector<double> w(g.begin(), g.end());
    const auto delta = local_update(w, job->data[c], 5, 0.05);
    fedpp::client_result<float> r{fedpp::flat_model<float>(global.layout()),
                                  fedpp::update_kind::delta,
                                  static_cast<double>(job->weight[c]),
                                  {}};
    std::copy(delta.begin(), delta.end(), r.model.span().begin());
    return r;
  };
  sa::secure_aggregation_settings settings;
  settings.encoding = {32, 8.0, 65536.0, job_clients, 100, 0}; // K·W·round(c·s) < 2^31, checked
  settings.secagg_plus = plus;
  settings.sigma = 20; // 12 clients: demo-sized SecAgg+ budgets (choose() refuses the defaults)
  settings.eta = 4;
  settings.ddg_sigma = ddg_sigma;
  std::vector<client_id> ids(job_clients);
  for (client_id c = 0; c < job_clients; ++c) ids[c] = c;
  fedpp::in_process_federation<float, decltype(trainer), sa::secagg_client_hooks<float>> secure_clients(
      ids, trainer, layout, 3, sa::secagg_client_hooks<float>(settings));
  fedpp::in_process_federation<float, decltype(trainer)> plain_clients(ids, trainer, layout, 1);
  fedpp::server_options options;
  options.max_wait = std::chrono::seconds(30);
  fedpp::server<float, fedpp::uniform_sampler, fedpp::server_sgd<float>, fedpp::fedavg<float>,
                fedpp::wall_clock_availability, sa::secagg_server_hooks<float>>
      secure(fedpp::flat_model<float>(layout), fedpp::uniform_sampler(job_clients, job_clients), {}, options,
             {}, sa::secagg_server_hooks<float>(settings, layout));
  fedpp::server<float, fedpp::uniform_sampler> plain(
      fedpp::flat_model<float>(layout), fedpp::uniform_sampler(job_clients, job_clients), {}, options);
  std::printf(
      "fedpp::server with secure aggregation (%s, discrete Gaussian sigma %.0f per client) beside plain "
      "FedAvg, %zu clients on 3 host threads\n",
      plus ? "SecAgg+" : "SecAgg", ddg_sigma, job_clients);
  double max_diff = 0;
  for (int r = 0; r < rounds; ++r) {
    const auto m = secure.run_round(secure_clients.server_endpoint());
    (void)plain.run_round(plain_clients.server_endpoint());
    if (!m.succeeded) {
      std::printf("round %d: secure round failed (%zu reported)\n", r + 1, m.reported);
      return 1;
    }
    double diff = 0;
    for (std::size_t i = 0; i < job_dim; ++i)
      diff =
          std::max(diff, std::abs(static_cast<double>(secure.model().span()[i] - plain.model().span()[i])));
    max_diff = std::max(max_diff, diff);
    const std::vector<double> w(secure.model().span().begin(), secure.model().span().end());
    double loss = 0, total = 0;
    for (std::size_t c = 0; c < job_clients; ++c) {
      loss += mse(w, job->data[c]) * static_cast<double>(job->weight[c]);
      total += static_cast<double>(job->weight[c]);
    }
    std::printf("round %d: %zu reported, t = %zu, %.1f KiB up, loss %.4f, |secure − plain| = %.2e\n", r + 1,
                m.reported, secure.hooks().threshold(), static_cast<double>(m.bytes_up) / 1024.0,
                loss / total, diff);
  }
  const bool close = ddg_sigma > 0 || max_diff < 1e-4;
  if (ddg_sigma == 0)
    std::printf("%s\n", close ? "secure rounds match plain FedAvg to fixed-point precision" : "MISMATCH");
  return close ? 0 : 1;
}

/// Which of the three runs the flags ask for, and its settings.
struct run_settings {
  bench_options bench;
  std::size_t rounds = 6;        // federated demo
  std::size_t server_rounds = 0; // > 0: fedpp::server rounds
  double ddg_sigma = 0;
  std::string graph = "complete";
  std::size_t drop_phase = 2;
  enum class mode { federated, benchmark, server } run = mode::federated;
};

/// Registers the flags on `cli`, bound to `s` (its values are the defaults); after parsing,
/// s.run says which run the flags ask for.
void add_flags(example_cli::command_line& cli, run_settings& s) {
  namespace within = example_cli::within;
  constexpr auto max_rounds = static_cast<std::size_t>(std::numeric_limits<int>::max());
  cli.app().footer(
      "Runs: the federated demo (default; --rounds), the protocol benchmark (any of --clients, --dim, "
      "--dropout, --graph; with --adversary, --drop-phase, --seed, --csv), or fedpp::server rounds "
      "(--server-rounds; with --graph, --ddg-sigma).");
  auto* rounds = cli.count("--rounds", s.rounds, "federated demo: rounds", std::size_t{1}, max_rounds);
  auto* server_rounds =
      cli.count("--server-rounds", s.server_rounds,
                "run the job as N fedpp::server rounds with the secure-aggregation hooks beside plain FedAvg",
                std::size_t{1}, max_rounds)
          ->default_str("off");
  auto* ddg = cli.real("--ddg-sigma", s.ddg_sigma,
                       "server rounds: discrete Gaussian noise sd added by each client (fixed-point units)",
                       within::non_negative);
  auto* clients = cli.count("--clients", s.bench.clients, "benchmark: simulated clients", std::size_t{2});
  auto* dim = cli.count("--dim", s.bench.dim, "benchmark: input length in 32-bit words");
  auto* dropout =
      cli.real("--dropout", s.bench.dropout,
               "benchmark: fraction of the clients that drop out before --drop-phase", within::probability);
  auto* graph = cli.choice("--graph", s.graph,
                           "benchmark and server rounds: complete graph (SecAgg) or the SecAgg+ graph",
                           {"complete", "plus"});
  auto* adversary = cli.real("--adversary", s.bench.adversary,
                             "benchmark, --graph plus: fraction gamma of clients the adversary may corrupt, "
                             "which the SecAgg+ degree and threshold are chosen against",
                             within::below_half);
  auto* drop_phase =
      cli.count("--drop-phase", s.drop_phase,
                "benchmark: protocol round the dropped clients stop before (0 advertise keys, 1 share keys, "
                "2 masked input, 3 unmasking)",
                std::size_t{0}, std::size_t{3});
  auto* seed = cli.count("--seed", s.bench.seed, "benchmark: seed of the graph, inputs and dropouts",
                         std::uint64_t{0});
  auto* csv = cli.toggle("--csv", s.bench.csv, true, "benchmark: print one machine-readable line");
  cli.check([&s, rounds, server_rounds, ddg, clients, dim, dropout, graph, adversary, drop_phase, seed, csv] {
    const auto given = [](const CLI::Option* f) { return f->count() > 0; };
    const bool bench =
        given(clients) || given(dim) || given(dropout) || (given(graph) && !given(server_rounds));
    s.run = given(server_rounds) ? run_settings::mode::server
            : bench              ? run_settings::mode::benchmark
                                 : run_settings::mode::federated;
    s.bench.plus = s.graph == "plus";
    s.bench.drop_phase = static_cast<int>(s.drop_phase);
    const auto only = [&](const CLI::Option* f, bool applies, const char* where) {
      if (given(f) && !applies) example_cli::refuse(f->get_name(), std::string("applies only to ") + where);
    };
    const bool is_bench = s.run == run_settings::mode::benchmark;
    const bool is_server = s.run == run_settings::mode::server;
    only(rounds, s.run == run_settings::mode::federated,
         "the federated demo (not with benchmark or server flags)");
    only(ddg, is_server, "--server-rounds");
    for (const auto* f : {clients, dim, dropout, drop_phase, seed, csv})
      only(f, is_bench, "the protocol benchmark (not with --server-rounds)");
    only(adversary, is_bench && s.bench.plus, "the protocol benchmark with --graph plus");
  });
}

} // namespace

int main(int argc, char** argv) {
  run_settings s;
  example_cli::command_line cli("08_secure_aggregation: secure aggregation (SecAgg, SecAgg+) with dropouts");
  add_flags(cli, s);
  if (const auto status = cli.parse(argc, argv)) return *status;
  return example_cli::guarded([&] {
    switch (s.run) {
    case run_settings::mode::server:
      return run_server_rounds(static_cast<int>(s.server_rounds), s.bench.plus, s.ddg_sigma);
    case run_settings::mode::benchmark:
      return run_benchmark(s.bench);
    case run_settings::mode::federated:
      break;
    }
    return run_federated(static_cast<int>(s.rounds));
  });
}
