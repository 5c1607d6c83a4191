// The Fashion-MNIST federated job shared by examples 02 (in-process) and 03 (MPI), and in parts by
// 04-07: command-line flags (add_flags), data and partition, the clients' local training, and the
// server loop with its report.
#pragma once

#include "example_cli.hpp"

#include "fedpp/orchestration/async_server.hpp"
#include "fedpp/orchestration/checkpoint.hpp"
#include "fedpp/orchestration/selection_feedback_hooks.hpp"
#include "fedpp/orchestration/server.hpp"
#include "fedpp/scheduling/oort_sampler.hpp"
#include "fedpp/scheduling/over_selection.hpp"
#include "fedpp/scheduling/polynomial_staleness.hpp"
#include "fedpp/scheduling/power_of_choice_sampler.hpp"
#include "fedpp/scheduling/uniform_sampler.hpp"
#include "fedpp/simulation/simulation.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

namespace fmnist_job {

namespace sim = fedpp::simulation;

struct options {
  std::string algorithm = "fedavg";    // fedavg | fedprox | fedasync | fedbuff
  std::string model = "mlp";           // mlp | softmax
  std::string partition = "dirichlet"; // iid | dirichlet | shards | quantity
  double alpha = 0.5;                  // Dir(α) label skew
  double beta = 1.0;                   // Dir(β) quantity skew
  std::size_t shards_per_client = 2;   // pathological shards
  std::size_t clients = 100;
  std::size_t clients_per_round = 10;
  std::size_t rounds = 300; // synchronous rounds, or server steps when asynchronous
  std::uint32_t local_epochs = 1;
  std::uint32_t batch_size = 32;
  double learning_rate = 0.1;
  double lr_decay = 0.995;   // client learning rate × decay^round (synchronous)
  double mu = 0.01;          // FedProx
  double over_selection = 0; // ε: sample ⌈m(1+ε)⌉, keep the first m
  double deadline_s = 0;     // > 0: simulate device speeds/dropouts, drop clients later than this
  std::size_t min_reports = 1;
  std::size_t concurrency = 10; // asynchronous: clients training at once
  std::size_t buffer = 10;      // FedBuff K
  double mixing = 0.6;          // FedAsync α
  std::uint64_t seed = 1;
  std::size_t hosts = 0; // host threads (in-process); 0 = hardware threads
  std::size_t eval_every = 1;
  bool central = true; // train the same model centrally for comparison
  std::string csv;
  std::string data_dir;
  std::string save_model;
  double require_accuracy = 0; // exit status 3 when the final test accuracy is below this
  // Federated evaluation rounds (synchronous runs; off while every = 0): the clients evaluate the
  // global model on their local test splits (setup::hold_out_local_tests). Example 02's flags.
  fedpp::federated_evaluation_options federated_eval{};
  // Checkpoints and warm start (synchronous runs; example 02's flags, docs/checkpoints.md).
  std::string checkpoint;                                // save the server's checkpoint here ...
  std::size_t checkpoint_every = 0;                      // ... every K rounds (0: after the last only)
  std::string resume;                                    // restore the whole server from this checkpoint
  std::optional<fedpp::flat_model<float>> initial_model; // warm start: the federation begins from it
  // Guided client selection (synchronous runs; example 02's --sampler, docs/selection.md).
  std::string sampler = "uniform"; // uniform | oort | power-of-choice
  std::size_t candidates = 0;      // power-of-choice: d candidates per round (0: min(2m, N))
};

/// The job's flags. Each example offers the ones it uses (02 and 03: all of them); the defaults
/// shown by --help are the values of the options it passes in.
enum class flag {
  algorithm,
  model,
  partition,
  alpha,
  beta,
  shards,
  clients,
  clients_per_round,
  rounds,
  local_epochs,
  batch_size,
  lr,
  lr_decay,
  mu,
  over_selection,
  deadline,
  min_reports,
  concurrency,
  buffer,
  mixing,
  seed,
  hosts,
  eval_every,
  no_central,
  csv,
  data_dir,
  save_model,
  require_accuracy
};

/// Every flag, in --help order.
[[nodiscard]] inline std::vector<flag> all_flags() {
  std::vector<flag> all;
  for (int f = 0; f <= static_cast<int>(flag::require_accuracy); ++f) all.push_back(static_cast<flag>(f));
  return all;
}

/// Fashion-MNIST has 60,000 training examples: at most one client per example.
inline constexpr std::size_t max_clients = 60000;
/// More client host threads than this is a typo, not a machine.
inline constexpr std::size_t max_hosts = 1024;
/// Simulated seconds; keeps the deadline's nanoseconds far inside 64 bits.
inline constexpr double max_deadline_s = 1e6;

[[nodiscard]] inline bool is_async(const options& o) {
  return o.algorithm == "fedasync" || o.algorithm == "fedbuff";
}

/// Registers the flags `which` on `cli`, bound to the fields of `o` (whose current values are the
/// defaults), with their ranges and the checks between them; `--hosts 0` becomes the number of
/// hardware threads once parsed.
inline void add_flags(example_cli::command_line& cli, options& o, const std::vector<flag>& which) {
  namespace within = example_cli::within;
  const auto has = [which](flag f) { return std::find(which.begin(), which.end(), f) != which.end(); };
  for (const flag f : which) switch (f) {
    case flag::algorithm:
      cli.choice("--algorithm", o.algorithm,
                 "fedavg, fedprox (FedAvg + proximal term --mu), or asynchronous fedasync / fedbuff",
                 {"fedavg", "fedprox", "fedasync", "fedbuff"});
      break;
    case flag::model:
      cli.choice("--model", o.model, "mlp (784-200-10) or softmax regression", {"mlp", "softmax"});
      break;
    case flag::partition:
      cli.choice("--partition", o.partition, "how the training set is split over the clients",
                 {"iid", "dirichlet", "shards", "quantity"});
      break;
    case flag::alpha:
      cli.real("--alpha", o.alpha, "Dirichlet label-skew concentration (--partition dirichlet)",
               within::positive);
      break;
    case flag::beta:
      cli.real("--beta", o.beta, "quantity-skew concentration (--partition quantity)", within::positive);
      break;
    case flag::shards:
      cli.count("--shards", o.shards_per_client, "classes (shards) per client (--partition shards)");
      break;
    case flag::clients:
      cli.count("--clients", o.clients, "virtual clients", std::size_t{1}, max_clients);
      break;
    case flag::clients_per_round:
      cli.count("--clients-per-round", o.clients_per_round, "clients sampled per round, at most --clients");
      break;
    case flag::rounds:
      cli.count("--rounds", o.rounds, "rounds (server steps when asynchronous)");
      break;
    case flag::local_epochs:
      cli.count("--local-epochs", o.local_epochs, "local epochs per round");
      break;
    case flag::batch_size:
      cli.count("--batch-size", o.batch_size, "local minibatch size");
      break;
    case flag::lr:
      cli.real("--lr", o.learning_rate, "client learning rate", within::positive);
      break;
    case flag::lr_decay:
      cli.real("--lr-decay", o.lr_decay, "client learning rate x decay^round (synchronous)",
               within::unit_open_low);
      break;
    case flag::mu:
      cli.real("--mu", o.mu, "FedProx proximal coefficient", within::non_negative);
      break;
    case flag::over_selection:
      cli.real("--over-selection", o.over_selection,
               "EPS: sample ceil(M(1+EPS)) clients, keep the first M reports", within::non_negative);
      break;
    case flag::deadline:
      cli.real("--deadline", o.deadline_s,
               "simulate device speeds and dropouts; reports later than S seconds are dropped (0: off)",
               within::closed(0, max_deadline_s));
      break;
    case flag::min_reports:
      cli.count("--min-reports", o.min_reports,
                "fewer reports fail the round, model unchanged; at most --clients-per-round");
      break;
    case flag::concurrency:
      cli.count("--concurrency", o.concurrency, "asynchronous: clients training at once, at most --clients");
      break;
    case flag::buffer:
      cli.count("--buffer", o.buffer, "FedBuff: updates per server step");
      break;
    case flag::mixing:
      cli.real("--mixing", o.mixing, "FedAsync mixing weight alpha", within::unit_open_low);
      break;
    case flag::seed:
      cli.count("--seed", o.seed, "random seed", std::uint64_t{0});
      break;
    case flag::hosts:
      cli.count("--hosts", o.hosts, "client host threads (0: one per hardware thread)", std::size_t{0},
                max_hosts);
      break;
    case flag::eval_every:
      cli.count("--eval-every", o.eval_every, "test accuracy every K rounds (and after the last)");
      break;
    case flag::no_central:
      cli.toggle("--no-central", o.central, false, "skip the centrally trained comparison");
      break;
    case flag::csv:
      cli.text("--csv", o.csv, "per-round metrics to FILE (plot with scripts/plot_metrics.sh FILE)");
      break;
    case flag::data_dir:
      cli.text("--data-dir", o.data_dir, "Fashion-MNIST IDX files (default: Debian's dataset-fashion-mnist)");
      break;
    case flag::save_model:
      cli.text("--save-model", o.save_model, "write the final model to FILE (raw little-endian float32)");
      break;
    case flag::require_accuracy:
      cli.real("--require-accuracy", o.require_accuracy,
               "exit with status 3 when the final test accuracy is "
               "below A",
               within::probability);
      break;
    }
  cli.check([&o, has] {
    if (has(flag::clients_per_round) && o.clients_per_round > o.clients)
      example_cli::refuse("--clients-per-round", std::to_string(o.clients_per_round) + " exceeds --clients " +
                                                     std::to_string(o.clients));
    if (has(flag::min_reports) && o.min_reports > o.clients_per_round)
      example_cli::refuse("--min-reports", std::to_string(o.min_reports) + " exceeds --clients-per-round " +
                                               std::to_string(o.clients_per_round) +
                                               ": every round would fail");
    if (has(flag::concurrency) && is_async(o) && o.concurrency > o.clients)
      example_cli::refuse("--concurrency",
                          std::to_string(o.concurrency) + " exceeds --clients " + std::to_string(o.clients));
    if (has(flag::hosts) && o.hosts == 0) o.hosts = std::max(1U, std::thread::hardware_concurrency());
  });
}

/// The examples' top level for the Fashion-MNIST jobs: a missing data set is its message and
/// status 2; any other exception "error: <message>" and status 1.
template <class Body>
int guarded(Body&& body) noexcept {
  return example_cli::guarded([&]() -> int {
    try {
      return body();
    } catch (const sim::dataset_not_found& e) {
      std::fprintf(stderr, "%s\n", e.what());
      return 2;
    }
  });
}

/// Data, partition and model: what every process of the job builds identically from the flags.
template <class Model>
struct setup {
  sim::fashion_mnist data;
  sim::partition parts;
  Model model;
  std::vector<fedpp::client_id> clients;

  explicit setup(const options& o)
      : data(sim::load_fashion_mnist(o.data_dir.empty() ? std::nullopt
                                                        : std::optional<std::filesystem::path>(o.data_dir))),
        parts(make_partition(o, data.train)) {
    for (std::size_t c = 0; c < o.clients; ++c) clients.push_back(c);
  }

  /// Client k's local test split (empty until hold_out_local_tests).
  sim::partition local_test;

  /// Holds out a local test split of every client's examples, stratified by its labels
  /// (sim::split_train_test); the clients then train on the rest.
  void hold_out_local_tests(double fraction, std::uint64_t seed) {
    auto split = sim::split_train_test(data.train.labels(), parts, fraction, seed);
    parts = std::move(split.train);
    local_test = std::move(split.test);
  }

  static sim::partition make_partition(const options& o, const sim::dataset& train) {
    if (o.partition == "iid") return sim::partition_iid(train.size(), o.clients, o.seed);
    if (o.partition == "dirichlet")
      return sim::partition_dirichlet(train.labels(), o.clients, o.alpha, o.seed);
    if (o.partition == "shards")
      return sim::partition_shards(train.labels(), o.clients, o.shards_per_client, o.seed);
    if (o.partition == "quantity")
      return sim::partition_quantity_skew(train.size(), o.clients, o.beta, o.seed);
    throw std::invalid_argument("--partition: unknown partition '" + o.partition + "'");
  }
};

/// A client's local training: minibatch SGD (plus FedProx's term when the round says so) on its
/// own shard of the training set. Safe to call concurrently for different clients.
template <class Model>
struct trainer {
  const setup<Model>* job;
  std::uint64_t seed;

  fedpp::client_result<float> operator()(fedpp::client_id id,
                                         const fedpp::host_model_view<const float>& global,
                                         const fedpp::round_config& config) const {
    auto params = fedpp::flat_model<float>::copy_of(global);
    const sim::dataset_view view(job->data.train, job->parts.at(id));
    const auto result = sim::local_train(job->model, params.span(), view, sim::sgd_config::from(config), seed,
                                         id, config.round);
    return {std::move(params),
            fedpp::update_kind::weights,
            static_cast<double>(view.size()),
            {{"train_loss", result.mean_loss}, {"local_steps", static_cast<double>(result.num_steps)}}};
  }

  /// Federated evaluation: the global model on this client's local test split.
  fedpp::evaluation_result evaluate(fedpp::client_id id, const fedpp::host_model_view<const float>& global,
                                    const fedpp::round_config&) const {
    if (id >= job->local_test.size() || job->local_test[id].empty())
      throw std::runtime_error("client " + std::to_string(id) + " has no local test split");
    const auto params = fedpp::flat_model<float>::copy_of(global);
    const auto e =
        sim::evaluate(job->model, params.span(), sim::dataset_view(job->data.train, job->local_test[id]));
    return {static_cast<double>(e.num_examples), e.mean_loss, e.accuracy};
  }
};

inline fedpp::round_config client_config(const options& o) {
  fedpp::round_config config;
  config.local_epochs = o.local_epochs;
  config.batch_size = o.batch_size;
  config.learning_rate = o.learning_rate;
  if (o.algorithm == "fedprox") config.extra["fedprox.mu"] = std::to_string(o.mu);
  if (o.deadline_s > 0)
    config.deadline = std::chrono::milliseconds(static_cast<std::int64_t>(o.deadline_s * 1000));
  return config;
}

/// Prints, plots (CSV) and evaluates each round; prints the summary at the end.
template <class Model>
class reporter {
public:
  reporter(const options& o, const setup<Model>& job)
      : o_(o), job_(job),
        eval_pool_(o.hosts > 0 ? o.hosts : std::max(1U, std::thread::hardware_concurrency())), bar_(o.rounds),
        csv_(o.csv.empty() ? nullptr
                           : std::make_unique<sim::csv_writer>(
                                 o.csv, std::vector<std::string>{
                                            "round", "accuracy", "test_loss", "train_loss", "sampled",
                                            "reported", "dropped", "stragglers", "bytes_up", "bytes_down",
                                            "round_seconds", "simulated_seconds", "mean_staleness"})) {
    std::printf("fedpp Fashion-MNIST: %s, %s model, %zu clients (%s), %zu per round, %zu rounds, seed %llu\n",
                o.algorithm.c_str(), o.model.c_str(), o.clients, o.partition.c_str(), o.clients_per_round,
                o.rounds, static_cast<unsigned long long>(o.seed));
  }

  void on_round(std::size_t index, const fedpp::round_metrics& m, const fedpp::flat_model<float>& model) {
    bytes_up_ += m.bytes_up;
    bytes_down_ += m.bytes_down;
    examples_ += m.total_examples * o_.local_epochs;
    const bool last = index + 1 == o_.rounds;
    double accuracy = -1, loss = -1;
    if (last || (index + 1) % o_.eval_every == 0) {
      const auto start = clock::now();
      const auto e = sim::evaluate(job_.model, model.span(), job_.data.test, eval_pool_);
      eval_seconds_ += seconds_since(start);
      accuracy = final_accuracy_ = e.accuracy;
      loss = e.mean_loss;
    }
    const double train_loss =
        m.client_metrics.contains("train_loss") ? m.client_metrics.at("train_loss") : 0.0;
    std::printf("round %4zu  acc %s  train_loss %.4f  sampled %3zu  reported %3zu  dropped %2zu  late %2zu  "
                "up %.1f MiB  down %.1f MiB  %.2f s%s\n",
                index + 1, accuracy < 0 ? "   -  " : (std::to_string(accuracy).substr(0, 6)).c_str(),
                train_loss, m.sampled, m.reported, m.dropped, m.stragglers,
                static_cast<double>(m.bytes_up) / 1048576.0, static_cast<double>(m.bytes_down) / 1048576.0,
                m.round_seconds, m.succeeded ? "" : "  (failed)");
    std::fflush(stdout);
    bar_.update(index + 1, accuracy < 0 ? std::string() : "acc " + std::to_string(accuracy).substr(0, 6));
    if (csv_)
      csv_->write_row({static_cast<std::uint64_t>(index + 1), accuracy, loss, train_loss,
                       static_cast<std::uint64_t>(m.sampled), static_cast<std::uint64_t>(m.reported),
                       static_cast<std::uint64_t>(m.dropped), static_cast<std::uint64_t>(m.stragglers),
                       static_cast<std::uint64_t>(m.bytes_up), static_cast<std::uint64_t>(m.bytes_down),
                       m.round_seconds, m.simulated_seconds, m.mean_staleness});
  }

  /// One federated evaluation round's summary, on one line.
  void on_federated_evaluation(const fedpp::evaluation_metrics& e) {
    const auto& a = e.accuracy;
    const auto& l = e.loss;
    std::printf(
        "federated eval after round %llu: %zu/%zu clients, %.0f examples | accuracy weighted %.4f "
        "mean %.4f p10 %.4f worst %.4f (client %llu) | loss weighted %.4f mean %.4f p90 %.4f worst %.4f | "
        "refused %zu, failed %zu, no answer %zu, %.2f s%s\n",
        static_cast<unsigned long long>(e.round), e.reported, e.sampled, e.total_examples, a.weighted_mean,
        a.mean, a.p10, a.min, static_cast<unsigned long long>(e.worst_client), l.weighted_mean, l.mean, l.p90,
        l.max, e.refused(), e.client_failures, e.dropped, e.seconds, e.succeeded ? "" : "  (failed)");
    std::fflush(stdout);
  }

  /// The test accuracy after the last round.
  [[nodiscard]] double final_accuracy() const noexcept { return final_accuracy_; }

  void finish(const fedpp::flat_model<float>& model) {
    bar_.finish();
    const double federated_seconds = seconds_since(start_);
    std::printf(
        "federated: test accuracy %.4f after %zu rounds, %.1f MiB up, %.1f MiB down, %.0f example passes\n",
        final_accuracy_, o_.rounds, static_cast<double>(bytes_up_) / 1048576.0,
        static_cast<double>(bytes_down_) / 1048576.0, examples_);
    std::printf("time:      %.1f s federated, of which %.1f s (%.1f%%) test-set evaluation\n", federated_seconds,
                eval_seconds_, 100.0 * eval_seconds_ / federated_seconds);
    if (o_.central && examples_ > 0) {
      const auto central_start = clock::now();
      auto params = job_.model.make_parameters(o_.seed);
      sim::train_central(job_.model, params.span(), job_.data.train, static_cast<std::size_t>(examples_),
                         o_.batch_size, o_.learning_rate, o_.seed);
      const auto e = sim::evaluate(job_.model, params.span(), job_.data.test, eval_pool_);
      std::printf("central:   test accuracy %.4f (same model, same %.0f example passes, one machine, %.1f s)\n",
                  e.accuracy, examples_, seconds_since(central_start));
    }
    if (!o_.save_model.empty()) {
      std::ofstream out(o_.save_model, std::ios::binary);
      out.write(reinterpret_cast<const char*>(model.data()),
                static_cast<std::streamsize>(model.size() * sizeof(float)));
      if (!out) throw std::runtime_error("cannot write " + o_.save_model);
    }
    if (final_accuracy_ < o_.require_accuracy) {
      std::fprintf(stderr, "test accuracy %.4f is below the required %.4f\n", final_accuracy_,
                   o_.require_accuracy);
      std::exit(3);
    }
  }

private:
  using clock = std::chrono::steady_clock;
  static double seconds_since(clock::time_point t) {
    return std::chrono::duration<double>(clock::now() - t).count();
  }

  const options& o_;
  const setup<Model>& job_;
  clock::time_point start_ = clock::now();
  double eval_seconds_ = 0;
  fedpp::parallel::thread_pool eval_pool_; // the test set's batches, between rounds (hosts idle)
  sim::progress_bar bar_;
  std::unique_ptr<sim::csv_writer> csv_;
  std::uint64_t bytes_up_ = 0, bytes_down_ = 0;
  double examples_ = 0;
  double final_accuracy_ = 0;
};

/// --resume: the whole server (model, optimizer, round) from a checkpoint of the same job.
template <class Server>
void resume_from(const options& o, Server& server) {
  fedpp::restore_checkpoint(server, o.resume);
  if (server.round() >= o.rounds)
    throw std::invalid_argument("--resume: the checkpoint '" + o.resume + "' is after round " +
                                std::to_string(server.round()) + ", --rounds is " + std::to_string(o.rounds) +
                                ": nothing left to run");
  std::printf("resumed from '%s' after round %llu\n", o.resume.c_str(),
              static_cast<unsigned long long>(server.round()));
}

/// The synchronous server loop over the server's endpoint of any transport, with the given
/// sampler and server hooks.
template <class Model, class Availability, class Transport, class Sampler, class Hooks>
fedpp::flat_model<float> run_sync_with(const options& o, const setup<Model>& job, Transport& endpoint,
                                       Availability availability, Sampler sampler, Hooks hooks) {
  constexpr bool checkpoints_supported = std::is_same_v<Hooks, fedpp::no_server_hooks>;
  fedpp::server_options so;
  so.client_config = client_config(o);
  so.seed = o.seed;
  so.min_reports = o.min_reports;
  so.client_lr_decay = o.lr_decay;
  so.evaluation = o.federated_eval;
  if (o.deadline_s > 0) so.deadline = std::chrono::nanoseconds(static_cast<std::int64_t>(o.deadline_s * 1e9));
  fedpp::server<float, Sampler, fedpp::server_sgd<float>, fedpp::fedavg<float>, Availability, Hooks> server(
      o.initial_model ? *o.initial_model : job.model.make_parameters(o.seed), std::move(sampler), {}, so,
      std::move(availability), std::move(hooks));
  if constexpr (checkpoints_supported)
    if (!o.resume.empty()) resume_from(o, server);
  const fedpp::checkpoint_schedule checkpoints{o.checkpoint, o.checkpoint_every};
  reporter<Model> report(o, job);
  for (auto r = static_cast<std::size_t>(server.round()); r < o.rounds; ++r) {
    report.on_round(r, server.run_round(endpoint), server.model());
    // Federated evaluation every --federated-eval-every rounds, and after the last.
    if (server.evaluation_due() || (r + 1 == o.rounds && o.federated_eval.every != 0))
      report.on_federated_evaluation(server.run_evaluation_round(endpoint));
    if constexpr (checkpoints_supported)
      if (!o.checkpoint.empty() && (checkpoints.due(server.round()) || r + 1 == o.rounds))
        fedpp::save_checkpoint(server, o.checkpoint);
  }
  report.finish(server.model());
  return server.model();
}

/// The synchronous server loop with the sampler --sampler names: uniform (with --over-selection),
/// or Oort / power-of-choice fed back by selection_feedback_hooks. In the simulated fleet the
/// hooks take each client's duration from the availability model's forecast (simulated seconds),
/// the one the server itself uses to judge the deadline.
template <class Model, class Availability, class Transport>
fedpp::flat_model<float> run_sync(const options& o, const setup<Model>& job, Transport& endpoint,
                                  Availability availability) {
  if (o.sampler == "uniform")
    return run_sync_with(o, job, endpoint, std::move(availability),
                         fedpp::over_selection<fedpp::uniform_sampler>(
                             fedpp::uniform_sampler(o.clients, o.clients_per_round), o.over_selection),
                         fedpp::no_server_hooks{});
  fedpp::selection_feedback_hooks<float> hooks;
  if constexpr (Availability::simulated) {
    hooks.duration = [availability, config = client_config(o)](fedpp::client_id c, std::uint64_t round) {
      fedpp::round_config at = config;
      at.round = round;
      return std::chrono::duration<double>(availability.forecast(c, round, at).duration).count();
    };
  }
  std::vector<double> sizes;
  for (const auto& p : job.parts) sizes.push_back(static_cast<double>(std::max<std::size_t>(p.size(), 1)));
  if (o.sampler == "oort") {
    fedpp::oort_sampler sampler(std::move(sizes), o.clients_per_round);
    sampler.connect(hooks.board);
    return run_sync_with(o, job, endpoint, std::move(availability), std::move(sampler), std::move(hooks));
  }
  if (o.sampler == "power-of-choice") {
    const std::size_t d = o.candidates != 0 ? o.candidates : std::min(2 * o.clients_per_round, o.clients);
    fedpp::power_of_choice_sampler sampler(std::move(sizes), o.clients_per_round, d);
    sampler.connect(hooks.board);
    return run_sync_with(o, job, endpoint, std::move(availability), std::move(sampler), std::move(hooks));
  }
  throw std::invalid_argument("--sampler: unknown sampler '" + o.sampler + "'");
}

/// The asynchronous server loop (FedAsync or FedBuff).
template <class Model, class Availability, class Transport>
fedpp::flat_model<float> run_async(const options& o, const setup<Model>& job, Transport& endpoint,
                                   Availability availability) {
  fedpp::async_options ao;
  ao.concurrency = o.concurrency;
  ao.client_config = client_config(o);
  ao.seed = o.seed;
  reporter<Model> report(o, job);
  std::size_t index = 0;
  auto on_step = [&](const fedpp::round_metrics& m, const fedpp::flat_model<float>& model) {
    report.on_round(index++, m, model);
  };
  auto initial = job.model.make_parameters(o.seed);
  const std::size_t size = initial.size();
  if (o.algorithm == "fedasync") {
    using policy = fedpp::fedasync<float, fedpp::polynomial_staleness>;
    fedpp::async_server<float, policy, Availability> server(
        std::move(initial), job.clients, policy(size, o.mixing, fedpp::polynomial_staleness(0.5)), ao,
        std::move(availability));
    server.run(endpoint, o.rounds, on_step);
    report.finish(server.model());
    return server.model();
  }
  fedpp::async_server<float, fedpp::fedbuff<float>, Availability> server(
      std::move(initial), job.clients, fedpp::fedbuff<float>(size, o.buffer, 1.0), ao,
      std::move(availability));
  server.run(endpoint, o.rounds, on_step);
  report.finish(server.model());
  return server.model();
}

/// Runs the server side with wall-clock or simulated availability, as the flags say.
template <class Model, class Transport>
void run_server(const options& o, const setup<Model>& job, Transport& endpoint) {
  const bool async = o.algorithm == "fedasync" || o.algorithm == "fedbuff";
  if (o.deadline_s > 0) {
    std::vector<std::size_t> sizes;
    for (const auto& p : job.parts) sizes.push_back(p.size());
    sim::device_availability availability(sim::device_model(sim::device_model::default_classes(), o.seed),
                                          sizes, job.model.layout().total_size() * sizeof(float));
    if (async)
      run_async(o, job, endpoint, availability);
    else
      run_sync(o, job, endpoint, availability);
  } else if (async) {
    run_async(o, job, endpoint, fedpp::wall_clock_availability{});
  } else {
    run_sync(o, job, endpoint, fedpp::wall_clock_availability{});
  }
}

/// Calls `body.template operator()<Model>()` for the model the flags name.
template <class Body>
int with_model(const options& o, Body&& body) {
  if (o.model == "mlp") return body(sim::mlp<float>());
  if (o.model == "softmax") return body(sim::softmax_regression<float>());
  throw std::invalid_argument("--model: unknown model '" + o.model + "'");
}

} // namespace fmnist_job
